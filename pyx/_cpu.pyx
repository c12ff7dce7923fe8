# cython: language_level=3
"""What this build and this CPU can do: the facts cconv's import-time choices are made from.

Compiled for baseline x86-64 only (never with -mavx2 & co.), so it is safe to import and run on
any CPU before the kernels are chosen.
"""
from _openmp_helpers cimport (CCONV_OPENMP_VERSION, omp_get_max_threads, omp_set_num_threads,
                              cconv_omp_pause)

cdef extern from "cc_cpu_features.h" nogil:
    int cc_cpu_has_avx2_fma()
    int cc_cpu_has_avx512()
    int cc_cpu_is_x86()
    const char* CC_COMPILER


def openmp_version():
    """The _OPENMP date (e.g. 201511) this extension was built with, or 0 for a serial build."""
    return CCONV_OPENMP_VERSION


def omp_max_threads():
    """omp_get_max_threads() in the calling thread: lowered by threadpoolctl's limits."""
    return omp_get_max_threads()


def omp_set_threads(int n):
    """omp_set_num_threads(n) for the calling thread (what threadpoolctl does too)."""
    omp_set_num_threads(n)


def omp_pause():
    """Release the calling thread's OpenMP worker pool (before fork). 0 on success."""
    return cconv_omp_pause()


def cpu_features():
    """The SIMD levels this CPU and OS support, as a dict of booleans."""
    return {
        "x86": bool(cc_cpu_is_x86()),
        "avx2_fma": bool(cc_cpu_has_avx2_fma()),
        "avx512": bool(cc_cpu_has_avx512()),
    }


def compiler():
    """The compiler and version that built the extension."""
    return CC_COMPILER.decode()
