/* Vector types for the kernels, sized by the instruction set the including module is built for.
 *
 * Why C and not Cython: Cython has no vector types. GCC/Clang vector extensions let one source
 * become SSE2, AVX2+FMA or AVX-512 code from the flags of the extension module that includes it
 * (setup.py builds each kernel module once per instruction set; cconv._dispatch imports the one
 * the CPU supports). They are not intrinsics, so the same code also builds on aarch64 & co.
 */
#ifndef CC_SIMD_H
#define CC_SIMD_H

#include <stddef.h>
#include <string.h>

#if defined(__AVX512F__)
#  define CC_ISA "avx512"
#  define CC_VECTOR_BYTES 64
#elif defined(__AVX2__) && defined(__FMA__)
#  define CC_ISA "avx2"
#  define CC_VECTOR_BYTES 32
#else
#  define CC_ISA "baseline"
#  define CC_VECTOR_BYTES 16
#endif

typedef float cc_vf32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef double cc_vf64 __attribute__((vector_size(CC_VECTOR_BYTES)));
#define CC_VL_F32 ((int)(CC_VECTOR_BYTES / sizeof(float)))
#define CC_VL_F64 ((int)(CC_VECTOR_BYTES / sizeof(double)))

/* Unaligned vector load/store: memcpy compiles to a single vmovups. */
static inline cc_vf32 cc_loadu_f32(const float *p) { cc_vf32 v; memcpy(&v, p, sizeof v); return v; }
static inline cc_vf64 cc_loadu_f64(const double *p) { cc_vf64 v; memcpy(&v, p, sizeof v); return v; }
static inline void cc_storeu_f32(float *p, cc_vf32 v) { memcpy(p, &v, sizeof v); }
static inline void cc_storeu_f64(double *p, cc_vf64 v) { memcpy(p, &v, sizeof v); }

/* Lanes [s, s + VL) of the concatenation a:b (s a constant, 0 < s < VL): the vector that
 * starts s elements after a, from a and the vector after it, without a third (unaligned)
 * load. One valignd on AVX-512 (GCC's generic shuffle became vpermt2ps, 15% slower on a
 * depthwise row), two or three shuffles on AVX2 and SSE2. */
typedef int cc_vi32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef long long cc_vi64 __attribute__((vector_size(CC_VECTOR_BYTES)));
#if CC_VECTOR_BYTES == 64
#  define CC_IOTA_I32 {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
#  define CC_IOTA_I64 {0, 1, 2, 3, 4, 5, 6, 7}
#elif CC_VECTOR_BYTES == 32
#  define CC_IOTA_I32 {0, 1, 2, 3, 4, 5, 6, 7}
#  define CC_IOTA_I64 {0, 1, 2, 3}
#else
#  define CC_IOTA_I32 {0, 1, 2, 3}
#  define CC_IOTA_I64 {0, 1}
#endif
#if CC_VECTOR_BYTES == 64
#  include <immintrin.h>
#  define cc_shift_in_f32(a, b, s) \
     ((cc_vf32)_mm512_alignr_epi32((__m512i)(b), (__m512i)(a), (s)))
#  define cc_shift_in_f64(a, b, s) \
     ((cc_vf64)_mm512_alignr_epi64((__m512i)(b), (__m512i)(a), (s)))
#else
static inline __attribute__((always_inline)) cc_vf32 cc_shift_in_f32(cc_vf32 a, cc_vf32 b,
                                                                      const int s)
{ const cc_vi32 iota = CC_IOTA_I32; return __builtin_shuffle(a, b, iota + s); }
static inline __attribute__((always_inline)) cc_vf64 cc_shift_in_f64(cc_vf64 a, cc_vf64 b,
                                                                      const int s)
{ const cc_vi64 iota = CC_IOTA_I64; return __builtin_shuffle(a, b, iota + s); }
#endif

#endif /* CC_SIMD_H */
