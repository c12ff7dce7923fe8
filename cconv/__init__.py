"""cconv: torch.nn.functional.conv2d semantics on NumPy arrays, fast on the CPU.

A Cython extension with OpenMP: a blocked direct convolution behind a thin Python API.
"""
import os as _os
import sys as _sys

# libgomp's idle workers spin GOMP_SPINCOUNT times before they sleep; its default (300000
# spins, milliseconds) burns about 14x a small call's own time in CPU when a service calls every
# 50 ms. 10000 spins keeps back-to-back calls as fast and the CPU per request within 1.7x the
# call (bench/serving.py has the measurements). How long 10000 spins last depends on the CPU
# and the hypervisor (a spin is a PAUSE): tens of microseconds on bare metal, 0.4-1.7 ms of
# CPU on a Zen 3 VM. Read by libgomp when it loads, which importing the extension below does;
# a value already set is left alone.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

try:
    from . import _cpu  # noqa: F401  (compiled: absent from an unbuilt source checkout)
except ImportError:
    # `python -m cconv` or `python -c "import cconv"` run from the root of a source checkout finds
    # this unbuilt folder before the installed package (the current directory comes first on
    # sys.path). Hand over to the installed build if there is one.
    _root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != _root]
    del _sys.modules[__name__]
    try:
        import cconv as _installed
    except ImportError:
        raise ImportError(
            "cconv is imported from its source folder and is not built. Install it "
            "(`pip install .`) and run from elsewhere, or build in place "
            "(`python setup.py build_ext --inplace`).") from None
    _sys.modules[__name__] = _installed
else:
    from ._version import __version__
    from ._conv import conv2d
    from ._layer import Conv2d
    from ._select import explain
    from ._threads import get_num_threads, set_num_threads, threads

    __all__ = ["conv2d", "Conv2d", "explain", "get_num_threads", "set_num_threads", "threads",
               "__version__"]
