/* The one GEMM microkernel of cconv, shared by the direct and the Winograd paths.
 *
 *   C[MR x NR] (+)= A[MR x kc] * B[kc x NR]   (then + bias on the last pass over K)
 *
 * A is packed as kc columns of MR values (a[p*MR + i]); each value is broadcast.
 * B is packed as kc rows of NR values (b[p*NR + j]); NR is CC_NV vectors, loaded whole.
 * C rows are ldc elements apart, columns contiguous. The MR x NR accumulators stay in registers:
 * 12 of 16 on SSE2/AVX2 (6 x 2 vectors), 24 of 32 on AVX-512 (12 x 2).
 * In the direct NCHW convolution A holds weights (rows = output channels) and B an im2col panel
 * of NR output pixels; in Winograd A holds transformed weights and B transformed input tiles.
 */
#ifndef CC_GEMM_UKERNEL_H
#define CC_GEMM_UKERNEL_H

#include "cc_simd.h"

#define CC_NV 2
/* Tiles at most CC_UK_COLS columns wide can run A's rows as one vector (cc_gemm_ukernel_cols),
 * CC_UK_COL_U independent sums per column; only where MR fits one vector: the widths per
 * element type below are 0 otherwise (callers test nr <= CC_UK_COLS_F32 / _F64) */
#define CC_UK_COLS 2
#define CC_UK_COL_U 4
#ifndef CC_UK_PREFETCH
#  define CC_UK_PREFETCH 64
#endif
#if CC_VECTOR_BYTES == 64
#  define CC_MR 12
#else
#  define CC_MR 6
#endif
#include "cc_act.h"   /* relu and relu6 in registers */
#include "cc_copy.h"  /* masked loads and stores of a tile's last columns */

/* Half vectors for a tile's last few columns: with 64-byte vectors (a ymm FMA costs half a
 * zmm one on Zen 4's 256-bit units; on AVX2 the half would be SSE, no gain). */
#define CC_UK_HALF (CC_VECTOR_BYTES == 64)
typedef float cc_vf32_half __attribute__((vector_size(CC_VECTOR_BYTES / 2)));
typedef double cc_vf64_half __attribute__((vector_size(CC_VECTOR_BYTES / 2)));
/* A half vector as the low half of a whole one, in registers (through memory, a 64-byte load
 * right after a 32-byte store misses store forwarding: ~20 cycles a row, a quarter of a
 * 256->256 grouped-32 layer's microkernel time). Only AVX-512 builds use half vectors. */
#if CC_UK_HALF
#  include <immintrin.h>
static inline cc_vf32 cc_uk_widen_f32(cc_vf32_half h)
{ return (cc_vf32)_mm512_zextps256_ps512((__m256)h); }
static inline cc_vf64 cc_uk_widen_f64(cc_vf64_half h)
{ return (cc_vf64)_mm512_zextpd256_pd512((__m256d)h); }
#else
static inline cc_vf32 cc_uk_widen_f32(cc_vf32_half h)
{ cc_vf32 v = (cc_vf32){0}; memcpy(&v, &h, sizeof h); return v; }
static inline cc_vf64 cc_uk_widen_f64(cc_vf64_half h)
{ cc_vf64 v = (cc_vf64){0}; memcpy(&v, &h, sizeof h); return v; }
#endif

/* Stores that bypass the caches (act | CC_UK_STREAM): an output written once and far larger
 * than the caches costs no read of each line before it is written. cc_epilogue.h's streaming
 * stores (64-byte aligned addresses; AVX-512 builds only). */
#include "cc_epilogue.h"
#define CC_UK_STREAM 0x100
/* B already in the caches (act | CC_UK_B_CACHED): Winograd's transformed input, written just
 * before into a block that stays in L2. The prefetches that fetch the next columns of B read
 * in place from memory (a 1x1 layer's input planes) cost it more than they hide: old and new
 * builds alternating (same L2 budget), 1 thread, 0.82-0.86x the time on 128-512 channels
 * (128 -> 128 3x3 on 56x56 11.1 -> 9.4 ms, 256 on 14x14 3.25 -> 2.76), 0.98x with 64 on
 * 56x56, 1.00x with 512 on 28x28. */
#define CC_UK_B_CACHED 0x200
/* B read for the first time (act | CC_UK_B_FETCH): a packed weight panel that comes cold
 * from memory in a network, whose rows the kernel fetches CC_UK_B_AHEAD steps ahead. Only on
 * a panel's first tile: on the tiles after it, the panel in L1, the extra loads cost (16 ->
 * 96 channels on 112x112, channels last, with every tile fetching: 1.08x the time). Read by
 * cc_gemm_ukernel_indirect and by cc_gemm_ukernel_indirect_rows with contiguous taps (1x1,
 * channels last); the offset-table branch of the latter (larger channels-last kernels, NCHW
 * tiles across output rows) ignores it: not measured with it. */
#define CC_UK_B_FETCH 0x400
#ifndef CC_UK_B_AHEAD
#  define CC_UK_B_AHEAD 16
#endif
#define CC_UK_HAVE_STREAM CC_HAVE_STREAM
static inline void cc_uk_stream_f32(float *p, cc_vf32 v) { CC_STREAM_F32(p, v); }
static inline void cc_uk_stream_f64(double *p, cc_vf64 v) { CC_STREAM_F64(p, v); }

#define CC_UK_COLS_F32 (CC_MR <= CC_VL_F32 ? CC_UK_COLS : 0)
#define CC_UK_COLS_F64 (CC_MR <= CC_VL_F64 ? CC_UK_COLS : 0)
#define CC_NR_F32 (CC_NV * CC_VL_F32)
#define CC_NR_F64 (CC_NV * CC_VL_F64)

/* Four instantiations: float and double, each with tiles NR = CC_NV vectors wide (the
 * default) and one vector wide ("narrow": cc_gemm_ukernel_narrow_f32 ...). The narrow kernel
 * serves Winograd's GEMMs where one-vector panels of tiles pad no more than NR-wide ones (with
 * AVX-512 always: _winograd.pyx, tile_panel_width); it keeps MR, so A is packed the same
 * way. */
#define CC_UK_NV CC_NV
#define cc_uk_act cc_uk_act_f32
#define cc_uk_widen cc_uk_widen_f32
#define cc_uk_stream cc_uk_stream_f32
#define cc_uk_load_tail cc_load_tail_f32
#define cc_uk_store_tail cc_store_tail_f32
#define CC_T float
#define CC_V cc_vf32
#define CC_VH cc_vf32_half
#define CC_VL CC_VL_F32
#define CC_NR CC_NR_F32
#define CC_FN(name) name##_f32
#include "cc_gemm_ukernel_impl.h"
#undef CC_NR
#undef CC_FN
#undef CC_UK_NV
#define CC_UK_NV 1
#define CC_NR CC_VL_F32
#define CC_FN(name) name##_narrow_f32
#include "cc_gemm_ukernel_impl.h"
#undef CC_T
#undef CC_V
#undef CC_VH
#undef CC_VL
#undef CC_NR
#undef CC_FN
#undef CC_UK_NV

#undef cc_uk_act
#undef cc_uk_widen
#undef cc_uk_stream
#undef cc_uk_load_tail
#undef cc_uk_store_tail
#define CC_UK_NV CC_NV
#define cc_uk_act cc_uk_act_f64
#define cc_uk_widen cc_uk_widen_f64
#define cc_uk_stream cc_uk_stream_f64
#define cc_uk_load_tail cc_load_tail_f64
#define cc_uk_store_tail cc_store_tail_f64
#define CC_T double
#define CC_V cc_vf64
#define CC_VH cc_vf64_half
#define CC_VL CC_VL_F64
#define CC_NR CC_NR_F64
#define CC_FN(name) name##_f64
#include "cc_gemm_ukernel_impl.h"
#undef CC_NR
#undef CC_FN
#undef CC_UK_NV
#define CC_UK_NV 1
#define CC_NR CC_VL_F64
#define CC_FN(name) name##_narrow_f64
#include "cc_gemm_ukernel_impl.h"
#undef CC_T
#undef CC_V
#undef CC_VH
#undef CC_VL
#undef CC_NR
#undef CC_FN
#undef CC_UK_NV
#undef cc_uk_act
#undef cc_uk_widen
#undef cc_uk_stream
#undef cc_uk_load_tail
#undef cc_uk_store_tail

#endif /* CC_GEMM_UKERNEL_H */
