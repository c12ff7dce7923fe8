/* Winograd F(2x2, 3x3) transforms (Lavin & Gray, arXiv 1509.09308), vectorised across tiles.
 *
 * One 2x2 output tile from a 4x4 input patch d and a 3x3 filter g:
 *
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A        (. elementwise, 16 products instead of 36)
 *
 *   B^T = | 1  0 -1  0 |    G = | 1    0    0   |    A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
 *         | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |        | 0    0    1   |
 *
 * The 16 elementwise products summed over input channels are 16 GEMMs; pyx/_winograd.pyx runs
 * them with the direct path's microkernel. Element xi = 4*k + l of a transform is position
 * (k, l) of the 4x4 matrix. The input and output transforms handle VL tiles of one tile row at
 * once, lane t for tile t; a tile's patch starts 2 columns after its left neighbour's.
 */
#ifndef CC_WINOGRAD_H
#define CC_WINOGRAD_H
#include "cc_simd.h"

/* Lanes 2t (even), 2t + 1 (odd) of two concatenated vectors; and the interleave back. */
#if defined(__GNUC__) && !defined(__clang__)
#define CC_SHUF(a, b, m) __builtin_shuffle((a), (b), (m))
#define CC_PICK(a, m) __builtin_shuffle((a), (m))
#define CC_WINO_SHUFFLE 1
#else
#define CC_PICK(a, m) (a)
#define CC_WINO_SHUFFLE 0
#endif
/* Several tile rows share a vector (cc_wino_input's slots) only with shuffles, and where a
 * vector holds 8 lanes or more: with 4, two rows of one tile are all that would fit. */
#define CC_WINO_PACK_ROWS_F32 (CC_WINO_SHUFFLE && CC_VL_F32 >= 8)
#define CC_WINO_PACK_ROWS_F64 (CC_WINO_SHUFFLE && CC_VL_F64 >= 8)

#define CC_DEFINE_WINOGRAD(T, V, VI, VL, SFX)                                                 \
                                                                                            \
/* U = G g G^T for the filters of `rows` (<= R) output channels, R of them per panel, and all \
 * c_in input channels: w points at output channel row 0, input channel 0 (rows co_stride     \
 * apart, 9 values per input channel); dst[xi * xi_stride + ci * R + i] = U[xi] of row i,     \
 * zero for rows >= `rows`. One filter at a time in scalar registers: its 9 values in, its 16 \
 * out (as loops over the R filters of an input channel through stack arrays, gcc kept every \
 * value in memory: ~150 cycles a filter, 11 ms of a 512x512 layer's preparation). */       \
static inline void cc_wino_weight_panel_##SFX(const T *w, ptrdiff_t co_stride, int rows,      \
                                             int R, ptrdiff_t c_in, T *dst,                \
                                             ptrdiff_t xi_stride)                           \
{                                                                                           \
    const T h = (T)0.5;                                                                    \
    for (ptrdiff_t ci = 0; ci < c_in; ++ci) {                                              \
        T *d = dst + ci * R;                                                               \
        for (int i = 0; i < R; ++i) {                                                      \
            T u[16];                                                                       \
            if (i < rows) {                                                                \
                const T *g = w + i * co_stride + ci * 9;                                   \
                for (int k = 0; k < 4; ++k) {                                              \
                    T r[3];  /* row k of G g */                                            \
                    for (int c = 0; c < 3; ++c)                                            \
                        r[c] = k == 0 ? g[c]                                               \
                             : k == 1 ? h * (g[c] + g[3 + c] + g[6 + c])                   \
                             : k == 2 ? h * (g[c] - g[3 + c] + g[6 + c])                   \
                             : g[6 + c];                                                   \
                    u[4 * k + 0] = r[0];                                                   \
                    u[4 * k + 1] = h * (r[0] + r[1] + r[2]);                               \
                    u[4 * k + 2] = h * (r[0] - r[1] + r[2]);                               \
                    u[4 * k + 3] = r[2];                                                   \
                }                                                                          \
            } else {                                                                       \
                for (int xi = 0; xi < 16; ++xi) u[xi] = (T)0;                              \
            }                                                                              \
            for (int xi = 0; xi < 16; ++xi) d[xi * xi_stride + i] = u[xi];                 \
        }                                                                                  \
    }                                                                                      \
}                                                                                           \
                                                                                            \
static inline V cc_wino_lanes_##SFX(const T *lanes) { V v; memcpy(&v, lanes, sizeof v); return v; } \
                                                                                            \
/* Four column vectors of one patch row for VL tiles: cols c0 + 2t + j, j = 0..3, from a row \
 * segment seg[0 .. 2*VL + 2) (seg[0] is column c0). */                                      \
static inline void cc_wino_row_##SFX(const T *seg, V d[4])                                 \
{                                                                                           \
    if (CC_WINO_SHUFFLE) {                                                                 \
        V lo, hi, lo2, hi2;                                                                \
        memcpy(&lo, seg, sizeof lo); memcpy(&hi, seg + VL, sizeof hi);                     \
        memcpy(&lo2, seg + 2, sizeof lo2); memcpy(&hi2, seg + 2 + VL, sizeof hi2);         \
        d[0] = CC_SHUF(lo, hi, CC_WINO_EVEN_##SFX);                                        \
        d[1] = CC_SHUF(lo, hi, CC_WINO_ODD_##SFX);                                         \
        d[2] = CC_SHUF(lo2, hi2, CC_WINO_EVEN_##SFX);                                      \
        d[3] = CC_SHUF(lo2, hi2, CC_WINO_ODD_##SFX);                                       \
    } else {                                                                               \
        T l[4][VL];                                                                        \
        for (int j = 0; j < 4; ++j)                                                        \
            for (int t = 0; t < VL; ++t) l[j][t] = seg[2 * t + j];                         \
        for (int j = 0; j < 4; ++j) d[j] = cc_wino_lanes_##SFX(l[j]);                      \
    }                                                                                      \
}                                                                                           \
                                                                                            \
/* V = B^T d B for `ntiles` (<= VL) tiles: tile t's patch is rows 0..3 of a band (rows bs     \
 * apart, zero-padded, at least 2*VL + 2 readable values from c0), columns c0+2s..c0+2s+3 for \
 * s = slot[t], or s = t (slot NULL: the tiles of one tile row, side by side). With slot, the \
 * band holds several short tile rows, one unused slot between them (its patch straddles     \
 * two rows); each result vector is compacted (lane t from lane slot[t]) before it is stored. \
 * Writes all VL lanes of v[xi * v_stride + t]: the caller's lanes past ntiles must be       \
 * written again later or never read (a masked store costs ~5x a whole one on AMD Zen, and a \
 * 28-tile row ends every fourth vector short); with slot, slot[t] for t >= ntiles names any \
 * slot. Returns a bit mask of the tiles whose transform is not finite (a NaN or Inf in the   \
 * patch, or an overflow). */                                                               \
static inline __attribute__((always_inline)) unsigned long long cc_wino_input_body_##SFX(   \
    T *v, ptrdiff_t v_stride, const T *band, ptrdiff_t bs, ptrdiff_t c0, int ntiles,        \
    const int *slot)                                                                        \
{                                                                                           \
    V d[4][4], e[4][4];                                                                    \
    VI pick;                                                                               \
    if (slot)                                                                              \
        for (int t = 0; t < VL; ++t) pick[t] = slot[t];                                    \
    for (int i = 0; i < 4; ++i) cc_wino_row_##SFX(band + i * bs + c0, d[i]);              \
    for (int i = 0; i < 4; ++i) {            /* d B, per patch row */                       \
        e[i][0] = d[i][0] - d[i][2];                                                       \
        e[i][1] = d[i][1] + d[i][2];                                                       \
        e[i][2] = d[i][2] - d[i][1];                                                       \
        e[i][3] = d[i][1] - d[i][3];                                                       \
    }                                                                                      \
    VI bad = (VI){0};                                                                      \
    for (int l = 0; l < 4; ++l) {            /* B^T (d B), per column */                    \
        /* four named vectors, each stored whole (from an array indexed in a loop, GCC 12   \
         * spilled them and stored them in 16-byte halves) */                               \
        V c0 = e[0][l] - e[2][l], c1 = e[1][l] + e[2][l];                                  \
        V c2 = e[2][l] - e[1][l], c3 = e[1][l] - e[3][l];                                  \
        /* NaN or Inf: x - x is not 0 */                                                   \
        bad |= (VI)((c0 - c0) != 0) | (VI)((c1 - c1) != 0)                                 \
             | (VI)((c2 - c2) != 0) | (VI)((c3 - c3) != 0);                                \
        if (slot) {                                                                        \
            c0 = CC_PICK(c0, pick); c1 = CC_PICK(c1, pick);                                \
            c2 = CC_PICK(c2, pick); c3 = CC_PICK(c3, pick);                                \
        }                                                                                  \
        memcpy(v + l * v_stride, &c0, sizeof c0);                                          \
        memcpy(v + (4 + l) * v_stride, &c1, sizeof c1);                                    \
        memcpy(v + (8 + l) * v_stride, &c2, sizeof c2);                                    \
        memcpy(v + (12 + l) * v_stride, &c3, sizeof c3);                                   \
    }                                                                                      \
    long long b[VL], any = 0;                                                              \
    for (int t = 0; t < VL; ++t) { b[t] = bad[t]; any |= b[t]; }                           \
    if (!any) return 0;                                                                    \
    unsigned long long mask = 0;                                                           \
    for (int t = 0; t < ntiles; ++t)                                                       \
        if (b[slot ? slot[t] : t]) mask |= 1ULL << t;                                      \
    return mask;                                                                           \
}                                                                                           \
/* one copy without slots: with the slots' vector live beside the 32 of d and e, the rows'  \
 * transform spilled (64 -> 64 on 224x224, 1 thread: 1.05x the time) */                     \
static inline unsigned long long cc_wino_input_##SFX(                                      \
    T *v, ptrdiff_t v_stride, const T *band, ptrdiff_t bs, ptrdiff_t c0, int ntiles,        \
    const int *slot)                                                                        \
{                                                                                           \
    if (slot) return cc_wino_input_body_##SFX(v, v_stride, band, bs, c0, ntiles, slot);    \
    return cc_wino_input_body_##SFX(v, v_stride, band, bs, c0, ntiles, 0);                 \
}                                                                                           \
                                                                                            \
/* Y = A^T M A for up to VL tiles: M from m[xi * m_stride + t]. The tile in slot s (tile s, or \
 * with tile_in_slot the tile tile_in_slot[s], for the slots of cc_wino_input) gives columns \
 * 2s, 2s+1 of rows 0 and 1 of y (rows 2*VL apart); the caller clips them to the output and  \
 * passes them through the output pass. */                                                  \
static inline __attribute__((always_inline)) void cc_wino_output_body_##SFX(               \
    T *y, const T *m, ptrdiff_t m_stride, const int *tile_in_slot)                          \
{                                                                                           \
    V s[4][2], r[2][2];                                                                    \
    VI pick;                                                                               \
    if (tile_in_slot)                                                                      \
        for (int t = 0; t < VL; ++t) pick[t] = tile_in_slot[t];                            \
    for (int k = 0; k < 4; ++k) {            /* M A: 4 x 2 */                               \
        /* one whole-vector load each (copied into an array in a loop, GCC 12 moved them as \
         * 16-byte halves through the stack and read them back whole: a store-forwarding   \
         * stall that took 44% of this function's time on Zen 3) */                        \
        const T *mk = m + 4 * k * m_stride;                                                \
        V m0 = cc_wino_lanes_##SFX(mk), m1 = cc_wino_lanes_##SFX(mk + m_stride);           \
        V m2 = cc_wino_lanes_##SFX(mk + 2 * m_stride);                                     \
        V m3 = cc_wino_lanes_##SFX(mk + 3 * m_stride);                                     \
        if (tile_in_slot) {                                                                \
            m0 = CC_PICK(m0, pick); m1 = CC_PICK(m1, pick);                                \
            m2 = CC_PICK(m2, pick); m3 = CC_PICK(m3, pick);                                \
        }                                                                                  \
        s[k][0] = m0 + m1 + m2;                                                            \
        s[k][1] = m1 - m2 - m3;                                                            \
    }                                                                                      \
    for (int c = 0; c < 2; ++c) {            /* A^T (M A): 2 x 2 */                         \
        r[0][c] = s[0][c] + s[1][c] + s[2][c];                                             \
        r[1][c] = s[1][c] - s[2][c] - s[3][c];                                             \
    }                                                                                      \
    for (int a = 0; a < 2; ++a) {            /* interleave: column 2t + c = r[a][c] lane t */ \
        T *row = y + a * 2 * VL;                                                           \
        if (CC_WINO_SHUFFLE) {                                                             \
            V lo = CC_SHUF(r[a][0], r[a][1], CC_WINO_ZIPLO_##SFX);                         \
            V hi = CC_SHUF(r[a][0], r[a][1], CC_WINO_ZIPHI_##SFX);                         \
            memcpy(row, &lo, sizeof lo);                                                   \
            memcpy(row + VL, &hi, sizeof hi);                                              \
        } else {                                                                           \
            T l0[VL], l1[VL];                                                              \
            memcpy(l0, &r[a][0], sizeof l0);                                               \
            memcpy(l1, &r[a][1], sizeof l1);                                               \
            for (int c = 0; c < 2 * VL; ++c) row[c] = (c & 1) ? l1[c >> 1] : l0[c >> 1];   \
        }                                                                                  \
    }                                                                                      \
}                                                                                           \
static inline void cc_wino_output_##SFX(T *y, const T *m, ptrdiff_t m_stride,               \
                                        const int *tile_in_slot)                           \
{                                                                                           \
    if (tile_in_slot) cc_wino_output_body_##SFX(y, m, m_stride, tile_in_slot);             \
    else cc_wino_output_body_##SFX(y, m, m_stride, 0);                                     \
}

/* shuffle masks: even/odd lanes of a concatenated pair, and the zip (interleave) back */
typedef int cc_wvi32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef long long cc_wvi64 __attribute__((vector_size(CC_VECTOR_BYTES)));
#if CC_VECTOR_BYTES == 64
#define CC_WINO_EVEN_f32 ((cc_wvi32){0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30})
#define CC_WINO_ODD_f32 ((cc_wvi32){1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31})
#define CC_WINO_ZIPLO_f32 ((cc_wvi32){0,16,1,17,2,18,3,19,4,20,5,21,6,22,7,23})
#define CC_WINO_ZIPHI_f32 ((cc_wvi32){8,24,9,25,10,26,11,27,12,28,13,29,14,30,15,31})
#define CC_WINO_EVEN_f64 ((cc_wvi64){0,2,4,6,8,10,12,14})
#define CC_WINO_ODD_f64 ((cc_wvi64){1,3,5,7,9,11,13,15})
#define CC_WINO_ZIPLO_f64 ((cc_wvi64){0,8,1,9,2,10,3,11})
#define CC_WINO_ZIPHI_f64 ((cc_wvi64){4,12,5,13,6,14,7,15})
#elif CC_VECTOR_BYTES == 32
#define CC_WINO_EVEN_f32 ((cc_wvi32){0,2,4,6,8,10,12,14})
#define CC_WINO_ODD_f32 ((cc_wvi32){1,3,5,7,9,11,13,15})
#define CC_WINO_ZIPLO_f32 ((cc_wvi32){0,8,1,9,2,10,3,11})
#define CC_WINO_ZIPHI_f32 ((cc_wvi32){4,12,5,13,6,14,7,15})
#define CC_WINO_EVEN_f64 ((cc_wvi64){0,2,4,6})
#define CC_WINO_ODD_f64 ((cc_wvi64){1,3,5,7})
#define CC_WINO_ZIPLO_f64 ((cc_wvi64){0,4,1,5})
#define CC_WINO_ZIPHI_f64 ((cc_wvi64){2,6,3,7})
#else
#define CC_WINO_EVEN_f32 ((cc_wvi32){0,2,4,6})
#define CC_WINO_ODD_f32 ((cc_wvi32){1,3,5,7})
#define CC_WINO_ZIPLO_f32 ((cc_wvi32){0,4,1,5})
#define CC_WINO_ZIPHI_f32 ((cc_wvi32){2,6,3,7})
#define CC_WINO_EVEN_f64 ((cc_wvi64){0,2})
#define CC_WINO_ODD_f64 ((cc_wvi64){1,3})
#define CC_WINO_ZIPLO_f64 ((cc_wvi64){0,2})
#define CC_WINO_ZIPHI_f64 ((cc_wvi64){1,3})
#endif
#if !CC_WINO_SHUFFLE
#define CC_SHUF(a, b, m) (a)
#endif

CC_DEFINE_WINOGRAD(float, cc_vf32, cc_wvi32, CC_VL_F32, f32)
CC_DEFINE_WINOGRAD(double, cc_vf64, cc_wvi64, CC_VL_F64, f64)

#endif /* CC_WINOGRAD_H */
