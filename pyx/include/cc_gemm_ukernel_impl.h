/* Body of the GEMM microkernel, included by cc_gemm_ukernel.h once per element type and tile
 * width, with CC_T (element), CC_V (vector), CC_VH (half a vector), CC_VL (lanes), CC_UK_NV
 * (vectors per tile row), CC_NR (tile width, CC_UK_NV * CC_VL) and CC_FN (name suffix). */

/* One step of k over the first M rows and NV vectors of the tile, and with H, the first half
 * of vector NV (in acch: a tile whose last vector needs at most half its lanes, e.g. 24
 * output channels on AVX-512, costs 16 + 8 lanes of FMAs, not 32): load the vectors of B,
 * broadcast M values of A (A_I gives the i-th), fused multiply-adds. */
#define CC_UK_STEP(A_I, M, NV, H)                                                         \
    do {                                                                                  \
        CC_V bv[CC_UK_NV];                                                                \
        CC_VH bh;                                                                         \
        _Pragma("GCC unroll 4")                                                           \
        for (int j = 0; j < (NV); ++j) memcpy(&bv[j], b + j * CC_VL, sizeof(CC_V));       \
        if (H) memcpy(&bh, b + (NV) * CC_VL, sizeof bh);                                  \
        _Pragma("GCC unroll 32")                                                          \
        for (int i = 0; i < (M); ++i) {                                                   \
            const CC_T ai = (A_I);                                                        \
            _Pragma("GCC unroll 4")                                                       \
            for (int j = 0; j < (NV); ++j) acc[i][j] += ai * bv[j];                       \
            if (H) acch[i] += ai * bh;                                                    \
        }                                                                                 \
        b += ldb;                                                                         \
    } while (0)

/* Fetch B's row CC_UK_B_AHEAD steps on (its NR values: two cache lines at most), for a
 * packed weight panel read for the first time, cold from memory (CC_UK_B_FETCH) */
#define CC_UK_FETCH_B()                                                                   \
    do {                                                                                  \
        __builtin_prefetch(b + CC_UK_B_AHEAD * ldb);                                      \
        if (CC_NR * sizeof(CC_T) > 64)                                                    \
            __builtin_prefetch((const char *)(b + CC_UK_B_AHEAD * ldb) + 64);             \
    } while (0)

/* LOOP(M, NV, H), with H the half vectors' accumulators (acch, declared only then), then
 * moved into acc[i][NV] (its upper lanes zero) */
#define CC_UK_RUN(LOOP, M, NV, H)                                                         \
    do {                                                                                  \
        CC_VH acch[(H) ? (M) : 1];                                                        \
        _Pragma("GCC unroll 32")                                                          \
        for (int i = 0; i < ((H) ? (M) : 0); ++i) acch[i] = (CC_VH){0};                   \
        LOOP(M, NV, H);                                                                   \
        _Pragma("GCC unroll 32")                                                          \
        for (int i = 0; i < ((H) ? (M) : 0); ++i) acc[i][NV] = cc_uk_widen(acch[i]);      \
    } while (0)
#define CC_UK_RUN_M(LOOP, NV, H)                                                          \
    do {                                                                                  \
        if (mr <= CC_MR / 3) CC_UK_RUN(LOOP, CC_MR / 3, NV, H);                           \
        else if (mr <= 2 * CC_MR / 3) CC_UK_RUN(LOOP, 2 * CC_MR / 3, NV, H);              \
        else CC_UK_RUN(LOOP, CC_MR, NV, H);                                               \
    } while (0)

/* Run LOOP(M, NV, H), a k loop over the first M rows and NV vectors (and H half a vector) of
 * the tile, with the smallest M in {MR/3, 2MR/3, MR} and vectors that cover the valid
 * mr x nr: a partial tile (the last pixels of a 7x7 image, 16 or 24 of a 32-wide panel's
 * channels, 64 output channels in 12-row blocks) costs the FMAs of its valid part, rounded
 * up, not of a whole tile. The rows and vectors left out keep their zeros and are not
 * stored. Half vectors only with 64-byte vectors (CC_UK_HALF): on AVX2 a half is SSE. */
#define CC_UK_TAILS(LOOP)                                                                 \
    do {                                                                                  \
        const int half = CC_UK_HALF && (nr - 1) % CC_VL < CC_VL / 2;                      \
        if (nr <= CC_VL) {                                                                \
            if (half) CC_UK_RUN_M(LOOP, 0, 1);                                            \
            else CC_UK_RUN_M(LOOP, 1, 0);                                                 \
        } else {                                                                          \
            if (CC_UK_NV == 2 && half) CC_UK_RUN_M(LOOP, CC_UK_NV - 1, 1);                \
            else CC_UK_RUN_M(LOOP, CC_UK_NV, 0);                                          \
        }                                                                                 \
    } while (0)

/* n <= CC_VL lanes of a vector from p, and into p (masked below CC_VL: nothing past the n
 * lanes is read or written); stream: a whole vector at an aligned p bypasses the caches */
static inline CC_V CC_FN(cc_uk_load_lanes)(const CC_T *p, int n)
{
    CC_V v;
    if (n == CC_VL) memcpy(&v, p, sizeof v);
    else v = cc_uk_load_tail(p, n);
    return v;
}
static inline void CC_FN(cc_uk_store_lanes)(CC_T *p, CC_V v, int n, int stream)
{
    if (n == CC_VL && stream) cc_uk_stream(p, v);
    else if (n == CC_VL) memcpy(p, &v, sizeof v);
    else cc_uk_store_tail(p, v, n);
}

/* Write n <= CC_VL lanes of v to c: + what c holds (accumulate), + bias_lanes[0..n) (or
 * NULL), + *bias_one (or NULL), + res[0..n) (or NULL: a residual laid out like c), then act.
 * The order of the output pass (cc_store_run): sum, bias, residual, activation. stream: see
 * cc_uk_store_lanes. */
static inline void CC_FN(cc_uk_store)(CC_T *restrict c, CC_V v, int n, int accumulate,
                                      const CC_T *restrict bias_lanes,
                                      const CC_T *restrict bias_one,
                                      const CC_T *restrict res, int act, int stream)
{
    if (accumulate) v = CC_FN(cc_uk_load_lanes)(c, n) + v;
    if (bias_lanes) v = v + CC_FN(cc_uk_load_lanes)(bias_lanes, n);
    if (bias_one) v = v + *bias_one;
    if (res) v = v + CC_FN(cc_uk_load_lanes)(res, n);
    if (act) v = cc_uk_act(v, act);
    CC_FN(cc_uk_store_lanes)(c, v, n, stream);
}

/* Row i of C: ldc apart from c, or crows[i] (a tile's pixels scattered over a block:
 * cc_gemm_ukernel_indirect_rows); crows is a constant NULL in the other kernels */
#define CC_UK_C_ROW(i) (crows ? crows[i] : c + (i) * ldc)

/* Store NV vectors of every row of the accumulators, the last one's first LAST lanes
 * (constant indices: acc stays in registers). Each part of the output pass (sum, bias,
 * residual, activation: cc_uk_store's order) is one test and a sweep over the tile, not a
 * test per vector: with the tests inside cc_uk_store for each of the 12 vectors, a 1x1
 * layer with K = 16 (6 pixels x 16 channels a call) took 68-81 ns a call against 48 with
 * the flags known at compile time (K = 64: 241 against 189). */
#define CC_UK_STORE_ROWS(NV, LAST)                                                        \
    do {                                                                                  \
        _Pragma("GCC unroll 4")                                                           \
        for (int j = 0; j < (NV); ++j) {                                                  \
            const int lanes = j == (NV) - 1 ? (LAST) : CC_VL;                             \
            if (accumulate) {                                                             \
                _Pragma("GCC unroll 32")                                                  \
                for (int i = 0; i < CC_MR; ++i)                                           \
                    acc[i][j] = CC_FN(cc_uk_load_lanes)(CC_UK_C_ROW(i) + j * CC_VL, lanes) \
                                + acc[i][j];                                              \
            }                                                                             \
            if (bias_cols) {                                                              \
                const CC_V bv = CC_FN(cc_uk_load_lanes)(bias_cols + j * CC_VL, lanes);   \
                _Pragma("GCC unroll 32")                                                  \
                for (int i = 0; i < CC_MR; ++i) acc[i][j] = acc[i][j] + bv;               \
            }                                                                             \
            if (bias_rows) {                                                              \
                _Pragma("GCC unroll 32")                                                  \
                for (int i = 0; i < CC_MR; ++i) acc[i][j] = acc[i][j] + bias_rows[i];     \
            }                                                                             \
            if (res) {                                                                    \
                _Pragma("GCC unroll 32")                                                  \
                for (int i = 0; i < CC_MR; ++i)                                           \
                    acc[i][j] = acc[i][j]                                                 \
                                + CC_FN(cc_uk_load_lanes)(res + i * ldc + j * CC_VL, lanes); \
            }                                                                             \
            if (act) {                                                                    \
                _Pragma("GCC unroll 32")                                                  \
                for (int i = 0; i < CC_MR; ++i) acc[i][j] = cc_uk_act(acc[i][j], act);    \
            }                                                                             \
            _Pragma("GCC unroll 32")                                                      \
            for (int i = 0; i < CC_MR; ++i)                                               \
                CC_FN(cc_uk_store_lanes)(CC_UK_C_ROW(i) + j * CC_VL, acc[i][j], lanes, stream); \
        }                                                                                 \
    } while (0)

/* Store the valid mr x nr part of the accumulators: rows ldc apart, bias per row (bias_rows)
 * or per column (bias_cols), residual (res, laid out like C). A tile of whole rows keeps acc
 * in registers when it is one or two vectors wide (16, 24 or 32 output channels of a 32-wide
 * AVX-512 tile: the copy through memory below took 12% of a 32->16 1x1 layer's time). */
#define CC_UK_STORE_TILE()                                                                \
    do {                                                                                  \
        if (mr == CC_MR && nr == CC_NR) {                                                 \
            CC_UK_STORE_ROWS(CC_UK_NV, CC_VL);                                            \
        } else if (CC_UK_NV > 1 && mr == CC_MR && nr == CC_VL) {                          \
            CC_UK_STORE_ROWS(1, CC_VL);                                                   \
        } else if (CC_UK_NV == 2 && mr == CC_MR && nr > CC_VL) {                          \
            CC_UK_STORE_ROWS(2, nr - CC_VL);                                              \
        } else {                                                                          \
            CC_V tile[CC_MR][CC_UK_NV];                                                   \
            memcpy(tile, acc, sizeof tile);                                               \
            for (int i = 0; i < mr; ++i)                                                  \
                for (int j = 0; j * CC_VL < nr; ++j) {                                    \
                    const int n = nr - j * CC_VL < CC_VL ? nr - j * CC_VL : CC_VL;        \
                    CC_FN(cc_uk_store)(CC_UK_C_ROW(i) + j * CC_VL, tile[i][j], n,          \
                                       accumulate, bias_cols ? bias_cols + j * CC_VL : 0, \
                                       bias_rows ? bias_rows + i : 0,                     \
                                       res ? res + i * ldc + j * CC_VL : 0, act, stream); \
                }                                                                         \
        }                                                                                 \
    } while (0)

/* cc_gemm_ukernel (same arguments, lda == 0) for a tile at most CC_UK_COLS columns wide (a
 * panel's last one or two pixels: a 7x7 image's 49 are 3 x 16 + 1), when MR <= CC_VL: the MR
 * rows of packed A as one vector a step against each pixel's value broadcast, in CC_UK_COL_U
 * chains per pixel, instead of MR broadcasts against a vector of B that is mostly padding (MR
 * FMAs a step for nr useful lanes). The caller chooses it: as a branch inside cc_gemm_ukernel
 * it changed that function's code throughout, and 1x1 layers without such tiles ran 4-6%
 * slower (64 -> 256 and 64 -> 64 on 56x56). */
static inline void CC_FN(cc_gemm_ukernel_cols)(
    ptrdiff_t kc, const CC_T *restrict a, const CC_T *restrict b, ptrdiff_t ldb,
    CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_rows, int act)
{
    const CC_T *const bias_cols = 0, *const res = 0;
    CC_T *const *const crows = 0;
    const int stream = CC_UK_HAVE_STREAM && (act & CC_UK_STREAM);
    CC_V acc[CC_MR][CC_UK_NV];
    act &= ~(CC_UK_STREAM | CC_UK_B_CACHED);
    memset(acc, 0, sizeof acc);
#define CC_UK_COL_LOOP(NC)                                                                \
    do {                                                                                  \
        CC_V col[NC][CC_UK_COL_U];                                                        \
        for (int j = 0; j < (NC); ++j)                                                    \
            for (int u = 0; u < CC_UK_COL_U; ++u) col[j][u] = (CC_V){0};                  \
        ptrdiff_t p = 0;                                                                  \
        /* whole-vector loads read into the next step's rows: not in the last step */     \
        for (; p + CC_UK_COL_U < kc; p += CC_UK_COL_U) {                                  \
            _Pragma("GCC unroll 8")                                                       \
            for (int u = 0; u < CC_UK_COL_U; ++u) {                                       \
                CC_V av;                                                                  \
                memcpy(&av, a + (p + u) * CC_MR, sizeof av);                              \
                _Pragma("GCC unroll 2")                                                   \
                for (int j = 0; j < (NC); ++j)                                            \
                    col[j][u] += av * b[(p + u) * ldb + j];                               \
            }                                                                             \
        }                                                                                 \
        for (; p < kc; ++p) {                                                             \
            const CC_V av = CC_FN(cc_uk_load_lanes)(a + p * CC_MR,                        \
                                                    CC_MR < CC_VL ? CC_MR : CC_VL);       \
            for (int j = 0; j < (NC); ++j) col[j][0] += av * b[p * ldb + j];              \
        }                                                                                 \
        for (int j = 0; j < (NC); ++j) {                                                  \
            CC_V sum = col[j][0];                                                         \
            for (int u = 1; u < CC_UK_COL_U; ++u) sum += col[j][u];                       \
            for (int i = 0; i < (CC_MR < CC_VL ? CC_MR : CC_VL); ++i)                     \
                acc[i][0][j] = sum[i];                                                    \
        }                                                                                 \
    } while (0)
    if (nr == 1) CC_UK_COL_LOOP(1);
    else CC_UK_COL_LOOP(2);
#undef CC_UK_COL_LOOP
    CC_UK_STORE_TILE();
}

/* C[mr x nr] (+)= A[mr x kc] B[kc x nr] (+ bias_rows), the valid part of an MR x NR tile.
 *
 * A, lda == 0: packed, kc groups of MR values (a[p*MR + i]), rows past mr zero-filled.
 * A, lda > 0:  rows of the caller's matrix, a[i*lda + p]; rows past mr repeat row mr-1 (their
 *              results are discarded), so nothing is read outside the matrix.
 * B: kc rows of at least NR values, ldb apart (a packed panel has ldb == NR).
 * C: rows ldc apart, columns contiguous. accumulate: add to what C holds (a later block of K).
 * bias_rows: NULL, or mr values added to the rows after the sum (on the last block of K only).
 * act: CC_UK_RELU or CC_UK_RELU6 applied to the result in registers (the last block of K
 *      only; NaN stays NaN, as in torch), or 0; | CC_UK_STREAM: whole vectors are stored past
 *      the caches (c and ldc then 64-byte aligned: an output far larger than the caches);
 *      | CC_UK_B_CACHED: B (rows ldb != NR apart) is in cache, its next columns not fetched.
 */
static inline void CC_FN(cc_gemm_ukernel)(
    ptrdiff_t kc, const CC_T *restrict a, ptrdiff_t lda,
    const CC_T *restrict b, ptrdiff_t ldb,
    CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_rows, int act)
{
    const CC_T *const bias_cols = 0, *const res = 0;
    CC_T *const *const crows = 0;
    const int stream = CC_UK_HAVE_STREAM && (act & CC_UK_STREAM);
    const int b_cached = act & CC_UK_B_CACHED;
    CC_V acc[CC_MR][CC_UK_NV];
    act &= ~(CC_UK_STREAM | CC_UK_B_CACHED);
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] = (CC_V){0};
    if (accumulate) {
        /* C, added to at the end, was written a block of K ago and sits in L2 */
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) {
            if (i < mr) {
                __builtin_prefetch(c + i * ldc);
                if (nr * sizeof(CC_T) > 64) __builtin_prefetch((const char *)(c + i * ldc) + 64);
            }
        }
    }

    if (lda == 0 && ldb != CC_NR && !b_cached) {
        /* B read in place (a 1x1 convolution's input planes, one row per input channel):
         * kc rows far apart, more streams than the hardware prefetcher follows when the
         * input is not in cache. Fetch the next tile's part of each row (its two cache
         * lines) while this one computes. */
#define CC_UK_LOOP(M, NV, H)                                                              \
        for (ptrdiff_t p = 0; p < kc; ++p, a += CC_MR) {                                  \
            __builtin_prefetch(a + CC_UK_PREFETCH * CC_MR);                               \
            __builtin_prefetch(b + CC_NR);                                                \
            __builtin_prefetch((const char *)(b + CC_NR) + 64);                           \
            CC_UK_STEP(a[i], M, NV, H);                                                   \
        }
        CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    } else if (lda == 0) {
        /* packed A streams from L3 or memory when the weights outgrow L2 (512x512
         * Winograd weights are 16 MiB): fetch a few steps ahead (B: a packed panel, or
         * rows ldb apart already in cache) */
#define CC_UK_LOOP(M, NV, H)                                                              \
        for (ptrdiff_t p = 0; p < kc; ++p, a += CC_MR) {                                  \
            __builtin_prefetch(a + CC_UK_PREFETCH * CC_MR);                               \
            CC_UK_STEP(a[i], M, NV, H);                                                   \
        }
        CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    } else {
        const CC_T *ap[CC_MR];
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) ap[i] = a + (i < mr ? i : mr - 1) * lda;
#define CC_UK_LOOP(M, NV, H) for (ptrdiff_t p = 0; p < kc; ++p) CC_UK_STEP(ap[i][p], M, NV, H)
        CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    }
    CC_UK_STORE_TILE();
}

/* C[mr x nr] (+)= sum_p A[:, p] B[p, :] with A read through an offset table: step p's MR
 * values are rows[i][offs[p]], i < MR, one base per row: MR pixels of a phase image
 * (pyx/_direct.pyx), consecutive ones (rows[i] = base + i) or the pixels of a tile that
 * spans output rows; rows past mr repeat a valid one (their results are not stored). B
 * packed, kc rows of NR. The valid mr x nr part is written, rows ldc apart; accumulate: added
 * to what C holds (a later block of K). bias_cols: NULL, or nr values added to the columns
 * (output channels) after the sum; res: NULL, or a residual laid out like C, added next;
 * act: CC_UK_RELU/RELU6 or 0, then (all three for the last block of K of a tile written
 * straight into a channels-last output: no second pass over it). offs NULL: step p's
 * values are rows[i][p] (taps contiguous from each row's base). crows: NULL (a constant of
 * the callers below), or row i of C at crows[i], not c + i * ldc (res then NULL): the
 * pixels of a tile scattered over a block. */
static inline __attribute__((always_inline)) void CC_FN(cc_gemm_ukernel_indirect_rows_body)(
    ptrdiff_t kc, const CC_T *const *restrict rows, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, CC_T *const *restrict crows,
    int mr, int nr, int accumulate, const CC_T *restrict bias_cols, const CC_T *restrict res,
    int act)
{
    const ptrdiff_t ldb = CC_NR;
    const CC_T *const bias_rows = 0;
    const int stream = 0;
    const int b_fetch = act & CC_UK_B_FETCH;
    const CC_T *ap[CC_MR];
    CC_V acc[CC_MR][CC_UK_NV];
    act &= ~CC_UK_B_FETCH;
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i) {
        ap[i] = rows[i];
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] = (CC_V){0};
    }
    if (offs) {
#define CC_UK_LOOP(M, NV, H)                                                              \
        for (ptrdiff_t p = 0; p < kc; ++p) {                                              \
            const ptrdiff_t o = offs[p];                                                  \
            CC_UK_STEP(ap[i][o], M, NV, H);                                               \
        }
        CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    } else {
        /* contiguous taps (a 1x1 layer on channels-last input): no table to load, and
         * twelve bases plus one index fit the registers (with the table's pointer they
         * spilled: 108 -> 116 GFLOP/s on a 196-pixel 384->64 tile loop in L2) */
#define CC_UK_LOOP(M, NV, H)                                                              \
        for (ptrdiff_t p = 0; p < kc; ++p) {                                              \
            if (b_fetch) CC_UK_FETCH_B();                                                 \
            CC_UK_STEP(ap[i][p], M, NV, H);                                               \
        }
        CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    }
    CC_UK_STORE_TILE();
}

static inline void CC_FN(cc_gemm_ukernel_indirect_rows)(
    ptrdiff_t kc, const CC_T *const *restrict rows, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_cols, const CC_T *restrict res, int act)
{
    CC_FN(cc_gemm_ukernel_indirect_rows_body)(kc, rows, offs, b, c, ldc, 0, mr, nr,
                                              accumulate, bias_cols, res, act);
}

/* cc_gemm_ukernel_indirect_rows with row i of C at crows[i] (no bias, residual) */
static inline void CC_FN(cc_gemm_ukernel_indirect_scatter)(
    ptrdiff_t kc, const CC_T *const *restrict rows, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *const *restrict crows, int mr, int nr, int accumulate,
    int act)
{
    CC_FN(cc_gemm_ukernel_indirect_rows_body)(kc, rows, offs, b, crows[0], 0, crows, mr, nr,
                                              accumulate, 0, 0, act);
}

/* The same, for MR pixels px values apart: step p's values are abase[offs[p] + px * i],
 * i < MR, read through one pointer (abase + offs[p], the row's index a constant
 * displacement): twelve row pointers and the loop's own had spilled GPRs, reloaded in every
 * step. px is a constant of each caller below: consecutive pixels of a phase image (1), or
 * of an input read in place at stride 2. Rows past mr read on, after the tile's last pixel
 * (the caller leaves them readable; their results are not stored). */
static inline __attribute__((always_inline)) void CC_FN(cc_gemm_ukernel_indirect_px)(
    ptrdiff_t kc, const CC_T *restrict abase, const ptrdiff_t *restrict offs,
    const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_cols, const CC_T *restrict res, int act, const int px)
{
    const ptrdiff_t ldb = CC_NR;
    const CC_T *const bias_rows = 0;
    CC_T *const *const crows = 0;
    const int stream = 0;
    const int b_fetch = act & CC_UK_B_FETCH;
    CC_V acc[CC_MR][CC_UK_NV];
    act &= ~CC_UK_B_FETCH;
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < CC_UK_NV; ++j) acc[i][j] = (CC_V){0};
#define CC_UK_LOOP(M, NV, H)                                                              \
    for (ptrdiff_t p = 0; p < kc; ++p) {                                                  \
        const CC_T *ap = abase + offs[p];                                                 \
        if (b_fetch) CC_UK_FETCH_B();                                                     \
        CC_UK_STEP(ap[px * i], M, NV, H);                                                 \
    }
    CC_UK_TAILS(CC_UK_LOOP);
#undef CC_UK_LOOP
    CC_UK_STORE_TILE();
}

/* cc_gemm_ukernel_indirect_px with px a constant: consecutive pixels of a phase image (1),
 * or of an input read in place at stride 2 or 4 */
#define CC_UK_INDIRECT_PX(NAME, PX)                                                       \
    static inline void CC_FN(NAME)(                                                       \
        ptrdiff_t kc, const CC_T *restrict abase, const ptrdiff_t *restrict offs,        \
        const CC_T *restrict b, CC_T *restrict c, ptrdiff_t ldc, int mr, int nr,         \
        int accumulate, const CC_T *restrict bias_cols, const CC_T *restrict res, int act) \
    {                                                                                     \
        CC_FN(cc_gemm_ukernel_indirect_px)(kc, abase, offs, b, c, ldc, mr, nr, accumulate, \
                                           bias_cols, res, act, PX);                      \
    }
CC_UK_INDIRECT_PX(cc_gemm_ukernel_indirect, 1)
CC_UK_INDIRECT_PX(cc_gemm_ukernel_indirect_s2, 2)
CC_UK_INDIRECT_PX(cc_gemm_ukernel_indirect_s4, 4)
#undef CC_UK_INDIRECT_PX

#undef CC_UK_STEP
#undef CC_UK_FETCH_B
#undef CC_UK_RUN
#undef CC_UK_RUN_M
#undef CC_UK_TAILS
#undef CC_UK_STORE_TILE
#undef CC_UK_STORE_ROWS
