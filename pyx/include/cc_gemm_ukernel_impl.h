/* Body of the GEMM microkernel, included once per element type by cc_gemm_ukernel.h with
 * CC_T (element), CC_V (vector), CC_VL (lanes), CC_NR (tile width) and CC_FN (name suffix). */

/* mr x nr is the valid part of the tile (edges of the output); the full MR x NR is always
 * computed (packing pads A and B with zeros), and only the valid part is read and written.
 * accumulate: add to what C holds (a later block of K); bias_rows: NULL, or MR values added to
 * the rows after the sum (passed on the last block of K only). */
static inline void CC_FN(cc_gemm_ukernel)(
    ptrdiff_t kc, const CC_T *restrict a, const CC_T *restrict b,
    CC_T *restrict c, ptrdiff_t ldc, int mr, int nr, int accumulate,
    const CC_T *restrict bias_rows)
{
    CC_V acc[CC_MR][CC_NV];
#pragma GCC unroll 32
    for (int i = 0; i < CC_MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < CC_NV; ++j) acc[i][j] = (CC_V){0};

    for (ptrdiff_t p = 0; p < kc; ++p) {
        CC_V bv[CC_NV];
#pragma GCC unroll 4
        for (int j = 0; j < CC_NV; ++j) memcpy(&bv[j], b + j * CC_VL, sizeof(CC_V));
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) {
            const CC_T ai = a[i];
#pragma GCC unroll 4
            for (int j = 0; j < CC_NV; ++j) acc[i][j] += ai * bv[j];
        }
        a += CC_MR;
        b += CC_NR;
    }

    if (mr == CC_MR && nr == CC_NR) {
#pragma GCC unroll 32
        for (int i = 0; i < CC_MR; ++i) {
#pragma GCC unroll 4
            for (int j = 0; j < CC_NV; ++j) {
                CC_T *cij = c + i * ldc + j * CC_VL;
                CC_V v = acc[i][j];
                if (accumulate) {
                    CC_V old;
                    memcpy(&old, cij, sizeof old);
                    v = old + v;
                }
                if (bias_rows) v = v + bias_rows[i];
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
                c[i * ldc + j] = v;
            }
        }
    }
}
