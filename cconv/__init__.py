"""cconv: torch.nn.functional.conv2d semantics on NumPy arrays, fast on the CPU.

A Cython extension with OpenMP: a blocked direct convolution behind a thin Python API.
"""
from ._version import __version__
from ._conv import conv2d
from ._threads import get_num_threads, set_num_threads

__all__ = ["conv2d", "get_num_threads", "set_num_threads", "__version__"]
