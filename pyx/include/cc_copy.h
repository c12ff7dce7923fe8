/* Short copies for gathering im2col panels (pyx/_direct.pyx): a panel row is a run of at most NR
 * input values, too short for a memcpy call to pay off (setup.py also stops GCC from turning
 * these loops back into memmove/memset calls). Tails use masked loads and stores where the ISA
 * has them (AVX-512, AVX2: the intrinsics are compiled only under their own __AVX*__ macros);
 * a masked load never touches memory outside its mask, so nothing past the run is read. */
#ifndef CC_COPY_H
#define CC_COPY_H
#include <stddef.h>
#include <stdint.h>
#include "cc_simd.h"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* GCC's __builtin_shuffle (one vpermt2ps on AVX-512); elsewhere the stride-2 copy is scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define CC_HAVE_SHUFFLE 1
#else
#define CC_HAVE_SHUFFLE 0
#define __builtin_shuffle(a, b, m) (a)
#endif

/* Ask for the cache lines of p[0 .. nbytes) ahead of a copy that will read them (a hint:
 * never faults, whatever p is): the rows of a panel copy lie a plane apart, a stride the
 * hardware prefetchers do not run far enough ahead on. */
static inline void cc_prefetch_run(const void *p, ptrdiff_t nbytes)
{
    const char *c = (const char *)p;
    const ptrdiff_t end = nbytes + (ptrdiff_t)((uintptr_t)c & 63);
    for (ptrdiff_t i = 0; i < end; i += 64) __builtin_prefetch(c + i);
}

typedef int cc_vi32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef long long cc_vi64 __attribute__((vector_size(CC_VECTOR_BYTES)));
#if CC_VECTOR_BYTES == 64
#define CC_EVEN_MASK_f32 ((cc_vi32){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#define CC_EVEN_MASK_f64 ((cc_vi64){0, 2, 4, 6, 8, 10, 12, 14})
#elif CC_VECTOR_BYTES == 32
#define CC_EVEN_MASK_f32 ((cc_vi32){0, 2, 4, 6, 8, 10, 12, 14})
#define CC_EVEN_MASK_f64 ((cc_vi64){0, 2, 4, 6})
#else
#define CC_EVEN_MASK_f32 ((cc_vi32){0, 2, 4, 6})
#define CC_EVEN_MASK_f64 ((cc_vi64){0, 2})
#endif

/* The last n < VL elements: dst[j] = src[j] (src != NULL) or 0 (src == NULL). */
#if defined(__AVX512F__)
static inline void cc_tail_f32(float *dst, const float *src, ptrdiff_t n)
{
    __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(dst, m, src ? _mm512_maskz_loadu_ps(m, src) : _mm512_setzero_ps());
}
static inline void cc_tail_f64(double *dst, const double *src, ptrdiff_t n)
{
    __mmask8 m = (__mmask8)((1u << n) - 1);
    _mm512_mask_storeu_pd(dst, m, src ? _mm512_maskz_loadu_pd(m, src) : _mm512_setzero_pd());
}
#elif defined(__AVX2__)
static inline void cc_tail_f32(float *dst, const float *src, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, m, src ? _mm256_maskload_ps(src, m) : _mm256_setzero_ps());
}
static inline void cc_tail_f64(double *dst, const double *src, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    _mm256_maskstore_pd(dst, m, src ? _mm256_maskload_pd(src, m) : _mm256_setzero_pd());
}
#else
static inline void cc_tail_f32(float *dst, const float *src, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = src ? src[j] : 0.0f;
}
static inline void cc_tail_f64(double *dst, const double *src, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = src ? src[j] : 0.0;
}
#endif

/* The last n <= VL values of a stride-2 copy, dst[j] = src[2j], reading only src[0..2n-2]. */
#if defined(__AVX512F__) && CC_HAVE_SHUFFLE
static inline int cc_tail_stride2_f32(float *dst, const float *src, ptrdiff_t n)
{
    ptrdiff_t need = 2 * n - 1; /* source values read */
    __mmask16 mlo = (__mmask16)(need >= 16 ? 0xFFFF : (1u << need) - 1);
    __mmask16 mhi = (__mmask16)(need > 16 ? (1u << (need - 16)) - 1 : 0);
    __m512 lo = _mm512_maskz_loadu_ps(mlo, src), hi = _mm512_maskz_loadu_ps(mhi, src + 16);
    __m512 even = _mm512_permutex2var_ps(
        lo, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1), even);
    return 1;
}
#else
static inline int cc_tail_stride2_f32(float *dst, const float *src, ptrdiff_t n)
{
    (void)dst; (void)src; (void)n;
    return 0;
}
#endif
static inline int cc_tail_stride2_f64(double *dst, const double *src, ptrdiff_t n)
{
    (void)dst; (void)src; (void)n;
    return 0;
}

#define CC_DEFINE_COPIES(T, V, VL, SFX)                                                    \
/* dst[j] = src[j], j < n */                                                             \
static inline void cc_copy_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t n)    \
{                                                                                        \
    ptrdiff_t j = 0;                                                                     \
    for (; j + VL <= n; j += VL) { V v; memcpy(&v, src + j, sizeof v);                   \
                                   memcpy(dst + j, &v, sizeof v); }                      \
    if (j < n) cc_tail_##SFX(dst + j, src + j, n - j);                                   \
}                                                                                        \
/* dst[j] = src[2 j] for whole vectors of j that end before n - 1 (reading whole vectors \
 * of src stays inside the run); returns where it stopped: the tail is the caller's.     \
 * Two vectors of input, their even lanes: one shuffle. */                               \
static inline ptrdiff_t cc_copy_even_##SFX(T *restrict dst, const T *restrict src,       \
                                           ptrdiff_t n)                                  \
{                                                                                        \
    ptrdiff_t j = 0;                                                                     \
    for (; j + VL < n; j += VL) {                                                        \
        V lo, hi; memcpy(&lo, src + 2 * j, sizeof lo);                                   \
        memcpy(&hi, src + 2 * j + VL, sizeof hi);                                        \
        V even = __builtin_shuffle(lo, hi, CC_EVEN_MASK_##SFX);                          \
        memcpy(dst + j, &even, sizeof even);                                             \
    }                                                                                    \
    return j;                                                                            \
}                                                                                        \
/* dst[j] = src[j * stride], j < n; never reads past src[(n-1) * stride] */              \
static inline void cc_copy_strided_##SFX(T *restrict dst, const T *restrict src,         \
                                         ptrdiff_t n, ptrdiff_t stride)                  \
{                                                                                        \
    ptrdiff_t j = 0;                                                                     \
    if (stride == 1) { cc_copy_##SFX(dst, src, n); return; }                             \
    if (CC_HAVE_SHUFFLE && stride == 2) {                                                \
        j = cc_copy_even_##SFX(dst, src, n);                                             \
        if (j < n && cc_tail_stride2_##SFX(dst + j, src + 2 * j, n - j)) return;         \
    }                                                                                    \
    for (; j < n; ++j) dst[j] = src[j * stride];                                         \
}                                                                                        \
/* dst[j] = 0, j < n */                                                                  \
static inline void cc_zero_##SFX(T *dst, ptrdiff_t n)                                    \
{                                                                                        \
    ptrdiff_t j = 0;                                                                     \
    for (; j + VL <= n; j += VL) { V z = {0}; memcpy(dst + j, &z, sizeof z); }           \
    if (j < n) cc_tail_##SFX(dst + j, NULL, n - j);                                      \
}

/* Ask for `rows` rows of `bytes` bytes (rows `stride` bytes apart) to be brought into the
 * caches ahead of use: reads that hop between channel planes defeat the hardware prefetchers. */
static inline void cc_prefetch_rows(const void *base, ptrdiff_t stride, int rows, ptrdiff_t bytes)
{
    for (int r = 0; r < rows; ++r) cc_prefetch_run((const char *)base + r * stride, bytes);
}

/* The first n < VL values of src as a vector (the other lanes zero), without reading past
 * src[n-1] and without a round trip through memory (a masked store read back by a load
 * cannot be forwarded and stalls). */
#if defined(__AVX512F__)
static inline cc_vf32 cc_load_tail_f32(const float *src, ptrdiff_t n)
{ return (cc_vf32)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), src); }
static inline cc_vf64 cc_load_tail_f64(const double *src, ptrdiff_t n)
{ return (cc_vf64)_mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), src); }
#elif defined(__AVX2__)
static inline cc_vf32 cc_load_tail_f32(const float *src, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return (cc_vf32)_mm256_maskload_ps(src, m);
}
static inline cc_vf64 cc_load_tail_f64(const double *src, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    return (cc_vf64)_mm256_maskload_pd(src, m);
}
#else
static inline cc_vf32 cc_load_tail_f32(const float *src, ptrdiff_t n)
{
    float l[CC_VL_F32] = {0};
    for (ptrdiff_t j = 0; j < n; ++j) l[j] = src[j];
    cc_vf32 v; memcpy(&v, l, sizeof v); return v;
}
static inline cc_vf64 cc_load_tail_f64(const double *src, ptrdiff_t n)
{
    double l[CC_VL_F64] = {0};
    for (ptrdiff_t j = 0; j < n; ++j) l[j] = src[j];
    cc_vf64 v; memcpy(&v, l, sizeof v); return v;
}
#endif

/* The lanes of src whose bit is set in `lanes` (bit i: lane i), the others zero; the lanes
 * not set are never read (they may lie outside any array). */
#if defined(__AVX512F__)
static inline cc_vf32 cc_load_lanes_f32(const float *src, unsigned lanes)
{ return (cc_vf32)_mm512_maskz_loadu_ps((__mmask16)lanes, src); }
static inline cc_vf64 cc_load_lanes_f64(const double *src, unsigned lanes)
{ return (cc_vf64)_mm512_maskz_loadu_pd((__mmask8)lanes, src); }
#elif defined(__AVX2__)
static inline cc_vf32 cc_load_lanes_f32(const float *src, unsigned lanes)
{
    __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)lanes), bit), bit);
    return (cc_vf32)_mm256_maskload_ps(src, m);
}
static inline cc_vf64 cc_load_lanes_f64(const double *src, unsigned lanes)
{
    __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i m = _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(lanes), bit), bit);
    return (cc_vf64)_mm256_maskload_pd(src, m);
}
#else
static inline cc_vf32 cc_load_lanes_f32(const float *src, unsigned lanes)
{
    float l[CC_VL_F32] = {0};
    for (int j = 0; j < CC_VL_F32; ++j) if ((lanes >> j) & 1) l[j] = src[j];
    cc_vf32 v; memcpy(&v, l, sizeof v); return v;
}
static inline cc_vf64 cc_load_lanes_f64(const double *src, unsigned lanes)
{
    double l[CC_VL_F64] = {0};
    for (int j = 0; j < CC_VL_F64; ++j) if ((lanes >> j) & 1) l[j] = src[j];
    cc_vf64 v; memcpy(&v, l, sizeof v); return v;
}
#endif

/* Store the first n < VL lanes of v at dst, writing nothing else (a masked store from the
 * register: no round trip through memory). */
#if defined(__AVX512F__)
static inline void cc_store_tail_f32(float *dst, cc_vf32 v, ptrdiff_t n)
{ _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1), (__m512)v); }
static inline void cc_store_tail_f64(double *dst, cc_vf64 v, ptrdiff_t n)
{ _mm512_mask_storeu_pd(dst, (__mmask8)((1u << n) - 1), (__m512d)v); }
#elif defined(__AVX2__)
static inline void cc_store_tail_f32(float *dst, cc_vf32 v, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, m, (__m256)v);
}
static inline void cc_store_tail_f64(double *dst, cc_vf64 v, ptrdiff_t n)
{
    __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    _mm256_maskstore_pd(dst, m, (__m256d)v);
}
#else
static inline void cc_store_tail_f32(float *dst, cc_vf32 v, ptrdiff_t n)
{
    float l[CC_VL_F32];
    memcpy(l, &v, sizeof l);
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = l[j];
}
static inline void cc_store_tail_f64(double *dst, cc_vf64 v, ptrdiff_t n)
{
    double l[CC_VL_F64];
    memcpy(l, &v, sizeof l);
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = l[j];
}
#endif

/* Copies and zero fills for buffers with at least VL elements of slack after the run: whole
 * vectors are stored (no masked store), the source is never read past its run. */
#define CC_DEFINE_OVER(T, V, VL, SFX)                                                       \
static inline void cc_zero_over_##SFX(T *dst, ptrdiff_t n)                                 \
{                                                                                          \
    for (ptrdiff_t j = 0; j < n; j += VL) { V z = {0}; memcpy(dst + j, &z, sizeof z); }    \
}                                                                                          \
static inline void cc_copy_over_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t n) \
{                                                                                          \
    ptrdiff_t j = 0;                                                                       \
    for (; j + VL <= n; j += VL) { V v; memcpy(&v, src + j, sizeof v);                     \
                                   memcpy(dst + j, &v, sizeof v); }                        \
    if (j < n) { V v = cc_load_tail_##SFX(src + j, n - j); memcpy(dst + j, &v, sizeof v); }\
}                                                                                          \
/* dst[j] = src[j * stride], j < n, the same way (the strided source not read past its     \
 * run); strides other than 1 and 2 are copied value by value, exactly. */                 \
static inline void cc_copy_strided_over_##SFX(T *restrict dst, const T *restrict src,      \
                                              ptrdiff_t n, ptrdiff_t stride)               \
{                                                                                          \
    ptrdiff_t j = 0;                                                                       \
    if (stride == 1) { cc_copy_over_##SFX(dst, src, n); return; }                          \
    if (CC_HAVE_SHUFFLE && stride == 2) {                                                  \
        j = cc_copy_even_##SFX(dst, src, n);                                               \
        if (j < n) {                                                                       \
            ptrdiff_t need = 2 * (n - j) - 1;    /* source values read, < 2 VL */          \
            V lo, hi = {0};                                                                \
            if (need >= VL) {                                                              \
                memcpy(&lo, src + 2 * j, sizeof lo);                                       \
                if (need > VL) hi = cc_load_tail_##SFX(src + 2 * j + VL, need - VL);       \
            } else {                                                                       \
                lo = cc_load_tail_##SFX(src + 2 * j, need);                                \
            }                                                                              \
            V even = __builtin_shuffle(lo, hi, CC_EVEN_MASK_##SFX);                        \
            memcpy(dst + j, &even, sizeof even);                                           \
        }                                                                                  \
        return;                                                                            \
    }                                                                                      \
    for (; j < n; ++j) dst[j] = src[j * stride];                                           \
}

/* v[0..VL) transposed in registers (v[c][r] = v[r][c]), float32 on AVX-512 (16 x 16) and
 * AVX2 (8 x 8): in-lane unpacks, then 128-bit lane shuffles, VL log2 VL instructions of one
 * cycle. GCC's generic two-vector shuffles for the same rounds (cc_transpose's loop, still
 * used for float64 and SSE2) compile to vpermt2ps, ~1 cycle an element, against 0.26-0.54
 * here (16 x 1024 blocks). Intrinsics, because the lane-wise shapes of these shuffles are
 * what makes them cheap and vector extensions cannot name them. */
#if defined(__AVX512F__)
#  define CC_TRANSPOSE_REGS_f32 1
static inline __attribute__((always_inline)) void cc_transpose_regs_f32(cc_vf32 *v)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = (__m512)v[i];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4q + j]: in each 128-bit lane L, column 4L + j of rows 4q .. 4q + 3 */
    for (int i = 0; i < 16; i += 4)
        for (int j = 0; j < 2; ++j) {
            __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + 2 + j]);
            r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int q = 0; q < 2; ++q)
        for (int j = 0; j < 4; ++j) {
            t[8 * q + j] = _mm512_shuffle_f32x4(r[8 * q + j], r[8 * q + 4 + j], 0x88);
            t[8 * q + 4 + j] = _mm512_shuffle_f32x4(r[8 * q + j], r[8 * q + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; ++j) {
        v[j] = (cc_vf32)_mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        v[8 + j] = (cc_vf32)_mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
}
#elif defined(__AVX2__)
#  define CC_TRANSPOSE_REGS_f32 1
static inline __attribute__((always_inline)) void cc_transpose_regs_f32(cc_vf32 *v)
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps((__m256)v[i], (__m256)v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps((__m256)v[i], (__m256)v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; ++j) {
            u[i + 2 * j] = _mm256_shuffle_ps(t[i + j], t[i + 2 + j], 0x44);
            u[i + 2 * j + 1] = _mm256_shuffle_ps(t[i + j], t[i + 2 + j], 0xEE);
        }
    for (int j = 0; j < 4; ++j) {
        v[j] = (cc_vf32)_mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        v[4 + j] = (cc_vf32)_mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}
#else
#  define CC_TRANSPOSE_REGS_f32 0
static inline void cc_transpose_regs_f32(cc_vf32 *v) { (void)v; }
#endif
#define CC_TRANSPOSE_REGS_f64 0
static inline void cc_transpose_regs_f64(cc_vf64 *v) { (void)v; }

/* dst[c * ldd + r] = src[r * lds + c], r < rows, c < cols <= VL: rows of a pixel-major
 * accumulator block turned into one run per channel (and back). VL x VL blocks are
 * transposed in registers: log2(VL) rounds, each swapping the off-diagonal s x s blocks of
 * row pairs (i, i + s) with two-vector shuffles (VL log2 VL shuffles for VL^2 values, where
 * the element loop takes a load and a store each: the 7x7 RGB stem spent 17% of its time
 * there). Above VL/4 columns the columns are loaded lane-masked, and a last block of more
 * than VL/4 rows is a partial one (missing rows zero, stores lane-masked): nothing outside
 * the rows and columns is read or written. (The element loop for a 56-wide row's last 8
 * columns had been a quarter of the channel-blocked depthwise path's transpositions, and for
 * 7-wide rows most of them; for fewer columns or rows it stays faster: 3 output channels of
 * 224x224 took 1.02-1.03x the time through whole-block transposes.) */
#define CC_DEFINE_TRANSPOSE(T, V, VI, VL, SFX)                                             \
static inline void cc_transpose_##SFX(T *restrict dst, ptrdiff_t ldd,                    \
                                      const T *restrict src, ptrdiff_t lds,              \
                                      ptrdiff_t rows, int cols)                          \
{                                                                                        \
    ptrdiff_t r = 0;                                                                     \
    if ((CC_HAVE_SHUFFLE || CC_TRANSPOSE_REGS_##SFX) && 4 * cols > VL)                    \
    for (; r < rows; r += VL) {                                                          \
        const ptrdiff_t nr = rows - r < VL ? rows - r : VL;                              \
        if (4 * nr <= VL) break;  /* a few rows left: the element loop */               \
        V v[VL];                                                                         \
        _Pragma("GCC unroll 16")                                                         \
        for (int i = 0; i < VL; ++i) {                                                   \
            if (i >= nr) v[i] = (V){0};                                                  \
            else if (cols == VL) memcpy(&v[i], src + (r + i) * lds, sizeof(V));          \
            else v[i] = cc_load_tail_##SFX(src + (r + i) * lds, cols);                   \
        }                                                                                \
        if (CC_TRANSPOSE_REGS_##SFX) {                                                   \
            cc_transpose_regs_##SFX(v);                                                  \
        } else {                                                                         \
            _Pragma("GCC unroll 4")                                                      \
            for (int s = VL / 2; s >= 1; s /= 2) {                                       \
                VI lo, hi;                                                               \
                _Pragma("GCC unroll 16")                                                 \
                for (int l = 0; l < VL; ++l) {                                           \
                    lo[l] = (l & s) ? VL + l - s : l;                                    \
                    hi[l] = (l & s) ? VL + l : l + s;                                    \
                }                                                                        \
                _Pragma("GCC unroll 16")                                                 \
                for (int i = 0; i < VL; ++i) {                                           \
                    if (i & s) continue;                                                 \
                    V a = v[i], b = v[i + s];                                            \
                    v[i] = __builtin_shuffle(a, b, lo);                                  \
                    v[i + s] = __builtin_shuffle(a, b, hi);                              \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        _Pragma("GCC unroll 16")                                                         \
        for (int c = 0; c < VL; ++c) {                                                   \
            if (c >= cols) break;                                                        \
            if (nr == VL) memcpy(dst + c * ldd + r, &v[c], sizeof(V));                   \
            else cc_tail_##SFX(dst + c * ldd + r, (const T *)&v[c], nr);                 \
        }                                                                                \
    }                                                                                    \
    for (; r < rows; ++r)                                                                \
        for (int c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];              \
}

CC_DEFINE_COPIES(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_COPIES(double, cc_vf64, CC_VL_F64, f64)
CC_DEFINE_TRANSPOSE(float, cc_vf32, cc_vi32, CC_VL_F32, f32)
CC_DEFINE_TRANSPOSE(double, cc_vf64, cc_vi64, CC_VL_F64, f64)

CC_DEFINE_OVER(float, cc_vf32, CC_VL_F32, f32)
CC_DEFINE_OVER(double, cc_vf64, CC_VL_F64, f64)

#endif /* CC_COPY_H */
