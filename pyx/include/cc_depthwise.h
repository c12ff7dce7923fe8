/* Depthwise convolution, one output row, vectorised along the row, from a phase plane.
 *
 *   tmp_c[ow] = bias_c + sum_t w_c[t] * in[tap_offset[t] + ow],   ow < w_out, c < ch
 *
 * in is the output row's start in a phase plane (pyx/_phase.pxd): every tap of any stride and
 * dilation is a contiguous run. Whole vectors are computed into tmp (rows ldt apart, room for
 * w_out rounded up to CC_DW_ROW_VECS vectors); the caller passes them through the output
 * pass. Up to CC_DW_MAX_CH channels that read the same input (a channel multiplier, or
 * C_in == 1) share each loaded vector; one channel works on CC_DW_ROW_VECS vectors at once
 * (as many FMA chains: one 9-tap chain would wait on the FMA latency). Reads up to
 * CC_DW_ROW_VECS*VL-1 values past the row's run (the caller leaves that slack). */
#ifndef CC_DEPTHWISE_H
#define CC_DEPTHWISE_H
#include "cc_simd.h"
#include "cc_copy.h"   /* lane-masked loads */
#include "cc_act.h"

#define CC_DW_MAX_CH 4
#define CC_DW_ROW_VECS 4
/* Rows of nv < CC_DW_ROW_VECS vectors: FMA chains for up to this many vectors at a time,
 * from CC_DW_GROUP_ROWS(nv) rows. 1 thread, AVX-512, old (CC_DW_ROW_VECS / nv rows) and new
 * builds alternating: 16-wide rows (nv 1, eight rows) 0.84-0.90x the time, 40- and 48-wide
 * (nv 3: two rows, it had been one, three chains) 0.78-0.87x; 28- and 32-wide (nv 2) lost
 * at four rows (1.03-1.05x) and at three (1.00-1.07x: 28 rows leave one to the one-row
 * path), and keep two (1.00-1.04x, noise). AVX2 (nv 3: 24-wide) 0.97x. */
#define CC_DW_GROUP_VECS 8
#define CC_DW_GROUP_ROWS(nv) (((nv) == 2 ? CC_DW_ROW_VECS : CC_DW_GROUP_VECS) / (nv))
/* output rows of fewer vectors than this find their loads' lanes once a call */
#define CC_DW_ROW_MASKS 16

#define CC_DEFINE_DW(T, V, VL, SFX)                                                          \
static inline void cc_dw_row_##SFX(T *restrict tmp, ptrdiff_t ldt, const T *restrict in,     \
                                   const ptrdiff_t *restrict tap_offset,                   \
                                   const T *restrict w, ptrdiff_t taps, ptrdiff_t w_out,   \
                                   int ch, const T *restrict bias)                         \
{                                                                                          \
    if (ch == CC_DW_MAX_CH) {                                                              \
        for (ptrdiff_t q = 0; q < w_out; q += VL) {                                        \
            V acc[CC_DW_MAX_CH];                                                           \
            _Pragma("GCC unroll 4")                                                        \
            for (int c = 0; c < CC_DW_MAX_CH; ++c) acc[c] = (V){0};                        \
            for (ptrdiff_t t = 0; t < taps; ++t) {                                         \
                V x;                                                                       \
                memcpy(&x, in + tap_offset[t] + q, sizeof x);                              \
                _Pragma("GCC unroll 4")                                                    \
                for (int c = 0; c < CC_DW_MAX_CH; ++c) acc[c] += w[c * taps + t] * x;      \
            }                                                                              \
            _Pragma("GCC unroll 4")                                                        \
            for (int c = 0; c < CC_DW_MAX_CH; ++c) {                                       \
                acc[c] += bias[c];           /* after the sum, as the GEMM paths do */     \
                memcpy(tmp + c * ldt + q, &acc[c], sizeof(V));                             \
            }                                                                              \
        }                                                                                  \
        return;                                                                            \
    }                                                                                      \
    for (int c = 0; c < ch; ++c) {                                                         \
        const T *wc = w + c * taps;                                                        \
        for (ptrdiff_t q = 0; q < w_out; q += CC_DW_ROW_VECS * VL) {                       \
            V a[CC_DW_ROW_VECS];                                                           \
            _Pragma("GCC unroll 4")                                                        \
            for (int u = 0; u < CC_DW_ROW_VECS; ++u) a[u] = (V){0};                        \
            for (ptrdiff_t t = 0; t < taps; ++t) {                                         \
                _Pragma("GCC unroll 4")                                                    \
                for (int u = 0; u < CC_DW_ROW_VECS; ++u) {                                 \
                    V x;                                                                   \
                    memcpy(&x, in + tap_offset[t] + q + u * VL, sizeof x);                 \
                    a[u] += wc[t] * x;                                                     \
                }                                                                          \
            }                                                                              \
            _Pragma("GCC unroll 4")                                                        \
            for (int u = 0; u < CC_DW_ROW_VECS; ++u) {                                     \
                a[u] += bias[c];                                                           \
                memcpy(tmp + c * ldt + q + u * VL, &a[u], sizeof(V));                      \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
}

CC_DEFINE_DW(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW(double, cc_vf64, CC_VL_F64, f64)

/* NCHW, 3x3, stride 1 or 2, dilation 1, one output row straight from the input rows (no
 * phase plane, no pass through a buffer):
 *
 *   out[ow] = act(sum_{r,s < 3} wc[3 r + s] * row_r[stride ow - pad_left + s] + bias + res[ow])
 *
 * for ow < w_out, where row_r[i] is 0 outside [0, w) (row_r: the input row of tap row r, or
 * a row of w zeros above and below the input). Output vector j's taps of a row come from
 * whole vectors of the row (lane-masked where they leave it), in registers:
 *   stride 1: x_j = columns j VL - pad_left + [0, VL); taps x_j, then x_j and x_{j+1}
 *             shifted by 1 and 2 (cc_shift_in). A row's vectors are each loaded once
 *             (x_{j+1} carried to the next output vector), not once per tap: nine unaligned
 *             loads per output vector, most crossing a cache line, had set the pace (again
 *             tried 2026-11-30 in pairs of vectors, six chains: 1.2-1.4x the time of this on
 *             32 channels of 112x112, 144 of 56x56, though faster in L1). CC_DW_ROW_VECS
 *             output vectors at a time: as many FMA chains.
 *   stride 2: the 2 VL columns from 2 j VL - pad_left, split into their even and odd lanes:
 *             taps the even lanes, the odd lanes, and the even lanes of the 2 VL columns
 *             from 2 more (cc_dw3x3_s2_row).
 * res: NULL or the residual's row; act: CC_UK_RELU, CC_UK_RELU6 or 0. */
/* Stride 2 splits 2 VL columns into their even and odd lanes. A lane-exact split of two AVX2
 * vectors is three shuffles (gcc: vpermd, vpermd, vblendps); within each 128-bit half it is
 * one (vshufps), the lanes then in the order CC_DW_PAIRS_* (even columns 0 1 4 5 2 3 6 7 for
 * floats), the same for every tap; a sum is put back in order once (vpermpd). AVX-512
 * (vpermt2ps) and SSE split lane-exact. */
#if CC_VECTOR_BYTES == 32
#  define CC_DW_PAIRS 1
#  define CC_DW_EVEN_I32 {0, 2, 8, 10, 4, 6, 12, 14}
#  define CC_DW_ODD_I32 {1, 3, 9, 11, 5, 7, 13, 15}
#  define CC_DW_UNPAIR_I32 {0, 1, 4, 5, 2, 3, 6, 7}
#  define CC_DW_EVEN_I64 {0, 4, 2, 6}
#  define CC_DW_ODD_I64 {1, 5, 3, 7}
#  define CC_DW_UNPAIR_I64 {0, 2, 1, 3}
#else
#  define CC_DW_PAIRS 0
#  define CC_DW_EVEN_I32 CC_IOTA_I32
#  define CC_DW_ODD_I32 CC_IOTA_I32
#  define CC_DW_UNPAIR_I32 CC_IOTA_I32
#  define CC_DW_EVEN_I64 CC_IOTA_I64
#  define CC_DW_ODD_I64 CC_IOTA_I64
#  define CC_DW_UNPAIR_I64 CC_IOTA_I64
#endif
/* a row group of cc_dw3x3_nchw_rows with the stride and vectors per row as constants */
#define CC_DW_GROUP(SFX, NV)                                                               \
    cc_dw3x3_nchw_group##NV##_##SFX(o, ldo, rs, rows, w, w_out, pad_left, wv, bias, act, mk)
/* cc_dw3x3_nchw_row_group for one nv, compiled on its own: each nv its own registers
 * (inlined side by side, eight accumulators for nv 1 had slowed nv 2 by 1.11x) */
#define CC_DW_GROUP_FN(T, V, SFX, NV)                                                      \
static __attribute__((noinline)) void                                                      \
cc_dw3x3_nchw_group##NV##_##SFX(T *restrict out, ptrdiff_t ldo, const T *restrict res,     \
                                const T *(*rows)[3], ptrdiff_t w, ptrdiff_t w_out,         \
                                ptrdiff_t pad_left, const V *wv, T bias, int act,          \
                                const unsigned *mk)                                        \
{                                                                                          \
    cc_dw3x3_nchw_row_group_##SFX(out, ldo, res, rows, w, w_out, pad_left, wv, bias, act,  \
                                  mk, NV);                                                 \
}
#define CC_DEFINE_DW3X3_NCHW_ROW(T, V, VI, IOTA, VL, SFX, EVEN, ODD, UNPAIR)                   \
/* the lanes of the VL columns from col that lie in a row of w: bit i for col + i in [0, w) */ \
static inline unsigned cc_dw_col_lanes_##SFX(ptrdiff_t col, ptrdiff_t w)                    \
{                                                                                          \
    const ptrdiff_t lo = col < 0 ? -col : 0, hi = w - col < VL ? w - col : VL;             \
    return hi <= lo ? 0u : ((1u << hi) - 1) & ~((1u << lo) - 1);                           \
}                                                                                          \
static inline __attribute__((always_inline)) V                                             \
cc_dw_load_cols_##SFX(const T *row, ptrdiff_t col, ptrdiff_t w, const int checked)        \
{                                                                                          \
    if (!checked || (col >= 0 && col + VL <= w)) {                                         \
        V v; memcpy(&v, row + col, sizeof v); return v;                                    \
    }                                                                                      \
    const unsigned lanes = cc_dw_col_lanes_##SFX(col, w);                                  \
    if (!lanes) return (V){0};                                                             \
    return cc_load_lanes_##SFX(row + col, lanes);                                          \
}                                                                                          \
/* stride 1: output vector j's first tap x_j; checked: 0 the columns known to be inside   \
 * the row, 1 lane-masked where they leave it, 2 lane-masked by mk[j] (its lanes, found    \
 * once a call by cc_dw3x3_nchw_rows) */                                                   \
static inline __attribute__((always_inline)) V                                             \
cc_dw_row_vector_##SFX(const T *row, ptrdiff_t j, ptrdiff_t w, ptrdiff_t pad_left,         \
                       const int checked, const unsigned *mk)                              \
{                                                                                          \
    if (checked == 2) return cc_load_lanes_##SFX(row + j * VL - pad_left, mk[j]);          \
    return cc_dw_load_cols_##SFX(row, j * VL - pad_left, w, checked);                      \
}                                                                                          \
/* acc + the three taps of a row for output vector j (stride 1): x = x_j, next = x_{j+1}.   \
 * One multiply-add each, into acc (w0 x0 + w1 x1 + w2 x2, then + acc, had cost a multiply \
 * and an add more per row) */                                                             \
static inline __attribute__((always_inline)) V                                             \
cc_dw_row_taps_##SFX(V acc, V x, V next, const V *wr)                                      \
{                                                                                          \
    acc += wr[0] * x;                                                                      \
    acc += wr[1] * cc_shift_in_##SFX(x, next, 1);                                          \
    acc += wr[2] * cc_shift_in_##SFX(x, next, 2);                                          \
    return acc;                                                                            \
}                                                                                          \
static inline __attribute__((always_inline)) void                                          \
cc_dw3x3_nchw_finish_##SFX(T *out, const T *res, V a, T bias, int act, ptrdiff_t n)        \
{                                                                                          \
    a += bias;                       /* after the sum, as the other paths do */            \
    if (res) {                                                                             \
        V r;                                                                               \
        if (n >= VL) memcpy(&r, res, sizeof r);                                            \
        else r = cc_load_tail_##SFX(res, n);                                               \
        a += r;                                                                            \
    }                                                                                      \
    if (act) a = cc_uk_act_##SFX(a, act);                                                  \
    if (n >= VL) memcpy(out, &a, sizeof a);                                                \
    else cc_store_tail_##SFX(out, a, n);                                                   \
}                                                                                          \
/* CC_DW_ROW_VECS output vectors from j (x_j in x[r][0], carried out as x_{j+U});           \
 * checked: some of their loads may leave the row */                                       \
static inline __attribute__((always_inline)) void                                          \
cc_dw3x3_nchw_block_##SFX(T *restrict out, const T *restrict res, const T *const *rows,    \
                          V x[3][CC_DW_ROW_VECS + 1], const V *wv, ptrdiff_t j,            \
                          ptrdiff_t w, ptrdiff_t w_out, ptrdiff_t pad_left, T bias, int act, \
                          const unsigned *mk, const int checked)                           \
{                                                                                          \
    enum { U = CC_DW_ROW_VECS };                                                           \
    V a[U];                                                                                \
    _Pragma("GCC unroll 4")                                                                \
    for (int u = 0; u < U; ++u) a[u] = (V){0};                                             \
    _Pragma("GCC unroll 3")                                                                \
    for (int r = 0; r < 3; ++r) {                                                          \
        _Pragma("GCC unroll 4")                                                            \
        for (int u = 1; u <= U; ++u)                                                       \
            x[r][u] = cc_dw_row_vector_##SFX(rows[r], j + u, w, pad_left, checked, mk);    \
        _Pragma("GCC unroll 4")                                                            \
        for (int u = 0; u < U; ++u)                                                        \
            a[u] = cc_dw_row_taps_##SFX(a[u], x[r][u], x[r][u + 1], wv + 3 * r);           \
        x[r][0] = x[r][U];                                                                 \
    }                                                                                      \
    _Pragma("GCC unroll 4")                                                                \
    for (int u = 0; u < U; ++u)                                                            \
        cc_dw3x3_nchw_finish_##SFX(out + (j + u) * VL, res ? res + (j + u) * VL : 0, a[u], \
                                   bias, act, w_out - (j + u) * VL);                       \
}                                                                                          \
static inline __attribute__((always_inline)) void                                          \
cc_dw3x3_nchw_row_body_##SFX(T *restrict out, const T *restrict res, const T *const *rows, \
                             ptrdiff_t w, ptrdiff_t w_out, ptrdiff_t pad_left,             \
                             const V *wv, T bias, int act, const unsigned *mk,             \
                             const int edge)                                               \
{                                                                                          \
    enum { U = CC_DW_ROW_VECS };                                                           \
    const ptrdiff_t nvec = (w_out + VL - 1) / VL;                                          \
    V x[3][U + 1];                                                                         \
    _Pragma("GCC unroll 3")                                                                \
    for (int r = 0; r < 3; ++r)                                                            \
        x[r][0] = cc_dw_row_vector_##SFX(rows[r], 0, w, pad_left, edge, mk);               \
    ptrdiff_t j = 0;                                                                       \
    for (; j + U <= nvec; j += U) {                                                        \
        /* the block's loads, vectors j + 1 .. j + U, inside the row: no masks, no tests   \
         * (the tests took ~15% of a row's time) */                                        \
        if ((j + 1) * VL - pad_left >= 0 && (j + U + 1) * VL - pad_left <= w)              \
            cc_dw3x3_nchw_block_##SFX(out, res, rows, x, wv, j, w, w_out, pad_left, bias,  \
                                      act, mk, 0);                                         \
        else                                                                               \
            cc_dw3x3_nchw_block_##SFX(out, res, rows, x, wv, j, w, w_out, pad_left, bias,  \
                                      act, mk, edge);                                      \
    }                                                                                      \
    for (; j < nvec; ++j) {          /* one vector: a chain per tap row */                 \
        V a[3];                                                                            \
        _Pragma("GCC unroll 3")                                                            \
        for (int r = 0; r < 3; ++r) {                                                      \
            x[r][1] = cc_dw_row_vector_##SFX(rows[r], j + 1, w, pad_left, edge, mk);       \
            a[r] = cc_dw_row_taps_##SFX((V){0}, x[r][0], x[r][1], wv + 3 * r);             \
            x[r][0] = x[r][1];                                                             \
        }                                                                                  \
        cc_dw3x3_nchw_finish_##SFX(out + j * VL, res ? res + j * VL : 0, a[0] + a[1] + a[2], \
                                   bias, act, w_out - j * VL);                             \
    }                                                                                      \
}                                                                                          \
/* Rows of nv < CC_DW_ROW_VECS vectors (small planes): CC_DW_GROUP_ROWS(nv) output rows at \
 * a time, out + rho * ldo for rho < that, from rows[rho][0..2], so that a block has several \
 * FMA chains (one 14-wide row alone would wait on one chain's latency) */                  \
static inline __attribute__((always_inline)) void                                          \
cc_dw3x3_nchw_row_group_##SFX(T *restrict out, ptrdiff_t ldo, const T *restrict res,       \
                              const T *(*rows)[3], ptrdiff_t w, ptrdiff_t w_out,           \
                              ptrdiff_t pad_left, const V *wv, T bias, int act,            \
                              const unsigned *mk, const int nv)                            \
{                                                                                          \
    enum { U = CC_DW_GROUP_VECS };                                                         \
    const int group = CC_DW_GROUP_ROWS(nv);                                                \
    V a[U];                                                                                \
    _Pragma("GCC unroll 8")                                                                \
    for (int u = 0; u < U; ++u) a[u] = (V){0};                                             \
    _Pragma("GCC unroll 8")                                                                \
    for (int rho = 0; rho < group; ++rho) {                                                \
        _Pragma("GCC unroll 3")                                                            \
        for (int r = 0; r < 3; ++r) {                                                      \
            V x[U];                                                                        \
            _Pragma("GCC unroll 4")                                                        \
            for (int k = 0; k <= nv; ++k)                                                  \
                x[k] = cc_dw_row_vector_##SFX(rows[rho][r], k, w, pad_left, 2, mk);        \
            _Pragma("GCC unroll 3")                                                        \
            for (int k = 0; k < nv; ++k)                                                   \
                a[rho * nv + k] = cc_dw_row_taps_##SFX(a[rho * nv + k], x[k], x[k + 1],    \
                                                       wv + 3 * r);                        \
        }                                                                                  \
    }                                                                                      \
    _Pragma("GCC unroll 8")                                                                \
    for (int rho = 0; rho < group; ++rho)                                                  \
        _Pragma("GCC unroll 3")                                                            \
        for (int k = 0; k < nv; ++k)                                                       \
            cc_dw3x3_nchw_finish_##SFX(out + rho * ldo + k * VL,                           \
                                       res ? res + rho * ldo + k * VL : 0, a[rho * nv + k], \
                                       bias, act, w_out - k * VL);                         \
}                                                                                          \
CC_DW_GROUP_FN(T, V, SFX, 1)                                                               \
CC_DW_GROUP_FN(T, V, SFX, 3)                                                               \
/* Stride 2: the three taps of input row `row` for the output vector j, whose columns start \
 * at c = 2 j VL - pad_left: even lanes of columns c.., odd lanes, even lanes from c + 2     \
 * (four loads, three shuffles; CC_DW_PAIRS order): the row's own chain of three           \
 * multiply-adds (the caller adds the three rows' chains). checked: 0 the loads inside the \
 * row, 1 lane-masked where they leave it, 2 lane-masked by mk[4 j ..] (found once a call) */ \
static inline __attribute__((always_inline)) V                                             \
cc_dw3x3_s2_taps_##SFX(const T *row, ptrdiff_t c, ptrdiff_t w, const V *wr, const int checked, \
                       const unsigned *mk, ptrdiff_t j)                                    \
{                                                                                          \
    const VI iota = IOTA, even = CC_DW_PAIRS ? (VI)EVEN : iota + iota,                     \
             odd = CC_DW_PAIRS ? (VI)ODD : iota + iota + 1;                                \
    V lo, hi, lo2, hi2;                                                                    \
    if (checked == 2) {          /* the four loads' lanes, found once a call */             \
        lo = cc_load_lanes_##SFX(row + c, mk[4 * j]);                                      \
        hi = cc_load_lanes_##SFX(row + c + VL, mk[4 * j + 1]);                             \
        lo2 = cc_load_lanes_##SFX(row + c + 2, mk[4 * j + 2]);                             \
        hi2 = cc_load_lanes_##SFX(row + c + 2 + VL, mk[4 * j + 3]);                        \
    } else {                                                                               \
        lo = cc_dw_load_cols_##SFX(row, c, w, checked);                                    \
        hi = cc_dw_load_cols_##SFX(row, c + VL, w, checked);                               \
        lo2 = cc_dw_load_cols_##SFX(row, c + 2, w, checked);                               \
        hi2 = cc_dw_load_cols_##SFX(row, c + 2 + VL, w, checked);                          \
    }                                                                                      \
    V acc = wr[0] * __builtin_shuffle(lo, hi, even);                                       \
    acc += wr[1] * __builtin_shuffle(lo, hi, odd);                                         \
    acc += wr[2] * __builtin_shuffle(lo2, hi2, even);                                      \
    return acc;                                                                            \
}                                                                                          \
static inline __attribute__((always_inline)) V cc_dw_unpair_##SFX(V a)                     \
{                                                                                          \
    const VI unpair = UNPAIR;                                                              \
    return CC_DW_PAIRS ? __builtin_shuffle(a, unpair) : a;                                 \
}                                                                                          \
/* One output row at stride 2 from its three input rows: pairs of output vectors whose     \
 * loads lie inside the rows (six chains of three multiply-adds), the others one at a time  \
 * with lane-masked loads. (The stride-1 scheme, vectors loaded once and carried to the     \
 * next output vector, took 40-60 cycles an output vector at stride 2, in L1.) */          \
static inline __attribute__((always_inline)) void                                          \
cc_dw3x3_s2_row_##SFX(T *restrict out, const T *restrict res, const T *const *rows,         \
                      ptrdiff_t w, ptrdiff_t w_out, ptrdiff_t pad_left, const V *wv, T bias, \
                      int act, const unsigned *mk, const int edge)                         \
{                                                                                          \
    const ptrdiff_t nvec = (w_out + VL - 1) / VL;                                          \
    ptrdiff_t j = 0;                                                                       \
    while (j < nvec) {                                                                     \
        const ptrdiff_t c = 2 * j * VL - pad_left;                                         \
        if (j + 2 <= nvec && c >= 0 && c + 4 * VL + 2 <= w) {                              \
            V a[3], b[3];                                                                  \
            _Pragma("GCC unroll 3")                                                        \
            for (int r = 0; r < 3; ++r) {                                                  \
                a[r] = cc_dw3x3_s2_taps_##SFX(rows[r], c, w, wv + 3 * r, 0, 0, 0);         \
                b[r] = cc_dw3x3_s2_taps_##SFX(rows[r], c + 2 * VL, w, wv + 3 * r, 0, 0, 0); \
            }                                                                              \
            cc_dw3x3_nchw_finish_##SFX(out + j * VL, res ? res + j * VL : 0,               \
                                       cc_dw_unpair_##SFX(a[0] + a[1] + a[2]), bias, act,  \
                                       w_out - j * VL);                                    \
            cc_dw3x3_nchw_finish_##SFX(out + (j + 1) * VL, res ? res + (j + 1) * VL : 0,   \
                                       cc_dw_unpair_##SFX(b[0] + b[1] + b[2]), bias, act,  \
                                       w_out - (j + 1) * VL);                              \
            j += 2;                                                                        \
        } else {                                                                           \
            V a[3];                                                                        \
            _Pragma("GCC unroll 3")                                                        \
            for (int r = 0; r < 3; ++r)                                                    \
                /* (mk indexed inside: it is NULL on rows of many vectors) */              \
                a[r] = cc_dw3x3_s2_taps_##SFX(rows[r], c, w, wv + 3 * r, edge, mk, j);     \
            cc_dw3x3_nchw_finish_##SFX(out + j * VL, res ? res + j * VL : 0,               \
                                       cc_dw_unpair_##SFX(a[0] + a[1] + a[2]), bias, act,  \
                                       w_out - j * VL);                                    \
            j += 1;                                                                        \
        }                                                                                  \
    }                                                                                      \
}                                                                                          \
/* Output rows [oh0, oh1) of one channel: row oh at out + oh * ldo (res likewise, or NULL)  \
 * from input rows stride_h * oh - pad_top + r of the plane (ldx apart, h of them; zero_row  \
 * elsewhere). One call for many rows: the weights are broadcast once, not per row (a     \
 * 56-wide row is a single block of CC_DW_ROW_VECS vectors). */                             \
static inline void cc_dw3x3_nchw_rows_##SFX(T *restrict out, ptrdiff_t ldo,                 \
                                            const T *restrict res, const T *plane,         \
                                            ptrdiff_t ldx, ptrdiff_t h, const T *zero_row, \
                                            ptrdiff_t oh0, ptrdiff_t oh1, ptrdiff_t stride_h, \
                                            ptrdiff_t pad_top, ptrdiff_t w, ptrdiff_t w_out, \
                                            ptrdiff_t pad_left, int stride_w,              \
                                            const T *restrict wc, T bias, int act)         \
{                                                                                          \
    enum { U = CC_DW_ROW_VECS };                                                           \
    const ptrdiff_t nvec = (w_out + VL - 1) / VL;                                          \
    const int nv = nvec < U ? (int)nvec : U, group = CC_DW_GROUP_ROWS(nv);                 \
    ptrdiff_t oh = oh0;                                                                    \
    V wv[9];                                                                               \
    _Pragma("GCC unroll 9")                                                                \
    for (int t = 0; t < 9; ++t) wv[t] = (V){0} + wc[t];                                    \
    /* each vector's lanes inside the row, the same in every row: found once, not at each  \
     * load that may leave the row (rows of 28 to 56 are all such loads, and finding them  \
     * took ~20% of a 28x28 plane's time). Rows of more vectors find them at each load. */  \
    unsigned mk_rows[4 * CC_DW_ROW_MASKS];                                                 \
    const unsigned *mk = 0;                                                                \
    if (stride_w == 1 && nvec < CC_DW_ROW_MASKS) {                                         \
        for (ptrdiff_t k = 0; k <= nvec; ++k)                                              \
            mk_rows[k] = cc_dw_col_lanes_##SFX(k * VL - pad_left, w);                      \
        mk = mk_rows;                                                                      \
    } else if (stride_w == 2 && nvec < CC_DW_ROW_MASKS) {                                  \
        /* output vector j's four loads, from columns c, c + VL, c + 2, c + 2 + VL */      \
        for (ptrdiff_t k = 0; k < nvec; ++k)                                               \
            for (int q = 0; q < 4; ++q)                                                    \
                mk_rows[4 * k + q] = cc_dw_col_lanes_##SFX(                                \
                    2 * k * VL - pad_left + (q & 1) * VL + (q >> 1) * 2, w);               \
        mk = mk_rows;                                                                      \
    }                                                                                      \
    if (stride_w == 1 && nv < U) {                                                         \
        for (; oh + group <= oh1; oh += group) {                                           \
            const T *rows[CC_DW_GROUP_VECS][3];                                            \
            for (int rho = 0; rho < group; ++rho)                                          \
                for (int r = 0; r < 3; ++r) {                                              \
                    const ptrdiff_t ih = (oh + rho) * stride_h - pad_top + r;              \
                    rows[rho][r] = ih >= 0 && ih < h ? plane + ih * ldx : zero_row;        \
                }                                                                          \
            T *o = out + oh * ldo;                                                         \
            const T *rs = res ? res + oh * ldo : 0;                                        \
            if (nv == 1) CC_DW_GROUP(SFX, 1);                                              \
            else if (nv == 2)   /* inline: one call each two rows had cost ~3% */          \
                cc_dw3x3_nchw_row_group_##SFX(o, ldo, rs, rows, w, w_out, pad_left, wv,    \
                                              bias, act, mk, 2);                           \
            else CC_DW_GROUP(SFX, 3);                                                      \
        }                                                                                  \
    }                                                                                      \
    for (; oh < oh1; ++oh) {                                                               \
        const T *rows[3];                                                                  \
        for (int r = 0; r < 3; ++r) {                                                      \
            const ptrdiff_t ih = oh * stride_h - pad_top + r;                              \
            rows[r] = ih >= 0 && ih < h ? plane + ih * ldx : zero_row;                     \
        }                                                                                  \
        if (stride_w == 1 && mk)                                                           \
            cc_dw3x3_nchw_row_body_##SFX(out + oh * ldo, res ? res + oh * ldo : 0, rows, w, \
                                         w_out, pad_left, wv, bias, act, mk, 2);           \
        else if (stride_w == 1)                                                            \
            cc_dw3x3_nchw_row_body_##SFX(out + oh * ldo, res ? res + oh * ldo : 0, rows, w, \
                                         w_out, pad_left, wv, bias, act, 0, 1);            \
        else if (mk)                                                                       \
            cc_dw3x3_s2_row_##SFX(out + oh * ldo, res ? res + oh * ldo : 0, rows, w,       \
                                  w_out, pad_left, wv, bias, act, mk, 2);                  \
        else                                                                               \
            cc_dw3x3_s2_row_##SFX(out + oh * ldo, res ? res + oh * ldo : 0, rows, w,       \
                                  w_out, pad_left, wv, bias, act, 0, 1);                   \
    }                                                                                      \
}

CC_DEFINE_DW3X3_NCHW_ROW(float, cc_vf32, cc_vi32, CC_IOTA_I32, CC_VL_F32, f32, CC_DW_EVEN_I32,
                         CC_DW_ODD_I32, CC_DW_UNPAIR_I32)
CC_DEFINE_DW3X3_NCHW_ROW(double, cc_vf64, cc_vi64, CC_IOTA_I64, CC_VL_F64, f64, CC_DW_EVEN_I64,
                         CC_DW_ODD_I64, CC_DW_UNPAIR_I64)

/* A whole small plane at stride 1 with the output the input's size, straight from the input
 * (no phase plane): with both planes flattened, output p reads input p + off[t] for tap t,
 * where that pixel exists; lanes[t * chunks + q] has bit i set when output q*VL + i reads a
 * pixel of the input (not the padding, not a wrap to the next row, not past the plane), and
 * only those lanes are loaded.
 *
 *   tmp[p] = bias + sum_t w[t] * in[p + off[t]],   p < chunks * VL (whole vectors)
 */
/* CC_DW_PLANE_ILP vectors at a time: independent accumulators, so that the FMA latency (4
 * cycles) does not set the pace of a 9-tap chain. */
#define CC_DW_PLANE_ILP 4
/* Chunk q of the result, acc (+ bias already): into tmp (out NULL), or finished (relu/relu6:
 * act) into the output plane out, whose n values end inside chunk q or later (lane-masked:
 * nothing past out[n - 1] is written) */
#define CC_DEFINE_DW_PLANE(T, V, VL, SFX)                                                     \
static inline void cc_dw_plane_put_##SFX(T *restrict tmp, T *restrict out, ptrdiff_t n,      \
                                         ptrdiff_t q, V acc, int act)                      \
{                                                                                          \
    if (!out) {                                                                            \
        memcpy(tmp + q * VL, &acc, sizeof(V));                                             \
        return;                                                                            \
    }                                                                                      \
    if (act) acc = cc_uk_act_##SFX(acc, act);                                              \
    if ((q + 1) * VL <= n) memcpy(out + q * VL, &acc, sizeof(V));                          \
    else if (q * VL < n) cc_store_tail_##SFX(out + q * VL, acc, n - q * VL);              \
}                                                                                          \
/* chunks q .. q + U of the plane, U independent FMA chains (U a constant of each caller) */  \
static inline __attribute__((always_inline)) void                                          \
cc_dw_plane_block_##SFX(T *restrict tmp, const T *restrict in, const ptrdiff_t *restrict off, \
                        const unsigned *restrict lanes, const T *restrict w, ptrdiff_t taps, \
                        ptrdiff_t chunks, T bias, T *restrict out, ptrdiff_t n_out, int act,  \
                        ptrdiff_t q, const int U)                                          \
{                                                                                          \
    V acc[CC_DW_PLANE_ILP];                                                                \
    _Pragma("GCC unroll 8")                                                                \
    for (int u = 0; u < U; ++u) acc[u] = (V){0};                                           \
    for (ptrdiff_t t = 0; t < taps; ++t) {                                                 \
        const unsigned *m = lanes + t * chunks + q;                                        \
        const T *src = in + q * VL + off[t];                                               \
        _Pragma("GCC unroll 8")                                                            \
        for (int u = 0; u < U; ++u)                                                        \
            acc[u] += w[t] * cc_load_lanes_##SFX(src + u * VL, m[u]);                      \
    }                                                                                      \
    _Pragma("GCC unroll 8")                                                                \
    for (int u = 0; u < U; ++u)   /* bias after the sum, as the GEMM paths add it */       \
        cc_dw_plane_put_##SFX(tmp, out, n_out, q + u, acc[u] + bias, act);                 \
}                                                                                          \
/* CC_DW_PLANE_ILP chunks at a time, then the rest as one block (a 14x14 plane at stride 2  \
 * is 7 chunks: its last 3 one at a time, three 9-FMA chains in a row, had been ~40% of    \
 * the plane's time) */                                                                    \
static inline void cc_dw_plane_##SFX(T *restrict tmp, const T *restrict in,                 \
                                     const ptrdiff_t *restrict off,                        \
                                     const unsigned *restrict lanes, const T *restrict w,  \
                                     ptrdiff_t taps, ptrdiff_t chunks, T bias,             \
                                     T *restrict out, ptrdiff_t n_out, int act)            \
{                                                                                          \
    ptrdiff_t q = 0;                                                                       \
    for (; q + CC_DW_PLANE_ILP <= chunks; q += CC_DW_PLANE_ILP)                            \
        cc_dw_plane_block_##SFX(tmp, in, off, lanes, w, taps, chunks, bias, out, n_out, act, \
                                q, CC_DW_PLANE_ILP);                                       \
    switch (chunks - q) {                                                                  \
    case 3: cc_dw_plane_block_##SFX(tmp, in, off, lanes, w, taps, chunks, bias, out, n_out, \
                                    act, q, 3); break;                                     \
    case 2: cc_dw_plane_block_##SFX(tmp, in, off, lanes, w, taps, chunks, bias, out, n_out, \
                                    act, q, 2); break;                                     \
    case 1: cc_dw_plane_block_##SFX(tmp, in, off, lanes, w, taps, chunks, bias, out, n_out, \
                                    act, q, 1); break;                                     \
    default: break;                                                                        \
    }                                                                                      \
}

CC_DEFINE_DW_PLANE(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW_PLANE(double, cc_vf64, CC_VL_F64, f64)

/* The four phase planes of an h x w plane (h and w even, rows ldx apart), each h/2 x w/2,
 * in the order (even rows: even columns, odd columns; odd rows: ...):
 *
 *   dst[(2 (i % 2) + j % 2) * ph + (i / 2) * (w / 2) + j / 2] = src[i * ldx + j],
 *   ph = (h / 2) * (w / 2)
 *
 * A row of at most two vectors is loaded once (lane-masked: nothing past its end) and
 * shuffled into its even and odd columns, each stored lane-masked (a stride-2 copy per row
 * and column phase took ~75 ns a 14x14 plane, more than the kernel after it); longer rows
 * take the strided copies. Not inlined: its vector constants, set up on entry, cost the
 * flat path's callers on every plane (960 channels of 7x7: 1.05x the time). */
#define CC_DEFINE_DW_SPLIT(T, V, VI, IOTA, VL, SFX)                                           \
static __attribute__((noinline)) void cc_dw_split_phases_##SFX(T *restrict dst, const T *restrict src,         \
                                            ptrdiff_t ldx, ptrdiff_t h, ptrdiff_t w)        \
{                                                                                          \
    const ptrdiff_t hw = w / 2, ph = (h / 2) * hw;                                         \
    const VI iota = IOTA, even = iota + iota, odd = even + 1;                              \
    for (ptrdiff_t i = 0; i < h; ++i) {                                                    \
        const T *row = src + i * ldx;                                                      \
        T *d = dst + (i & 1) * 2 * ph + (i >> 1) * hw;                                     \
        if (w <= 2 * VL) {                                                                 \
            const V lo = cc_load_tail_##SFX(row, w < VL ? w : VL);                        \
            const V hi = w > VL ? cc_load_tail_##SFX(row + VL, w - VL) : lo;               \
            cc_store_tail_##SFX(d, __builtin_shuffle(lo, hi, even), hw);                   \
            cc_store_tail_##SFX(d + ph, __builtin_shuffle(lo, hi, odd), hw);               \
        } else {                                                                           \
            cc_copy_strided_##SFX(d, row, hw, 2);                                          \
            cc_copy_strided_##SFX(d + ph, row + 1, hw, 2);                                 \
        }                                                                                  \
    }                                                                                      \
}

CC_DEFINE_DW_SPLIT(float, cc_vf32, cc_vi32, CC_IOTA_I32, CC_VL_F32, f32)
CC_DEFINE_DW_SPLIT(double, cc_vf64, cc_vi64, CC_IOTA_I64, CC_VL_F64, f64)

/* Channels last (NHWC): one output pixel, vectors along its C channels, no phase plane.
 *
 *   dst[c] = act(sum_j wrow[j][c] * in[off[j] + c] + bias[c]),   c < C, over ntaps taps
 *
 * (the taps that land inside the input: the caller lists them, with each one's weight row of
 * C values, zero-padded to whole vectors; cc_dw_finish: bias and act optional). The last
 * partial vector of channels is read and written lane-masked, nothing past in[off[j] + C - 1]
 * or dst[C - 1]. Four vectors of channels at a time: four FMA chains. */
/* Channels last: a vector of channels [c, c + n) of one output pixel, done: + bias (NULL:
 * none), relu or relu6 (act, CC_UK_*; 0: none), written to dst (n < VL: only n values). */
#define CC_DEFINE_DW_FINISH(T, V, VL, SFX)                                                    \
static inline void cc_dw_finish_##SFX(T *dst, V a, const T *bias, ptrdiff_t c, ptrdiff_t n, \
                                      int act)                                             \
{                                                                                          \
    if (bias) {                                                                            \
        V b;                                                                               \
        if (n == VL) memcpy(&b, bias + c, sizeof b);                                       \
        else b = cc_load_tail_##SFX(bias + c, n);                                          \
        a += b;                      /* after the sum, as the GEMM paths do */             \
    }                                                                                      \
    if (act) a = cc_uk_act_##SFX(a, act);                                                  \
    if (n == VL) memcpy(dst, &a, sizeof a);                                                \
    else cc_tail_##SFX(dst, (const T *)&a, n);                                             \
}
CC_DEFINE_DW_FINISH(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW_FINISH(double, cc_vf64, CC_VL_F64, f64)

#define CC_DEFINE_DW_PIXEL(T, V, VL, SFX)                                                     \
static inline void cc_dw_pixel_##SFX(T *restrict dst, const T *restrict in,                 \
                                     const ptrdiff_t *restrict off,                        \
                                     const T *const *restrict wrow, ptrdiff_t ntaps,       \
                                     ptrdiff_t C, const T *restrict bias, int act)         \
{                                                                                          \
    ptrdiff_t c = 0;                                                                       \
    for (; c + 4 * VL <= C; c += 4 * VL) {                                                 \
        V a[4];                                                                            \
        _Pragma("GCC unroll 4")                                                            \
        for (int u = 0; u < 4; ++u) a[u] = (V){0};                                         \
        for (ptrdiff_t j = 0; j < ntaps; ++j) {                                            \
            const T *x = in + off[j] + c, *w = wrow[j] + c;                                \
            _Pragma("GCC unroll 4")                                                        \
            for (int u = 0; u < 4; ++u) {                                                  \
                V xv, wv;                                                                  \
                memcpy(&xv, x + u * VL, sizeof xv);                                        \
                memcpy(&wv, w + u * VL, sizeof wv);                                        \
                a[u] += wv * xv;                                                           \
            }                                                                              \
        }                                                                                  \
        _Pragma("GCC unroll 4")                                                            \
        for (int u = 0; u < 4; ++u)                                                        \
            cc_dw_finish_##SFX(dst + c + u * VL, a[u], bias, c + u * VL, VL, act);         \
    }                                                                                      \
    for (; c < C; c += VL) {                                                               \
        ptrdiff_t n = C - c < VL ? C - c : VL;                                             \
        V a = (V){0};                                                                      \
        for (ptrdiff_t j = 0; j < ntaps; ++j) {                                            \
            V xv, wv;                                                                      \
            if (n == VL) memcpy(&xv, in + off[j] + c, sizeof xv);                          \
            else xv = cc_load_tail_##SFX(in + off[j] + c, n);                              \
            memcpy(&wv, wrow[j] + c, sizeof wv);                                           \
            a += wv * xv;                                                                  \
        }                                                                                  \
        cc_dw_finish_##SFX(dst + c, a, bias, c, n, act);                                   \
    }                                                                                      \
}

CC_DEFINE_DW_PIXEL(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW_PIXEL(double, cc_vf64, CC_VL_F64, f64)

/* Channels last (NHWC rows, or the channel-blocked rows of _depthwise's blocked path), a
 * square K x K kernel (K = 3, 5 or 7), pixels whose taps all land inside the input (a row's
 * interior, or a zero-padded copy):
 *
 *   dst[p * ldd + c] = act(sum_{r,s < K} wt[(K r + s) * ldw + c] * in[p * px + r * rs + s * ss + c]
 *                          + bias[c])
 *
 * for p < npx, c < C (px: input elements from one output pixel's window to the next; rs, ss:
 * from one tap row, column, to the next; bias and act optional, cc_dw_finish). One vector of
 * channels at a time, blocks of NP pixels (as many FMA chains), a tap row's K weight vectors
 * in registers. With dilation 1 and stride 1 (or 2), pixel u's tap s is the input column
 * u + s (2u + s), so a tap row of the block loads NP + K - 1 (2 NP + K - 2) vectors, not
 * K NP, each used in up to K multiply-adds as soon as it is loaded (K = 7 keeps NP
 * accumulators, 7 weights and one input in registers); its addresses are one pointer
 * stepped along the row (with 3 NP offsets GCC hoisted and spilled them: two loads per FMA,
 * 2x slower on 144 channels of 56x56). NP: CC_DW_NP, for K >= 5 at stride 1 CC_DW_NP_WIDE
 * (a 7x7 block of 8 pixels is 8 chains of 49 FMAs, each FMA's latency of 4 cycles exactly
 * the 8 chains' issue time at 2 a cycle, so every hiccup stalled: 16 pixels, one block of
 * channels in L1, AVX-512: 146 -> 163 GFLOP/s; loading each tap's input per FMA instead,
 * with 16 chains, 133), then smaller blocks down to one pixel; at K >= 5 also 14 and 7, so
 * that the rows of 7x7 and 14x14 images are one block each (a 7-wide row had been blocks of
 * 4, 2 and 1, as many chains each, waiting on the latency: 768 channels of 7x7 with a 7x7
 * kernel, 1 thread, NCHW, 0.104 -> 0.073 ms; computing the padding columns too, as one run
 * of pixels over all rows, 0.086). The last partial vector of channels is read and
 * written lane-masked, nothing past a pixel's C values. */
#if CC_VECTOR_BYTES == 64
#  define CC_DW_NP 8       /* of 32 registers at K = 3: 8 accumulators, 9 weights, inputs */
#  define CC_DW_NP_WIDE 16  /* at K = 7: 16 accumulators, 7 weights, an input */
#else
#  define CC_DW_NP 4
#  define CC_DW_NP_WIDE 8   /* 16 registers */
#endif
#define CC_DEFINE_DW_SQUARE(T, V, VL, SFX)                                                    \
/* np <= CC_DW_NP pixels of one full vector of channels. K, step (px == step * ss) and np   \
 * are constants at each call: with step 1 or 2, a tap row's loads are columns j * ss,      \
 * j < step (np - 1) + K, and pixel u's tap s is column step u + s; step 0: any px. */     \
static inline __attribute__((always_inline)) void                                          \
cc_dw_square_block_##SFX(T *restrict dst, ptrdiff_t ldd, const T *restrict in, ptrdiff_t px, \
                         ptrdiff_t rs, ptrdiff_t ss, const T *restrict wt, ptrdiff_t ldw,  \
                         const T *restrict bias, ptrdiff_t c, int act, const int K,        \
                         const int np, const int step)                                     \
{                                                                                          \
    V a[CC_DW_NP_WIDE];                                                                    \
    _Pragma("GCC unroll 16")                                                               \
    for (int u = 0; u < np; ++u) a[u] = (V){0};                                            \
    _Pragma("GCC unroll 3")                                                                \
    for (int r = 0; r < K; ++r) {                                                          \
        const T *x = in + r * rs;                                                          \
        V w[7];                                                                            \
        _Pragma("GCC unroll 7")                                                            \
        for (int s = 0; s < K; ++s) memcpy(&w[s], wt + (r * K + s) * ldw, sizeof(V));     \
        if (step) {                                                                 \
            _Pragma("GCC unroll 32")                                                       \
            for (int j = 0; j < step * (np - 1) + K; ++j) {                                \
                V xv;                                                                      \
                memcpy(&xv, x, sizeof xv);                                                 \
                x += ss;                                                                   \
                __asm__("" : "+r"(x));  /* one pointer stepped, not hoisted offsets */     \
                _Pragma("GCC unroll 16")                                                   \
                for (int u = 0; u < np; ++u) {                                             \
                    const int s = j - step * u;                                            \
                    if (s >= 0 && s < K) a[u] += w[s] * xv;                                \
                }                                                                          \
            }                                                                              \
        } else {                                                                           \
            _Pragma("GCC unroll 7")                                                        \
            for (int s = 0; s < K; ++s) {                                                  \
                _Pragma("GCC unroll 8")                                                    \
                for (int u = 0; u < np; ++u) {                                             \
                    V xv;                                                                  \
                    memcpy(&xv, x + u * px + s * ss, sizeof xv);                           \
                    a[u] += w[s] * xv;                                                     \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    _Pragma("GCC unroll 16")                                                               \
    for (int u = 0; u < np; ++u)                                                           \
        cc_dw_finish_##SFX(dst + u * ldd, a[u], bias, c, VL, act);                         \
}                                                                                          \
/* Blocks of np pixels from p while they fit, each through the cn channels from in, dst   \
 * and wt (whole vectors, the bias from bias[0]) before the next. Returns the next pixel. */ \
static inline __attribute__((always_inline)) ptrdiff_t                                     \
cc_dw_square_blocks_##SFX(T *restrict dst, ptrdiff_t ldd, const T *restrict in, ptrdiff_t px, \
                          ptrdiff_t rs, ptrdiff_t ss, const T *restrict wt, ptrdiff_t ldw, \
                          const T *restrict bias, ptrdiff_t cn, int act, ptrdiff_t p,      \
                          ptrdiff_t npx, const int K, const int np, const int step)        \
{                                                                                          \
    for (; p + np <= npx; p += np)                                                         \
        for (ptrdiff_t c = 0; c < cn; c += VL)                                             \
            cc_dw_square_block_##SFX(dst + p * ldd + c, ldd, in + p * px + c, px, rs, ss,  \
                                     wt + c, ldw, bias, c, act, K, np, step);              \
    return p;                                                                              \
}                                                                                          \
/* Pixel blocks outer, channels inner: each block goes through all the channels, a vector  \
 * at a time (its weight vectors reloaded from L1), so the row's input is read once, in    \
 * order. One vector of channels along the whole row at a time read each pixel's cache     \
 * lines in separate passes (384 bytes apart with 96 channels): 1 thread, AVX-512, 3x3, 96 \
 * channels at stride 2 on 112x112 0.18 -> 0.14 ms, 32 of 112x112 0.16 -> 0.12, 64 of      \
 * 56x56 0.076 -> 0.062; AVX2 0.25 -> 0.145, 0.21 -> 0.13. Rows of fewer than two blocks    \
 * (7x7 images: 960 channels 0.027 -> 0.033 ms on AVX2) go a vector of channels at a time. */ \
static inline __attribute__((always_inline)) void                                          \
cc_dw_square_rows_##SFX(T *restrict dst, ptrdiff_t ldd, const T *restrict in, ptrdiff_t px, \
                        ptrdiff_t rs, ptrdiff_t ss, const T *restrict wt, ptrdiff_t ldw,   \
                        ptrdiff_t npx, ptrdiff_t cfull, const T *restrict bias, int act,   \
                        const int K)                                                       \
{                                                                                          \
    const ptrdiff_t cstep = npx >= 2 * (px == ss ? CC_DW_NP : 4) ? cfull : VL;             \
    for (ptrdiff_t c0 = 0; c0 < cfull; c0 += cstep) {                                      \
        ptrdiff_t p = 0;                                                                   \
        T *d = dst + c0;                                                                   \
        const T *x = in + c0, *w = wt + c0, *b = bias ? bias + c0 : 0;                     \
        /* then smaller blocks for the row's last pixels (a 7x7 image's rows have 5 inner \
         * pixels at K 3) */                                                                \
        if (px == ss) {          /* stride 1 */                                            \
            if (K >= 5) {                                                                  \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              0, npx, K, CC_DW_NP_WIDE, 1);                \
                if (CC_DW_NP_WIDE >= 14)                                                   \
                    p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, \
                                                  act, p, npx, K,                          \
                                                  CC_DW_NP_WIDE >= 14 ? 14 : 1, 1);        \
            }                                                                              \
            p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act, p, \
                                          npx, K, CC_DW_NP, 1);                            \
            if (K >= 5)                                                                    \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              p, npx, K, 7, 1);                            \
            if (CC_DW_NP > 4)                                                              \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              p, npx, K, 4, 1);                            \
            p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act, p, \
                                          npx, K, 2, 1);                                   \
            p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act, p, \
                                          npx, K, 1, 1);                                   \
        } else {                                                                           \
            const int step = px == 2 * ss ? 2 : 0;  /* stride 2, or any */                 \
            if (step) {                                                                    \
                if (K >= 5)                                                                \
                    p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, \
                                                  act, 0, npx, K, CC_DW_NP, 2);            \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              p, npx, K, 4, 2);                            \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              p, npx, K, 2, 2);                            \
            } else {                                                                       \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              0, npx, K, 4, 0);                            \
                p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act,\
                                              p, npx, K, 2, 0);                            \
            }                                                                              \
            p = cc_dw_square_blocks_##SFX(d, ldd, x, px, rs, ss, w, ldw, b, cstep, act, p, \
                                          npx, K, 1, 0);                                   \
        }                                                                                  \
    }                                                                                      \
}                                                                                          \
static inline void cc_dw_square_pixels_##SFX(T *restrict dst, ptrdiff_t ldd,               \
                                             const T *restrict in, ptrdiff_t px,           \
                                             ptrdiff_t rs, ptrdiff_t ss, int K,            \
                                             const T *restrict wt, ptrdiff_t ldw,          \
                                             ptrdiff_t npx, ptrdiff_t C,                   \
                                             const T *restrict bias, int act)              \
{                                                                                          \
    const ptrdiff_t cfull = C - C % VL;                                                    \
    if (cfull && K == 3)                                                                   \
        cc_dw_square_rows_##SFX(dst, ldd, in, px, rs, ss, wt, ldw, npx, cfull, bias, act, 3); \
    else if (cfull && K == 5)                                                              \
        cc_dw_square_rows_##SFX(dst, ldd, in, px, rs, ss, wt, ldw, npx, cfull, bias, act, 5); \
    else if (cfull && K == 7)                                                              \
        cc_dw_square_rows_##SFX(dst, ldd, in, px, rs, ss, wt, ldw, npx, cfull, bias, act, 7); \
    /* the rest: every pixel of a last partial vector of channels */                      \
    for (ptrdiff_t c = cfull; c < C; c += VL) {                                            \
        const ptrdiff_t n = C - c;                                                         \
        for (ptrdiff_t q = 0; q < npx; ++q) {                                              \
            V a = (V){0};                                                                  \
            const T *wr = wt + c;                                                          \
            for (int r = 0; r < K; ++r)                                                    \
                for (int s = 0; s < K; ++s, wr += ldw) {                                   \
                    V wv, xv = cc_load_tail_##SFX(in + q * px + r * rs + s * ss + c, n);   \
                    memcpy(&wv, wr, sizeof wv);                                            \
                    a += wv * xv;                                                          \
                }                                                                          \
            cc_dw_finish_##SFX(dst + q * ldd + c, a, bias, c, n, act);                     \
        }                                                                                  \
    }                                                                                      \
}

CC_DEFINE_DW_SQUARE(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW_SQUARE(double, cc_vf64, CC_VL_F64, f64)

/* One input row of a block of n <= VL channels in the channel-blocked layout (one vector
 * of the block's channels per pixel, zero past n):
 *
 *   dst[iw * VL + j] = src[j * sc + iw * sw],  iw < w, j < n;  0 for n <= j < VL
 *
 * Channels contiguous (sc == 1, NHWC): a vector per pixel. Pixels contiguous (sw == 1,
 * NCHW): VL pixels of the n channel rows at a time, transposed in registers (cc_transpose);
 * any other strides element by element. */
#define CC_DEFINE_DW_GATHER(T, V, VL, SFX)                                                    \
static inline void cc_dw_gather_row_##SFX(T *restrict dst, const T *restrict src,           \
                                          ptrdiff_t sc, ptrdiff_t sw, ptrdiff_t w,          \
                                          ptrdiff_t n)                                      \
{                                                                                          \
    if (sc == 1) {                                                                         \
        for (ptrdiff_t iw = 0; iw < w; ++iw) {                                             \
            V v;                                                                           \
            if (n == VL) memcpy(&v, src + iw * sw, sizeof v);                              \
            else v = cc_load_tail_##SFX(src + iw * sw, n);                                 \
            memcpy(dst + iw * VL, &v, sizeof v);                                           \
        }                                                                                  \
        return;                                                                            \
    }                                                                                      \
    if (n < VL) memset(dst, 0, (size_t)(w * VL) * sizeof(T));                              \
    if (sw == 1) {                                                                         \
        for (ptrdiff_t iw = 0; iw < w; iw += VL)                                           \
            cc_transpose_##SFX(dst + iw * VL, VL, src + iw, sc, n,                         \
                               (int)(w - iw < VL ? w - iw : VL));                          \
        return;                                                                            \
    }                                                                                      \
    for (ptrdiff_t iw = 0; iw < w; ++iw)                                                   \
        for (ptrdiff_t j = 0; j < n; ++j) dst[iw * VL + j] = src[j * sc + iw * sw];        \
}
CC_DEFINE_DW_GATHER(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_DW_GATHER(double, cc_vf64, CC_VL_F64, f64)

#endif /* CC_DEPTHWISE_H */
