#!/usr/bin/env bash
# aarch64 builds from the sdist: no x86 intrinsics outside guarded code. The generated C of every
# module (as setup.py builds it on a non-x86 machine: baseline only) is compiled to objects
# with a cross compiler. Installs gcc-aarch64-linux-gnu from Debian when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc > /dev/null; then
    (apt-get install -y -q gcc-aarch64-linux-gnu > /tmp/apt-aarch64.log 2>&1 ||
     (apt-get update -q > /dev/null 2>&1 && apt-get install -y -q gcc-aarch64-linux-gnu \
          > /tmp/apt-aarch64.log 2>&1)) || { cat /tmp/apt-aarch64.log; exit 1; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT   # removed however the script ends
export work
export pyinc=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
compile_module() {  # cythonize pyx/$1.pyx and cross-compile its C
    python - "$1" <<'PY'
import os, sys
from Cython.Build import cythonize
cythonize([f"pyx/{sys.argv[1]}.pyx"], build_dir=os.environ["work"], include_path=["pyx"],
          quiet=True, compiler_directives={"language_level": 3})
PY
    aarch64-linux-gnu-gcc -O3 -fopenmp -fPIC -c -o /dev/null -I"$pyinc" -Ipyx/include -Ipyx \
        -ffp-contract=fast -fno-math-errno -fno-tree-loop-distribute-patterns "$work/pyx/$1.c"
    echo "aarch64: $1.c compiles"
}
export -f compile_module
# one module per core (two minutes serial on 2 cores)
printf '%s\n' _cpu _direct _depthwise _winograd _peak |
    xargs -P "$(nproc)" -I{} bash -c 'compile_module {}'
