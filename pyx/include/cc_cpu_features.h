/* CPU feature detection for the import-time kernel choice.
 *
 * This header is compiled only into the baseline module (cconv._cpu): it must not contain any
 * instruction newer than x86-64 itself, so that the check runs safely on every CPU.
 *
 * A feature is usable only when the CPU has it *and* the OS saves its register state on context
 * switches (XGETBV): a hypervisor may expose AVX2 in CPUID and still not enable ymm state.
 * MLAS checks it the same way (onnxruntime/core/mlas/lib/platform.cpp).
 */
#ifndef CC_CPU_FEATURES_H
#define CC_CPU_FEATURES_H

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static unsigned long long cc_xgetbv0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

/* Bit masks of XCR0: SSE (1) and AVX (2) state; AVX-512 opmask, ZMM_Hi256, Hi16_ZMM (5, 6, 7). */
#define CC_XCR0_YMM 0x06ULL
#define CC_XCR0_ZMM 0xE6ULL

static int cc_os_saves(unsigned long long mask)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!((c >> 27) & 1)) return 0; /* OSXSAVE: XGETBV is available */
    return (cc_xgetbv0() & mask) == mask;
}

/* AVX2 and FMA3, with OS support for ymm state. */
static int cc_cpu_has_avx2_fma(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!((c >> 28) & 1) || !((c >> 12) & 1)) return 0; /* AVX, FMA */
    if (!cc_os_saves(CC_XCR0_YMM)) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1; /* AVX2 */
}

/* The x86-64-v4 set the avx512 module is compiled for: F, CD, BW, DQ, VL; zmm state saved. */
static int cc_cpu_has_avx512(void)
{
    unsigned int a, b, c, d;
    if (!cc_cpu_has_avx2_fma()) return 0;
    if (!cc_os_saves(CC_XCR0_ZMM)) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned int need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
    return (b & need) == need;
}

static int cc_cpu_is_x86(void) { return 1; }

#else /* not x86: only the baseline (portable C) kernels are built */
static int cc_cpu_has_avx2_fma(void) { return 0; }
static int cc_cpu_has_avx512(void) { return 0; }
static int cc_cpu_is_x86(void) { return 0; }
#endif

#if defined(__clang__)
#define CC_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define CC_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define CC_STR2(x) #x
#define CC_STR(x) CC_STR2(x)
#define CC_COMPILER "msvc " CC_STR(_MSC_VER)
#else
#define CC_COMPILER "unknown"
#endif

#endif /* CC_CPU_FEATURES_H */
