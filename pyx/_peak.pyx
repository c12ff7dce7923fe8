# cython: language_level=3
"""Measured float32 FMA peak of this machine, per thread count, with the kernels' instruction set
(built once per instruction set like the kernels). bench/ reports % of this peak."""
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef extern from "cc_fma_peak.h" nogil:
    float cc_fma_loop_f32(long iterations)
    double cc_fma_loop_flops(long iterations)


cdef double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


def fma_peak_gflops(int num_threads=1, double seconds=0.2):
    """GFLOP/s of num_threads threads running independent FMA chains for about `seconds`
    (the best of several rounds, as clocks ramp up)."""
    cdef long iterations = 1000000
    cdef double t0, t1, best = 0
    cdef int i, r
    cdef float* sink = <float*> malloc(num_threads * sizeof(float))
    if sink == NULL:
        raise MemoryError()
    try:
        for r in range(50):
            with nogil:
                t0 = now()
                for i in prange(num_threads, num_threads=num_threads, schedule='static'):
                    sink[i] = cc_fma_loop_f32(iterations)
                t1 = now()
            if t1 - t0 < 0.01:
                iterations *= 4
                continue
            rate = cc_fma_loop_flops(iterations) * num_threads / (t1 - t0) * 1e-9
            best = max(best, rate)
            seconds -= t1 - t0
            if seconds <= 0:
                break
    finally:
        free(sink)
    return best
