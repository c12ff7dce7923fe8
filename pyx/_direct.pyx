# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: nonecheck=False, cdivision=True
"""Blocked direct convolution, NCHW, as an implicit GEMM per (image, group).

    out[n, g*Mg + m, p] = bias[g*Mg + m] + sum_k W_g[m, k] * X_{n,g}[k, p]

with k = (ci, kh, kw) over the C_in/groups input channels of the group and p an output pixel
(oh * W_out + ow). X is never materialised: each task gathers the panel of X it needs (kc values
of K x NC pixels, "im2col" of one block only) into a per-thread buffer that fits in L2, zero-filling
the padding, and runs the GEMM microkernel (cc_gemm_ukernel.h) over it, the packed weights
streaming from L2 and the NR-pixel B panel staying in L1 (the BLIS loop order).

Built once per instruction set (setup.py); cconv._dispatch imports the variant the CPU supports.
The caller (cconv._conv) validates every argument: nothing here checks shapes.
"""
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy
from libc.stdint cimport uintptr_t

from cython cimport floating

cdef extern from "cc_gemm_ukernel.h" nogil:
    const char* CC_ISA
    const int CC_MR
    const int CC_NR_F32
    const int CC_NR_F64
    void cc_gemm_ukernel_f32(Py_ssize_t kc, const float* a, const float* b, float* c,
                             Py_ssize_t ldc, int mr, int nr, int accumulate,
                             const float* bias_rows)
    void cc_gemm_ukernel_f64(Py_ssize_t kc, const double* a, const double* b, double* c,
                             Py_ssize_t ldc, int mr, int nr, int accumulate,
                             const double* bias_rows)

ISA = CC_ISA.decode()
MR = CC_MR
NR_F32 = CC_NR_F32
NR_F64 = CC_NR_F64

# Cache budgets for the blocking (bytes). The B micro-panel (kc x NR) should stay in L1 while the
# MR-row weight panels stream past it; the whole B block (kc x NC) and the weight block should
# stay in L2. Conservative for a 32-48 KiB L1d and a >= 512 KiB L2.
cdef enum:
    L1_BUDGET = 16 * 1024
    L2_BUDGET = 256 * 1024
    ALIGN = 64


cdef inline int tile_width(floating* dummy) noexcept nogil:
    if floating is float:
        return CC_NR_F32
    else:
        return CC_NR_F64


cdef inline void gemm_ukernel(Py_ssize_t kc, const floating* a, const floating* b, floating* c,
                              Py_ssize_t ldc, int mr, int nr, int accumulate,
                              const floating* bias_rows) noexcept nogil:
    if floating is float:
        cc_gemm_ukernel_f32(kc, a, b, c, ldc, mr, nr, accumulate, bias_rows)
    else:
        cc_gemm_ukernel_f64(kc, a, b, c, ldc, mr, nr, accumulate, bias_rows)


def pack_weights_oihw_to_gkm(const floating[:, :, :, :] weight, Py_ssize_t groups, floating[::1] packed):
    """Pack OIHW weights (any strides) into MR-row panels: packed[g][mb][k][i].

    k = (ci, kh, kw) runs over the group's K = C_in/groups * kH * kW; i over the MR output
    channels mb*MR + i of the group; rows past the group's last channel are zero.
    `packed` must hold groups * ceil(C_out/groups / MR) * K * MR elements.
    """
    cdef Py_ssize_t c_out = weight.shape[0], c_in_g = weight.shape[1]
    cdef Py_ssize_t kh = weight.shape[2], kw = weight.shape[3]
    cdef Py_ssize_t c_out_g = c_out // groups, k_len = c_in_g * kh * kw
    cdef Py_ssize_t mblocks = (c_out_g + CC_MR - 1) // CC_MR
    cdef Py_ssize_t g, mb, i, m, ci, r, s, k
    cdef floating* dst
    with nogil:
        for g in range(groups):
            for mb in range(mblocks):
                dst = &packed[((g * mblocks + mb) * k_len) * CC_MR]
                for i in range(CC_MR):
                    m = mb * CC_MR + i
                    k = 0
                    for ci in range(c_in_g):
                        for r in range(kh):
                            for s in range(kw):
                                if m < c_out_g:
                                    dst[k * CC_MR + i] = weight[g * c_out_g + m, ci, r, s]
                                else:
                                    dst[k * CC_MR + i] = 0
                                k = k + 1


def packed_weights_size(Py_ssize_t c_out, Py_ssize_t k_len, Py_ssize_t groups):
    """Elements needed by pack_weights_oihw_to_gkm."""
    cdef Py_ssize_t c_out_g = c_out // groups
    return groups * ((c_out_g + CC_MR - 1) // CC_MR) * k_len * CC_MR


# Everything one task needs, shared read-only by all threads. Pointers are untyped so that one
# struct serves both element types; the fused task function casts them back.
cdef struct DirectPlan:
    const void* x            # input of image 0, channel 0 (any strides, in elements)
    const void* w_packed     # [groups][mblocks][K][MR]
    const void* bias         # [C_out] or NULL
    void* out                # [N][C_out][P], C-contiguous
    Py_ssize_t sx_n, sx_c, sx_h, sx_w
    Py_ssize_t h, w, c_out, c_in_g, c_out_g, groups
    Py_ssize_t kh, kw, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w
    Py_ssize_t h_out, w_out, n_pixels, k_len
    Py_ssize_t kc                # K block
    Py_ssize_t nr
    Py_ssize_t panels_per_block  # NR-pixel panels per task
    Py_ssize_t mblocks           # MR-row blocks per group
    Py_ssize_t mblocks_per_task
    Py_ssize_t pixel_blocks, m_chunks
    Py_ssize_t scratch_per_thread  # elements, B block (kc x NC)
    Py_ssize_t segs_per_thread     # Py_ssize_t entries


cdef Py_ssize_t block_segments(const DirectPlan* pl, Py_ssize_t p0, Py_ssize_t npix,
                               Py_ssize_t* segs) noexcept nogil:
    """Split pixels [p0, p0+npix) into runs within one output row and one NR panel.

    Each run is (oh, ow0, length, t0), t0 its offset in the block. Returns the run count.
    """
    cdef Py_ssize_t t = 0, p, oh, ow, ln, nseg = 0
    while t < npix:
        p = p0 + t
        oh = p // pl.w_out
        ow = p - oh * pl.w_out
        ln = pl.w_out - ow
        if ln > npix - t:
            ln = npix - t
        if ln > pl.nr - t % pl.nr:
            ln = pl.nr - t % pl.nr
        segs[4 * nseg] = oh
        segs[4 * nseg + 1] = ow
        segs[4 * nseg + 2] = ln
        segs[4 * nseg + 3] = t
        nseg += 1
        t += ln
    return nseg


cdef void pack_input_block(const DirectPlan* pl, const floating* xg, Py_ssize_t k0,
                           Py_ssize_t kc, Py_ssize_t npanels, const Py_ssize_t* segs,
                           Py_ssize_t nseg, Py_ssize_t npix, floating* buf) noexcept nogil:
    """Gather X[k0:k0+kc, block pixels] into buf as npanels panels of [kc][NR].

    xg points at channel 0 of the group in the current image. Padding and pixels past the block's
    end are zeros.
    """
    cdef Py_ssize_t nr = pl.nr, khw = pl.kh * pl.kw
    cdef Py_ssize_t kk, k, ci, r, ih_off, iw_off, s, oh, ow0, ln, t0, ih, iw0, j, jlo, jhi
    cdef Py_ssize_t sw = pl.stride_w, sxw = pl.sx_w, W = pl.w
    cdef const floating* row
    cdef floating* dst
    cdef Py_ssize_t tail = npix % nr
    for kk in range(kc):
        k = k0 + kk
        ci = k // khw
        r = k - ci * khw
        ih_off = (r // pl.kw) * pl.dil_h - pl.pad_top
        iw_off = (r % pl.kw) * pl.dil_w - pl.pad_left
        for s in range(nseg):
            oh = segs[4 * s]
            ow0 = segs[4 * s + 1]
            ln = segs[4 * s + 2]
            t0 = segs[4 * s + 3]
            dst = buf + (t0 // nr) * kc * nr + kk * nr + t0 % nr
            ih = oh * pl.stride_h + ih_off
            if ih < 0 or ih >= pl.h:
                memset(dst, 0, ln * sizeof(floating))
                continue
            row = xg + ci * pl.sx_c + ih * pl.sx_h
            iw0 = ow0 * sw + iw_off
            # valid j: 0 <= iw0 + j*sw < W
            jlo = 0
            if iw0 < 0:
                jlo = (-iw0 + sw - 1) // sw
            jhi = 0
            if iw0 < W:
                jhi = (W - 1 - iw0) // sw + 1
            if jhi > ln:
                jhi = ln
            if jlo > jhi:
                jlo = jhi
            for j in range(jlo):
                dst[j] = 0
            if sw == 1 and sxw == 1:
                memcpy(dst + jlo, row + iw0 + jlo, (jhi - jlo) * sizeof(floating))
            else:
                for j in range(jlo, jhi):
                    dst[j] = row[(iw0 + j * sw) * sxw]
            for j in range(jhi, ln):
                dst[j] = 0
        if tail:
            # lanes of the last panel past the block's last pixel
            memset(buf + (npanels - 1) * kc * nr + kk * nr + tail, 0,
                   (nr - tail) * sizeof(floating))


cdef void direct_task(const DirectPlan* pl, Py_ssize_t task, floating* buf,
                      Py_ssize_t* segs) noexcept nogil:
    """One (image, group, pixel block, output-channel chunk): all of K, in kc blocks."""
    cdef Py_ssize_t mc = task % pl.m_chunks
    cdef Py_ssize_t rest = task // pl.m_chunks
    cdef Py_ssize_t pb = rest % pl.pixel_blocks
    rest = rest // pl.pixel_blocks
    cdef Py_ssize_t g = rest % pl.groups
    cdef Py_ssize_t n = rest // pl.groups
    cdef Py_ssize_t nr = pl.nr, P = pl.n_pixels, K = pl.k_len
    cdef Py_ssize_t p0 = pb * pl.panels_per_block * nr
    cdef Py_ssize_t npix = P - p0
    if npix > pl.panels_per_block * nr:
        npix = pl.panels_per_block * nr
    cdef Py_ssize_t npanels = (npix + nr - 1) // nr
    cdef Py_ssize_t mb0 = mc * pl.mblocks_per_task
    cdef Py_ssize_t mb1 = mb0 + pl.mblocks_per_task
    if mb1 > pl.mblocks:
        mb1 = pl.mblocks
    cdef const floating* xg = <const floating*> pl.x + n * pl.sx_n + g * pl.c_in_g * pl.sx_c
    cdef const floating* wg = <const floating*> pl.w_packed + g * pl.mblocks * K * CC_MR
    cdef floating* outg = <floating*> pl.out + (n * pl.c_out + g * pl.c_out_g) * P + p0
    cdef const floating* bias = NULL
    cdef Py_ssize_t nseg = block_segments(pl, p0, npix, segs)
    cdef Py_ssize_t k0, kc, j, mb, nr_valid, mr_valid
    cdef int last
    k0 = 0
    while k0 < K:
        kc = pl.kc
        if kc > K - k0:
            kc = K - k0
        last = k0 + kc == K
        pack_input_block(pl, xg, k0, kc, npanels, segs, nseg, npix, buf)
        for j in range(npanels):
            nr_valid = npix - j * nr
            if nr_valid > nr:
                nr_valid = nr
            for mb in range(mb0, mb1):
                mr_valid = pl.c_out_g - mb * CC_MR
                if mr_valid > CC_MR:
                    mr_valid = CC_MR
                bias = NULL
                if last and pl.bias != NULL:
                    bias = <const floating*> pl.bias + g * pl.c_out_g + mb * CC_MR
                gemm_ukernel(kc, wg + (mb * K + k0) * CC_MR, buf + j * kc * nr,
                             outg + mb * CC_MR * P + j * nr, P, <int> mr_valid,
                             <int> nr_valid, k0 > 0, bias)
        k0 += kc


cdef Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef void plan_blocks(DirectPlan* pl, Py_ssize_t n_images, Py_ssize_t itemsize,
                      int num_threads) noexcept nogil:
    """Choose kc, the pixel block and the output-channel chunk of a task.

    kc: the B micro-panel (kc x NR) fits L1_BUDGET; K is split into equal blocks.
    Pixel block: the B block (kc x NC) fits L2_BUDGET. Output channels: at most ~L2_BUDGET of
    packed weights per task. Then both are halved until there are enough tasks to keep every
    thread busy (at least 4 per thread, or as many as the shape allows).
    """
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len
    cdef Py_ssize_t kc_max = L1_BUDGET // (nr * itemsize)
    cdef Py_ssize_t nkb = ceil_div(K, kc_max)
    pl.kc = ceil_div(K, nkb)
    cdef Py_ssize_t panels = ceil_div(pl.n_pixels, nr)
    cdef Py_ssize_t ppb = L2_BUDGET // (pl.kc * nr * itemsize)
    if ppb < 1:
        ppb = 1
    if ppb > panels:
        ppb = panels
    cdef Py_ssize_t mpt = L2_BUDGET // (pl.kc * CC_MR * itemsize)
    if mpt < 1:
        mpt = 1
    if mpt > pl.mblocks:
        mpt = pl.mblocks
    cdef Py_ssize_t outer = n_images * pl.groups
    cdef Py_ssize_t want = 4 * num_threads if num_threads > 1 else 1
    while outer * ceil_div(panels, ppb) * ceil_div(pl.mblocks, mpt) < want:
        if ppb > 1 and (ppb * nr >= mpt * CC_MR or mpt == 1):
            ppb = ceil_div(ppb, 2)
        elif mpt > 1:
            mpt = ceil_div(mpt, 2)
        else:
            break
    pl.panels_per_block = ppb
    pl.mblocks_per_task = mpt
    pl.pixel_blocks = ceil_div(panels, ppb)
    pl.m_chunks = ceil_div(pl.mblocks, mpt)
    pl.scratch_per_thread = ceil_div(pl.kc * ppb * nr * itemsize, ALIGN) * ALIGN // itemsize
    pl.segs_per_thread = 4 * ppb * nr


def conv2d_direct_nchw(const floating[:, :, :, :] x, const floating[::1] w_packed, bias,
                       floating[:, :, :, ::1] out, Py_ssize_t groups, Py_ssize_t kh,
                       Py_ssize_t kw, Py_ssize_t stride_h, Py_ssize_t stride_w,
                       Py_ssize_t pad_top, Py_ssize_t pad_left, Py_ssize_t dil_h,
                       Py_ssize_t dil_w, int num_threads):
    """out = conv2d(x, weights) (+ bias), weights packed by pack_weights_oihw_to_gkm.

    x: (N, C_in, H, W), any strides that are multiples of the item size; out: (N, C_out, H_out,
    W_out) C-contiguous, every element written; bias: None or a C-contiguous (C_out,) array.
    Runs with the GIL released on num_threads OpenMP threads.
    """
    cdef DirectPlan pl
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef const floating[::1] bias_view
    cdef floating dummy = 0
    cdef Py_ssize_t n_images = x.shape[0], ntasks, t, tid
    cdef char* scratch
    cdef Py_ssize_t* segs
    cdef Py_ssize_t scratch_bytes, segs_count
    if n_images == 0 or out.shape[1] == 0:
        return
    pl.x = &x[0, 0, 0, 0] if x.shape[1] > 0 and x.shape[2] > 0 and x.shape[3] > 0 else NULL
    pl.w_packed = &w_packed[0]
    pl.bias = NULL
    if bias is not None:
        bias_view = bias
        pl.bias = &bias_view[0]
    pl.out = &out[0, 0, 0, 0]
    pl.sx_n = x.strides[0] // itemsize
    pl.sx_c = x.strides[1] // itemsize
    pl.sx_h = x.strides[2] // itemsize
    pl.sx_w = x.strides[3] // itemsize
    pl.h = x.shape[2]
    pl.w = x.shape[3]
    pl.c_out = out.shape[1]
    pl.groups = groups
    pl.c_in_g = x.shape[1] // groups
    pl.c_out_g = pl.c_out // groups
    pl.kh = kh
    pl.kw = kw
    pl.stride_h = stride_h
    pl.stride_w = stride_w
    pl.pad_top = pad_top
    pl.pad_left = pad_left
    pl.dil_h = dil_h
    pl.dil_w = dil_w
    pl.h_out = out.shape[2]
    pl.w_out = out.shape[3]
    pl.n_pixels = pl.h_out * pl.w_out
    pl.k_len = pl.c_in_g * kh * kw
    pl.nr = tile_width(&dummy)
    pl.mblocks = ceil_div(pl.c_out_g, CC_MR)
    plan_blocks(&pl, n_images, itemsize, num_threads)
    ntasks = n_images * groups * pl.pixel_blocks * pl.m_chunks
    if num_threads > ntasks:
        num_threads = <int> ntasks

    scratch_bytes = num_threads * pl.scratch_per_thread * itemsize
    segs_count = num_threads * pl.segs_per_thread
    scratch = <char*> malloc(scratch_bytes + ALIGN)
    segs = <Py_ssize_t*> malloc(segs_count * sizeof(Py_ssize_t))
    if scratch == NULL or segs == NULL:
        free(scratch)
        free(segs)
        raise MemoryError(f"cconv: cannot allocate {scratch_bytes} bytes of scratch")
    cdef floating* buf0 = <floating*> (scratch + (ALIGN - <uintptr_t> scratch % ALIGN))
    try:
        with nogil:
            for t in prange(ntasks, num_threads=num_threads, schedule='dynamic'):
                tid = threadid()
                direct_task(&pl, t, buf0 + tid * pl.scratch_per_thread,
                            segs + tid * pl.segs_per_thread)
    finally:
        free(scratch)
        free(segs)
