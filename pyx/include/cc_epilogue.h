/* The output pass of the direct convolution: one run of an output row, copied from the task's
 * accumulator block to the output with the bias added. */
#ifndef CC_EPILOGUE_H
#define CC_EPILOGUE_H
#include "cc_simd.h"

#define CC_DEFINE_EPILOGUE(T, V, VL, SFX)                                                   \
/* dst[j] = src[j] (+ bias), j < n */                                                      \
static inline void cc_store_row_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t n,\
                                      int has_bias, T bias)                                \
{                                                                                         \
    ptrdiff_t j = 0;                                                                      \
    if (has_bias) {                                                                       \
        for (; j + VL <= n; j += VL) { V v; memcpy(&v, src + j, sizeof v); v = v + bias;   \
                                       memcpy(dst + j, &v, sizeof v); }                   \
        for (; j < n; ++j) dst[j] = src[j] + bias;                                        \
    } else {                                                                              \
        for (; j + VL <= n; j += VL) { V v; memcpy(&v, src + j, sizeof v);                \
                                       memcpy(dst + j, &v, sizeof v); }                   \
        for (; j < n; ++j) dst[j] = src[j];                                               \
    }                                                                                     \
}

#define CC_DEFINE_COLUMN(T, SFX)                                                            \
/* dst[j] = src[j * src_stride] (+ bias), j < n: one output channel of a [pixel][channel]   \
 * accumulator block, into an NCHW row */                                                  \
static inline void cc_store_column_##SFX(T *restrict dst, const T *restrict src,           \
                                         ptrdiff_t n, ptrdiff_t src_stride, int has_bias,  \
                                         T bias)                                           \
{                                                                                         \
    if (has_bias)                                                                         \
        for (ptrdiff_t j = 0; j < n; ++j) dst[j] = src[j * src_stride] + bias;            \
    else                                                                                  \
        for (ptrdiff_t j = 0; j < n; ++j) dst[j] = src[j * src_stride];                   \
}

CC_DEFINE_COLUMN(float, f32)
CC_DEFINE_COLUMN(double, f64)

CC_DEFINE_EPILOGUE(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_EPILOGUE(double, cc_vf64, CC_VL_F64, f64)

#endif /* CC_EPILOGUE_H */
