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

#endif /* CC_SIMD_H */
