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
python - "$work" <<'PY'
import os, sys
from Cython.Build import cythonize
work = sys.argv[1]
for mod in ("_cpu", "_direct", "_depthwise", "_winograd", "_peak"):
    cythonize([f"pyx/{mod}.pyx"], build_dir=work, include_path=["pyx"], quiet=True,
              compiler_directives={"language_level": 3})
PY
pyinc=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
for c in "$work"/pyx/*.c; do
    aarch64-linux-gnu-gcc -O3 -fopenmp -fPIC -c -o /dev/null -I"$pyinc" -Ipyx/include -Ipyx \
        -ffp-contract=fast -fno-math-errno -fno-tree-loop-distribute-patterns "$c"
    echo "aarch64: $(basename "$c") compiles"
done
