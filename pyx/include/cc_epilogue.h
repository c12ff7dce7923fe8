/* The output pass: bias, residual and activation, applied where the output is written.
 *
 *   out = act(acc + bias + residual)     (ONNX Runtime's fused Conv order: the add first)
 *
 * Activations (torch's definitions): relu, relu6 = min(max(x, 0), 6), leaky_relu (slope
 * alpha), silu = x * sigmoid(x), sigmoid, hardswish = x * relu6(x + 3) / 6, gelu (exact, erf).
 * NaN stays NaN. float32 runs on vectors, exp and erf included (a Cephes-style exp, ~2 ulp;
 * erf from Abramowitz & Stegun 7.1.26, 1.5e-7 absolute); float64 uses libm for exp and erf.
 */
#ifndef CC_EPILOGUE_H
#define CC_EPILOGUE_H
#include <math.h>
#include <stdint.h>
#include "cc_simd.h"
#include "cc_copy.h"   /* masked tail loads and stores */

enum { CC_ACT_NONE = 0, CC_ACT_RELU, CC_ACT_RELU6, CC_ACT_LEAKY, CC_ACT_SILU, CC_ACT_SIGMOID,
       CC_ACT_HARDSWISH, CC_ACT_GELU };

/* Stores that bypass the caches (no read of the line before it is written): for outputs
 * much larger than the caches, about half the memory traffic of the output pass. The
 * intrinsics need 64-byte aligned addresses; only AVX-512 builds use them. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define CC_STREAM_F32(p, v) _mm512_stream_ps((p), (__m512)(v))
#define CC_STREAM_F64(p, v) _mm512_stream_pd((p), (__m512d)(v))
#define CC_HAVE_STREAM 1
#else
#define CC_STREAM_F32(p, v) memcpy((p), &(v), sizeof(v))
#define CC_STREAM_F64(p, v) memcpy((p), &(v), sizeof(v))
#define CC_HAVE_STREAM 0
#endif

typedef int cc_ei32 __attribute__((vector_size(CC_VECTOR_BYTES)));
typedef long long cc_ei64 __attribute__((vector_size(CC_VECTOR_BYTES)));

/* lane-wise m ? a : b (m from a comparison: all ones or all zeros) */
#define CC_SELECT(VI, V, m, a, b) ((V)(((VI)(a) & (VI)(m)) | ((VI)(b) & ~(VI)(m))))

/* exp on float32 lanes: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial (Cephes
 * expf), times 2^n built in the exponent bits. Overflow gives +inf, underflow 0, NaN NaN. */
static inline cc_vf32 cc_exp_vf32(cc_vf32 x)
{
    const cc_vf32 hi = (cc_vf32){0} + 88.3762626647949f, lo = (cc_vf32){0} - 87.3365478515625f;
    cc_vf32 xc = CC_SELECT(cc_ei32, cc_vf32, x > hi, hi, x);
    xc = CC_SELECT(cc_ei32, cc_vf32, xc < lo, lo, xc);
    cc_vf32 fx = xc * 1.44269504088896341f + 0.5f;
    cc_ei32 n = __builtin_convertvector(fx, cc_ei32);          /* truncation */
    cc_vf32 fn = __builtin_convertvector(n, cc_vf32);
    n = n + (cc_ei32)(fn > fx);        /* floor: a true comparison is -1 in every lane bit */
    fn = __builtin_convertvector(n, cc_vf32);
    cc_vf32 r = xc - fn * 0.693359375f + fn * 2.12194440e-4f;
    cc_vf32 p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    cc_vf32 scale = (cc_vf32)((n + 127) << 23);
    cc_vf32 y = p * scale;
    y = CC_SELECT(cc_ei32, cc_vf32, x > hi, (cc_vf32){0} + INFINITY, y);
    y = CC_SELECT(cc_ei32, cc_vf32, x < lo, (cc_vf32){0}, y);
    return CC_SELECT(cc_ei32, cc_vf32, x != x, x, y);
}

/* erf on float32 lanes (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7) */
static inline cc_vf32 cc_erf_vf32(cc_vf32 x)
{
    cc_vf32 ax = CC_SELECT(cc_ei32, cc_vf32, x < 0, -x, x);
    cc_vf32 t = 1.0f / (1.0f + 0.3275911f * ax);
    cc_vf32 poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t
                     - 0.284496736f) * t + 0.254829592f) * t;
    cc_vf32 e = 1.0f - poly * cc_exp_vf32(-ax * ax);
    e = CC_SELECT(cc_ei32, cc_vf32, x < 0, -e, e);
    return CC_SELECT(cc_ei32, cc_vf32, x != x, x, e);
}

static inline cc_vf32 cc_act_vf32(cc_vf32 v, int act, float alpha)
{
    const cc_vf32 zero = (cc_vf32){0}, six = zero + 6.0f;
    switch (act) {
    case CC_ACT_RELU:
        return CC_SELECT(cc_ei32, cc_vf32, v < 0, zero, v);
    case CC_ACT_RELU6:
        v = CC_SELECT(cc_ei32, cc_vf32, v < 0, zero, v);
        return CC_SELECT(cc_ei32, cc_vf32, v > 6, six, v);
    case CC_ACT_LEAKY:
        return CC_SELECT(cc_ei32, cc_vf32, v > 0, v, v * alpha);
    case CC_ACT_SILU:
        return v / (1.0f + cc_exp_vf32(-v));
    case CC_ACT_SIGMOID:
        return 1.0f / (1.0f + cc_exp_vf32(-v));
    case CC_ACT_HARDSWISH: {
        cc_vf32 r = v + 3.0f;
        r = CC_SELECT(cc_ei32, cc_vf32, r < 0, zero, r);
        r = CC_SELECT(cc_ei32, cc_vf32, r > 6, six, r);
        return v * r / 6.0f;
    }
    case CC_ACT_GELU:
        return 0.5f * v * (1.0f + cc_erf_vf32(v * 0.70710678118654752f));
    default:
        return v;
    }
}

static inline double cc_act_f64(double v, int act, double alpha)
{
    switch (act) {
    case CC_ACT_RELU: return v < 0 ? 0.0 : v;
    case CC_ACT_RELU6: v = v < 0 ? 0.0 : v; return v > 6 ? 6.0 : v;
    case CC_ACT_LEAKY: return v > 0 ? v : v * alpha;
    case CC_ACT_SILU: return v / (1.0 + exp(-v));
    case CC_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case CC_ACT_HARDSWISH: { double r = v + 3.0; r = r < 0 ? 0.0 : r; r = r > 6 ? 6.0 : r;
                             return v * r / 6.0; }
    case CC_ACT_GELU: return 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
    default: return v;
    }
}

static inline float cc_act_f32(float v, int act, float alpha)
{
    cc_vf32 x = (cc_vf32){0} + v;
    return cc_act_vf32(x, act, alpha)[0];
}

static inline cc_vf64 cc_act_vf64(cc_vf64 v, int act, double alpha)
{
    const cc_vf64 zero = (cc_vf64){0}, six = zero + 6.0;
    switch (act) {
    case CC_ACT_NONE:
        return v;
    case CC_ACT_RELU:
        return CC_SELECT(cc_ei64, cc_vf64, v < 0, zero, v);
    case CC_ACT_RELU6:
        v = CC_SELECT(cc_ei64, cc_vf64, v < 0, zero, v);
        return CC_SELECT(cc_ei64, cc_vf64, v > 6, six, v);
    case CC_ACT_LEAKY:
        return CC_SELECT(cc_ei64, cc_vf64, v > 0, v, v * alpha);
    default: {
        double l[CC_VL_F64];
        memcpy(l, &v, sizeof l);
        for (int i = 0; i < CC_VL_F64; ++i) l[i] = cc_act_f64(l[i], act, alpha);
        memcpy(&v, l, sizeof v);
        return v;
    }
    }
}

#define CC_DEFINE_STORE(T, V, VL, SFX, STREAM)                                               \
/* dst[j*ds] = act(src[j*ss] + bias[j*bs] + res[j*ds]), j < n. bias: NULL or bs apart (0: one \
 * value for the run); res: NULL, or the residual at the same offset as dst (same layout as \
 * the output). `stream`: bypass the caches (dense runs without residual or activation). */   \
static inline void cc_store_run_##SFX(T *dst, ptrdiff_t ds, const T *src, ptrdiff_t ss,      \
                                      ptrdiff_t n, const T *bias, ptrdiff_t bs,            \
                                      const T *res, int act, T alpha, int stream)          \
{                                                                                          \
    ptrdiff_t j = 0;                                                                       \
    const T b0 = bias ? bias[0] : (T)0;                                                    \
    if (ds == 1 && ss == 1 && (bs == 0 || bs == 1 || !bias)) {                             \
        const int stream_ok = CC_HAVE_STREAM && stream && !res && !act;                    \
        if (stream_ok)                                                                     \
            for (; j < n && ((uintptr_t)(dst + j) & 63); ++j)                              \
                dst[j] = src[j] + (bias ? bias[j * bs] : (T)0);                            \
        for (; j + VL <= n; j += VL) {                                                     \
            V v; memcpy(&v, src + j, sizeof v);                                            \
            if (bias && bs) { V b; memcpy(&b, bias + j, sizeof b); v = v + b; }            \
            else if (bias) v = v + b0;                                                     \
            if (res) { V r; memcpy(&r, res + j, sizeof r); v = v + r; }                    \
            if (act) v = cc_act_v##SFX(v, act, alpha);                                     \
            if (stream_ok) STREAM(dst + j, v);                                             \
            else memcpy(dst + j, &v, sizeof v);                                            \
        }                                                                                  \
        if (j < n) {              /* the tail: masked loads and store, still one vector */ \
            V v = cc_load_tail_##SFX(src + j, n - j);                                      \
            if (bias && bs) v = v + cc_load_tail_##SFX(bias + j, n - j);                   \
            else if (bias) v = v + b0;                                                     \
            if (res) v = v + cc_load_tail_##SFX(res + j, n - j);                           \
            if (act) v = cc_act_v##SFX(v, act, alpha);                                     \
            cc_store_tail_##SFX(dst + j, v, n - j);                                        \
            return;                                                                        \
        }                                                                                  \
    }                                                                                      \
    for (; j < n; ++j) {                                                                   \
        T v = src[j * ss];                                                                 \
        if (bias) v = v + bias[j * bs];                                                    \
        if (res) v = v + res[j * ds];                                                      \
        dst[j * ds] = act ? cc_act_##SFX(v, act, alpha) : v;                               \
    }                                                                                      \
}

CC_DEFINE_STORE(float, cc_vf32, CC_VL_F32, f32, CC_STREAM_F32)
CC_DEFINE_STORE(double, cc_vf64, CC_VL_F64, f64, CC_STREAM_F64)

#endif /* CC_EPILOGUE_H */
