"""Choose, once at import, the instruction-set variant of the kernel modules.

Every kernel module is built for baseline x86-64 and, on x86-64, for AVX2+FMA and for AVX-512
(setup.py). The CPU is asked first (cconv._cpu, baseline code: safe on any CPU), and only a variant
it supports is ever imported: a module built with -mavx2 may use AVX2 in its own init code.
CCONV_SIMD=baseline|avx2|avx512 forces a level (never above what the CPU supports).
"""
import importlib
import os
import warnings

from . import _cpu

SIMD_LEVELS = ("baseline", "avx2", "avx512")


def supported_levels():
    """SIMD levels this CPU and OS can run, lowest first."""
    features = _cpu.cpu_features()
    levels = ["baseline"]
    if features["avx2_fma"]:
        levels.append("avx2")
        if features["avx512"]:
            levels.append("avx512")
    return levels


def _requested_level():
    value = os.environ.get("CCONV_SIMD", "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in SIMD_LEVELS:
        warnings.warn(f"CCONV_SIMD={value!r} is not one of {', '.join(SIMD_LEVELS)} or 'auto'; "
                      "choosing automatically", RuntimeWarning, stacklevel=3)
        return None
    return value


KERNEL_MODULES = ("direct", "depthwise", "winograd", "peak")


def _load(level):
    """The kernel modules of one level, by name; ImportError if any is missing."""
    return {name: importlib.import_module(f"cconv._{name}_{level}") for name in KERNEL_MODULES}


def _choose():
    supported = supported_levels()
    requested = _requested_level()
    candidates = supported[::-1]
    if requested is not None:
        if requested not in supported:
            warnings.warn(f"CCONV_SIMD={requested} is not supported by this CPU; "
                          f"using at most {supported[-1]}", RuntimeWarning, stacklevel=3)
        else:
            candidates = candidates[candidates.index(requested):]
    for level in candidates:
        try:
            return level, requested, _load(level)
        except ImportError:  # that variant was not built (e.g. not x86-64)
            continue
    raise ImportError("cconv: no kernel module could be imported; the build is incomplete")


def l2_cache_bytes(default=512 * 1024):
    """The per-core L2 size the OS reports (Linux sysfs), or `default`."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(base)):
            with open(os.path.join(base, index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(base, index, "size")) as f:
                size = f.read().strip().upper()
            unit = {"K": 1024, "M": 1024 * 1024}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * unit
    except (OSError, ValueError):
        pass
    return default


LEVEL, REQUESTED, _modules = _choose()
direct = _modules["direct"]
peak = _modules["peak"]
depthwise = _modules["depthwise"]
winograd = _modules["winograd"]
L2_BYTES = l2_cache_bytes()
# what a task keeps hot: half the L2 for the direct kernels; three quarters for Winograd, whose
# V and M blocks are most of what it touches (1 MiB L2, 1 thread, prepared: 512x512 on 28x28
# 17.98 -> 17.08 ms, 256x256 on 14x14 1.39 -> 1.35, 128x128 on 28x28 1.18 -> 1.15 against
# half; the direct kernels measured no difference)
direct.set_l2_budget(L2_BYTES // 2)
winograd.set_l2_budget(L2_BYTES * 3 // 4)
