# The output pass shared by the kernel modules (cc_epilogue.h): bias, residual, activation,
# written wherever the output is, in NCHW or NHWC (any element strides).
from cython cimport floating

from _phase cimport transpose

cdef extern from "cc_epilogue.h" nogil:
    enum:
        CC_ACT_NONE
        CC_ACT_RELU
        CC_ACT_RELU6
    void cc_store_run_f32(float* dst, Py_ssize_t ds, const float* src, Py_ssize_t ss,
                          Py_ssize_t n, const float* bias, Py_ssize_t bs, const float* res,
                          int act, float alpha, int stream)
    void cc_store_run_f64(double* dst, Py_ssize_t ds, const double* src, Py_ssize_t ss,
                          Py_ssize_t n, const double* bias, Py_ssize_t bs, const double* res,
                          int act, double alpha, int stream)


cdef struct OutputSpec:
    void* out                  # element (n, c, h, w) at out + n*sn + c*sc + h*sh + w*sw
    Py_ssize_t sn, sc, sh, sw
    const void* residual       # NULL, or an array laid out exactly like out
    const void* bias           # NULL or (C_out,)
    int act
    double alpha
    bint stream                # the output is far larger than the caches


cdef inline void store_run(const OutputSpec* o, floating* dst, Py_ssize_t ds,
                           const floating* src, Py_ssize_t ss, Py_ssize_t n,
                           const floating* bias, Py_ssize_t bs) noexcept nogil:
    """dst[j*ds] = act(src[j*ss] + bias[j*bs] + residual) for j < n; dst inside o.out."""
    cdef const floating* res = NULL
    if o.residual != NULL:
        res = <const floating*> o.residual + (dst - <floating*> o.out)
    if floating is float:
        cc_store_run_f32(dst, ds, src, ss, n, bias, bs, res, o.act, <float> o.alpha, o.stream)
    else:
        cc_store_run_f64(dst, ds, src, ss, n, bias, bs, res, o.act, o.alpha, o.stream)


cdef enum:
    # Pixels x channels store_pixel_major transposes at a time (a stack buffer of 8 KiB, 16 KiB
    # for float64; STORE_RUN_CHANNELS >= the widest vector's lanes)
    STORE_RUN = 128
    STORE_RUN_CHANNELS = 16


cdef inline void store_pixel_major(const OutputSpec* o, floating* dst, const floating* src,
                                   Py_ssize_t lds, Py_ssize_t m, Py_ssize_t nc,
                                   const floating* bias, floating* runs) noexcept nogil:
    """m <= STORE_RUN pixels x nc <= VL channels of a pixel-major block (channel j of pixel
    p at src[p * lds + j]) to the output (channel j at dst + j * o.sc, pixels o.sw apart)
    through the output pass, bias[j] (or NULL) added: the channels are first transposed into
    contiguous runs (runs: STORE_RUN_CHANNELS x STORE_RUN values), so that the pass runs on
    vectors."""
    cdef Py_ssize_t j
    transpose(runs, STORE_RUN, src, lds, m, <int> nc)
    for j in range(nc):
        store_run(o, dst + j * o.sc, o.sw, runs + j * STORE_RUN, 1, m,
                  bias + j if bias != NULL else NULL, 0)


cdef inline bint epilogue_in_registers(const OutputSpec* o) noexcept nogil:
    """No residual and at most relu/relu6: a kernel can finish the output as it writes it
    (bias, then cc_act.h's relu/relu6, whose codes are CC_ACT_RELU and CC_ACT_RELU6)."""
    return o.residual == NULL and (o.act == CC_ACT_NONE or o.act == CC_ACT_RELU
                                   or o.act == CC_ACT_RELU6)


cdef inline bint act_in_registers(const OutputSpec* o) noexcept nogil:
    """At most relu/relu6 (a residual allowed): a kernel that can add the residual as it
    writes can finish the output in registers."""
    return o.act == CC_ACT_NONE or o.act == CC_ACT_RELU or o.act == CC_ACT_RELU6


cdef inline bint has_epilogue(const OutputSpec* o) noexcept nogil:
    """A residual or an activation still to apply after a kernel wrote sum + bias."""
    return o.residual != NULL or o.act != CC_ACT_NONE


cdef inline int output_spec(OutputSpec* o, floating[:, :, :, :] out, residual, bias, int act,
                            double alpha, bint stream) except -1:
    """Fill o from the output array (any strides), the optional residual (same shape and
    strides as out: checked by the caller) and bias arrays."""
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef const floating[:, :, :, :] res_view
    cdef const floating[::1] bias_view
    o.out = &out[0, 0, 0, 0]
    o.sn, o.sc = out.strides[0] // itemsize, out.strides[1] // itemsize
    o.sh, o.sw = out.strides[2] // itemsize, out.strides[3] // itemsize
    o.residual = NULL
    if residual is not None:
        res_view = residual
        o.residual = &res_view[0, 0, 0, 0]
    o.bias = NULL
    if bias is not None:
        bias_view = bias
        o.bias = &bias_view[0]
    o.act, o.alpha, o.stream = act, alpha, stream
    return 0
