/* A loop of independent vector FMAs: the machine's float32 FMA peak for the instruction set the
 * including module is built for. 12 accumulator chains hide the FMA latency (4-5 cycles) on two
 * FMA ports; the values stay finite (x * 1 + 0-ish), and the sum is returned so that the compiler
 * keeps the work. */
#ifndef CC_FMA_PEAK_H
#define CC_FMA_PEAK_H
#include "cc_simd.h"

#define CC_PEAK_CHAINS 12

static float cc_fma_loop_f32(long iterations)
{
    cc_vf32 acc[CC_PEAK_CHAINS];
    cc_vf32 a = (cc_vf32){0} + 0.999999f, b = (cc_vf32){0} + 1e-7f;
    for (int i = 0; i < CC_PEAK_CHAINS; ++i) acc[i] = (cc_vf32){0} + (float)i;
    for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < CC_PEAK_CHAINS; ++i) acc[i] = acc[i] * a + b;
        __asm__ volatile("" : "+x"(a)); /* keep a loop-variant so nothing is hoisted */
    }
    float s = 0;
    for (int i = 0; i < CC_PEAK_CHAINS; ++i)
        for (int j = 0; j < CC_VL_F32; ++j) s += acc[i][j];
    return s;
}

/* FLOPs done by cc_fma_loop_f32(iterations). */
static double cc_fma_loop_flops(long iterations)
{
    return 2.0 * CC_PEAK_CHAINS * CC_VL_F32 * (double)iterations;
}
#endif
