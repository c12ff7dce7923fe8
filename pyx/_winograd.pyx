# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: nonecheck=False, cdivision=True
"""Winograd F(2x2, 3x3) convolution: 3x3 kernels, stride 1, dilation 1, any padding and groups.

Each 2x2 output tile costs 16 multiplies per input channel instead of 36 (cc_winograd.h has the
transforms). For each group, with U[xi] = G g G^T the transformed weights (16 matrices of
C_out/g x C_in/g, transformed and packed once) and V[xi] = B^T d B the transformed input tiles:

    M[xi] = U[xi] V[xi]        16 GEMMs, the direct path's microkernel (cc_gemm_ukernel.h)
    Y     = A^T M A + bias     per tile, written straight to the output (edge tiles clipped)

A task takes a block of NT tiles (a multiple of NR, in row-major tile order) and a block of
output channels. Per block of kc input channels it transforms its tiles into a per-thread
buffer V[16][kc][NT] (reading the input directly: padding and the right/bottom edges are zeros
made on the fly, no padded copy), runs the 16 GEMMs into its accumulator block M[16][co][NT],
and after the last block transforms M to the output. V and M stay in L2; nothing scales with
the image.

Non-finite values: a NaN or Inf in a tile's 4x4 patch would spread over all 4 outputs of the
tile (and of its neighbours, whose patches overlap). When asked (`exact_nonfinite`), the tiles
whose transform is not finite are recomputed by direct summation afterwards, so NaN/Inf land
exactly where a direct convolution puts them. The caller checks the weights.

Built once per instruction set, like _direct. The caller validates every argument.
"""
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy
from libc.stdint cimport uintptr_t
from cython cimport floating

from _split cimport Split, balanced_split
from _openmp_helpers cimport cconv_current_cpu, leave_caller_cpu
from _scratch cimport ScratchCache, take_scratch, give_scratch
from _epilogue cimport OutputSpec, output_spec, store_run
from _copy cimport copy_strided, zero_over, copy_over
from _phase cimport transpose

cdef extern from "cc_gemm_ukernel.h" nogil:
    const int CC_MR
    const int CC_UK_B_CACHED
    const int CC_UK_HALF
    const int CC_NR_F32
    const int CC_NR_F64
    const int CC_VL_F32
    const int CC_VL_F64
    void cc_gemm_ukernel_f32(Py_ssize_t kc, const float* a, Py_ssize_t lda, const float* b,
                             Py_ssize_t ldb, float* c, Py_ssize_t ldc, int mr, int nr,
                             int accumulate, const float* bias_rows, int act)
    void cc_gemm_ukernel_f64(Py_ssize_t kc, const double* a, Py_ssize_t lda, const double* b,
                             Py_ssize_t ldb, double* c, Py_ssize_t ldc, int mr, int nr,
                             int accumulate, const double* bias_rows, int act)
    void cc_gemm_ukernel_narrow_f32(Py_ssize_t kc, const float* a, Py_ssize_t lda,
                                    const float* b, Py_ssize_t ldb, float* c, Py_ssize_t ldc,
                                    int mr, int nr, int accumulate, const float* bias_rows,
                                    int act)
    void cc_gemm_ukernel_narrow_f64(Py_ssize_t kc, const double* a, Py_ssize_t lda,
                                    const double* b, Py_ssize_t ldb, double* c, Py_ssize_t ldc,
                                    int mr, int nr, int accumulate, const double* bias_rows,
                                    int act)

cdef extern from "cc_winograd.h" nogil:
    void cc_wino_weight_panel_f32(const float* w, Py_ssize_t co_stride, int rows, int R,
                                  Py_ssize_t c_in, float* dst, Py_ssize_t xi_stride)
    void cc_wino_weight_panel_f64(const double* w, Py_ssize_t co_stride, int rows, int R,
                                  Py_ssize_t c_in, double* dst, Py_ssize_t xi_stride)
    const bint CC_WINO_PACK_ROWS_F32
    const bint CC_WINO_PACK_ROWS_F64
    unsigned long long cc_wino_input_f32(float* v, Py_ssize_t v_stride, const float* band,
                                         Py_ssize_t bs, Py_ssize_t c0, int ntiles,
                                         const int* slot)
    unsigned long long cc_wino_input_f64(double* v, Py_ssize_t v_stride, const double* band,
                                         Py_ssize_t bs, Py_ssize_t c0, int ntiles,
                                         const int* slot)

cdef extern from "cc_copy.h" nogil:
    void cc_prefetch_rows(const void* base, Py_ssize_t stride, int rows, Py_ssize_t nbytes)
    void cc_wino_output_f32(float* y, const float* m, Py_ssize_t m_stride,
                            const int* tile_in_slot)
    void cc_wino_output_f64(double* y, const double* m, Py_ssize_t m_stride,
                            const int* tile_in_slot)

cdef enum:
    PREFETCH_CHANNELS = 4
    MAX_VL = 16           # lanes of the widest vector (AVX-512, float32)
    MAX_SEGMENTS = 8      # tile rows in one vector: one-tile rows, VL / 2 of them
    KC_WINOGRAD = 64
    ALIGN = 64
    SERIAL_MACS = 1 << 16


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Py_ssize_t skew(Py_ssize_t n, Py_ssize_t vl) noexcept nogil:
    """n rounded up to whole vectors, plus one: the 16 blocks of V and of M are touched together
    (one vector of each per transform); at a power-of-two distance they would fall into the
    same L1 sets (and alias each other 4 KiB apart)."""
    return ceil_div(n, vl) * vl + vl


# The narrow (one-vector) microkernel's FMA rate against the NR-wide one's. A and B in L1 (1
# thread, kc = 64): on AVX-512 12 x 16 against 12 x 32, 153 against 175 GFLOP/s (0.87: a
# broadcast load per FMA, the two load ports are its limit); on AVX2 6 x 8 against 6 x 16, 78
# against 107 (0.73: six accumulators do not hide the FMA latency). In the layers (1 thread,
# AVX-512, same splits) the wide panels took 0.88-0.97x the time: 0.90.
cdef double NARROW_SPEED = 0.90 if CC_MR >= 8 else 0.73
# NR-wide panels are taken when their estimate is this much below the narrow ones': on 2
# threads the estimates of the two splits missed by up to 20% (128x128 on 28x28: 0.998
# estimated, 1.18x the time measured; 64x64 on 56x56: 0.94, 1.06x).
cdef double WIDE_MARGIN = 0.97


cdef inline void gemm_ukernel(bint narrow, Py_ssize_t kc, const floating* a, const floating* b,
                              Py_ssize_t ldb, floating* c, Py_ssize_t ldc, int mr, int nr,
                              int accumulate) noexcept nogil:
    """C[mr x nr] (+)= A B, A packed (MR-row panels), with the NR- or the VL-wide kernel.
    B (V) was just written by the input transform: in cache (CC_UK_B_CACHED)."""
    if floating is float:
        if narrow:
            cc_gemm_ukernel_narrow_f32(kc, a, 0, b, ldb, c, ldc, mr, nr, accumulate, NULL,
                                       CC_UK_B_CACHED)
        else:
            cc_gemm_ukernel_f32(kc, a, 0, b, ldb, c, ldc, mr, nr, accumulate, NULL,
                                CC_UK_B_CACHED)
    else:
        if narrow:
            cc_gemm_ukernel_narrow_f64(kc, a, 0, b, ldb, c, ldc, mr, nr, accumulate, NULL,
                                       CC_UK_B_CACHED)
        else:
            cc_gemm_ukernel_f64(kc, a, 0, b, ldb, c, ldc, mr, nr, accumulate, NULL,
                                CC_UK_B_CACHED)


# Bytes a task may keep hot in L2: half the L2 of this CPU, set at import from what the OS
# reports (cconv._dispatch; 192 KiB until then, safe for a 384 KiB L2).
cdef Py_ssize_t L2_BUDGET = 192 * 1024


def set_l2_budget(Py_ssize_t nbytes):
    """Set the L2 budget the task shapes are chosen for (bytes, >= 64 KiB)."""
    global L2_BUDGET
    L2_BUDGET = max(nbytes, 64 * 1024)


cdef ScratchCache scratch_cache  # see _scratch.pxd
scratch_cache.buffer = NULL
scratch_cache.size = 0


def winograd_weights_size(Py_ssize_t c_out, Py_ssize_t c_in_g, Py_ssize_t groups):
    """Elements of transform_weights_winograd's output."""
    return groups * 16 * ceil_div(c_out // groups, CC_MR) * c_in_g * CC_MR


cdef inline Py_ssize_t k_block(Py_ssize_t c_in_g) noexcept nogil:
    """Input channels per block: V (16 x kc x NT) and the accumulators M (16 x co x NT) share
    L2; a smaller kc leaves room for more output channels per task, and every channel task
    repeats the input transform. 64 keeps the microkernel's per-call overhead small."""
    if c_in_g <= 0:
        return 1  # no input channels: no blocks (and no division by zero)
    return ceil_div(c_in_g, ceil_div(c_in_g, KC_WINOGRAD))


def transform_weights_winograd(const floating[:, :, :, ::1] weight, Py_ssize_t groups,
                               floating[::1] packed, int num_threads=1):
    """U = G g G^T for every (output, input channel) of C-contiguous (C_out, C_in/g, 3, 3)
    weights, packed for the microkernel in the order the tasks read them: per group, per
    block of kc input channels (k_block), per block mb of MR output channels, per xi, kcb x MR
    values, packed[g][block][mb][xi][ci - ci0][i] = U[xi] of output channel g*C_out/g + mb*MR
    + i and input channel ci (zero past the group's last output channel). A task's GEMMs for
    one block (its run of mb, all 16 xi) then read one contiguous range of U front to back,
    whatever the split: 512x512 weights are 16 MiB and stream from L3 or memory at batch 1.
    (With xi outermost a task read 16 runs far apart per block; measured, the change was
    small: 512x512 on 7x7, 1 thread, 1.66 -> 1.56 ms.)

    One task per (group, block of MR output channels), going through its input channels."""
    cdef Py_ssize_t c_out = weight.shape[0], c_in_g = weight.shape[1]
    cdef Py_ssize_t mblocks = ceil_div(c_out // groups, CC_MR), blk
    with nogil:
        for blk in prange(groups * mblocks, num_threads=max(1, num_threads), schedule='static'):
            transform_weight_panel(&weight[0, 0, 0, 0], c_in_g, c_out // groups, mblocks,
                                   blk // mblocks, blk % mblocks, &packed[0])


cdef void transform_weight_panel(const floating* w0, Py_ssize_t c_in_g, Py_ssize_t c_out_g,
                                 Py_ssize_t mblocks, Py_ssize_t g, Py_ssize_t mb,
                                 floating* packed) noexcept nogil:
    """transform_weights_winograd's panel (g, mb), every block of input channels."""
    cdef Py_ssize_t kc = k_block(c_in_g), ci0 = 0, kcb
    cdef const floating* wb
    cdef floating* dst
    cdef int rows = <int> min(CC_MR, c_out_g - mb * CC_MR)
    while ci0 < c_in_g:
        kcb = min(kc, c_in_g - ci0)
        wb = w0 + (g * c_out_g + mb * CC_MR) * c_in_g * 9 + ci0 * 9
        dst = packed + (g * c_in_g + ci0) * 16 * mblocks * CC_MR + mb * 16 * kcb * CC_MR
        if floating is float:
            cc_wino_weight_panel_f32(wb, c_in_g * 9, rows, CC_MR, kcb, dst, kcb * CC_MR)
        else:
            cc_wino_weight_panel_f64(wb, c_in_g * 9, rows, CC_MR, kcb, dst, kcb * CC_MR)
        ci0 += kcb


cdef struct WinoPlan:
    const void* x
    Py_ssize_t sx_n, sx_c, sx_h, sx_w
    Py_ssize_t h, w_in, c_in, c_out, c_in_g, c_out_g, groups, pad_top, pad_left
    Py_ssize_t h_out, w_out, tiles_h, tiles_w, tiles
    Py_ssize_t all_tiles        # images x tiles: a task's block of tiles may span images
    const void* u               # packed transformed weights
    const void* w               # the raw (C_out, C_in/g, 3, 3) weights, for exact_nonfinite
    OutputSpec o
    bint exact_nonfinite
    Py_ssize_t nr_full         # the microkernel's NR; nr (tiles per panel) is it or VL
    Py_ssize_t nr, vl, kc, mblocks, panels, panels_per_task, mblocks_per_task
    Py_ssize_t pixel_tasks, m_tasks, nt, co_rows
    Py_ssize_t v_ld             # V's rows (one per input channel): nt apart, + VL (cl_band)
    Py_ssize_t band_w           # a zero-padded band of 4 input rows, read by whole vectors
    bint cl_band                # channels-last input (sx_c == 1): the band of VL channels at
    Py_ssize_t band_chan        # once, transposed (build_band_rows_cl), band_chan apart
    bint cl_out                 # channels-last output: VL channels' tiles stored together
    bint pack_rows              # short tile rows share a vector (TileChunk)
    Py_ssize_t max_chunks       # TileChunks a task may need
    Py_ssize_t v_elems, m_elems, m_stride, band_elems, per_thread


cdef struct TileChunk:
    # Up to VL consecutive tiles of a task, transformed as one vector: a run of one tile row,
    # or (pack_rows) several short tile rows, or parts of rows, one after another in the band,
    # segment s in its slots first_slot[s] .. first_slot[s] + length[s] - 1 with one unused
    # slot after it (that slot's patch straddles two rows). A 14x14 image's 7-tile rows had
    # filled 7 of 16 lanes of every transform: 64 -> 64 channels on 32 x 14x14, 1 thread,
    # the transforms were ~45% of the time.
    Py_ssize_t first            # its first tile, from the task's first
    int tiles, segments
    bint packed                 # more than one segment: slot and tile_in_slot apply
    bint run_start              # it starts a run of a tile row (or is packed): builds the band
    Py_ssize_t band_cols        # columns of the band a run start builds (packed: per segment)
    Py_ssize_t c0               # where its first patch starts in the band
    Py_ssize_t n[MAX_SEGMENTS]
    Py_ssize_t th[MAX_SEGMENTS]
    Py_ssize_t tw[MAX_SEGMENTS]
    int length[MAX_SEGMENTS]
    int first_slot[MAX_SEGMENTS]
    int slot[MAX_VL]            # tile j's slot (cc_wino_input)
    int tile_in_slot[MAX_VL]    # slot s's tile (cc_wino_output)


cdef void build_band_row(const WinoPlan* pl, const floating* plane, Py_ssize_t r, Py_ssize_t j0,
                         Py_ssize_t j1, floating* dst) noexcept nogil:
    """Row r of the input plane, zero-padded, columns j0..j1 of the padded plane:
    dst[j - j0] = x[r, j - pad_left] (zero outside the plane), written with whole vectors
    that may spill up to a vector past dst[j1 - j0 - 1] (the caller writes the band's rows
    and segments front to back, so a spill lands on what is written next, or on the slack
    after the band)."""
    cdef Py_ssize_t lo = max(pl.pad_left, j0), hi = min(pl.pad_left + pl.w_in, j1)
    if r < 0 or r >= pl.h or hi <= lo:
        zero_over(dst, j1 - j0)
        return
    zero_over(dst, lo - j0)
    if pl.sx_w == 1:
        copy_over(dst + lo - j0, plane + r * pl.sx_h + lo - pl.pad_left, hi - lo)
    else:
        copy_strided(dst + lo - j0, plane + r * pl.sx_h + (lo - pl.pad_left) * pl.sx_w, hi - lo,
                     pl.sx_w)
    zero_over(dst + hi - j0, j1 - hi)


cdef void build_band_rows_cl(const WinoPlan* pl, const floating* plane, Py_ssize_t r,
                             Py_ssize_t j0, Py_ssize_t j1, floating* dst,
                             int nch) noexcept nogil:
    """build_band_row for nch channels of a channels-last input at once (plane: the first's;
    channel c's row at dst + c * band_chan): its pixels' runs of channels transposed in
    registers. Read one element at a time, a row of one channel touches a cache line per
    pixel, and the next channel the same lines again: 64 -> 64 channels on 56x56, 1 thread,
    channels last, spent ~20% of its time in that loop (1.84 ms against 1.10 NCHW)."""
    cdef Py_ssize_t lo = max(pl.pad_left, j0), hi = min(pl.pad_left + pl.w_in, j1), c
    if r < 0 or r >= pl.h or hi <= lo:
        lo = hi = j1
    for c in range(nch):
        zero_over(dst + c * pl.band_chan, lo - j0)
    if hi > lo:
        transpose(dst + lo - j0, pl.band_chan,
                  plane + r * pl.sx_h + (lo - pl.pad_left) * pl.sx_w, pl.sx_w, hi - lo, nch)
        for c in range(nch):
            zero_over(dst + c * pl.band_chan + hi - j0, j1 - hi)


cdef inline void tile_position(const WinoPlan* pl, Py_ssize_t gt, Py_ssize_t* n,
                               Py_ssize_t* th, Py_ssize_t* tw) noexcept nogil:
    """Tile gt of all images' tiles: its image, and its row and column there."""
    n[0] = gt // pl.tiles
    th[0] = gt % pl.tiles // pl.tiles_w
    tw[0] = gt % pl.tiles_w


cdef Py_ssize_t plan_chunks(const WinoPlan* pl, Py_ssize_t t0, Py_ssize_t ntl,
                            TileChunk* chunks) noexcept nogil:
    """The task's tiles t0 .. t0 + ntl - 1 as TileChunks (returns how many): each run of a
    tile row cut into VL tiles at a time, or with pack_rows as many whole (or, at the task's
    ends, partial) row segments as fit a vector's slots with one slot between them."""
    cdef Py_ssize_t t = 0, count = 0, n, th, tw, length, run, run_tw, run_cols
    cdef TileChunk* ch
    cdef int s, slot, j
    while t < ntl:
        tile_position(pl, t0 + t, &n, &th, &tw)
        run = min(pl.tiles_w - tw, ntl - t)
        if not pl.pack_rows:
            # the run's band is built once, with its first chunk: its patches and the
            # vector reads' slack (real values or zeros past the run)
            run_tw = tw
            run_cols = 2 * ceil_div(run, pl.vl) * pl.vl + 2
            while run > 0:
                ch = &chunks[count]
                count += 1
                length = min(run, pl.vl)
                ch.first, ch.tiles, ch.segments, ch.packed = t, <int> length, 1, False
                ch.run_start, ch.band_cols, ch.c0 = tw == run_tw, run_cols, 2 * (tw - run_tw)
                ch.n[0], ch.th[0], ch.tw[0] = n, th, tw
                ch.length[0], ch.first_slot[0] = <int> length, 0
                t += length
                tw += length
                run -= length
            continue
        ch = &chunks[count]
        count += 1
        ch.first, ch.tiles, ch.c0, ch.run_start = t, 0, 0, True
        s = 0
        slot = 0
        while s < MAX_SEGMENTS and t + ch.tiles < ntl:
            length = min(pl.tiles_w - tw, ntl - t - ch.tiles)
            if slot + length > pl.vl:
                break
            ch.n[s], ch.th[s], ch.tw[s] = n, th, tw
            ch.length[s], ch.first_slot[s] = <int> length, slot
            for j in range(<int> length):
                ch.slot[ch.tiles + j] = slot + j
            ch.tiles += <int> length
            slot += <int> length + 1
            s += 1
            tw = 0
            th += 1
            if th == pl.tiles_h:
                th = 0
                n += 1
        ch.segments = s
        ch.packed = s > 1
        # packed: each segment's patches; one segment: its patches and the vector reads'
        # slack, as a run's first chunk
        ch.band_cols = 2 * pl.vl + 2
        # lanes past the chunk's tiles repeat a tile (stored whole, rewritten later)
        for j in range(ch.tiles, <int> pl.vl):
            ch.slot[j] = 0
        for j in range(<int> pl.vl):
            ch.tile_in_slot[j] = 0
        for j in range(ch.tiles):
            ch.tile_in_slot[ch.slot[j]] = j
        t += ch.tiles
    return count


cdef void direct_tile(const WinoPlan* pl, const floating* x0, Py_ssize_t gt, Py_ssize_t g,
                      Py_ssize_t co) noexcept nogil:
    """The (up to) 4 outputs of tile gt (of all images' tiles), channel co of group g, by
    direct summation from the input x0, through the output pass: NaN and Inf land exactly
    where a direct convolution puts them."""
    cdef Py_ssize_t n, th, tw
    tile_position(pl, gt, &n, &th, &tw)
    cdef const floating* x = x0 + n * pl.sx_n + g * pl.c_in_g * pl.sx_c
    cdef const floating* w = <const floating*> pl.w + (g * pl.c_out_g + co) * pl.c_in_g * 9
    cdef const OutputSpec* o = &pl.o
    cdef const floating* bias = <const floating*> o.bias
    cdef Py_ssize_t a, b, oh, ow, ci, r, s, ih, iw
    cdef floating acc
    for a in range(2):
        oh = 2 * th + a
        if oh >= pl.h_out:
            continue
        for b in range(2):
            ow = 2 * tw + b
            if ow >= pl.w_out:
                continue
            acc = 0
            for ci in range(pl.c_in_g):
                for r in range(3):
                    ih = oh + r - pl.pad_top
                    if ih < 0 or ih >= pl.h:
                        continue
                    for s in range(3):
                        iw = ow + s - pl.pad_left
                        if iw < 0 or iw >= pl.w_in:
                            continue
                        acc = acc + w[ci * 9 + r * 3 + s] * x[ci * pl.sx_c + ih * pl.sx_h
                                                               + iw * pl.sx_w]
            store_run(o, <floating*> o.out + n * o.sn + (g * pl.c_out_g + co) * o.sc
                      + oh * o.sh + ow * o.sw, 1, &acc, 1, 1,
                      bias + g * pl.c_out_g + co if bias != NULL else NULL, 0)


cdef inline unsigned long long input_chunk(floating* v, Py_ssize_t v_stride,
                                           const floating* band, Py_ssize_t band_w,
                                           const TileChunk* ch) noexcept nogil:
    """The input transform of chunk ch's tiles from its band (see cc_wino_input): their
    non-finite flags"""
    if floating is float:
        return cc_wino_input_f32(v, v_stride, band, band_w, ch.c0, ch.tiles,
                                 ch.slot if ch.packed else NULL)
    else:
        return cc_wino_input_f64(v, v_stride, band, band_w, ch.c0, ch.tiles,
                                 ch.slot if ch.packed else NULL)


cdef inline void output_chunk(floating* y, const floating* m, Py_ssize_t m_stride,
                              const int* tile_in_slot) noexcept nogil:
    """The output transform of up to VL tiles (see cc_wino_output)"""
    if floating is float:
        cc_wino_output_f32(y, m, m_stride, tile_in_slot)
    else:
        cc_wino_output_f64(y, m, m_stride, tile_in_slot)


cdef inline void store_tile_rows(const WinoPlan* pl, const floating* y, Py_ssize_t n,
                                 Py_ssize_t th, Py_ssize_t tw, Py_ssize_t length, Py_ssize_t c,
                                 const floating* bias_c) noexcept nogil:
    """Tiles tw .. tw + length - 1 of tile row th of image n, output channel c: columns
    0 .. 2*length - 1 of the output transform's two rows (y, 2*VL apart), clipped to the
    output, through the output pass."""
    cdef const OutputSpec* o = &pl.o
    cdef Py_ssize_t ncols = min(2 * length, pl.w_out - 2 * tw), a
    for a in range(2):
        if 2 * th + a < pl.h_out:
            store_run(o, <floating*> o.out + n * o.sn + c * o.sc + (2 * th + a) * o.sh
                      + 2 * tw * o.sw, o.sw, y + a * 2 * pl.vl, 1, ncols, bias_c, 0)


cdef void store_tile_rows_cl(const WinoPlan* pl, const floating* y, Py_ssize_t n,
                             Py_ssize_t th, Py_ssize_t tw, Py_ssize_t length, Py_ssize_t c,
                             int nc, const floating* bias_c, floating* tmp) noexcept nogil:
    """store_tile_rows for output channels c .. c + nc - 1 (nc <= VL) of a channels-last
    output (channel j's transform at y + j * 4 * VL): up to VL pixels of a row at a time
    transposed into runs of nc channels (tmp: VL x VL), each then through the output pass.
    A channel at a time, the stores go one element per pixel, C_out apart: 64 -> 64 channels
    on 56x56, 1 thread, channels last, spent ~10% of its time there."""
    cdef const OutputSpec* o = &pl.o
    cdef Py_ssize_t ncols = min(2 * length, pl.w_out - 2 * tw), a, p0, p, npx
    cdef floating* dst
    for a in range(2):
        if 2 * th + a >= pl.h_out:
            continue
        dst = <floating*> o.out + n * o.sn + c + (2 * th + a) * o.sh + 2 * tw * o.sw
        p0 = 0
        while p0 < ncols:
            npx = min(pl.vl, ncols - p0)
            transpose(tmp, pl.vl, y + a * 2 * pl.vl + p0, 4 * pl.vl, nc, <int> npx)
            for p in range(npx):
                store_run(o, dst + (p0 + p) * o.sw, 1, tmp + p * pl.vl, 1, nc, bias_c, 1)
            p0 += npx


cdef void winograd_task(const WinoPlan* pl, Py_ssize_t task, floating* buf) noexcept nogil:
    """Tiles [t0, t0+ntl) of all images' tiles (row-major within each image, the images one
    after another: with small planes a 49-tile image would leave 7 lanes of every fourth
    16-tile panel empty, a batch fills them), group g, against output-channel blocks of task
    mt."""
    cdef Py_ssize_t mt = task % pl.m_tasks
    cdef Py_ssize_t rest = task // pl.m_tasks
    cdef Py_ssize_t pt = rest % pl.pixel_tasks
    cdef Py_ssize_t g = rest // pl.pixel_tasks
    cdef Py_ssize_t nr = pl.nr, NT = pl.nt, vl = pl.vl, ldv = pl.v_ld
    cdef Py_ssize_t t0 = pt * pl.panels_per_task * nr
    cdef Py_ssize_t ntl = min(pl.all_tiles - t0, NT)
    cdef Py_ssize_t npanels = ceil_div(ntl, nr)
    cdef Py_ssize_t mb0 = mt * pl.mblocks_per_task
    cdef Py_ssize_t mb1 = min(mb0 + pl.mblocks_per_task, pl.mblocks)
    cdef Py_ssize_t co_rows = pl.co_rows, vs, ms = pl.m_stride
    cdef floating* V = buf                      # [16][kc][ldv], 16 blocks vs apart
    cdef floating* M = buf + pl.v_elems         # [16][co_rows][NT], 16 blocks ms apart
    cdef floating* band = M + pl.m_elems        # [4][band_w]
    cdef unsigned long long* bad = <unsigned long long*> (band + pl.band_elems)  # per chunk
    cdef TileChunk* chunks = <TileChunk*> (bad + pl.max_chunks)
    cdef TileChunk* ch
    cdef const floating* xg
    cdef const floating* u
    cdef Py_ssize_t ci0, kc, ci, t, xi, j, mb, co, i, r, seg, j0, cols, n, th, tw, run, cb
    cdef Py_ssize_t r0, prev_n = 0, prev_th, prev_tw = 0, prev_cols = 0
    cdef int chunk, nch
    cdef Py_ssize_t nchunks = plan_chunks(pl, t0, ntl, chunks)
    for i in range(nchunks):
        bad[i] = 0
    ci0 = 0
    while ci0 < pl.c_in_g:
        kc = min(pl.kc, pl.c_in_g - ci0)
        vs = skew(kc * ldv, vl)
        if ntl % vl:
            # lanes of the last vector past the last tile, which the microkernel may load:
            # defined (their M is not stored)
            for xi in range(16):
                for ci in range(kc):
                    for t in range(ntl, ceil_div(ntl, vl) * vl):
                        V[xi * vs + ci * ldv + t] = 0
        # input transform, a TileChunk at a time, from a zero-padded band of the 4 input
        # rows its tiles read (built by a run's first chunk; rows, then segments, front to
        # back: see build_band_row); a packed chunk's segments side by side, a slot apart
        if pl.cl_band:
            # channels last: the band for VL channels at once, each chunk transformed for
            # all of them (a channel's chunks still in order: see the note on short vectors)
            cb = 0
            while cb < kc:
                nch = <int> min(vl, kc - cb)
                prev_th = -2
                for i in range(nchunks):
                    ch = &chunks[i]
                    if ch.run_start:
                        # the tile row below the band's last (same image and columns): its
                        # first two input rows are the band's last two, moved up; only two
                        # rows are transposed (64 -> 64 on 56x56: transposes ~14% -> ~8%)
                        r0 = 0
                        if (not ch.packed and ch.th[0] == prev_th + 1 and ch.n[0] == prev_n
                                and ch.tw[0] == prev_tw and ch.band_cols == prev_cols):
                            for j in range(nch):
                                memcpy(band + j * pl.band_chan,
                                       band + j * pl.band_chan + 2 * pl.band_w,
                                       2 * pl.band_w * sizeof(floating))
                            r0 = 2
                        prev_n, prev_th, prev_tw, prev_cols = (ch.n[0], ch.th[0], ch.tw[0],
                                                               ch.band_cols)
                        for r in range(r0, 4):
                            for seg in range(ch.segments):
                                xg = (<const floating*> pl.x + ch.n[seg] * pl.sx_n
                                      + g * pl.c_in_g + ci0 + cb)
                                j0 = 2 * ch.tw[seg]
                                cols = 2 * ch.length[seg] + 2 if ch.packed else ch.band_cols
                                build_band_rows_cl(pl, xg, 2 * ch.th[seg] - pl.pad_top + r, j0,
                                                   j0 + cols, band + r * pl.band_w
                                                   + 2 * ch.first_slot[seg], nch)
                    for ci in range(cb, cb + nch):
                        bad[i] |= input_chunk(V + ci * ldv + ch.first, vs,
                                              band + (ci - cb) * pl.band_chan, pl.band_w, ch)
                cb += nch
        for ci in range(kc if not pl.cl_band else 0):
            for i in range(nchunks):
                ch = &chunks[i]
                if ch.run_start:
                    for r in range(4):
                        for seg in range(ch.segments):
                            xg = (<const floating*> pl.x + ch.n[seg] * pl.sx_n
                                  + (g * pl.c_in_g + ci0 + ci) * pl.sx_c)
                            j0 = 2 * ch.tw[seg]
                            cols = 2 * ch.length[seg] + 2 if ch.packed else ch.band_cols
                            build_band_row(pl, xg, 2 * ch.th[seg] - pl.pad_top + r, j0,
                                           j0 + cols,
                                           band + r * pl.band_w + 2 * ch.first_slot[seg])
                    for seg in range(ch.segments):
                        if (ci + PREFETCH_CHANNELS < kc and pl.sx_w == 1
                                and 0 <= 2 * ch.th[seg] - pl.pad_top <= pl.h - 4):
                            # the same rows of a later channel, another plane: fetch them
                            # now. One channel ahead was too close to hide a miss to L3 (the
                            # input is evicted there by the weights streaming past): 512ch
                            # 28x28, 1 thread, 18.9 -> 17.7 ms with 4 channels ahead, 8 no
                            # better
                            cc_prefetch_rows(<const floating*> pl.x + ch.n[seg] * pl.sx_n
                                             + (g * pl.c_in_g + ci0 + ci + PREFETCH_CHANNELS)
                                             * pl.sx_c + (2 * ch.th[seg] - pl.pad_top)
                                             * pl.sx_h, pl.sx_h * sizeof(floating), 4,
                                             pl.w_in * sizeof(floating))
                # a short vector is stored whole: its extra lanes fall on later tiles of V
                # (written after), past the task's tiles (their M is not stored), or into
                # the vector of slack after the block (skew)
                bad[i] |= input_chunk(V + ci * ldv + ch.first, vs, band, pl.band_w, ch)
        # 16 GEMMs: M[xi] (+)= U[xi] V[xi], in transform_weights_winograd's order: U read
        # front to back, one stream (V, 16 x kc x NT, comes from L2)
        u = (<const floating*> pl.u + (g * 16 * pl.c_in_g + ci0 * 16) * pl.mblocks * CC_MR
             + mb0 * 16 * kc * CC_MR)
        for mb in range(mb0, mb1):
            for xi in range(16):
                for j in range(npanels):
                    # the last panel's tiles only (its FMAs rounded up to half a vector)
                    gemm_ukernel(nr != pl.nr_full, kc, u, V + xi * vs + j * nr, ldv,
                                 M + xi * ms + (mb - mb0) * CC_MR * NT + j * nr, NT,
                                 <int> min(<Py_ssize_t> CC_MR, pl.c_out_g - mb * CC_MR),
                                 <int> min(nr, ntl - j * nr), ci0 > 0)
                u += kc * CC_MR
        ci0 += kc
    # output transform, clipped at the edges, through the output pass
    cdef const OutputSpec* o = &pl.o
    cdef Py_ssize_t co_end = min(mb1 * CC_MR, pl.c_out_g)
    cdef floating* y = band   # the band is free again: 2 rows of 2*VL
    cdef const floating* bias_co
    cdef floating* ytmp = band + 4 * vl * vl   # store_tile_rows_cl's transposes
    if pl.cl_out:
        # channels last: VL output channels at a time, their transforms side by side
        co = mb0 * CC_MR
        while co < co_end:
            nch = <int> min(vl, co_end - co)
            bias_co = NULL
            if o.bias != NULL:
                bias_co = <const floating*> o.bias + g * pl.c_out_g + co
            for i in range(nchunks):
                ch = &chunks[i]
                for j in range(nch):
                    output_chunk(y + j * 4 * vl, M + (co + j - mb0 * CC_MR) * NT + ch.first,
                                 ms, ch.tile_in_slot if ch.packed else NULL)
                for seg in range(ch.segments):
                    store_tile_rows_cl(pl, y + 2 * ch.first_slot[seg], ch.n[seg],
                                       ch.th[seg], ch.tw[seg], ch.length[seg],
                                       g * pl.c_out_g + co, nch, bias_co, ytmp)
            co += nch
    for co in range(mb0 * CC_MR, co_end if not pl.cl_out else 0):
        bias_co = NULL
        if o.bias != NULL:
            bias_co = <const floating*> o.bias + g * pl.c_out_g + co
        if pl.pack_rows:
            for i in range(nchunks):
                ch = &chunks[i]
                output_chunk(y, M + (co - mb0 * CC_MR) * NT + ch.first, ms,
                             ch.tile_in_slot if ch.packed else NULL)
                for seg in range(ch.segments):
                    store_tile_rows(pl, y + 2 * ch.first_slot[seg], ch.n[seg], ch.th[seg],
                                    ch.tw[seg], ch.length[seg], g * pl.c_out_g + co, bias_co)
        else:
            # runs of tile rows, as the chunks cut them, the positions computed here (through
            # the chunks' fields, 1 thread, in two runs of this form and that alternating:
            # 64 -> 64 on 224x224 1.014-1.017x the time, 256 on 56x56 1.009-1.012x)
            t = 0
            while t < ntl:
                tile_position(pl, t0 + t, &n, &th, &tw)
                run = min(pl.tiles_w - tw, ntl - t)
                while run > 0:
                    chunk = <int> min(run, vl)
                    output_chunk(y, M + (co - mb0 * CC_MR) * NT + t, ms, NULL)
                    store_tile_rows(pl, y, n, th, tw, chunk, g * pl.c_out_g + co, bias_co)
                    t += chunk
                    tw += chunk
                    run -= chunk
    if not pl.exact_nonfinite:
        return
    # tiles whose transform was not finite: recompute them directly
    for i in range(nchunks):
        if bad[i]:
            for j in range(chunks[i].tiles):
                if (bad[i] >> j) & 1:
                    for co in range(mb0 * CC_MR, co_end):
                        direct_tile(pl, <const floating*> pl.x, t0 + chunks[i].first + j, g,
                                    co)

def conv2d_winograd_nchw(const floating[:, :, :, :] x, u_packed,
                         const floating[::1] w, bias, floating[:, :, :, :] out,
                         Py_ssize_t groups, Py_ssize_t pad_top, Py_ssize_t pad_left,
                         int num_threads, bint exact_nonfinite, residual=None, int act=0,
                         double alpha=0):
    """out = conv2d(x, w, bias, stride 1, padding (pad_top, pad_left, and whatever makes
    out's shape), dilation 1, groups) for 3x3 weights w (C_out, C_in/g, 3, 3) flattened
    C-contiguous.

    u_packed: the weights transformed by transform_weights_winograd, or None to transform
    them here, into scratch memory (kept between calls). exact_nonfinite: recompute the tiles
    whose transform is not finite directly (w is read for that).

    x: (N, C_in, H, W) and out (N, C_out, H_out, W_out): any strides that are multiples of the
    item size; every element of out written, through the output pass (bias, residual: None or
    an array with out's shape and strides, activation act with slope alpha). GIL released; up
    to num_threads OpenMP threads.
    """
    cdef WinoPlan pl
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef Py_ssize_t images = x.shape[0], ntasks, t
    cdef int threads = num_threads, caller_cpu
    cdef char* scratch = NULL
    cdef floating* buf0
    cdef Split sp
    if images == 0 or out.shape[1] == 0:
        return
    pl.x = &x[0, 0, 0, 0]
    pl.sx_n = x.strides[0] // itemsize
    pl.sx_c = x.strides[1] // itemsize
    pl.sx_h = x.strides[2] // itemsize
    pl.sx_w = x.strides[3] // itemsize
    pl.h, pl.w_in, pl.c_in = x.shape[2], x.shape[3], x.shape[1]
    pl.c_out, pl.groups = out.shape[1], groups
    pl.c_in_g, pl.c_out_g = pl.c_in // groups, pl.c_out // groups
    pl.pad_top, pl.pad_left = pad_top, pad_left
    pl.h_out, pl.w_out = out.shape[2], out.shape[3]
    pl.tiles_h, pl.tiles_w = ceil_div(pl.h_out, 2), ceil_div(pl.w_out, 2)
    pl.tiles = pl.tiles_h * pl.tiles_w
    pl.all_tiles = images * pl.tiles
    cdef const floating[::1] u
    cdef Py_ssize_t u_count = 0
    if u_packed is not None:
        u = u_packed
        pl.u = &u[0]
    else:
        u_count = winograd_weights_size(out.shape[1], x.shape[1] // groups, groups)
    pl.w = &w[0]
    output_spec(&pl.o, out, residual, bias, act, alpha, False)
    pl.exact_nonfinite = exact_nonfinite
    pl.nr_full = CC_NR_F32 if floating is float else CC_NR_F64
    pl.vl = CC_VL_F32 if floating is float else CC_VL_F64
    pl.mblocks = ceil_div(pl.c_out_g, CC_MR)
    pl.kc = k_block(pl.c_in_g)
    if images * pl.c_out * pl.h_out * pl.w_out * pl.c_in_g * 9 < SERIAL_MACS:
        threads = 1
    sp = tile_panels_split(groups, pl.all_tiles, pl.tiles_w, pl.c_in_g, pl.c_out_g, pl.kc,
                           itemsize, threads, &pl.nr)
    pl.panels = ceil_div(pl.all_tiles, pl.nr)
    pl.panels_per_task, pl.mblocks_per_task = sp.a_per_task, sp.b_per_task
    pl.pixel_tasks, pl.m_tasks = sp.a_tasks, sp.b_tasks
    pl.nt = pl.panels_per_task * pl.nr
    pl.co_rows = pl.mblocks_per_task * CC_MR
    pl.cl_band = pl.sx_c == 1 and pl.sx_w != 1 and pl.c_in_g > 1
    # channels last, a chunk's transforms go through the band's channels before the next
    # chunk: the last chunk's short vector of a channel would spill onto the next channel's
    # first tiles, written before it. A vector of slack per channel row takes the spill.
    pl.v_ld = pl.nt + (pl.vl if pl.cl_band else 0)
    pl.v_elems = ceil_div(16 * skew(pl.kc * pl.v_ld, pl.vl) * itemsize, ALIGN) * ALIGN // itemsize
    pl.m_stride = skew(pl.co_rows * pl.nt, pl.vl)
    pl.m_elems = ceil_div(16 * pl.m_stride * itemsize, ALIGN) * ALIGN // itemsize
    # columns -pad_left .. 2*tiles_w + 2 of the input, + a full vector pair of slack
    pl.band_w = 2 * pl.tiles_w + 2 + 2 * pl.vl
    pl.band_chan = 4 * pl.band_w + pl.vl
    pl.cl_out = pl.o.sc == 1 and pl.o.sw != 1 and pl.c_out_g > 1
    # (the band holds the output transforms after the GEMMs: 2 rows of 2 VL a channel, VL
    # channels with cl_out, then VL x VL for store_tile_rows_cl's transposes)
    pl.band_elems = ceil_div(max((pl.vl if pl.cl_band else 1) * pl.band_chan,
                                 6 * pl.vl * pl.vl if pl.cl_out else 0) * itemsize,
                             ALIGN) * ALIGN // itemsize
    # + per TileChunk (at most VL tiles of a tile row, or packed rows: fewer) its non-finite
    # flags (a word) and the chunk itself
    pl.pack_rows = ((CC_WINO_PACK_ROWS_F32 if floating is float else CC_WINO_PACK_ROWS_F64)
                    and 2 * pl.tiles_w + 1 <= pl.vl)
    pl.max_chunks = ceil_div(pl.nt, pl.vl) + ceil_div(pl.nt, pl.tiles_w) + 2
    pl.per_thread = pl.v_elems + pl.m_elems + pl.band_elems + ceil_div(
        pl.max_chunks * (8 + sizeof(TileChunk)), ALIGN) * ALIGN // itemsize
    ntasks = groups * pl.pixel_tasks * pl.m_tasks
    cdef int wthreads = threads
    threads = <int> min(<Py_ssize_t> threads, ntasks)
    cdef size_t scratch_bytes = (threads * pl.per_thread + u_count) * itemsize + ALIGN
    scratch = <char*> take_scratch(&scratch_cache, scratch_bytes)
    if scratch == NULL:
        raise MemoryError("cconv: cannot allocate the convolution's scratch memory")
    buf0 = <floating*> (scratch + (ALIGN - <uintptr_t> scratch % ALIGN))
    try:
        if u_packed is None:
            u = <floating[:u_count]> (buf0 + threads * pl.per_thread)
            transform_weights_winograd(<floating[:out.shape[1], :x.shape[1] // groups, :3, :3]>
                                       &w[0], groups, u, wthreads)
            pl.u = &u[0]
        with nogil:
            if threads == 1:
                for t in range(ntasks):
                    winograd_task(&pl, t, buf0)
            else:
                caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
                if ntasks <= threads:
                    # a task a thread, the i-th always on thread i (see _direct.pyx: more
                    # tasks than threads are taken dynamically: a short last panel makes
                    # them unequal, and statically vgg-c4-2's 14 lost 1.06-1.08x)
                    for t in prange(ntasks, num_threads=threads, schedule='static'):
                        leave_caller_cpu(caller_cpu)
                        winograd_task(&pl, t, buf0 + threadid() * pl.per_thread)
                else:
                    for t in prange(ntasks, num_threads=threads, schedule='dynamic'):
                        leave_caller_cpu(caller_cpu)
                        winograd_task(&pl, t, buf0 + threadid() * pl.per_thread)
    finally:
        give_scratch(&scratch_cache, scratch, scratch_bytes)


cdef Split winograd_split(Py_ssize_t instances, Py_ssize_t tiles, Py_ssize_t tiles_w,
                          Py_ssize_t nr, Py_ssize_t c_in_g, Py_ssize_t c_out_g, Py_ssize_t kc,
                          Py_ssize_t itemsize, int threads, double step_cost) noexcept nogil:
    """Tasks of a panels x b blocks: 16 GEMM k-steps per input channel and tile panel x block
    (+ the output transform), plus the input transform of its panels, repeated by every
    channel task: per input channel ~3 k-steps and ~6 per run of tiles along a tile row (a
    band of 4 input rows built, then at most VL tiles transformed per vector pass: a 7x7
    output's 16 tiles are 4 runs of 4). A task costs ~2000 k-steps besides (scheduling, its
    output rows shared with the neighbouring task at the edges, V and M refilled): on 2
    threads, 25 one-panel tasks of a 32-channel 56x56 layer took 0.30 ms, 2 tasks 0.22 ms.
    V (16 x kc x NT), its band of input rows and M (16 x MR*b x NT) stay in L2. Costs in
    k-steps of the narrow kernel; step_cost: the time of one of this panel width's."""
    cdef double runs = <double> min(nr, tiles) / tiles_w + 1
    cdef Py_ssize_t vl = CC_VL_F32 if itemsize == 4 else CC_VL_F64
    # (the last panel and block counted whole: with their real shares the estimate chose
    # one-vector panels for 256x256 on 28x28 on 2 threads, 1.21x the time)
    return balanced_split(ceil_div(tiles, nr), ceil_div(c_out_g, CC_MR), instances, threads,
                          16.0 * c_in_g * step_cost + 12,
                          c_in_g * (8.0 * nr / vl + 12.0 * runs), 2000.0,
                          16.0 * kc * nr * itemsize, 0, 16.0 * CC_MR * nr * itemsize,
                          L2_BUDGET, 1.0, 1.0)


cdef Split tile_panels_split(Py_ssize_t instances, Py_ssize_t tiles, Py_ssize_t tiles_w,
                             Py_ssize_t c_in_g, Py_ssize_t c_out_g, Py_ssize_t kc,
                             Py_ssize_t itemsize, int threads, Py_ssize_t* nr) noexcept nogil:
    """The task split, and in nr the tiles per GEMM panel: the microkernel's NR or one vector
    (its narrow variant), whichever split has the smaller estimated makespan. The wide kernel
    is faster per FMA (NARROW_SPEED); the narrow one wastes fewer lanes on a short last panel
    (16 tiles of a 7x7 image: 512x512, 1 thread, 1.31 ms against 1.94 on NR-wide panels when
    they were computed whole) and its V and M blocks are half the size (more output channels
    per task, the input transform repeated less often). 1 thread, prepared, AVX-512, against
    narrow panels everywhere: 256x256 on 56x56 0.90x the time, 512x512 on 28x28 0.90x, 64x64 on
    224x224 0.88x, 256x256 on 14x14 0.87x."""
    cdef Py_ssize_t wide_nr = CC_NR_F32 if itemsize == 4 else CC_NR_F64
    cdef Py_ssize_t vl = CC_VL_F32 if itemsize == 4 else CC_VL_F64
    cdef Split narrow = winograd_split(instances, tiles, tiles_w, vl, c_in_g, c_out_g, kc,
                                       itemsize, threads, 1.0)
    cdef Split wide = winograd_split(instances, tiles, tiles_w, wide_nr, c_in_g, c_out_g, kc,
                                     itemsize, threads, <double> wide_nr / vl * NARROW_SPEED)
    if tiles <= vl or narrow.cost * WIDE_MARGIN <= wide.cost:
        # (at most one vector of tiles: the same FMAs either way, and half the V and M)
        nr[0] = vl
        return narrow
    nr[0] = wide_nr
    return wide


def split_summary(Py_ssize_t images, Py_ssize_t c_in, Py_ssize_t c_out, Py_ssize_t groups,
                  Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t itemsize, int threads):
    """The task split conv2d_winograd_nchw would choose (for explain() and tests)."""
    cdef Py_ssize_t c_in_g = c_in // groups
    cdef Py_ssize_t tiles = images * ceil_div(h_out, 2) * ceil_div(w_out, 2)
    cdef Py_ssize_t nr
    cdef Py_ssize_t kc = k_block(c_in_g)
    cdef Split sp = tile_panels_split(groups, tiles, ceil_div(w_out, 2), c_in_g,
                                      c_out // groups, kc, itemsize, threads, &nr)
    return dict(kc=kc, tiles_per_panel=nr, panels_per_task=sp.a_per_task,
                mblocks_per_task=sp.b_per_task, pixel_tasks=sp.a_tasks, m_tasks=sp.b_tasks)

