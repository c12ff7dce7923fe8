#!/usr/bin/env bash
# The extension built with AddressSanitizer + UndefinedBehaviorSanitizer, running the test suite
# (hypothesis tests included) on every SIMD level: any report fails the run. (Not
# tests/test_dask.py: pure Python over the same kernels, in worker processes; nor the RSS
# test: ASan's quarantine holds freed memory on purpose. Both run in .ci/run's main step.)
#
# Usage (from a checkout, inside a venv with the test extras): bash .ci/sanitizers.sh
# CPython itself is not instrumented, so libasan is preloaded; its leak checker is off (the
# interpreter keeps memory at exit on purpose). UBSan aborts on the first report.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT   # removed however the script ends
git ls-files -z | xargs -0 -I{} cp --parents {} "$work"   # a clean copy: no leftovers
cd "$work"
export CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
export LDFLAGS="-fsanitize=address,undefined"
# only the SIMD levels this CPU can run are tested, so only those are built (an instrumented
# AVX-512 build this CPU cannot run took a third of this stage's build time)
grep -qw avx512f /proc/cpuinfo 2>/dev/null || export CCONV_BUILD_SIMD=baseline,avx2
python setup.py -q build_ext --inplace > build.log 2>&1 || { cat build.log; exit 1; }
grep "cconv:" build.log || true
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
levels=$(PYTHONPATH=$PWD LD_PRELOAD="$asan $ubsan" python -c \
    "from cconv import _dispatch; print(' '.join(_dispatch.supported_levels()))")
# The levels run side by side (two processes on CI's two cores: ~100 s each alone, the stage
# was the longest of CI); each one's log is checked once both are done.
run_level() {
    local level=$1 opts=$ASAN_OPTIONS
    # GCC 12's ASan moves stack arrays to "fake stack" frames to catch use-after-return, and
    # those frames do not keep 64-byte alignment: the AVX-512 code's aligned 64-byte spills of
    # stack arrays (vmovdqa64) then fault in the instrumented build alone (found here in
    # _winograd's float64 task; the same code is clean with the check off, and in normal
    # builds the compiler aligns those arrays itself). So that check is off at this level.
    [ "$level" = avx512 ] && opts=${opts/detect_stack_use_after_return=1/detect_stack_use_after_return=0}
    # (CCONV_REQUIRE_INSTALLED unset: this build is the one in this folder, on purpose)
    ASAN_OPTIONS=$opts CCONV_REQUIRE_INSTALLED= CCONV_SIMD=$level PYTHONPATH=$PWD LD_PRELOAD="$asan $ubsan" \
        python -m pytest -q -p no:cacheprovider -x tests -k "not test_main and not test_memory_stays_flat" \
        --ignore tests/test_dask.py > "test-$level.log" 2>&1
}
pids=()
for level in $levels; do
    run_level "$level" &
    pids+=($!)
done
failed=0
i=0
for level in $levels; do
    echo "== sanitizers, CCONV_SIMD=$level"
    if ! wait "${pids[$i]}"; then
        grep -n -B5 -A40 "==ERROR\|runtime error\|Fatal Python error" "test-$level.log" | head -120 || true
        tail -40 "test-$level.log"
        failed=1
    else
        tail -1 "test-$level.log"
    fi
    i=$((i + 1))
done
[ "$failed" = 0 ] || exit 1
echo "== sanitizers: no reports"
