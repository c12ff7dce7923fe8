# Copies and fills of cc_copy.h for float and double, as fused-type inline functions shared by
# the kernel modules (compiled into each with that module's instruction set, like _phase.pxd).
from cython cimport floating

cdef extern from "cc_copy.h" nogil:
    void cc_copy_f32(float* dst, const float* src, Py_ssize_t n)
    void cc_copy_f64(double* dst, const double* src, Py_ssize_t n)
    void cc_copy_strided_f32(float* dst, const float* src, Py_ssize_t n, Py_ssize_t stride)
    void cc_copy_strided_f64(double* dst, const double* src, Py_ssize_t n, Py_ssize_t stride)
    void cc_zero_f32(float* dst, Py_ssize_t n)
    void cc_zero_f64(double* dst, Py_ssize_t n)
    void cc_zero_over_f32(float* dst, Py_ssize_t n)
    void cc_zero_over_f64(double* dst, Py_ssize_t n)
    void cc_copy_over_f32(float* dst, const float* src, Py_ssize_t n)
    void cc_copy_over_f64(double* dst, const double* src, Py_ssize_t n)


cdef inline void copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[0..n) = src[0..n)"""
    if floating is float:
        cc_copy_f32(dst, src, n)
    else:
        cc_copy_f64(dst, src, n)


cdef inline void copy_strided(floating* dst, const floating* src, Py_ssize_t n,
                              Py_ssize_t stride) noexcept nogil:
    """dst[j] = src[j * stride], j < n"""
    if floating is float:
        cc_copy_strided_f32(dst, src, n, stride)
    else:
        cc_copy_strided_f64(dst, src, n, stride)


cdef inline void zero(floating* dst, Py_ssize_t n) noexcept nogil:
    """dst[0..n) = 0"""
    if floating is float:
        cc_zero_f32(dst, n)
    else:
        cc_zero_f64(dst, n)


cdef inline void zero_over(floating* dst, Py_ssize_t n) noexcept nogil:
    """dst[0..n) = 0 in whole vectors: up to a vector past n is written too"""
    if floating is float:
        cc_zero_over_f32(dst, n)
    else:
        cc_zero_over_f64(dst, n)


cdef inline void copy_over(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[0..n) = src[0..n) in whole vectors: up to a vector past dst[n - 1] is written too
    (the source is not read past n)"""
    if floating is float:
        cc_copy_over_f32(dst, src, n)
    else:
        cc_copy_over_f64(dst, src, n)
