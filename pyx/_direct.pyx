# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: nonecheck=False, cdivision=True
"""Blocked direct convolution, NCHW, as an implicit GEMM per (image, group).

    out[n, g*Mg + m, p] = bias[g*Mg + m] + sum_k W_g[m, k] * X_{n,g}[k, p]

with k = (ci, kh, kw) over the C_in/groups input channels of the group and p an output pixel.
X (the im2col matrix) is never materialised. Instead:

1. The input is rewritten once into a *phase image*: zero-padded and split into the stride's
   phases, xph[c][a, b][r, q] = xpad[a + stride_h*r, b + stride_w*q], only for the phases the
   kernel taps use. Output pixel (oh, ow) numbered p' = oh*Wph + ow on a grid Wph wide (a few
   columns wider than the output), tap (ci, kh, kw) reads xph at p' + a constant: every row of
   X is a contiguous run of the phase image, for any stride, dilation and padding, with no
   bounds to check. PANELS computes the grid's extra columns and drops them; INDIRECT
   computes output pixels only.
2. Each task (image, group, block of NC grid pixels, block of output channels) copies the kc x NC
   block of X it needs into a per-thread buffer of NR-wide panels (kc x NR stays in L1), runs the
   GEMM microkernel (cc_gemm_ukernel.h) into a per-thread accumulator block over all of K, then
   writes the valid pixels to the output with the bias (the BLIS loop order: B panel in L1,
   weights streaming from L2).

A 1x1 stride-1 convolution of contiguous planes needs neither: the microkernel reads X in place
and writes the output directly. Any other 1x1 kernel (strided, padded) builds its phase image,
which is then X itself ([C_in][H_out*W_out]), read the same way.

Weights are read in place, one OIHW row per output channel (lda = the row stride), or from the
panels of pack_weights_oihw_to_gkm (lda = 0) when packed ahead (prepared convolutions).

Built once per instruction set (setup.py); cconv._dispatch imports the variant the CPU supports.
The caller (cconv._conv) validates every argument: nothing here checks shapes.
"""
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.stdint cimport uintptr_t

from cython cimport floating

from _phase cimport (PhasePlan, phase_plan_init, phase_plan_free, build_phase_plane,
                    build_phase_planes_cl, copy_padded_row, L1_SET_SPAN)
from _split cimport Split, balanced_split
from _openmp_helpers cimport cconv_current_cpu, leave_caller_cpu
from _scratch cimport ScratchCache, take_scratch, give_scratch
from _copy cimport copy, copy_strided, zero
from _epilogue cimport (OutputSpec, output_spec, store_run, store_pixel_major, has_epilogue,
                        epilogue_in_registers, act_in_registers, STORE_RUN, STORE_RUN_CHANNELS)

cdef extern from "cc_gemm_ukernel.h" nogil:
    const char* CC_ISA
    const int CC_MR
    const int CC_NR_F32
    const int CC_NR_F64
    const int CC_VL_F32
    const int CC_VL_F64
    const int CC_UK_STREAM
    const int CC_UK_B_FETCH
    const int CC_UK_HAVE_STREAM
    void cc_gemm_ukernel_f32(Py_ssize_t kc, const float* a, Py_ssize_t lda, const float* b,
                             Py_ssize_t ldb, float* c, Py_ssize_t ldc, int mr, int nr,
                             int accumulate, const float* bias_rows, int act)
    void cc_gemm_ukernel_f64(Py_ssize_t kc, const double* a, Py_ssize_t lda, const double* b,
                             Py_ssize_t ldb, double* c, Py_ssize_t ldc, int mr, int nr,
                             int accumulate, const double* bias_rows, int act)
    const int CC_UK_COLS_F32
    const int CC_UK_COLS_F64
    void cc_gemm_ukernel_cols_f32(Py_ssize_t kc, const float* a, const float* b,
                                  Py_ssize_t ldb, float* c, Py_ssize_t ldc, int mr, int nr,
                                  int accumulate, const float* bias_rows, int act)
    void cc_gemm_ukernel_cols_f64(Py_ssize_t kc, const double* a, const double* b,
                                  Py_ssize_t ldb, double* c, Py_ssize_t ldc, int mr, int nr,
                                  int accumulate, const double* bias_rows, int act)
    void cc_gemm_ukernel_indirect_f32(Py_ssize_t kc, const float* abase, const Py_ssize_t* offs,
                                      const float* b, float* c, Py_ssize_t ldc, int mr, int nr,
                                      int accumulate, const float* bias_cols, const float* res,
                                      int act)
    void cc_gemm_ukernel_indirect_f64(Py_ssize_t kc, const double* abase,
                                      const Py_ssize_t* offs, const double* b, double* c,
                                      Py_ssize_t ldc, int mr, int nr, int accumulate,
                                      const double* bias_cols, const double* res, int act)
    void cc_gemm_ukernel_indirect_s2_f32(Py_ssize_t kc, const float* abase,
                                         const Py_ssize_t* offs, const float* b, float* c,
                                         Py_ssize_t ldc, int mr, int nr, int accumulate,
                                         const float* bias_cols, const float* res, int act)
    void cc_gemm_ukernel_indirect_s2_f64(Py_ssize_t kc, const double* abase,
                                         const Py_ssize_t* offs, const double* b, double* c,
                                         Py_ssize_t ldc, int mr, int nr, int accumulate,
                                         const double* bias_cols, const double* res, int act)
    void cc_gemm_ukernel_indirect_s4_f32(Py_ssize_t kc, const float* abase,
                                         const Py_ssize_t* offs, const float* b, float* c,
                                         Py_ssize_t ldc, int mr, int nr, int accumulate,
                                         const float* bias_cols, const float* res, int act)
    void cc_gemm_ukernel_indirect_s4_f64(Py_ssize_t kc, const double* abase,
                                         const Py_ssize_t* offs, const double* b, double* c,
                                         Py_ssize_t ldc, int mr, int nr, int accumulate,
                                         const double* bias_cols, const double* res, int act)
    void cc_gemm_ukernel_indirect_rows_f32(Py_ssize_t kc, const float* const* rows,
                                           const Py_ssize_t* offs, const float* b, float* c,
                                           Py_ssize_t ldc, int mr, int nr, int accumulate,
                                           const float* bias_cols, const float* res, int act)
    void cc_gemm_ukernel_indirect_rows_f64(Py_ssize_t kc, const double* const* rows,
                                           const Py_ssize_t* offs, const double* b,
                                           double* c, Py_ssize_t ldc, int mr, int nr,
                                           int accumulate, const double* bias_cols,
                                           const double* res, int act)
    void cc_gemm_ukernel_indirect_scatter_f32(Py_ssize_t kc, const float* const* rows,
                                              const Py_ssize_t* offs, const float* b,
                                              float* const* crows, int mr, int nr,
                                              int accumulate, int act)
    void cc_gemm_ukernel_indirect_scatter_f64(Py_ssize_t kc, const double* const* rows,
                                              const Py_ssize_t* offs, const double* b,
                                              double* const* crows, int mr, int nr,
                                              int accumulate, int act)

cdef extern from "cc_copy.h" nogil:
    void cc_prefetch_run(const void* p, Py_ssize_t nbytes)

cdef extern from "cc_pack.h" nogil:
    void cc_pack_rows_f32(float* dst, const float* src, Py_ssize_t lda, Py_ssize_t rows,
                          Py_ssize_t R, Py_ssize_t K)
    void cc_pack_rows_f64(double* dst, const double* src, Py_ssize_t lda, Py_ssize_t rows,
                          Py_ssize_t R, Py_ssize_t K)

ISA = CC_ISA.decode()
MR = CC_MR
NR_F32 = CC_NR_F32
NR_F64 = CC_NR_F64

# Cache budgets for the blocking (bytes). The B micro-panel (kc x NR) stays in L1 while the MR-row
# weight panels stream past it; a task's B block, weight block and accumulator block stay in L2.
# For a 32-48 KiB L1d (three quarters of 32 KiB: 16 KiB split a 144-channel 1x1 layer into two
# K blocks, each pass re-reading and re-writing the output: 0.32 vs 0.29 ms) and a >= 512 KiB L2.
cdef enum:
    L1_BUDGET = 24 * 1024
    ALIGN = 64
    # Below this many multiply-adds a call runs on one thread: waking the team costs more.
    # 1 thread against 2, AVX-512: 0.44-0.8M multiply-adds (3x3 and 1x1 layers on 7x7 to
    # 32x32) took 1.14-1.70x the time on 2 threads (13-17 us on one), 1.8M 0.82-1.03x.
    # (Winograd's tasks divide better: 2 threads win there from 0.44M.)
    SERIAL_MACS = 1 << 20
    # Outputs larger than this are written with stores that bypass the caches.
    STREAM_BYTES = 8 * 1024 * 1024
    # A 1x1 task copies its block of X into panels from this many channel blocks and this K
    # on (task_in_place).
    COPY_MIN_BLOCKS = 8
    COPY_MIN_K = 16
    COPY_PREFETCH_ROWS = 8
    # ... and sweeps groups of panels block by block from this many channel blocks on.
    GROUP_MIN_BLOCKS = 8
    # Weights are packed (pack_weight_panel) when at least this many NR-pixel panels use them.
    PACK_MIN_PANELS = 10
    # Phase images are built for this many bytes of images at a time (at least one image), so
    # that the tasks find them in L2 or at least L3 soon after they are written.
    PHASE_BUDGET = 1024 * 1024
    # A channels-last input that needs padding is copied once, padded, in its own layout (rows
    # of pixels: a memcpy each), when it takes at most this many bytes; INDIRECT then reads the
    # copy in place. (Otherwise its phase image: a transposing copy, 4x slower for 3 channels.)
    PAD_COPY_BUDGET = 32 * 1024 * 1024
    PAD_COPY_MIN_PIXELS = 150
    CL_PHASE_MIN_CHANNELS = 16
    # a_rows_in_place: tiles that go round a task's weight panels together, so that each
    # panel is read from L2 once for them all (1 thread, AVX-512, against one tile at a time:
    # 3x3 stride 2 layers on 56x56 to 224x224 0.97-0.99x the time; 3 tiles 0.97-0.99x)
    TILE_GROUP = 4


# Bytes a task may keep hot in L2: half the L2 of this CPU, set at import from what the OS
# reports (cconv._dispatch; 192 KiB until then, safe for a 384 KiB L2).
cdef Py_ssize_t L2_BUDGET = 192 * 1024


def set_l2_budget(Py_ssize_t nbytes):
    """Set the L2 budget the task shapes are chosen for (bytes, >= 64 KiB)."""
    global L2_BUDGET
    L2_BUDGET = max(nbytes, 64 * 1024)


# An input with contiguous rows is read in place when the windows of the output pixels that read
# padding, copied, hold at most 1/border_cost of the input's values (plan_rows_in_place). 1
# thread, AVX-512, against the phase image: 3x3 stride 2 on 112x112 (border 111 of 3136 output
# pixels) 0.92x the time, 64 -> 128 on 56x56 0.97x, on 57x57 (85 of 841) 1.04-1.12x; 32 -> 64
# on 224x224 0.62x (2 threads 0.67x, AVX2 0.73x).
cdef Py_ssize_t border_cost = 6
# Strides above 2 build their phase images value by value (cc_copy_strided_over: no vector
# deinterleave), ~4x the cost per input value of strides 1 and 2: there the border's copies
# may be this many times larger. 1 thread, AVX-512, prepared, read in place against the phase
# image: 3 -> 96 11x11 stride 4 padding 2 on 227x227 (border 216 of 3025 output pixels)
# 0.90x the time; a 7x7 stride-2 stem with that border ratio lost (1.06x), so strides 1 and 2
# keep border_cost.
cdef enum:
    SCALAR_PHASE_BORDER_FACTOR = 4


def set_border_cost(Py_ssize_t cost):
    """Set border_cost (0: read in place whatever the border; tests)."""
    global border_cost
    border_cost = max(cost, 0)


cdef ScratchCache scratch_cache  # see _scratch.pxd
scratch_cache.buffer = NULL
scratch_cache.size = 0


cdef inline int tile_width(floating* dummy) noexcept nogil:
    if floating is float:
        return CC_NR_F32
    else:
        return CC_NR_F64


cdef inline void gemm_ukernel(Py_ssize_t kc, const floating* a, Py_ssize_t lda,
                              const floating* b, Py_ssize_t ldb, floating* c, Py_ssize_t ldc,
                              int mr, int nr, int accumulate,
                              const floating* bias_rows, int act) noexcept nogil:
    # a panel's last one or two pixels (a 7x7 image's 49 are 3 x 16 + 1) against packed
    # weights: cc_gemm_ukernel_cols (1 thread, old and new builds alternating: 1x1 layers on
    # 7x7, 512 -> 2048, 960 -> 320 and 160 -> 960, 0.85-0.91x the time)
    if floating is float:
        if lda == 0 and nr <= CC_UK_COLS_F32:
            cc_gemm_ukernel_cols_f32(kc, a, b, ldb, c, ldc, mr, nr, accumulate, bias_rows, act)
        else:
            cc_gemm_ukernel_f32(kc, a, lda, b, ldb, c, ldc, mr, nr, accumulate, bias_rows, act)
    else:
        if lda == 0 and nr <= CC_UK_COLS_F64:
            cc_gemm_ukernel_cols_f64(kc, a, b, ldb, c, ldc, mr, nr, accumulate, bias_rows, act)
        else:
            cc_gemm_ukernel_f64(kc, a, lda, b, ldb, c, ldc, mr, nr, accumulate, bias_rows, act)


cdef inline void gemm_ukernel_indirect(Py_ssize_t kc, const floating* abase,
                                       const Py_ssize_t* offs, const floating* b, floating* c,
                                       Py_ssize_t ldc, int mr, int nr, int accumulate,
                                       const floating* bias_cols, const floating* res, int act,
                                       int px) noexcept nogil:
    """MR pixels px = 1, 2 or 4 values apart (2, 4: an input read in place at that stride)."""
    if floating is float:
        if px == 2:
            cc_gemm_ukernel_indirect_s2_f32(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                            bias_cols, res, act)
        elif px == 4:
            cc_gemm_ukernel_indirect_s4_f32(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                            bias_cols, res, act)
        else:
            cc_gemm_ukernel_indirect_f32(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                         bias_cols, res, act)
    else:
        if px == 2:
            cc_gemm_ukernel_indirect_s2_f64(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                            bias_cols, res, act)
        elif px == 4:
            cc_gemm_ukernel_indirect_s4_f64(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                            bias_cols, res, act)
        else:
            cc_gemm_ukernel_indirect_f64(kc, abase, offs, b, c, ldc, mr, nr, accumulate,
                                         bias_cols, res, act)


cdef inline void gemm_ukernel_indirect_rows(Py_ssize_t kc, const floating* const* rows,
                                            const Py_ssize_t* offs, const floating* b,
                                            floating* c, Py_ssize_t ldc, int mr, int nr,
                                            int accumulate, const floating* bias_cols,
                                            const floating* res, int act) noexcept nogil:
    if floating is float:
        cc_gemm_ukernel_indirect_rows_f32(kc, rows, offs, b, c, ldc, mr, nr, accumulate,
                                          bias_cols, res, act)
    else:
        cc_gemm_ukernel_indirect_rows_f64(kc, rows, offs, b, c, ldc, mr, nr, accumulate,
                                          bias_cols, res, act)


cdef inline void gemm_ukernel_indirect_scatter(Py_ssize_t kc, const floating* const* rows,
                                               const Py_ssize_t* offs, const floating* b,
                                               floating* const* crows, int mr, int nr,
                                               int accumulate, int act) noexcept nogil:
    """gemm_ukernel_indirect_rows with row i of C at crows[i]."""
    if floating is float:
        cc_gemm_ukernel_indirect_scatter_f32(kc, rows, offs, b, crows, mr, nr, accumulate, act)
    else:
        cc_gemm_ukernel_indirect_scatter_f64(kc, rows, offs, b, crows, mr, nr, accumulate, act)


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Py_ssize_t k_block_size(Py_ssize_t K, Py_ssize_t nr,
                                    Py_ssize_t itemsize) noexcept nogil:
    """The K block: a kc x NR micro-panel fills at most L1_BUDGET; K in equal blocks."""
    return ceil_div(K, ceil_div(K, L1_BUDGET // (nr * itemsize)))


cdef void pack_weight_panel(const floating* w, Py_ssize_t lda, Py_ssize_t c_out_g,
                            Py_ssize_t units, Py_ssize_t panels, Py_ssize_t k_len,
                            Py_ssize_t kc, Py_ssize_t R, Py_ssize_t blk,
                            floating* packed) noexcept nogil:
    """Panel blk = (g, u) of OIHW rows (lda apart), rows g*c_out_g + u*R + j (zero past the
    group's last), in K blocks of kc: block k0 of every panel is contiguous,
    packed[k0 * panels * R + blk * kcb * R + kk * R + j] for k = k0 + kk (kcb = the block's
    size). The kernels walk the panels of one K block in order: one stream from memory.
    R = MR for PANELS, NR for INDIRECT."""
    cdef Py_ssize_t g = blk // units, row0 = (blk % units) * R
    cdef const floating* src = w + (g * c_out_g + row0) * lda
    cdef Py_ssize_t rows = min(R, c_out_g - row0), k0 = 0, kcb
    while k0 < k_len:
        kcb = min(kc, k_len - k0)
        if floating is float:
            cc_pack_rows_f32(packed + (k0 * panels + blk * kcb) * R, src + k0, lda, rows, R, kcb)
        else:
            cc_pack_rows_f64(packed + (k0 * panels + blk * kcb) * R, src + k0, lda, rows, R, kcb)
        k0 += kcb


# The two ways of running the GEMM (DirectPlan.method):
#   PANELS:   rows of C are output channels (MR weights broadcast), columns NR pixels; each task
#             copies the kc x NC block of X it needs into L1-sized panels. Weights are read as
#             OIHW rows in place, or packed in MR-row panels (pack_weight_panel). Cheap for few
#             pixels per weight (the weights need no transposing), and for small K.
#   INDIRECT: rows of C are MR output pixels read straight from the phase image through the
#             tap offset table (broadcast; consecutive, or gathered when a tile spans output
#             rows), columns NR output channels of weights packed in NR-channel panels. No
#             copies of X at all; the weights must be transposed once. Best when many pixels
#             share each weight.
cdef enum:
    METHOD_AUTO = 0
    METHOD_PANELS = 1
    METHOD_INDIRECT = 2


def packed_weights_size(Py_ssize_t c_out, Py_ssize_t k_len, Py_ssize_t groups, int method,
                        Py_ssize_t itemsize):
    """Elements of pack_weights' output for a method (1 PANELS, 2 INDIRECT)."""
    cdef Py_ssize_t unit = CC_MR
    if method == METHOD_INDIRECT:
        unit = CC_NR_F32 if itemsize == 4 else CC_NR_F64
    return groups * ceil_div(c_out // groups, unit) * k_len * unit


def pack_weights(const floating[:, :, :, ::1] weight, Py_ssize_t groups, int method,
                 floating[::1] packed):
    """Pack C-contiguous OIHW weights for a method, as conv2d_direct_nchw's w_panels
    (method 1: MR-row panels) or w_indirect (method 2: NR-channel panels), in the K blocks the
    kernels use (pack_weight_panel); k = (ci, kh, kw), rows past a group's last channel zero."""
    cdef Py_ssize_t k_len = weight.shape[1] * weight.shape[2] * weight.shape[3]
    cdef Py_ssize_t c_out_g = weight.shape[0] // groups, blk
    cdef floating dummy = 0
    cdef Py_ssize_t nr = tile_width(&dummy)
    cdef Py_ssize_t unit = nr if method == METHOD_INDIRECT else CC_MR
    cdef Py_ssize_t units = ceil_div(c_out_g, unit)
    cdef Py_ssize_t kc = k_block_size(k_len, nr, sizeof(floating))
    with nogil:
        for blk in range(groups * units):
            pack_weight_panel(&weight[0, 0, 0, 0], k_len, c_out_g, units, groups * units,
                              k_len, kc, unit, blk, &packed[0])


# Everything the tasks need, shared read-only by all threads. Pointers are untyped so that one
# struct serves both element types; the fused functions cast them back.
cdef struct DirectPlan:
    int method
    const void* x              # input of image 0, channel 0 (any strides, in elements)
    Py_ssize_t sx_n, sx_c, sx_h, sx_w
    Py_ssize_t h, w_in, c_in, c_out, c_in_g, c_out_g, groups
    Py_ssize_t kh, kw, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w
    Py_ssize_t h_out, w_out, k_len
    const void* w              # weights: OIHW rows (lda > 0) or packed (lda == 0)
    Py_ssize_t lda
    OutputSpec o               # output (any strides), bias, residual, activation
    bint b_in_place            # PANELS, 1x1 kernel, contiguous output planes: X is a [K][P]
                               # matrix read in place (task_in_place), the input itself (stride 1,
                               # unpadded contiguous planes) or, b_from_phase, its phase image
    bint b_from_phase          # (a strided or padded 1x1 layer: the one phase, h_out x w_out)
    bint c_in_place            # PANELS over one K block into an output with contiguous rows:
                               # panels of one output row each, written by the microkernel
                               # itself (task_row_panels); row_panels of them per row, the
                               # first row_shift wide (0: none) when that aligns the rest
    Py_ssize_t row_panels, row_shift
    Py_ssize_t row_group       # c_in_place: panels copied and swept together (their B fits L1)
    bint a_in_place            # INDIRECT on a channels-last input that needs no padding: the
                               # tiles read the input itself (k_offset in its strides)
    bint a_rows_in_place       # INDIRECT on an input whose rows are contiguous (NCHW), read in
                               # place (no phase image): tiles of output pixels whose windows
                               # lie inside the input (the interior) read it directly; the
                               # other pixels (the border) read zero-padded copies of their
                               # windows (task_indirect_rows_in_place)
    Py_ssize_t oh_lo, oh_hi, ow_lo, ow_hi   # the interior: [oh_lo, oh_hi) x [ow_lo, ow_hi)
    const void* x_last         # the input's last element: reads past a tile stop there
    Py_ssize_t scratch_z       # a_rows_in_place: MR border windows of one K block (elements)
    Py_ssize_t px_row, px_col  # INDIRECT: elements from one output pixel's data to the next
                               # row's, the next column's (phase image: grid_w, 1)
    bint direct_out            # INDIRECT into a channels-last output (pixel q of an image at
                               # q * sw, channels contiguous) with bias and at most relu/relu6:
                               # whole tiles are written by the microkernel itself
    # phase image (unless in place): [image][c_in][phase][ph_h][ph_w] + slack (_phase.pxd)
    PhasePlan pp
    void* ph
    Py_ssize_t ph_n0           # the first image of the current chunk
    Py_ssize_t ph_channel, ph_image  # elements per channel (all its phases), per image
    Py_ssize_t* k_offset       # [K] where tap k starts in a group's phase image
    bint k_contiguous          # k_offset[k] == k (a 1x1 layer on channels-last input read in
                               # place): the microkernel indexes the rows by k, no table
    # the pixel grid the GEMM runs over: grid_w wide, grid_pixels in all
    Py_ssize_t grid_w, grid_pixels
    # the pixels the tasks share out: the grid's (PANELS), or only the output pixels
    # (INDIRECT: its tiles gather their MR pixels, the grid's extra columns are not computed)
    Py_ssize_t task_pixels
    # blocking: pixels in units of unit_px (NR panels or MR tiles), output channels in units of
    # unit_co (MR blocks or NR panels); a task is p_per_task x m_per_task units
    Py_ssize_t nr, unit_px, unit_co, p_units, m_units, p_per_task, m_per_task
    Py_ssize_t pixel_tasks, m_tasks
    Py_ssize_t kc              # K block (the kc x NR micro-panel stays in L1: k_block_size)
    Py_ssize_t scratch_b, scratch_c, scratch_per_thread  # elements


cdef void gemm_block(const DirectPlan* pl, Py_ssize_t kc, const floating* a, Py_ssize_t lda,
                     Py_ssize_t a_step, Py_ssize_t mb0, Py_ssize_t mb1, const floating* b,
                     Py_ssize_t ldb, floating* c, Py_ssize_t ldc, int nr_valid, int accumulate,
                     const floating* bias, int act) noexcept nogil:
    """PANELS: one NR-pixel panel (b) against output-channel blocks mb0..mb1 of a group: block
    mb's weights at a + (mb - mb0) * a_step (rows lda apart, or packed when lda == 0), its C rows
    at c + (mb - mb0) * MR * ldc; bias (NULL, or the group's) added to the rows, then act
    (0, or relu/relu6 applied in registers)."""
    cdef Py_ssize_t mb
    cdef const floating* bias_rows = NULL
    for mb in range(mb0, mb1):
        if bias != NULL:
            bias_rows = bias + mb * CC_MR
        gemm_ukernel(kc, a + (mb - mb0) * a_step, lda, b, ldb, c + (mb - mb0) * CC_MR * ldc,
                     ldc, <int> min(pl.c_out_g - mb * CC_MR, CC_MR), nr_valid, accumulate,
                     bias_rows, act)


cdef const floating* weight_block(const DirectPlan* pl, const floating* w, Py_ssize_t g,
                                  Py_ssize_t k0, Py_ssize_t kc, Py_ssize_t mb0,
                                  Py_ssize_t* a_step) noexcept nogil:
    """PANELS: where the weights w (= pl.w) of block mb0 of group g start, for the K block
    [k0, k0 + kc), and the distance between consecutive blocks: OIHW rows in place, or packed
    panels (pack_weight_panel's layout)."""
    if pl.lda == 0:
        a_step[0] = kc * CC_MR
        return w + (k0 * pl.groups * pl.m_units + (g * pl.m_units + mb0) * kc) * CC_MR
    a_step[0] = CC_MR * pl.lda
    return w + (g * pl.c_out_g + mb0 * CC_MR) * pl.lda + k0


cdef inline void tile_epilogue(const DirectPlan* pl, floating* c, Py_ssize_t rows,
                               Py_ssize_t n) noexcept nogil:
    """Residual and activation on a tile the microkernel just wrote into the output (still in
    L1): `rows` output channels from c, n pixels each."""
    cdef Py_ssize_t co
    for co in range(rows):
        store_run(&pl.o, c + co * pl.o.sc, 1, c + co * pl.o.sc, 1, n, <floating*> NULL, 0)


cdef void task_in_place(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g, Py_ssize_t pt,
                        Py_ssize_t mt, floating* buf) noexcept nogil:
    """PANELS, 1x1 stride 1: B is the input plane itself (or a copy of the task's block of it,
    see copy_block); the microkernel writes the output. A partial last panel is copied (into
    buf), so that nothing past the input is read."""
    cdef Py_ssize_t nr = pl.nr, P = pl.grid_pixels, K = pl.k_len
    cdef Py_ssize_t p0 = pt * pl.p_per_task * nr
    cdef Py_ssize_t npix = min(P - p0, pl.p_per_task * nr)
    cdef Py_ssize_t npanels = ceil_div(npix, nr)
    cdef Py_ssize_t mb0 = mt * pl.m_per_task
    cdef Py_ssize_t mb1 = min(mb0 + pl.m_per_task, pl.m_units)
    # X: rows sx_c apart (the input's planes, or the phase image's)
    cdef Py_ssize_t sx_c = pl.ph_channel if pl.b_from_phase else pl.sx_c
    cdef const floating* xg
    if pl.b_from_phase:
        xg = (<const floating*> pl.ph + (n - pl.ph_n0) * pl.ph_image
              + g * pl.c_in_g * pl.ph_channel)
    else:
        xg = <const floating*> pl.x + n * pl.sx_n + g * pl.c_in_g * pl.sx_c
    cdef floating* outg = (<floating*> pl.o.out + n * pl.o.sn
                           + (g * pl.c_out_g + mb0 * CC_MR) * pl.o.sc + p0)
    cdef Py_ssize_t co_end = min(mb1 * CC_MR, pl.c_out_g) - mb0 * CC_MR
    cdef const floating* bias = NULL
    cdef const floating* a
    cdef Py_ssize_t k0 = 0, kc, kk, j, nr_valid, a_step
    # relu and relu6 without a residual: applied by the microkernel, in registers
    cdef int act_in_kernel = pl.o.act if epilogue_in_registers(&pl.o) else 0
    cdef bint epilogue_pass = has_epilogue(&pl.o) and not act_in_kernel
    cdef int act
    cdef const floating* row
    cdef const floating* b
    cdef Py_ssize_t ldb
    # With many channel blocks per panel, the task's kc x npix block of X is first copied into
    # NR-wide panels, each input row read as one run: in place, a panel is kc rows in as many
    # planes (streams the prefetchers lose, lines that share L1 sets: a 56x56 plane is 196
    # lines, 4 sets on) and every block re-reads it from L2. 1 thread, AVX2, calls
    # alternating with the in-place path: 1024 -> 256 on 14x14 0.86x the time, 512 -> 128 on
    # 28x28 0.87x, 512 -> 2048 on 7x7 0.95x; 4 blocks (96 -> 24 on 28x28) 1.26x. From K = 16
    # (MobileNetV2's expansions; COPY_MIN_K was 64, from a time when K = 32 lost 6%): 16 ->
    # 96 on 112x112 0.83-0.86x at 1 and 2 threads, 24 -> 144 on 56x56 and 32 -> 192 on 28x28
    # 0.89-1.04x (within this host's noise), MobileNetV2's NCHW forward pass 0.96-0.98x at
    # 1 thread, batch 1 (two copies of one build: 1.006x), 0.995x at batch 8.
    cdef bint copy_block = mb1 - mb0 >= COPY_MIN_BLOCKS and K >= COPY_MIN_K
    cdef Py_ssize_t j0, j1, mb, group
    cdef floating* c
    while k0 < K:
        kc = min(pl.kc, K - k0)
        # Panels in groups whose B fits L1, each group swept once per channel block: a block's
        # MR output rows are then written as runs of group panels. Panel by panel (group 1),
        # every panel writes one line in each of the task's output planes, as many write
        # streams as channels: the prefetchers lose them and every line's read-for-ownership
        # waits on memory. 1 thread, AVX2, outputs not in cache (as in a network): 16 -> 96 on
        # 112x112 0.49x the time, 24 -> 144 on 56x56 0.43x, 64 -> 256 on 56x56 0.62x (2
        # threads 0.45x, 0.43x, 0.88x); outputs in cache 0.71-0.98x. With 4 blocks (24
        # channels) it lost up to 8%: few streams, kept panel by panel.
        group = 1
        if mb1 - mb0 >= GROUP_MIN_BLOCKS:
            group = max(1, L1_BUDGET // (kc * nr * <Py_ssize_t> sizeof(floating)))
        bias = NULL
        act = 0
        if k0 + kc == K:
            act = act_in_kernel
        if k0 + kc == K and pl.o.bias != NULL:
            bias = <const floating*> pl.o.bias + g * pl.c_out_g
        a = weight_block(pl, <const floating*> pl.w, g, k0, kc, mb0, &a_step)
        if copy_block:
            for kk in range(kc):
                row = xg + (k0 + kk) * sx_c + p0
                # rows a plane apart: fetch a few rows ahead (1 thread, prefetch on and off
                # alternating: 256 -> 64 on 56x56 0.83x the time, 512 -> 128 on 28x28 0.93x,
                # 1024 -> 256 on 14x14 0.96x; short K blocks and 7x7 images within +-2%)
                cc_prefetch_run(row + COPY_PREFETCH_ROWS * sx_c, npix * sizeof(floating))
                for j in range(npanels):
                    nr_valid = min(npix - j * nr, nr)
                    copy(buf + j * kc * nr + kk * nr, row + j * nr, nr_valid)
                    if nr_valid < nr:
                        zero(buf + j * kc * nr + kk * nr + nr_valid, nr - nr_valid)
        j0 = 0
        while j0 < npanels:
            j1 = min(j0 + group, npanels)
            nr_valid = min(npix - (j1 - 1) * nr, nr)
            if nr_valid < nr and not copy_block:
                # the partial last panel, copied so that nothing past the input is read
                for kk in range(kc):
                    copy(buf + kk * nr, xg + (k0 + kk) * sx_c + p0 + (j1 - 1) * nr,
                         nr_valid)
                    zero(buf + kk * nr + nr_valid, nr - nr_valid)
            for mb in range(mb0, mb1):
                for j in range(j0, j1):
                    nr_valid = min(npix - j * nr, nr)
                    if copy_block:
                        b, ldb = buf + j * kc * nr, nr
                    elif nr_valid == nr:
                        b, ldb = xg + k0 * sx_c + p0 + j * nr, sx_c
                    else:
                        b, ldb = buf, nr
                    c = outg + (mb - mb0) * CC_MR * pl.o.sc + j * nr
                    gemm_block(pl, kc, a + (mb - mb0) * a_step, pl.lda, a_step, mb, mb + 1,
                               b, ldb, c, pl.o.sc, <int> nr_valid, k0 > 0, bias, act)
                    if k0 + kc == K and epilogue_pass:
                        tile_epilogue(pl, c, min(CC_MR, co_end - (mb - mb0) * CC_MR),
                                      nr_valid)
            j0 = j1
        k0 += kc


cdef void store_pixel_major_span(const OutputSpec* o, floating* dst, const floating* src,
                                 Py_ssize_t lds, Py_ssize_t co0, Py_ssize_t co1,
                                 Py_ssize_t npix, const floating* bias,
                                 floating* runs) noexcept nogil:
    """npix pixels one output pixel apart (dst: the first, channel 0; o.sc between channels)
    for channels [co0, co1) of a pixel-major block (channel co of pixel p at src[p * lds + co
    - co0]), through the output pass, bias[co] (or NULL) added. A channel's values lie lds
    apart in the block: VL channels at a time are turned into contiguous runs first (a
    transpose, runs: store_pixel_major's buffer), so that the output pass runs on vectors. A
    cache line of the block's channels at a time (two vectors on AVX2), STORE_RUN pixels of
    it for all its vectors: vector by vector over all the pixels, AVX2 read each line of the
    block from L2 twice."""
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t line_ch = max(vl, ALIGN // <Py_ssize_t> sizeof(floating))
    cdef Py_ssize_t cl = co0, cl_end, p, m, co, nc
    while cl < co1:
        cl_end = min(cl + line_ch, co1)
        p = 0
        while p < npix:
            m = min(<Py_ssize_t> STORE_RUN, npix - p)
            co = cl
            while co < cl_end:
                nc = min(vl, cl_end - co)
                store_pixel_major(o, dst + co * o.sc + p * o.sw, src + p * lds + (co - co0),
                                  lds, m, nc, bias + co if bias != NULL else NULL, runs)
                co += nc
            p += m
        cl = cl_end


cdef void store_block(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g, Py_ssize_t q0,
                      Py_ssize_t npix, Py_ssize_t Wg, Py_ssize_t co0, Py_ssize_t co1,
                      const floating* cblk, Py_ssize_t ldc, bint pixel_major) noexcept nogil:
    """Write the output pixels among pixels [q0, q0+npix) of a grid Wg wide (pixel q is
    (q // Wg, q % Wg); columns from w_out on are dropped) for the group's channels [co0, co1)
    from an accumulator block, through the output pass (bias, residual, activation):
    cblk[co - co0][q - q0] (rows ldc apart), or cblk[q - q0][co - co0] when pixel_major."""
    cdef const OutputSpec* o = &pl.o
    cdef Py_ssize_t oh, ow_lo, ow_hi, ow, co
    cdef const floating* bias = <const floating*> o.bias
    cdef floating runs[STORE_RUN_CHANNELS * STORE_RUN]
    cdef floating* outg = <floating*> o.out + n * o.sn + g * pl.c_out_g * o.sc
    if bias != NULL:
        bias = bias + g * pl.c_out_g
    if not pixel_major and Wg == pl.w_out and o.sh == pl.w_out * o.sw:
        # the grid is the output plane (no extra columns) and the plane's rows follow each
        # other: the block's pixels of a channel are one run (a 1x1 layer on 28x28 stores
        # 128 runs of 784, not 3584 runs of 28)
        for co in range(co0, co1):
            store_run(o, outg + co * o.sc + q0 * o.sw, o.sw, cblk + (co - co0) * ldc, 1, npix,
                      bias + co if bias != NULL else NULL, 0)
        return
    if pixel_major and o.sc != 1 and Wg == pl.w_out and o.sh == pl.w_out * o.sw:
        # the same for a pixel-major block: each channel one run over all the block's pixels,
        # not row by row (every row a short run in each of the block's output planes, more
        # write streams than the prefetchers follow)
        store_pixel_major_span(o, outg + q0 * o.sw, cblk, ldc, co0, co1, npix, bias, runs)
        return
    for oh in range(q0 // Wg, (q0 + npix - 1) // Wg + 1):
        ow_lo = max(q0 - oh * Wg, 0)
        ow_hi = min(q0 + npix - oh * Wg, pl.w_out)
        if ow_lo >= ow_hi:
            continue
        if pixel_major and o.sc == 1:
            # channels last: each pixel's run of channels is contiguous on both sides
            for ow in range(ow_lo, ow_hi):
                store_run(o, outg + co0 * o.sc + oh * o.sh + ow * o.sw, 1,
                          cblk + (oh * Wg + ow - q0) * ldc, 1, co1 - co0,
                          bias + co0 if bias != NULL else NULL, 1)
            continue
        if pixel_major:
            store_pixel_major_span(o, outg + oh * o.sh + ow_lo * o.sw,
                                   cblk + (oh * Wg + ow_lo - q0) * ldc, ldc, co0, co1,
                                   ow_hi - ow_lo, bias, runs)
            continue
        for co in range(co0, co1):
            store_run(o, outg + co * o.sc + oh * o.sh + ow_lo * o.sw, o.sw,
                      cblk + (co - co0) * ldc + oh * Wg + ow_lo - q0, 1, ow_hi - ow_lo,
                      bias + co if bias != NULL else NULL, 0)


cdef void task_panels(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g, Py_ssize_t pt,
                      Py_ssize_t mt, floating* buf) noexcept nogil:
    """PANELS: grid pixels [q0, q0+npix) of image n, group g, channel blocks of task mt: copy
    each kc block of X from the phase image, accumulate in the task's block, store."""
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len
    cdef Py_ssize_t q0 = pt * pl.p_per_task * nr
    cdef Py_ssize_t npix = min(pl.grid_pixels - q0, pl.p_per_task * nr)
    cdef Py_ssize_t npanels = ceil_div(npix, nr)
    cdef Py_ssize_t mb0 = mt * pl.m_per_task
    cdef Py_ssize_t mb1 = min(mb0 + pl.m_per_task, pl.m_units)
    cdef const floating* src = (<const floating*> pl.ph + (n - pl.ph_n0) * pl.ph_image
                                + g * pl.c_in_g * pl.ph_channel + q0)
    cdef floating* bblk = buf
    cdef floating* cblk = buf + pl.scratch_b
    cdef const floating* a
    cdef Py_ssize_t ldc = pl.p_per_task * nr
    cdef Py_ssize_t k0 = 0, kc, kk, j, off, a_step
    while k0 < K:
        kc = min(pl.kc, K - k0)
        for kk in range(kc):
            off = pl.k_offset[k0 + kk]
            for j in range(npanels):
                copy(bblk + j * kc * nr + kk * nr, src + off + j * nr, nr)
        a = weight_block(pl, <const floating*> pl.w, g, k0, kc, mb0, &a_step)
        for j in range(npanels):
            gemm_block(pl, kc, a, pl.lda, a_step, mb0, mb1, bblk + j * kc * nr, nr,
                       cblk + j * nr, ldc, <int> nr, k0 > 0, NULL, 0)
        k0 += kc
    store_block(pl, n, g, q0, npix, pl.grid_w, mb0 * CC_MR, min(mb1 * CC_MR, pl.c_out_g), cblk,
                ldc, False)


cdef inline void row_panel_at(const DirectPlan* pl, Py_ssize_t u, Py_ssize_t* oh,
                              Py_ssize_t* ow, int* nr_valid) noexcept nogil:
    """c_in_place: where row panel u starts (output row, column) and how many pixels it has."""
    cdef Py_ssize_t j = u % pl.row_panels
    oh[0] = u // pl.row_panels
    ow[0] = j * pl.nr
    nr_valid[0] = <int> min(pl.nr, pl.w_out - ow[0])
    if pl.row_shift > 0:   # a narrow first panel, then aligned ones
        ow[0] = 0 if j == 0 else pl.row_shift + (j - 1) * pl.nr
        nr_valid[0] = <int> (pl.row_shift if j == 0 else min(pl.nr, pl.w_out - ow[0]))


cdef void task_row_panels(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g, Py_ssize_t pt,
                          Py_ssize_t mt, floating* buf) noexcept nogil:
    """PANELS over one K block (c_in_place): the task's panels, NR pixels of one output row
    each, copied from the phase image row_group at a time and written by the microkernel
    straight into the output, bias and relu/relu6 in registers (a residual or another
    activation on the panel's rows right after, still in L1). With a short K the accumulator
    block's store pass cost as much as a third of the microkernel's time (3 -> 64 channels,
    3x3: K = 27)."""
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len
    cdef Py_ssize_t u0 = pt * pl.p_per_task
    cdef Py_ssize_t u1 = min(u0 + pl.p_per_task, pl.p_units)
    cdef Py_ssize_t mb0 = mt * pl.m_per_task
    cdef Py_ssize_t mb1 = min(mb0 + pl.m_per_task, pl.m_units)
    cdef const floating* src = (<const floating*> pl.ph + (n - pl.ph_n0) * pl.ph_image
                                + g * pl.c_in_g * pl.ph_channel)
    cdef floating* outg = (<floating*> pl.o.out + n * pl.o.sn
                           + (g * pl.c_out_g + mb0 * CC_MR) * pl.o.sc)
    cdef Py_ssize_t co_end = min(mb1 * CC_MR, pl.c_out_g) - mb0 * CC_MR
    cdef const floating* bias = NULL
    cdef const floating* a
    cdef const floating* row
    cdef floating* c
    cdef Py_ssize_t u, k, oh, ow, a_step
    cdef int nr_valid
    cdef int act_in_kernel = pl.o.act if epilogue_in_registers(&pl.o) else 0
    cdef bint epilogue_pass = has_epilogue(&pl.o) and not act_in_kernel
    # an output far larger than the caches: whole panels at aligned addresses are stored
    # past them (no read of each line first; a 3 -> 64 channel 3x3 layer on 224x224 writes
    # 12.8 MB)
    cdef bint stream = (pl.o.stream and not epilogue_pass
                        and (pl.o.sc * sizeof(floating)) % ALIGN == 0)
    if pl.o.bias != NULL:
        bias = <const floating*> pl.o.bias + g * pl.c_out_g
    a = weight_block(pl, <const floating*> pl.w, g, 0, K, mb0, &a_step)
    # row_group panels are copied, then swept once per channel block: each block's MR output
    # rows are written as runs (panel by panel, every panel wrote a line into each of the
    # task's output planes, more write streams than the prefetchers follow; see
    # task_in_place). 1 thread, AVX2: 3 -> 64, 3x3 on 224x224 0.49-0.60x the time, 3 -> 32
    # stride 2 0.87x (0.49x with outputs not in cache), 2 -> 24 on 96x96 0.90x (0.61x); 2
    # threads alike.
    cdef Py_ssize_t group = pl.row_group, ug, mb
    ug = u0
    while ug < u1:
        for u in range(ug, min(ug + group, u1)):
            row_panel_at(pl, u, &oh, &ow, &nr_valid)
            # (a partial panel copies NR values: the grid's next pixels, or the slack past it)
            row = src + oh * pl.grid_w + ow
            for k in range(K):
                copy(buf + ((u - ug) * K + k) * nr, row + pl.k_offset[k], nr)
        for mb in range(mb0, mb1):
            for u in range(ug, min(ug + group, u1)):
                row_panel_at(pl, u, &oh, &ow, &nr_valid)
                c = outg + oh * pl.o.sh + ow + (mb - mb0) * CC_MR * pl.o.sc
                gemm_block(pl, K, a + (mb - mb0) * a_step, pl.lda, a_step, mb, mb + 1,
                           buf + (u - ug) * K * nr, nr, c, pl.o.sc, nr_valid, False, bias,
                           act_in_kernel
                           | (CC_UK_STREAM if stream and nr_valid == nr
                              and <uintptr_t> c % ALIGN == 0 else 0))
                if epilogue_pass:
                    tile_epilogue(pl, c, min(CC_MR, co_end - (mb - mb0) * CC_MR), nr_valid)
        ug += group


cdef void task_indirect(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g, Py_ssize_t pt,
                        Py_ssize_t ct, floating* buf) noexcept nogil:
    """INDIRECT: MR-pixel tiles of task pt (output pixels, numbered oh*w_out + ow) against
    NR-channel panels of task ct, all of K per microkernel call, into a [pixel][channel]
    block; then store. A tile inside one output row reads MR consecutive pixels of the phase
    image; a tile across rows, or of a channels-last input read in place, gathers its pixels'
    bases (cc_gemm_ukernel_indirect_rows)."""
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len
    cdef Py_ssize_t q0 = pt * pl.p_per_task * CC_MR
    cdef Py_ssize_t npix = min(pl.task_pixels - q0, pl.p_per_task * CC_MR)
    cdef Py_ssize_t ntiles = ceil_div(npix, CC_MR)
    cdef Py_ssize_t cp0 = ct * pl.m_per_task
    cdef Py_ssize_t cp1 = min(cp0 + pl.m_per_task, pl.m_units)
    cdef const floating* img
    if pl.a_in_place:
        img = <const floating*> pl.x + n * pl.sx_n + g * pl.c_in_g * pl.sx_c
    else:
        img = (<const floating*> pl.ph + (n - pl.ph_n0) * pl.ph_image
               + g * pl.c_in_g * pl.ph_channel)
    cdef const floating* wk
    cdef const floating* rows[32]   # CC_MR <= 32
    cdef const floating* base = NULL
    cdef Py_ssize_t ldc = pl.m_per_task * nr, cp, t, k0 = 0, kc, v0, oh, ow, i
    cdef Py_ssize_t co_end = min(cp1 * nr, pl.c_out_g)
    cdef int mr
    # direct_out: the tiles go straight into the channels-last output (bias, residual and
    # relu/relu6 in registers on the last K block), else into the block, then through
    # store_block
    cdef floating* outn = NULL
    cdef floating* c
    cdef const floating* bias_g = NULL
    cdef const floating* bias
    cdef const floating* res
    cdef Py_ssize_t ldcc
    cdef int act
    cdef bint last_block
    if pl.direct_out:
        outn = <floating*> pl.o.out + n * pl.o.sn + g * pl.c_out_g
        if pl.o.bias != NULL:
            bias_g = <const floating*> pl.o.bias + g * pl.c_out_g
    # Loop order: with more weights than input pixels in the task (a 1x1 layer on 7x7 with
    # 960x320 weights), each weight panel goes through all the tiles before the next, so that
    # the weights, cold from memory in a network, stream in once at the pace of the compute
    # (tiles outer, the first tile alone would pull all of them, at 12 pixels of work each);
    # otherwise each tile (its input rows) goes through all the panels.
    cdef Py_ssize_t npan = cp1 - cp0, io, ii, t_rows
    cdef bint panels_outer = npan * nr > ntiles * CC_MR
    while k0 < K:  # the weight micro-panel (kc x NR) stays in L1 across the tiles
        kc = min(pl.kc, K - k0)
        last_block = k0 + kc == K
        # this K block's panels (pack_weight_panel's layout)
        wk = <const floating*> pl.w + (k0 * pl.groups * pl.m_units + g * pl.m_units * kc) * nr
        t_rows = -1
        # (nested loops: a flattened one's divisions, per microkernel call, were a few % of
        # layers whose calls are short, K = 16)
        for io in range(npan if panels_outer else ntiles):
            for ii in range(ntiles if panels_outer else npan):
                if panels_outer:
                    t, cp = ii, cp0 + io
                else:
                    t, cp = io, cp0 + ii
                v0 = q0 + t * CC_MR
                mr = <int> min(<Py_ssize_t> CC_MR, q0 + npix - v0)
                if t != t_rows:   # the tile's input rows
                    t_rows = t
                    oh, ow = v0 // pl.w_out, v0 % pl.w_out
                    base = NULL
                    # consecutive pixels: one base (cc_gemm_ukernel_indirect, whose rows past mr
                    # read on: the phase image's slack, not the caller's input read in place)
                    if (ow + mr <= pl.w_out and pl.px_col == 1
                            and (mr == CC_MR or not pl.a_in_place)):
                        base = img + oh * pl.px_row + ow
                    else:
                        for i in range(mr):   # (contiguous taps: indexed from this K block)
                            rows[i] = (img + oh * pl.px_row + ow * pl.px_col
                                       + (k0 if pl.k_contiguous else 0))
                            ow += 1
                            if ow == pl.w_out:
                                oh, ow = oh + 1, 0
                        for i in range(mr, CC_MR):  # rows past the valid ones repeat the last
                            rows[i] = rows[mr - 1]
                c, ldcc = buf + t * CC_MR * ldc + (cp - cp0) * nr, ldc
                bias, res, act = NULL, NULL, 0
                if pl.direct_out:
                    c, ldcc = outn + cp * nr + v0 * pl.o.sw, pl.o.sw
                    if last_block:
                        act = pl.o.act
                        if bias_g != NULL:
                            bias = bias_g + cp * nr
                        if pl.o.residual != NULL:   # laid out like the output
                            res = <const floating*> pl.o.residual + (c - <floating*> pl.o.out)
                # the panel's first tile reads it cold from memory (in a network): it
                # fetches the panel ahead. 1 thread, channels-last 1x1 layers after a 32 MiB
                # sweep, old and new builds alternating: 960 -> 160 on 7x7 0.84x the time,
                # 960 -> 320 0.84x, 576 -> 96 on 14x14 0.90x; in cache 1.00-1.09x (two runs
                # disagreeing by 5%); MobileNetV2's channels-last forward 0.93-0.95x.
                if t == 0:
                    act = act | CC_UK_B_FETCH
                if base != NULL:
                    gemm_ukernel_indirect(kc, base, pl.k_offset + k0, wk + cp * kc * nr, c,
                                          ldcc, mr, <int> min(nr, co_end - cp * nr), k0 > 0,
                                          bias, res, act, 1)
                else:
                    gemm_ukernel_indirect_rows(kc, rows,
                                               NULL if pl.k_contiguous else pl.k_offset + k0,
                                               wk + cp * kc * nr, c, ldcc, mr,
                                               <int> min(nr, co_end - cp * nr), k0 > 0, bias,
                                               res, act)
        k0 += kc
    if not pl.direct_out:
        store_block(pl, n, g, q0, npix, pl.w_out, cp0 * nr, co_end, buf, ldc, True)


cdef inline Py_ssize_t next_pixels(const DirectPlan* pl, Py_ssize_t* q, Py_ssize_t q_end,
                                   bint interior, Py_ssize_t* out, Py_ssize_t* ih0,
                                   Py_ssize_t* iw0) noexcept nogil:
    """a_rows_in_place: up to MR pixels from q[0] on, before q_end, inside the interior
    (interior) or outside it (the border): their numbers into out, where their windows start
    in the input into ih0 and iw0; q[0] moves past them and past the runs of the other kind
    between. How many. (No divisions per pixel: 24 a tile had cost 7% of a layer.)"""
    cdef Py_ssize_t m = 0, oh = q[0] // pl.w_out, ow = q[0] % pl.w_out, skip
    cdef bint inside
    while q[0] < q_end and m < CC_MR:
        inside = pl.oh_lo <= oh < pl.oh_hi and pl.ow_lo <= ow < pl.ow_hi
        if inside == interior:
            out[m] = q[0]
            ih0[m] = oh * pl.stride_h - pl.pad_top
            iw0[m] = ow * pl.stride_w - pl.pad_left
            m += 1
            skip = 1
        elif inside:   # the rest of the row's interior
            skip = min(pl.ow_hi - ow, q_end - q[0])
        elif pl.oh_lo <= oh < pl.oh_hi and ow < pl.ow_lo:   # on to the row's interior
            skip = min(pl.ow_lo - ow, q_end - q[0])
        else:          # a border row, or the row's right end: on to the next row
            skip = min(pl.w_out - ow, q_end - q[0])
        q[0] += skip
        ow += skip
        if ow == pl.w_out:
            oh, ow = oh + 1, 0
    return m


cdef void border_windows(const DirectPlan* pl, const floating* img, const Py_ssize_t* ih0,
                         const Py_ssize_t* iw0, Py_ssize_t m, Py_ssize_t k0, Py_ssize_t kc,
                         floating* z) noexcept nogil:
    """The K block [k0, k0 + kc) of the windows of m border pixels, starting at input rows ih0
    and columns iw0 (z[i * kc + k - k0]), zero where a tap falls in the padding; img: the
    group's input. A window's rows and columns inside the input are found once per pixel, and
    each (channel, tap row) is a run of kW values (no divisions or bounds per value: they
    had made this a third of a layer's time)."""
    cdef Py_ssize_t khw = pl.kh * pl.kw, dh = pl.dil_h, dw = pl.dil_w
    cdef Py_ssize_t i, k, j, n, r, s, r0, s0, r_lo, r_hi, s_lo, s_hi
    cdef const floating* plane
    cdef const floating* row
    cdef floating* zi
    r0, s0 = (k0 % khw) // pl.kw, (k0 % khw) % pl.kw
    for i in range(m):
        # taps r in [r_lo, r_hi), s in [s_lo, s_hi) land inside the input
        r_lo = min(pl.kh, max(0, ceil_div(-ih0[i], dh)))
        r_hi = max(r_lo, min(pl.kh, ceil_div(pl.h - ih0[i], dh)))
        s_lo = min(pl.kw, max(0, ceil_div(-iw0[i], dw)))
        s_hi = max(s_lo, min(pl.kw, ceil_div(pl.w_in - iw0[i], dw)))
        plane = img + (k0 // khw) * pl.sx_c + iw0[i]
        zi = z + i * kc
        r, s, k = r0, s0, 0
        while k < kc:
            n = min(pl.kw - s, kc - k)   # this (channel, tap row)'s taps s .. s + n
            if r_lo <= r < r_hi:
                row = plane + (ih0[i] + r * dh) * pl.sx_h
                for j in range(s, s + n):
                    zi[k + j - s] = row[j * dw] if s_lo <= j < s_hi else 0
            else:
                for j in range(n):
                    zi[k + j] = 0
            k += n
            s = 0
            r += 1
            if r == pl.kh:
                r = 0
                plane += pl.sx_c


cdef void task_indirect_rows_in_place(const DirectPlan* pl, Py_ssize_t n, Py_ssize_t g,
                                      Py_ssize_t pt, Py_ssize_t ct,
                                      floating* buf) noexcept nogil:
    """INDIRECT, a_rows_in_place: output pixels [q0, q0 + npix) of task pt against the NR-channel
    panels of task ct, into a [pixel][channel] block, then stored (store_block). The input is
    read in place (the phase image this replaces, a read and a write of the whole input, was
    13% of a 64 -> 128 3x3 stride-2 layer on 112x112): the interior pixels in tiles of MR, as
    one base when the tile lies in one row (gemm_ukernel_indirect, _s2) or gathered across
    rows, their rows of C scattered over the block; the border pixels in tiles of MR from
    zero-padded copies of their windows (border_windows), scattered likewise."""
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len, w_out = pl.w_out
    cdef Py_ssize_t q0 = pt * pl.p_per_task * CC_MR
    cdef Py_ssize_t q_end = min(pl.task_pixels, q0 + pl.p_per_task * CC_MR)
    cdef Py_ssize_t cp0 = ct * pl.m_per_task
    cdef Py_ssize_t cp1 = min(cp0 + pl.m_per_task, pl.m_units)
    cdef Py_ssize_t co_end = min(cp1 * nr, pl.c_out_g)
    cdef Py_ssize_t ldc = pl.m_per_task * nr
    cdef const floating* img = (<const floating*> pl.x + n * pl.sx_n
                                + g * pl.c_in_g * pl.sx_c)
    cdef const floating* x_last = <const floating*> pl.x_last
    cdef floating* z = buf + pl.scratch_c   # border windows (TILE_GROUP tiles)
    # a group of up to TILE_GROUP tiles goes round the task's weight panels together
    cdef const floating* rows[TILE_GROUP][32]   # CC_MR <= 32
    cdef floating* crows[TILE_GROUP][32]
    cdef const floating* base[TILE_GROUP]
    cdef bint one_base[TILE_GROUP]
    cdef int mt[TILE_GROUP]
    cdef Py_ssize_t qs[32]
    cdef Py_ssize_t ih0[32]
    cdef Py_ssize_t iw0[32]
    cdef const floating* wk
    cdef const floating* b
    cdef floating* c
    cdef Py_ssize_t k0 = 0, kc, cp, i, q, m, t, nt
    cdef int nrv, act
    cdef bint first, interior, done
    while k0 < K:
        kc = min(pl.kc, K - k0)
        wk = <const floating*> pl.w + (k0 * pl.groups * pl.m_units + g * pl.m_units * kc) * nr
        first = True
        for interior in (True, False):
            q = q0
            done = False
            while not done:
                nt = 0
                while nt < TILE_GROUP:
                    m = next_pixels(pl, &q, q_end, interior, qs, ih0, iw0)
                    if m == 0:
                        done = True
                        break
                    mt[nt] = <int> m
                    one_base[nt] = False
                    if interior:
                        for i in range(m):
                            rows[nt][i] = img + ih0[i] * pl.sx_h + iw0[i]
                        # one base: MR pixels in one row, 1, 2 or 4 apart, and the kernel's
                        # reads past the m-th (a whole tile's rows) inside the input
                        base[nt] = rows[nt][0]
                        one_base[nt] = (qs[m - 1] - qs[0] == m - 1 and ih0[m - 1] == ih0[0]
                                        and (pl.stride_w <= 2 or pl.stride_w == 4)
                                        and base[nt] + (CC_MR - 1) * pl.stride_w
                                        + pl.k_offset[k0 + kc - 1] <= x_last)
                    else:
                        border_windows(pl, img, ih0, iw0, m, k0, kc, z + nt * CC_MR * kc)
                        for i in range(m):
                            rows[nt][i] = z + (nt * CC_MR + i) * kc
                    for i in range(m):
                        crows[nt][i] = buf + (qs[i] - q0) * ldc
                    for i in range(m, CC_MR):   # rows past m repeat the last (not stored)
                        rows[nt][i], crows[nt][i] = rows[nt][m - 1], crows[nt][m - 1]
                    nt += 1
                for cp in range(cp0, cp1):
                    nrv = <int> min(nr, co_end - cp * nr)
                    b = wk + cp * kc * nr
                    for t in range(nt):
                        c = crows[t][0] + (cp - cp0) * nr
                        act = CC_UK_B_FETCH if first and t == 0 else 0   # the panel, cold
                        if one_base[t]:
                            gemm_ukernel_indirect(kc, base[t], pl.k_offset + k0, b, c, ldc,
                                                  mt[t], nrv, k0 > 0, NULL, NULL, act,
                                                  <int> pl.stride_w)
                        else:
                            if cp > cp0:
                                for i in range(CC_MR):
                                    crows[t][i] += nr
                            gemm_ukernel_indirect_scatter(kc, rows[t],
                                                          pl.k_offset + k0 if interior else NULL,
                                                          b, crows[t], mt[t], nrv, k0 > 0, act)
                if nt > 0:
                    first = False
        k0 += kc
    store_block(pl, n, g, q0, q_end - q0, w_out, cp0 * nr, co_end, buf, ldc, True)


cdef void run_task(const DirectPlan* pl, Py_ssize_t task, Py_ssize_t n0,
                   floating* buf) noexcept nogil:
    cdef Py_ssize_t mt = task % pl.m_tasks
    cdef Py_ssize_t rest = task // pl.m_tasks
    cdef Py_ssize_t pt = rest % pl.pixel_tasks
    rest = rest // pl.pixel_tasks
    cdef Py_ssize_t g = rest % pl.groups
    cdef Py_ssize_t n = n0 + rest // pl.groups
    if pl.a_rows_in_place:
        task_indirect_rows_in_place(pl, n, g, pt, mt, buf)
    elif pl.method == METHOD_INDIRECT:
        task_indirect(pl, n, g, pt, mt, buf)
    elif pl.b_in_place:
        task_in_place(pl, n, g, pt, mt, buf)
    elif pl.c_in_place:
        task_row_panels(pl, n, g, pt, mt, buf)
    else:
        task_panels(pl, n, g, pt, mt, buf)


cdef void plan_blocks(DirectPlan* pl, Py_ssize_t images, Py_ssize_t itemsize,
                      int threads) noexcept nogil:
    """Choose kc and the task shape (pixel units x channel units).

    kc (PANELS): the B micro-panel (kc x NR) fits L1_BUDGET; K is split into equal blocks.
    Task shape: what a task keeps hot fits L2_BUDGET (at least one unit of each); among the
    balanced splits, the one with the smallest estimated makespan on `threads` threads.
    """
    cdef Py_ssize_t nr = pl.nr, K = pl.k_len
    # K blocks: the kc x NR micro-panel read whole by each microkernel call (pixels for
    # PANELS, weights for INDIRECT) stays in L1
    pl.kc = k_block_size(K, nr, itemsize)
    if pl.method == METHOD_INDIRECT:
        pl.unit_px, pl.unit_co = CC_MR, nr
    else:
        pl.unit_px, pl.unit_co = nr, CC_MR
    # One K block and output rows of at least half a panel: no accumulator block to store
    # from (task_row_panels). A row's last panel is partial, its FMAs rounded up to a half
    # vector (1 thread, AVX-512: 256 -> 256 ch in 32 groups, 3x3 on 28x28 0.511 -> 0.481 ms,
    # 3 -> 64 on 24x24 0.036 -> 0.027; with rows under half a panel it lost: 14x14 0.149 ->
    # 0.165, 10x10 0.056 -> 0.065, against panels across rows).
    pl.c_in_place = (pl.method == METHOD_PANELS and not pl.b_in_place and pl.kc == K
                     and pl.o.sw == 1 and 2 * pl.w_out >= nr)
    pl.row_panels = ceil_div(pl.w_out - pl.row_shift, nr) + (pl.row_shift > 0)
    if pl.c_in_place:
        pl.p_units = pl.h_out * pl.row_panels
    else:
        pl.p_units = ceil_div(pl.task_pixels, pl.unit_px)
    pl.m_units = ceil_div(pl.c_out_g, pl.unit_co)
    # task footprint: PANELS keeps its B block (kc x px), weight block (co x kc) and
    # accumulator block (co x px) hot; INDIRECT its weight panels (co x kc) and accumulators.
    # Gathering: PANELS copies each panel row of X once per channel task (~half a k-step).
    cdef double fp_a, fp_b, fp_ab, gather = 0
    if pl.method == METHOD_INDIRECT:
        fp_a, fp_b, fp_ab = 0, pl.unit_co * pl.kc, pl.unit_px * pl.unit_co
        # each channel task reads its tiles' inputs again: as PANELS's gathering, K taps of a
        # tile's pixels from as many rows of the phase image, more streams than the
        # prefetchers follow (uncharged, a whole 112x112 image went to each 16-channel task;
        # 1 thread, AVX2: 64 -> 128, 3x3 stride 2 on 112x112 at batch 4 0.92x the time, at
        # batch 1 0.90x, 256 -> 512 on 28x28 0.93x; the 7x7 RGB stem 1.02x)
        gather = 0.5 * K
    else:
        fp_a, fp_b = pl.kc * pl.unit_px, pl.unit_co * pl.kc
        fp_ab = 0 if pl.b_in_place or pl.c_in_place else pl.unit_px * pl.unit_co
        # (the in-place 1x1 path copies too, as soon as K is long enough: task_in_place's
        # copy_block; uncharged, 1024 -> 256 on 14x14 went to 4 channel tasks of 7 panels,
        # the task's block of X copied 4 times, 16% of the layer's time)
        if not pl.b_in_place or K >= COPY_MIN_K:
            gather = 0.5 * K
    # the last pixel unit's share (row panels: every row ends in a partial one, uncounted) and
    # the last channel unit's
    cdef double p_last = 1.0, m_last
    if not pl.c_in_place:
        p_last = <double> (pl.task_pixels - (pl.p_units - 1) * pl.unit_px) / pl.unit_px
    m_last = <double> (pl.c_out_g - (pl.m_units - 1) * pl.unit_co) / pl.unit_co
    cdef Split sp = balanced_split(pl.p_units, pl.m_units, images * pl.groups, threads, K,
                                   gather, 200.0, fp_a * itemsize, fp_b * itemsize,
                                   fp_ab * itemsize, L2_BUDGET, p_last, m_last)
    cdef Py_ssize_t best_ppt = sp.a_per_task, best_mpt = sp.b_per_task
    pl.p_per_task = best_ppt
    pl.m_per_task = best_mpt
    pl.pixel_tasks = ceil_div(pl.p_units, best_ppt)
    pl.m_tasks = ceil_div(pl.m_units, best_mpt)
    cdef Py_ssize_t px = best_ppt * pl.unit_px, co = best_mpt * pl.unit_co
    pl.scratch_b = 0
    pl.row_group = 1
    pl.scratch_c = ceil_div(co * px * itemsize, ALIGN) * ALIGN // itemsize
    if pl.method == METHOD_PANELS:
        pl.scratch_b = ceil_div(pl.kc * px * itemsize, ALIGN) * ALIGN // itemsize
        if pl.c_in_place:   # row_group panels at a time
            pl.row_group = max(1, min(best_ppt, L1_BUDGET // (pl.kc * nr * itemsize)))
            pl.scratch_b = (ceil_div(pl.row_group * pl.kc * nr * itemsize, ALIGN) * ALIGN
                            // itemsize)
        if pl.b_in_place or pl.c_in_place:
            pl.scratch_c = 0
    pl.scratch_z = 0
    if pl.a_rows_in_place:   # MR border windows of a K block
        pl.scratch_z = ceil_div(TILE_GROUP * CC_MR * pl.kc * itemsize, ALIGN) * ALIGN // itemsize
    pl.scratch_per_thread = pl.scratch_b + pl.scratch_c + pl.scratch_z


cdef int plan_phases(DirectPlan* pl) noexcept nogil:
    """The phase image and each k's offset in a group's phase image.
    Returns -1 when out of memory (free_plan frees what was allocated)."""
    cdef Py_ssize_t khw = pl.kh * pl.kw, k, t
    pl.k_offset = <Py_ssize_t*> malloc(pl.k_len * sizeof(Py_ssize_t))
    if pl.k_offset == NULL:
        return -1
    if pl.a_in_place or pl.a_rows_in_place:
        # tap (ci, r, s) of the pixel whose window starts at p: p + this, in the input
        if khw == 1:   # (no divisions: they took ~1.3 us of a 384->64 1x1 layer on 14x14)
            for k in range(pl.k_len):
                pl.k_offset[k] = k * pl.sx_c
        else:
            for k in range(pl.k_len):
                t = k % khw
                pl.k_offset[k] = ((k // khw) * pl.sx_c + (t // pl.kw) * pl.dil_h * pl.sx_h
                                  + (t % pl.kw) * pl.dil_w * pl.sx_w)
        pl.k_contiguous = True
        for k in range(pl.k_len):
            if pl.k_offset[k] != k:
                pl.k_contiguous = False
                break
        pl.px_row, pl.px_col = pl.stride_h * pl.sx_h, pl.stride_w * pl.sx_w
        pl.grid_w = pl.w_out
        pl.grid_pixels = pl.task_pixels = pl.h_out * pl.w_out
        return 0
    pl.k_contiguous = False
    pl.pp.h, pl.pp.w, pl.pp.kh, pl.pp.kw = pl.h, pl.w_in, pl.kh, pl.kw
    pl.pp.stride_h, pl.pp.stride_w = pl.stride_h, pl.stride_w
    pl.pp.pad_top, pl.pp.pad_left = pl.pad_top, pl.pad_left
    pl.pp.dil_h, pl.pp.dil_w = pl.dil_h, pl.dil_w
    pl.pp.h_out, pl.pp.w_out = pl.h_out, pl.w_out
    if phase_plan_init(&pl.pp) < 0:
        return -1
    pl.ph_channel = pl.pp.n_phases * pl.pp.ph_plane
    pl.ph_image = pl.c_in * pl.ph_channel
    for k in range(pl.k_len):
        pl.k_offset[k] = (k // khw) * pl.ph_channel + pl.pp.tap_offset[k % khw]
    pl.grid_w = pl.pp.ph_w
    pl.px_row, pl.px_col = pl.grid_w, 1
    pl.grid_pixels = pl.h_out * pl.pp.ph_w
    pl.task_pixels = pl.grid_pixels
    if pl.method == METHOD_INDIRECT:
        pl.task_pixels = pl.h_out * pl.w_out
    return 0


cdef void init_plan(DirectPlan* pl, Py_ssize_t c_in, Py_ssize_t h, Py_ssize_t w_in,
                    Py_ssize_t c_out, Py_ssize_t groups, Py_ssize_t kh, Py_ssize_t kw,
                    Py_ssize_t stride_h, Py_ssize_t stride_w, Py_ssize_t pad_top,
                    Py_ssize_t pad_left, Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t h_out,
                    Py_ssize_t w_out, Py_ssize_t nr, int method, bint planes_contiguous,
                    bint out_planes_contiguous, bint channels_last, bint out_channels_last,
                    Py_ssize_t images, bint weights_packed) noexcept nogil:
    """The shape part of a plan, and the method (METHOD_AUTO resolved; weights_packed: both
    methods' weight panels are at hand, packed ahead). planes_contiguous: the input's and the
    output's planes are, out_planes_contiguous: the output's. channels_last: the input's
    channels are contiguous (NHWC), so a pixel's K values are a few runs of it;
    out_channels_last: the output's."""
    pl.h, pl.w_in, pl.c_in, pl.c_out, pl.groups = h, w_in, c_in, c_out, groups
    pl.c_in_g, pl.c_out_g = c_in // groups, c_out // groups
    pl.kh, pl.kw, pl.stride_h, pl.stride_w = kh, kw, stride_h, stride_w
    pl.pad_top, pl.pad_left, pl.dil_h, pl.dil_w = pad_top, pad_left, dil_h, dil_w
    pl.h_out, pl.w_out = h_out, w_out
    pl.k_len = pl.c_in_g * kh * kw
    pl.nr = nr
    pl.pp.phase_a = pl.pp.phase_b = pl.pp.tap_offset = pl.pp.phase_cols = NULL
    pl.k_offset = NULL
    pl.ph = NULL
    pl.ph_n0 = 0
    cdef bint one_by_one = (kh == 1 and kw == 1 and stride_h == 1 and stride_w == 1
                            and pad_top == 0 and pad_left == 0 and h_out == h
                            and w_out == w_in and planes_contiguous)
    # every tap of every output pixel inside the input: no padding to read
    cdef bint unpadded = (pad_top == 0 and pad_left == 0
                          and (h_out - 1) * stride_h + (kh - 1) * dil_h < h
                          and (w_out - 1) * stride_w + (kw - 1) * dil_w < w_in)
    if method == METHOD_AUTO:
        if one_by_one and h_out * w_out >= nr // 2:
            # (with fewer pixels than half a panel, a panel's lanes are mostly idle: a 1x1
            # layer on a 1x1 image, squeeze-and-excitation's, is 2x faster in MR/3-row tiles)
            method = METHOD_PANELS
        elif channels_last and unpadded:
            # the tiles read the input in place (no phase image: for NHWC input it would be
            # a transposing copy): 1x1 layers of channels-last networks
            method = METHOD_INDIRECT
        elif out_channels_last:
            # its accumulators are pixel-major: each pixel's channels are one contiguous
            # run of an NHWC output (PANELS would write each channel's run strided)
            method = METHOD_INDIRECT
        else:
            method = choose_method(pl, images, weights_packed)
    pl.method = method
    # B in place: the input itself (one_by_one), or for any other 1x1 kernel (strided, padded,
    # input planes not contiguous) its phase image, the [K][h_out*w_out] matrix the in-place
    # path reads, so that PANELS neither copies it again into panels nor stores through an
    # accumulator block (b_from_phase). Old and new builds
    # alternating, prepared, 1 thread: ResNet's 1x1 stride-2 layers 0.80-0.98x the time
    # (64 -> 128 on 56x56 0.87x, 256 -> 512 0.80x, 512 -> 1024 on 28x28 0.98x), 0.87-0.90x
    # with inputs not in cache; 2 threads 0.89-0.97x; padded 1x1 0.97x.
    pl.b_from_phase = (method == METHOD_PANELS and not one_by_one and kh == 1 and kw == 1
                       and out_planes_contiguous and h_out * w_out >= nr // 2)
    pl.b_in_place = (method == METHOD_PANELS and one_by_one) or pl.b_from_phase
    pl.a_in_place = method == METHOD_INDIRECT and channels_last and unpadded
    pl.a_rows_in_place = False   # (plan_rows_in_place, once the strides are known)
    pl.direct_out = False


cdef inline Py_ssize_t interior_end(Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t k,
                                    Py_ssize_t stride, Py_ssize_t pad,
                                    Py_ssize_t dil) noexcept nogil:
    """One past the last output position (along one axis) whose window ends inside the input."""
    cdef Py_ssize_t span = n_in - 1 - (k - 1) * dil + pad
    return 0 if span < 0 else min(n_out, span // stride + 1)


cdef void plan_rows_in_place(DirectPlan* pl, Py_ssize_t images) noexcept nogil:
    """Whether INDIRECT reads an input with contiguous rows in place (a_rows_in_place), and its
    interior. Not when the border (the output pixels whose windows reach into the padding) has
    more than 1/border_cost of the input's pixels in its windows: they are copied pixel by
    pixel, K values each (the phase image it replaces is one pass over the input). Not for
    fewer output pixels than output channels, where a task's tiles go round the weight panels
    for each tile (task_indirect's panels_outer order is the better one), unless the stride is
    above 2: its phase image is built value by value (ViT's 16x16 stride-16 patches, 196
    pixels against 768 channels: in place 0.98x the time at 1 thread, 0.81x at 2; on 24x24
    0.85x and 0.73x). The input's strides must be ordered (rows, then planes, then images,
    each past the last), so that every read of a tile lies between the first element and
    x_last."""
    pl.a_rows_in_place = False
    if (pl.method != METHOD_INDIRECT or pl.a_in_place or pl.direct_out or pl.sx_w != 1
            or pl.sx_h < pl.w_in or pl.sx_c < pl.h * pl.sx_h
            or (images > 1 and pl.sx_n < pl.c_in * pl.sx_c)
            or (pl.h_out * pl.w_out < pl.c_out_g and pl.stride_w <= 2)):
        return
    interior(pl, &pl.oh_lo, &pl.oh_hi, &pl.ow_lo, &pl.ow_hi)
    pl.a_rows_in_place = border_in_place_pays(pl)


cdef void interior(const DirectPlan* pl, Py_ssize_t* oh_lo, Py_ssize_t* oh_hi,
                   Py_ssize_t* ow_lo, Py_ssize_t* ow_hi) noexcept nogil:
    """The output pixels whose windows lie inside the input: [oh_lo, oh_hi) x [ow_lo, ow_hi)."""
    oh_lo[0] = min(pl.h_out, ceil_div(pl.pad_top, pl.stride_h))
    oh_hi[0] = max(oh_lo[0], interior_end(pl.h, pl.h_out, pl.kh, pl.stride_h, pl.pad_top,
                                          pl.dil_h))
    ow_lo[0] = min(pl.w_out, ceil_div(pl.pad_left, pl.stride_w))
    ow_hi[0] = max(ow_lo[0], interior_end(pl.w_in, pl.w_out, pl.kw, pl.stride_w, pl.pad_left,
                                          pl.dil_w))


cdef bint border_in_place_pays(const DirectPlan* pl) noexcept nogil:
    """Whether copying the windows of the border (the output pixels outside the interior)
    costs less than a phase image (border_cost, less strict for the value-by-value phase
    images of strides above 2)."""
    cdef Py_ssize_t oh_lo, oh_hi, ow_lo, ow_hi
    interior(pl, &oh_lo, &oh_hi, &ow_lo, &ow_hi)
    cdef Py_ssize_t border = pl.h_out * pl.w_out - (oh_hi - oh_lo) * (ow_hi - ow_lo)
    cdef Py_ssize_t limit = pl.h * pl.w_in
    if pl.stride_w > 2:
        limit *= SCALAR_PHASE_BORDER_FACTOR
    return border * pl.kh * pl.kw * border_cost <= limit


cdef double tile_efficiency(Py_ssize_t n, Py_ssize_t unit, Py_ssize_t tail_unit) noexcept nogil:
    """The fraction of the work on n that is real: whole units, and the last, partial one
    rounded up to tail_unit (the microkernel runs a partial tile's rows in thirds of MR, its
    columns in one or two vectors)."""
    return <double> n / ((n // unit) * unit + ceil_div(n % unit, tail_unit) * tail_unit)


cdef int choose_method(const DirectPlan* pl, Py_ssize_t images,
                       bint weights_packed) noexcept nogil:
    """PANELS or INDIRECT, by an estimate of each one's cycles for a group of `images` images.

    Both: multiply-adds / (lanes * 2 FMA/cycle), inflated by the share of each MR x NR tile that
    is padding (pixels in tiles of NR or MR, channels in tiles of MR or NR) and by the
    microkernel's efficiency (PANELS reading OIHW rows ~0.90, INDIRECT ~0.95, ~0.70 with a 1x1
    kernel; measured).
    PANELS adds its copies of X (K values per grid pixel, for each of ~C_out/256 channel
    tasks) and computes the grid's extra columns; INDIRECT computes only the output pixels,
    transposes every weight unless they come packed (into reused scratch memory: ~0.35 ns,
    1.5 cycles, each when they fit the caches, 1.4 ns for 512x512x3x3; it was taken as 4
    cycles, which sent conv2d's 128 -> 128 3x3 stride-2 layer on 56x56 to PANELS: 2.58 ms
    against 2.36 with INDIRECT at 1 thread), writes the output through a transposition
    (about half a cycle per value) and stores its tile to the accumulator block after every K
    block (~30 cycles). The constants come from timing both methods on the bench suite
    (bench/run.py). A 1x1 kernel's PANELS costs less than this says (it reads its phase image
    in place, b_from_phase: no copies, no accumulator block); every 1x1 stride-2 layer checked
    chose PANELS before that was so.
    """
    cdef double lanes = pl.nr  # multiply-adds per cycle: NR/2 lanes per vector, 2 FMA ports
    cdef Py_ssize_t vl = pl.nr // 2
    cdef Py_ssize_t grid = pl.h_out * (pl.w_out + (pl.kw - 1) * pl.dil_w // pl.stride_w)
    cdef Py_ssize_t pixels = pl.h_out * pl.w_out
    cdef double panels = images * (
        <double> pl.c_out_g * grid * pl.k_len / lanes / 0.90
        / tile_efficiency(pl.c_out_g, CC_MR, CC_MR // 3) / tile_efficiency(grid, pl.nr, vl)
        + 0.15 * grid * pl.k_len * ceil_div(pl.c_out_g, 256))
    # INDIRECT's tiles read MR pixels of one input channel per step. With a 1x1 kernel every
    # step is a new line of the phase image (with 3x3, a row's taps share one), kc of them
    # beside the kc x NR weight panel: more than L1 holds, they come from L2 for every
    # panel. Measured ~0.70 of the 0.95 (both methods alternating on 1x1 stride-2 layers,
    # 1 thread: PANELS took 0.56-0.83x INDIRECT's time, 1024 -> 2048 on 14x14 0.56-0.59x,
    # 256 -> 512 0.82x; 2 threads 0.72-0.92x).
    cdef double indirect_eff = 0.95 if pl.kh * pl.kw > 1 else 0.70
    cdef double indirect = images * (
        <double> pl.c_out_g * pixels * pl.k_len / lanes / indirect_eff
        / tile_efficiency(pl.c_out_g, pl.nr, vl) / tile_efficiency(pixels, CC_MR, CC_MR // 3)
        + 0.5 * pl.c_out_g * pixels
        + 30.0 * ceil_div(pixels, CC_MR) * ceil_div(pl.c_out_g, pl.nr) * ceil_div(pl.k_len, 128)
    ) + (0 if weights_packed else 1.5 * pl.c_out_g * pl.k_len)
    # A phase image with a stride above 2 is built value by value (~1.8 cycles each: 19% of a
    # 3 -> 96 4x4 stride-4 layer's time); INDIRECT reads such an input in place where its
    # border is small (plan_rows_in_place), PANELS never does. 1 thread, AVX-512, prepared:
    # INDIRECT took 0.78-0.83x PANELS's time on 3 -> 96 4x4 stride 4 on 224x224 (ConvNeXt's
    # stem), 0.84x with 128 channels, 0.76x at batch 2, 0.40x at batch 8. Charged at 1.5
    # cycles: on AVX2 (half the lanes, the transposition weighs twice as much) 3 -> 128 keeps
    # PANELS, 0.90x INDIRECT's time there; 3 -> 96 is even (1.02x).
    cdef double phase_image = 0
    if pl.stride_w > 2:
        phase_image = 1.5 * images * pl.c_in_g * pl.h * pl.w_in
        panels += phase_image
        if not border_in_place_pays(pl):
            indirect += phase_image
    return METHOD_INDIRECT if indirect < panels else METHOD_PANELS


cdef void free_plan(DirectPlan* pl) noexcept nogil:
    phase_plan_free(&pl.pp)
    free(pl.k_offset)
    pl.k_offset = NULL


cdef void build_cl_block(const DirectPlan* pl, Py_ssize_t n0, Py_ssize_t t,
                         Py_ssize_t cl_blocks, floating* ph0) noexcept nogil:
    """Phase planes of block t % cl_blocks of VL channels of image n0 + t // cl_blocks of a
    channels-last input read in place (pl.x; build_phase_planes_cl)."""
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t n = t // cl_blocks, c0 = t % cl_blocks * vl
    build_phase_planes_cl(&pl.pp, <const floating*> pl.x + (n0 + n) * pl.sx_n + c0 * pl.sx_c,
                          pl.sx_h, pl.sx_w,
                          <int> min(vl, pl.c_in - c0), pl.ph_channel,
                          ph0 + (n * pl.c_in + c0) * pl.ph_channel)


def conv2d_direct_nchw(const floating[:, :, :, :] x, const floating[::1] w, Py_ssize_t lda,
                       bias, floating[:, :, :, :] out, Py_ssize_t groups, Py_ssize_t kh,
                       Py_ssize_t kw, Py_ssize_t stride_h, Py_ssize_t stride_w,
                       Py_ssize_t pad_top, Py_ssize_t pad_left, Py_ssize_t dil_h,
                       Py_ssize_t dil_w, int num_threads, int method=METHOD_AUTO,
                       residual=None, int act=0, double alpha=0, w_panels=None,
                       w_indirect=None):
    """out = act(conv2d(x, weights) + bias + residual).

    x: (N, C_in, H, W) and out: (N, C_out, H_out, W_out), any strides that are multiples of the
    item size (channels-last arrays are NCHW views with unit channel stride); every element of
    out is written. bias: None or a C-contiguous (C_out,) array; residual: None or an array
    with out's shape and strides; act, alpha: cc_epilogue.h's activation and its slope.
    w: the weights flattened as OIHW rows lda elements apart, each row's K values contiguous.
    w_panels, w_indirect: optionally, the same weights packed ahead by pack_weights(..., 1 or 2)
    for either method (a prepared convolution); otherwise they are packed here when that pays.
    method: 0 chooses, 1 PANELS, 2 INDIRECT. Runs with the GIL released on up to num_threads
    OpenMP threads.
    """
    cdef DirectPlan pl
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef floating dummy = 0
    cdef Py_ssize_t images = x.shape[0], chunk, n0, nimg, ntasks, t
    cdef int threads, caller_cpu
    cdef char* scratch = NULL
    cdef size_t scratch_bytes = 0, ph_bytes = 0
    cdef Py_ssize_t packed_count = 0, n_blocks = 0
    cdef bint pack
    cdef floating* packed
    cdef floating* buf0
    cdef floating* ph0
    cdef floating* xpad
    if images == 0 or out.shape[1] == 0:
        return
    cdef Py_ssize_t c_in = x.shape[1], h = x.shape[2], w_in = x.shape[3]
    cdef Py_ssize_t h_out = out.shape[2], w_out = out.shape[3]
    cdef bint channels_last = x.strides[1] == itemsize and c_in // groups > 1
    cdef bint out_channels_last = out.strides[1] == itemsize and out.shape[1] // groups > 1
    # a channels-last layer that reads padding: its input copied padded (PAD_COPY_BUDGET),
    # h_pad x w_pad pixels, every window inside
    cdef Py_ssize_t h_pad = max(h + pad_top, (h_out - 1) * stride_h + (kh - 1) * dil_h + 1)
    cdef Py_ssize_t w_pad = max(w_in + pad_left, (w_out - 1) * stride_w + (kw - 1) * dil_w + 1)
    cdef size_t pad_bytes = 0
    # Pixels a multiple of 4 KiB apart (1024 float32 channels): the microkernel's MR pixel
    # streams would share one L1 set and evict each other (12% slower than 1000 channels);
    # copied, they are a cache line further apart (px), when the layer's output channels pay
    # for the copy (about half a cycle per value against 12% of c_out / 16 cycles).
    cdef bint copyable = channels_last and out_channels_last and method != METHOD_PANELS
    cdef bint aliased = (copyable and x.strides[3] % L1_SET_SPAN == 0
                         and out.shape[1] // groups >= 64)
    cdef Py_ssize_t px = c_in + (ALIGN // itemsize if (c_in * itemsize) % L1_SET_SPAN == 0
                                 else 0)
    # Not for small outputs (a 7x7 one): their few tiles are read again for every weight panel,
    # and a tile's 12 values of one tap are one cache line of the phase image but 12 lines of
    # a channels-last copy (512x512 3x3 on 7x7: 3.1 ms against 2.4; on 56x56 and at 3
    # channels the copy wins, 5-20%).
    # At stride 1 with 16 channels or more, the phase image (built a vector of channels at
    # a time, transposed: build_phase_planes_cl) is faster than the copy: 1 thread, old and
    # new alternating, 5x5 64 -> 64 on 56x56 0.92x the time, 3x3 direct 32 on 150x150 0.88x,
    # 16 on 112x112 0.90x (2 threads 0.93x, 0.88x, 1.01x); with 12 channels or fewer it lost
    # (12 -> 24 at stride 2 1.19x, 4 -> 16 1.04x), and at stride 2 it was mixed (256 on 28x28
    # 0.76x, 128 on 56x56 0.96x; at 2 threads 0.85x and 1.18x): those keep the copy.
    # Grouped layers from 4 channels a group: 32 groups of 4 on 56x56 0.75x (2 threads 0.72x),
    # of 8 on 28x28 0.96x (0.71x), 8 of 8 on 56x56 0.91x (0.65x); ungrouped 4 to 8 channels
    # were even to 1.14x (8 on 224x224 at 2 threads), and keep the copy.
    cdef bint cl_phases = (stride_h == 1 and stride_w == 1
                           and (c_in // groups >= CL_PHASE_MIN_CHANNELS
                                or (groups > 1 and c_in // groups >= 4)))
    if (copyable
            and (aliased or (not cl_phases
                             and (h_pad > h or w_pad > w_in or pad_top > 0 or pad_left > 0)
                             and (h_out * w_out >= PAD_COPY_MIN_PIXELS or c_in // groups <= 16)))
            and images * h_pad * w_pad * px * itemsize <= PAD_COPY_BUDGET):
        pad_bytes = images * h_pad * w_pad * px * itemsize + ALIGN
    # the plan sees the padded copy (unpadded, channels contiguous) or the input itself
    cdef bint out_planes = out.strides[3] == itemsize and out.strides[2] == w_out * itemsize
    init_plan(&pl, c_in, h_pad if pad_bytes else h, w_pad if pad_bytes else w_in, out.shape[1],
              groups, kh, kw, stride_h, stride_w, 0 if pad_bytes else pad_top,
              0 if pad_bytes else pad_left, dil_h, dil_w, h_out, w_out, tile_width(&dummy),
              method,
              not pad_bytes and x.strides[3] == itemsize and x.strides[2] == w_in * itemsize
              and out_planes, out_planes, channels_last, out_channels_last, images,
              w_indirect is not None and w_panels is not None)
    if pad_bytes:   # pl.x is set when the copy has its memory
        pl.sx_c, pl.sx_w, pl.sx_h, pl.sx_n = 1, px, w_pad * px, h_pad * w_pad * px
    else:
        pl.x = &x[0, 0, 0, 0]
        pl.sx_n = x.strides[0] // itemsize
        pl.sx_c = x.strides[1] // itemsize
        pl.sx_h = x.strides[2] // itemsize
        pl.sx_w = x.strides[3] // itemsize
    pl.w = &w[0]
    pl.lda = lda
    output_spec(&pl.o, out, residual, bias, act, alpha,
                images * pl.c_out * pl.h_out * pl.w_out * itemsize > STREAM_BYTES)
    # streaming stores need 64-byte aligned panels: when the output's rows and planes are a
    # multiple of 64 bytes apart but start off it (numpy aligns arrays to 16 bytes), each
    # row's first panel is narrow (3 -> 64 channels on 224x224 into such an out=: 2.59 ->
    # 1.9 ms at 1 thread; cconv's own outputs are aligned)
    pl.row_shift = 0
    if (CC_UK_HAVE_STREAM and pl.o.stream and epilogue_in_registers(&pl.o) and pl.o.sw == 1
            and (pl.o.sh * itemsize) % ALIGN == 0 and (pl.o.sc * itemsize) % ALIGN == 0
            and (pl.o.sn * itemsize) % ALIGN == 0):
        pl.row_shift = (ALIGN - <uintptr_t> pl.o.out % ALIGN) % ALIGN // itemsize
    pl.direct_out = (pl.method == METHOD_INDIRECT and pl.o.sc == 1
                     and pl.o.sh == pl.w_out * pl.o.sw and act_in_registers(&pl.o))
    plan_rows_in_place(&pl, images)
    if pl.a_rows_in_place:
        pl.x_last = (<const floating*> pl.x + (images - 1) * pl.sx_n + (pl.c_in - 1) * pl.sx_c
                     + (pl.h - 1) * pl.sx_h + (pl.w_in - 1) * pl.sx_w)
    if pl.b_in_place and not pl.b_from_phase:
        pl.grid_w = pl.w_out
        pl.grid_pixels = pl.task_pixels = pl.h_out * pl.w_out
        chunk = images
    else:
        if plan_phases(&pl) < 0:
            free_plan(&pl)
            raise MemoryError("cconv: cannot allocate the convolution plan")
        chunk = images
        if not (pl.a_in_place or pl.a_rows_in_place):
            chunk = min(max(1, PHASE_BUDGET // (pl.ph_image * itemsize)), images)
    if images * pl.c_out * pl.h_out * pl.w_out * pl.k_len < SERIAL_MACS:
        num_threads = 1
    plan_blocks(&pl, chunk, itemsize, num_threads)
    threads = <int> min(<Py_ssize_t> num_threads,
                        chunk * groups * pl.pixel_tasks * pl.m_tasks)
    # PANELS reads OIHW rows in place (MR streams: ~8% slower microkernel) unless enough
    # pixel panels reuse each weight to pay for packing (1-2 cycles per weight); half as
    # many when the rows are a multiple of 4 KiB apart: the MR streams then share one L1 set
    # and evict each other (1024 -> 256 1x1 on 14x14, 7 panels, ran 12% slower than
    # 1000 -> 256; packed, 6% faster than before; on 7x7, 2 panels, packing lost 24%).
    # INDIRECT always needs its transposed panels.
    n_blocks = groups * pl.m_units
    cdef const floating[::1] prepacked
    prepacked_obj = w_indirect if pl.method == METHOD_INDIRECT else w_panels
    if prepacked_obj is not None:
        prepacked = prepacked_obj
        pl.w = &prepacked[0]
        pl.lda = 0
        pack = False
    elif pl.method == METHOD_INDIRECT:
        pack = True
        packed_count = n_blocks * pl.k_len * pl.nr
    else:
        pack = images * pl.p_units >= (PACK_MIN_PANELS // 2
                                       if (pl.lda * itemsize) % L1_SET_SPAN == 0
                                       else PACK_MIN_PANELS)
        if pack:
            packed_count = n_blocks * pl.k_len * CC_MR
    # one allocation: the threads' buffers, the packed weights, the phase image (+ slack)
    cdef bint phase_image = not ((pl.b_in_place and not pl.b_from_phase) or pl.a_in_place
                                 or pl.a_rows_in_place)
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t cl_blocks = 0
    if phase_image and not pad_bytes and x.strides[1] == itemsize and pl.c_in > 1:
        cl_blocks = ceil_div(pl.c_in, vl)
    if phase_image:
        ph_bytes = (chunk * pl.ph_image + pl.nr + pl.grid_w) * itemsize + ALIGN
    scratch_bytes = ((threads * pl.scratch_per_thread + packed_count) * itemsize + ALIGN
                     + ph_bytes + pad_bytes)
    try:
        scratch = <char*> take_scratch(&scratch_cache, scratch_bytes)
        if scratch == NULL:
            raise MemoryError(f"cconv: cannot allocate {scratch_bytes} bytes of scratch memory")
        buf0 = <floating*> (scratch + (ALIGN - <uintptr_t> scratch % ALIGN))
        packed = buf0 + threads * pl.scratch_per_thread
        if phase_image:
            ph0 = packed + packed_count
            pl.ph = ph0
        if pad_bytes:
            xpad = <floating*> (<char*> (packed + packed_count)
                                + (ALIGN - <uintptr_t> (packed + packed_count) % ALIGN))
            pl.x = xpad
        with nogil:
            caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
            if pad_bytes:
                if threads == 1:
                    for t in range(images * h_pad):
                        copy_padded_row(&x[0, 0, 0, 0], x.strides, xpad, t, h, w_in, c_in,
                                        h_pad, w_pad, pad_top, pad_left, px)
                else:
                    for t in prange(images * h_pad, num_threads=threads, schedule='static'):
                        leave_caller_cpu(caller_cpu)
                        copy_padded_row(&x[0, 0, 0, 0], x.strides, xpad, t, h, w_in, c_in,
                                        h_pad, w_pad, pad_top, pad_left, px)
            if pack:
                if threads == 1:
                    for t in range(n_blocks):
                        pack_weights_block(&pl, &w[0], lda, t, packed)
                else:
                    for t in prange(n_blocks, num_threads=threads, schedule='static'):
                        leave_caller_cpu(caller_cpu)
                        pack_weights_block(&pl, &w[0], lda, t, packed)
                pl.w = packed
                pl.lda = 0
            n0 = 0
            while n0 < images:
                nimg = min(chunk, images - n0)
                ntasks = nimg * groups * pl.pixel_tasks * pl.m_tasks
                if phase_image:
                    pl.ph_n0 = n0
                    if cl_blocks:
                        # channels last: a vector of channels' planes at a time, transposed
                        if threads == 1:
                            for t in range(nimg * cl_blocks):
                                build_cl_block(&pl, n0, t, cl_blocks, ph0)
                        else:
                            for t in prange(nimg * cl_blocks, num_threads=threads,
                                            schedule='static'):
                                leave_caller_cpu(caller_cpu)
                                build_cl_block(&pl, n0, t, cl_blocks, ph0)
                    elif threads == 1:
                        for t in range(nimg * pl.c_in):
                            build_phase_plane(&pl.pp, &x[n0 + t // pl.c_in, t % pl.c_in, 0, 0],
                                              pl.sx_h, pl.sx_w, ph0 + t * pl.ph_channel)
                    else:
                        for t in prange(nimg * pl.c_in, num_threads=threads,
                                        schedule='static'):
                            leave_caller_cpu(caller_cpu)
                            build_phase_plane(&pl.pp, &x[n0 + t // pl.c_in, t % pl.c_in, 0, 0],
                                              pl.sx_h, pl.sx_w, ph0 + t * pl.ph_channel)
                    # grid pixels that are dropped read up to NR + grid_w past the last image
                    zero(ph0 + nimg * pl.ph_image, pl.nr + pl.grid_w)
                if threads == 1:
                    for t in range(ntasks):
                        run_task(&pl, t, n0, buf0)
                elif ntasks <= threads:
                    # a task a thread: the same makespan as taking them dynamically, but
                    # thread i always runs task i, so that a layer's split of the pixels
                    # lines up with its neighbours' in a network (the depthwise kernels give
                    # thread i the i-th share of the rows or planes) and each core reads what
                    # it wrote (2 threads, channels-last MobileNetV2 blocks, 1x1 -> 3x3
                    # depthwise -> 1x1 on 56x56: 352 -> 308 us, 28x28: 156 -> 122;
                    # MobileNetV2's forward 0.96x the time channels last, 0.99x NCHW;
                    # ResNet-18's 0.99-1.00x; with _winograd.pyx's alike)
                    for t in prange(ntasks, num_threads=threads, schedule='static'):
                        leave_caller_cpu(caller_cpu)
                        run_task(&pl, t, n0, buf0 + threadid() * pl.scratch_per_thread)
                else:
                    for t in prange(ntasks, num_threads=threads, schedule='dynamic'):
                        leave_caller_cpu(caller_cpu)
                        run_task(&pl, t, n0, buf0 + threadid() * pl.scratch_per_thread)
                n0 += nimg
    finally:
        give_scratch(&scratch_cache, scratch, scratch_bytes)
        free_plan(&pl)


cdef void pack_weights_block(const DirectPlan* pl, const floating* w, Py_ssize_t lda,
                             Py_ssize_t blk, floating* packed) noexcept nogil:
    """Weight panel blk of the plan's method, from OIHW rows."""
    pack_weight_panel(w, lda, pl.c_out_g, pl.m_units, pl.groups * pl.m_units, pl.k_len, pl.kc,
                      pl.unit_co, blk, packed)


def plan_summary(Py_ssize_t images, Py_ssize_t c_in, Py_ssize_t h, Py_ssize_t w_in,
                 Py_ssize_t c_out, Py_ssize_t groups, Py_ssize_t kh, Py_ssize_t kw,
                 Py_ssize_t stride_h, Py_ssize_t stride_w, Py_ssize_t pad_top,
                 Py_ssize_t pad_left, Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t h_out,
                 Py_ssize_t w_out, Py_ssize_t itemsize, int num_threads,
                 int method=METHOD_AUTO, bint weights_packed=False):
    """The plan conv2d_direct_nchw would make for contiguous input (for explain() and tests;
    weights_packed: a prepared convolution's, packed ahead for both methods)."""
    cdef DirectPlan pl
    pl.o.sw = 1   # a contiguous, aligned output
    pl.row_shift = 0
    init_plan(&pl, c_in, h, w_in, c_out, groups, kh, kw, stride_h, stride_w, pad_top,
              pad_left, dil_h, dil_w, h_out, w_out,
              CC_NR_F32 if itemsize == 4 else CC_NR_F64, method, True, True, False, False,
              images, weights_packed)
    pl.sx_w, pl.sx_h = 1, w_in
    pl.sx_c = h * w_in
    pl.sx_n = c_in * pl.sx_c
    pl.direct_out = False
    plan_rows_in_place(&pl, images)
    if pl.b_in_place and not pl.b_from_phase:
        pl.grid_w, pl.grid_pixels, pl.task_pixels = w_out, h_out * w_out, h_out * w_out
    elif plan_phases(&pl) < 0:
        free_plan(&pl)
        raise MemoryError()
    free_plan(&pl)
    plan_blocks(&pl, images, itemsize, max(num_threads, 1))
    return dict(method="indirect" if pl.method == METHOD_INDIRECT else "panels",
                b_in_place=bool(pl.b_in_place), b_from_phase=bool(pl.b_from_phase),
                a_rows_in_place=bool(pl.a_rows_in_place),
                c_in_place=bool(pl.c_in_place),
                grid_w=pl.grid_w, kc=pl.kc, nr=pl.nr,
                mr=CC_MR, pixel_units=pl.p_units, pixel_units_per_task=pl.p_per_task,
                channel_units=pl.m_units, channel_units_per_task=pl.m_per_task,
                tasks=images * groups * pl.pixel_tasks * pl.m_tasks,
                scratch_bytes=pl.scratch_per_thread * itemsize)
