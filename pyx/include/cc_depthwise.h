/* Depthwise convolution rows, vectorised along the row, from a phase plane.
 *
 *   out_c[oh][ow] = bias_c + sum_t w_c[t] * base[oh * ph_w + tap_offset[t] + ow]
 *
 * for rows oh < rows, ow < w_out, channels c < ch (out_c = out + c * ldo, rows w_out apart).
 * base is a phase plane (pyx/_phase.pxd): every tap of any stride and dilation is a contiguous
 * run. Whole vectors are stored: one that runs past w_out spills into the following rows'
 * values, which those rows overwrite later; a vector that would pass the end of the block
 * (rows * w_out values) stores only its part inside. Up to CC_DW_MAX_CH channels that read the
 * same input (a channel multiplier, or C_in == 1) share each loaded vector; fewer channels
 * work on four vector positions at once, for four independent FMA chains. Reads up to VL-1
 * values past the last row's run (the caller leaves that slack). */
#ifndef CC_DEPTHWISE_H
#define CC_DEPTHWISE_H
#include "cc_simd.h"

#define CC_DW_MAX_CH 4

#define CC_DEFINE_DW(T, V, VL, SFX)                                                          \
static inline void cc_dw_store_##SFX(T *o, ptrdiff_t pos, ptrdiff_t end, V v)                \
{                                                                                          \
    if (pos + VL <= end) { memcpy(o + pos, &v, sizeof v); return; }                        \
    T lanes[VL];                                                                           \
    memcpy(lanes, &v, sizeof lanes);                                                       \
    for (ptrdiff_t i = 0; i < end - pos; ++i) o[pos + i] = lanes[i];                       \
}                                                                                          \
static inline void cc_dw_rows_##SFX(T *restrict out, ptrdiff_t ldo, const T *restrict base, \
                                    ptrdiff_t ph_w, const ptrdiff_t *restrict tap_offset,  \
                                    const T *restrict w, ptrdiff_t taps, ptrdiff_t rows,   \
                                    ptrdiff_t w_out, int ch, const T *restrict bias)        \
{                                                                                          \
    const ptrdiff_t end = rows * w_out;                                                    \
    for (ptrdiff_t oh = 0; oh < rows && ch == CC_DW_MAX_CH; ++oh) {                         \
        const T *in = base + oh * ph_w;                                                    \
        const ptrdiff_t row = oh * w_out;                                                  \
        for (ptrdiff_t q = 0; q < w_out; q += VL) {                                        \
            V acc[CC_DW_MAX_CH];                                                           \
            _Pragma("GCC unroll 4")                                                        \
            for (int c = 0; c < CC_DW_MAX_CH; ++c) acc[c] = (V){0} + bias[c];              \
            for (ptrdiff_t t = 0; t < taps; ++t) {                                         \
                V x;                                                                       \
                memcpy(&x, in + tap_offset[t] + q, sizeof x);                              \
                _Pragma("GCC unroll 4")                                                    \
                for (int c = 0; c < CC_DW_MAX_CH; ++c) acc[c] += w[c * taps + t] * x;      \
            }                                                                              \
            for (int c = 0; c < CC_DW_MAX_CH; ++c)                                         \
                cc_dw_store_##SFX(out + c * ldo, row + q, end, acc[c]);                    \
        }                                                                                  \
    }                                                                                      \
    if (ch == CC_DW_MAX_CH) return;                                                        \
    /* fewer channels: four vector positions (row, q) at once, four independent chains */  \
    const ptrdiff_t nq = (w_out + VL - 1) / VL, npos = rows * nq;                          \
    for (int c = 0; c < ch; ++c) {                                                         \
        const T *wc = w + c * taps;                                                        \
        for (ptrdiff_t p0 = 0; p0 < npos; p0 += 4) {                                       \
            const T *src[4];                                                               \
            ptrdiff_t dst[4];                                                              \
            V acc[4];                                                                      \
            _Pragma("GCC unroll 4")                                                        \
            for (int i = 0; i < 4; ++i) {                                                  \
                ptrdiff_t p = p0 + i < npos ? p0 + i : npos - 1;                           \
                ptrdiff_t oh = p / nq, q = (p % nq) * VL;                                  \
                src[i] = base + oh * ph_w + q;                                             \
                dst[i] = oh * w_out + q;                                                   \
                acc[i] = (V){0} + bias[c];                                                 \
            }                                                                              \
            for (ptrdiff_t t = 0; t < taps; ++t) {                                         \
                const T wt = wc[t];                                                        \
                const ptrdiff_t off = tap_offset[t];                                       \
                _Pragma("GCC unroll 4")                                                    \
                for (int i = 0; i < 4; ++i) {                                              \
                    V x;                                                                   \
                    memcpy(&x, src[i] + off, sizeof x);                                    \
                    acc[i] += wt * x;                                                      \
                }                                                                          \
            }                                                                              \
            /* in position order: a spilled tail is overwritten by the next row's start */ \
            for (int i = 0; i < 4 && p0 + i < npos; ++i)                                   \
                cc_dw_store_##SFX(out + c * ldo, dst[i], end, acc[i]);                     \
        }                                                                                  \
    }                                                                                      \
}

CC_DEFINE_DW(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW(double, cc_vf64, CC_VL_F64, f64)

#endif /* CC_DEPTHWISE_H */
