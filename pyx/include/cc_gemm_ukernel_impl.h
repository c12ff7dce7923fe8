/* Body of the GEMM microkernel, included by cc_gemm_ukernel.h once per element type and tile
 * width, with CC_T (element), CC_V (vector), CC_VL (lanes), CC_UK_NV (vectors per tile row),
 * CC_NR (tile width, CC_UK_NV * CC_VL) and CC_FN (name suffix). */

/* One step of k: load NR values of B (CC_UK_NV vectors), broadcast MR values of A (A_I gives the
 * i-th), MR x CC_UK_NV fused multiply-adds. */
#define CC_UK_STEP(A_I)                                                                   \
    do {                                                                                  \
        CC_V bv[CC_UK_NV];                                                                \
        _Pragma("GCC unroll 4")                                                           \
        for (int j = 0; j < CC_UK_NV; ++j) memcpy(&bv[j], b + j * CC_VL, sizeof(CC_V));   \
        _Pragma("GCC unroll 32")                                                          \
        for (int i = 0; i < CC_MR; ++i) {                                                 \
            const CC_T ai = (A_I);                                                        \
            _Pragma("GCC unroll 4")                                                       \
            for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] += ai * bv[j];                   \
        }                                                                                 \
        b += ldb;                                                                         \
    } while (0)

/* C[mr x nr] (+)= A[mr x kc] B[kc x nr] (+ bias_rows), the valid part of an MR x NR tile.
 *
 * A, lda == 0: packed, kc groups of MR values (a[p*MR + i]), rows past mr zero-filled.
 * A, lda > 0:  rows of the caller's matrix, a[i*lda + p]; rows past mr repeat row mr-1 (their
 *              results are discarded), so nothing is read outside the matrix.
 * B: kc rows of at least NR values, ldb apart (a packed panel has ldb == NR).
 * C: rows ldc apart, columns contiguous. accumulate: add to what C holds (a later block of K).
 * bias_rows: NULL, or MR values added to the rows after the sum (on the last block of K only).
 * act: CC_UK_RELU or CC_UK_RELU6 applied to the result in registers (the last block of K
 *      only; NaN stays NaN, as in torch), or 0.
 */
static inline void CC_FN(cc_gemm_ukernel)(
    ptrdiff_t kc, const CC_T *restrict a, ptrdiff_t lda,
    const CC_T *restrict b, ptrdiff_t ldb,
    CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_rows, int act)
{
    CC_V acc[CC_MR][CC_UK_NV];
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] = (CC_V){0};

    if (lda == 0 && ldb != CC_NR) {
        /* B read in place (a 1x1 convolution's input planes, one row per input channel):
         * kc rows far apart, more streams than the hardware prefetcher follows when the
         * input is not in cache. Fetch the next tile's part of each row (its two cache
         * lines) while this one computes. */
        for (ptrdiff_t p = 0; p < kc; ++p, a += CC_MR) {
            __builtin_prefetch(a + CC_UK_PREFETCH * CC_MR);
            __builtin_prefetch(b + CC_NR);
            __builtin_prefetch((const char *)(b + CC_NR) + 64);
            CC_UK_STEP(a[i]);
        }
    } else if (lda == 0) {
        for (ptrdiff_t p = 0; p < kc; ++p, a += CC_MR) {
            /* packed A streams from L3 or memory when the weights outgrow L2 (512x512
             * Winograd weights are 16 MiB): fetch a few steps ahead */
            __builtin_prefetch(a + CC_UK_PREFETCH * CC_MR);
            CC_UK_STEP(a[i]);
        }
    } else {
        const CC_T *ap[CC_MR];
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) ap[i] = a + (i < mr ? i : mr - 1) * lda;
        for (ptrdiff_t p = 0; p < kc; ++p) CC_UK_STEP(ap[i][p]);
    }

    if (mr == CC_MR && nr == CC_NR) {
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) {
#pragma GCC unroll 4
            for (int j = 0; j < CC_UK_NV; ++j) {
                CC_T *cij = c + i * ldc + j * CC_VL;
                CC_V v = acc[i][j];
                if (accumulate) {
                    CC_V old;
                    memcpy(&old, cij, sizeof old);
                    v = old + v;
                }
                if (bias_rows) v = v + bias_rows[i];
                if (act) v = cc_uk_act(v, act);
                memcpy(cij, &v, sizeof v);
            }
        }
    } else {
        CC_T tile[CC_MR][CC_NR];
        memcpy(tile, acc, sizeof tile);
        for (int i = 0; i < mr; ++i) {
            for (int j = 0; j < nr; ++j) {
                CC_T v = tile[i][j];
                if (accumulate) v = c[i * ldc + j] + v;
                if (bias_rows) v = v + bias_rows[i];
                if (act) {   /* NaN compares false: it stays */
                    v = v < 0 ? (CC_T)0 : v;
                    if (act == CC_UK_RELU6) v = v > 6 ? (CC_T)6 : v;
                }
                c[i * ldc + j] = v;
            }
        }
    }
}

/* C[MR x NR] (+)= sum_p A[:, p] B[p, :] with A read through an offset table: step p's MR
 * values are rows[i][offs[p]], i < MR, one base per row: MR pixels of a phase image
 * (pyx/_direct.pyx), consecutive ones (rows[i] = base + i) or the pixels of a tile that
 * spans output rows. B packed, kc rows of NR. The whole tile is written, rows ldc apart;
 * accumulate: added to what C holds (a later block of K). bias_cols: NULL, or NR values added
 * to the columns (output channels) after the sum; act: CC_UK_RELU/RELU6 or 0, then (both for
 * the last block of K of a tile written straight into a channels-last output). */
static inline void CC_FN(cc_gemm_ukernel_indirect_rows)(
    ptrdiff_t kc, const CC_T *const *restrict rows, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, int accumulate,
    const CC_T *restrict bias_cols, int act)
{
    const ptrdiff_t ldb = CC_NR;
    const CC_T *ap[CC_MR];
    CC_V acc[CC_MR][CC_UK_NV];
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i) {
        ap[i] = rows[i];
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] = (CC_V){0};
    }
    for (ptrdiff_t p = 0; p < kc; ++p) {
        const ptrdiff_t o = offs[p];
        CC_UK_STEP(ap[i][o]);
    }
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i) {
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) {
            CC_T *cij = c + i * ldc + j * CC_VL;
            CC_V v = acc[i][j];
            if (accumulate) {
                CC_V old;
                memcpy(&old, cij, sizeof old);
                v = old + v;
            }
            if (bias_cols) {
                CC_V bj;
                memcpy(&bj, bias_cols + j * CC_VL, sizeof bj);
                v = v + bj;
            }
            if (act) v = cc_uk_act(v, act);
            memcpy(cij, &v, sizeof v);
        }
    }
}

/* The same, for MR consecutive pixels: abase + i. */
static inline void CC_FN(cc_gemm_ukernel_indirect)(
    ptrdiff_t kc, const CC_T *restrict abase, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, int accumulate,
    const CC_T *restrict bias_cols, int act)
{
    const CC_T *rows[CC_MR];
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i) rows[i] = abase + i;
    CC_FN(cc_gemm_ukernel_indirect_rows)(kc, rows, offs, b, c, ldc, accumulate, bias_cols, act);
}

#undef CC_UK_STEP
