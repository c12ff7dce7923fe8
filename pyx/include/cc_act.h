/* relu and relu6 applied to a vector in registers, where a kernel writes its result: the GEMM
 * microkernel and the channels-last depthwise kernels (cc_epilogue.h's store pass does every
 * activation; these two are the common ones worth no second pass). CC_UK_RELU and
 * CC_UK_RELU6 equal cc_epilogue.h's CC_ACT_RELU and CC_ACT_RELU6. */
#ifndef CC_ACT_H
#define CC_ACT_H
#include "cc_simd.h"

#define CC_UK_RELU 1
#define CC_UK_RELU6 2

typedef int cc_uk_i32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef long long cc_uk_i64 __attribute__((vector_size(CC_VECTOR_BYTES)));
/* relu or relu6 on a vector; lanes compare false on NaN, so NaN stays NaN (as in torch) */
#define CC_UK_DEFINE_ACT(V, VI, SFX)                                                       \
static inline V cc_uk_act_##SFX(V v, int act)                                            \
{                                                                                        \
    const V zero = (V){0}, six = zero + 6;                                               \
    VI neg = (VI)(v < zero);                                                             \
    v = (V)((VI)v & ~neg);                                                               \
    if (act == CC_UK_RELU6) {                                                            \
        VI big = (VI)(v > six);                                                          \
        v = (V)(((VI)v & ~big) | ((VI)six & big));                                       \
    }                                                                                    \
    return v;                                                                            \
}
CC_UK_DEFINE_ACT(cc_vf32, cc_uk_i32, f32)
CC_UK_DEFINE_ACT(cc_vf64, cc_uk_i64, f64)

#endif /* CC_ACT_H */
