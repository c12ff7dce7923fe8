/* The output pass of the direct convolution: one run of an output row, copied from the task's
 * accumulator block to the output with the bias added. */
#ifndef CC_EPILOGUE_H
#define CC_EPILOGUE_H
#include <stdint.h>
#include "cc_simd.h"

/* Stores that bypass the caches (no read of the line before it is written): for outputs
 * much larger than the caches, about half the memory traffic of the output pass. The
 * intrinsics need 64-byte aligned addresses; only AVX-512 builds use them. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define CC_STREAM_F32(p, v) _mm512_stream_ps((p), (__m512)(v))
#define CC_STREAM_F64(p, v) _mm512_stream_pd((p), (__m512d)(v))
#define CC_HAVE_STREAM 1
#else
#define CC_STREAM_F32(p, v) memcpy((p), &(v), sizeof(v))
#define CC_STREAM_F64(p, v) memcpy((p), &(v), sizeof(v))
#define CC_HAVE_STREAM 0
#endif

#define CC_DEFINE_EPILOGUE(T, V, VL, SFX, STREAM)                                           \
/* dst[j] = src[j] (+ bias), j < n; `stream`: bypass the caches where aligned */          \
static inline void cc_store_row_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t n,\
                                      int has_bias, T bias, int stream)                   \
{                                                                                         \
    const T b = has_bias ? bias : (T)0;                                                   \
    ptrdiff_t j = 0;                                                                      \
    if (CC_HAVE_STREAM && stream) {                                                       \
        for (; j < n && ((uintptr_t)(dst + j) & 63); ++j)                                 \
            dst[j] = has_bias ? src[j] + b : src[j];                                      \
        for (; j + VL <= n; j += VL) {                                                    \
            V v; memcpy(&v, src + j, sizeof v);                                           \
            if (has_bias) v = v + b;                                                      \
            STREAM(dst + j, v);                                                           \
        }                                                                                 \
    }                                                                                     \
    for (; j + VL <= n; j += VL) {                                                        \
        V v; memcpy(&v, src + j, sizeof v);                                               \
        if (has_bias) v = v + b;                                                          \
        memcpy(dst + j, &v, sizeof v);                                                    \
    }                                                                                     \
    for (; j < n; ++j) dst[j] = has_bias ? src[j] + b : src[j];                           \
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

CC_DEFINE_EPILOGUE(float, cc_vf32, CC_VL_F32, f32, CC_STREAM_F32)
CC_DEFINE_EPILOGUE(double, cc_vf64, CC_VL_F64, f64, CC_STREAM_F64)

#endif /* CC_EPILOGUE_H */
