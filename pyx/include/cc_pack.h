/* Weight packing: rows of a matrix interleaved into panels, the microkernel's operand layout.
 *
 *   dst[k * R + j] = src[j * lda + k]   for j < rows, k < K;   0 for rows <= j < R
 *
 * (R = MR for the PANELS method's broadcast panels, NR for the INDIRECT method's vector panels.)
 * A plain row-by-row copy writes dst with a stride of R values, touching a new cache line per
 * value across the whole panel; going through K in blocks keeps the block being written in L1. */
#ifndef CC_PACK_H
#define CC_PACK_H
#include <stddef.h>

#define CC_PACK_KBLOCK 64

#define CC_DEFINE_PACK(T, SFX)                                                              \
static inline void cc_pack_rows_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t lda, \
                                      ptrdiff_t rows, ptrdiff_t R, ptrdiff_t K)              \
{                                                                                           \
    for (ptrdiff_t k0 = 0; k0 < K; k0 += CC_PACK_KBLOCK) {                                  \
        ptrdiff_t kn = K - k0 < CC_PACK_KBLOCK ? K - k0 : CC_PACK_KBLOCK;                   \
        T *d = dst + k0 * R;                                                                \
        for (ptrdiff_t j = 0; j < rows; ++j) {                                              \
            const T *s = src + j * lda + k0;                                                \
            for (ptrdiff_t k = 0; k < kn; ++k) d[k * R + j] = s[k];                         \
        }                                                                                   \
        for (ptrdiff_t j = rows; j < R; ++j)                                                \
            for (ptrdiff_t k = 0; k < kn; ++k) d[k * R + j] = 0;                            \
    }                                                                                       \
}

CC_DEFINE_PACK(float, f32)
CC_DEFINE_PACK(double, f64)

#endif /* CC_PACK_H */
