# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: nonecheck=False, cdivision=True
"""Depthwise convolution (groups == C_in, any channel multiplier), NCHW.

Output channel oc = c * multiplier + j reads input channel c only:

    out[n, oc, oh, ow] = bias[oc] + sum_{r, s} w[oc, 0, r, s] * xpad[n, c, oh*sh + r*dh, ow*sw + s*dw]

A GEMM has nothing to block here (K = kH*kW, one output channel per weight row), and the layer
is bound by memory traffic, so each task takes one input plane: it writes its phase plane
(_phase.pxd: zero-padded, split by stride, so that every tap is a contiguous run) into a
per-thread buffer that stays in L2, then computes every output row of its `multiplier` output
channels with vectors along the row (cc_depthwise.h, up to 4 channels sharing each input
load). Input read once, output written once. Two cases skip the phase plane: small planes
(flat: computed straight from the plane with lane masks) and 3x3 at stride 1 (rows3x3: each
output row from its three input rows, the shifted taps built in registers). (Small planes
at stride 2 went through channels-last copies for a while: faster alone in cache, 2.2-3x
slower inside a network, where the copies come cold; see conv2d_depthwise_nchw.)

5x5 and 7x7 kernels, in either layout, take the channel-blocked path: vectors along a block of
channels, the rows of a band gathered zero-padded into a buffer (the layout ONNX Runtime
reorders whole tensors into); channels-last input with other kernels, the channels-last path.

The same kernel serves every convolution with one input channel per group: C_in == 1 (grey
images, spectrograms) is a depthwise convolution with multiplier C_out.

Built once per instruction set, like _direct. The caller validates every argument.
"""
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.stdint cimport uintptr_t
from cython cimport floating

from _phase cimport (PhasePlan, phase_plan_init, phase_plan_free, build_phase_plane,
                    copy_run, copy_padded_row, zero_fill, transpose, L1_SET_SPAN)
from _scratch cimport ScratchCache, take_scratch, give_scratch
from _openmp_helpers cimport cconv_current_cpu, leave_caller_cpu
from _epilogue cimport (OutputSpec, output_spec, store_run, store_pixel_major,
                       epilogue_in_registers, act_in_registers, STORE_RUN,
                       STORE_RUN_CHANNELS)

cdef extern from "cc_depthwise.h" nogil:
    const int CC_VECTOR_BYTES
    const int CC_VL_F32
    const int CC_VL_F64
    const int CC_DW_MAX_CH
    const int CC_DW_ROW_VECS
    void cc_dw_row_f32(float* tmp, Py_ssize_t ldt, const float* inp,
                       const Py_ssize_t* tap_offset, const float* w, Py_ssize_t taps,
                       Py_ssize_t w_out, int ch, const float* bias)
    void cc_dw_row_f64(double* tmp, Py_ssize_t ldt, const double* inp,
                       const Py_ssize_t* tap_offset, const double* w, Py_ssize_t taps,
                       Py_ssize_t w_out, int ch, const double* bias)
    void cc_dw3x3_nchw_rows_f32(float* out, Py_ssize_t ldo, const float* res,
                                const float* plane, Py_ssize_t ldx, Py_ssize_t h,
                                const float* zero_row, Py_ssize_t oh0, Py_ssize_t oh1,
                                Py_ssize_t stride_h, Py_ssize_t pad_top, Py_ssize_t w,
                                Py_ssize_t w_out, Py_ssize_t pad_left, int stride_w,
                                const float* wc, float bias, int act)
    void cc_dw3x3_nchw_rows_f64(double* out, Py_ssize_t ldo, const double* res,
                                const double* plane, Py_ssize_t ldx, Py_ssize_t h,
                                const double* zero_row, Py_ssize_t oh0, Py_ssize_t oh1,
                                Py_ssize_t stride_h, Py_ssize_t pad_top, Py_ssize_t w,
                                Py_ssize_t w_out, Py_ssize_t pad_left, int stride_w,
                                const double* wc, double bias, int act)
    void cc_dw_plane_f32(float* tmp, const float* inp, const Py_ssize_t* off,
                         const unsigned* lanes, const float* w, Py_ssize_t taps,
                         Py_ssize_t chunks, float bias, float* out, Py_ssize_t n_out, int act)
    void cc_dw_plane_f64(double* tmp, const double* inp, const Py_ssize_t* off,
                         const unsigned* lanes, const double* w, Py_ssize_t taps,
                         Py_ssize_t chunks, double bias, double* out, Py_ssize_t n_out,
                         int act)
    void cc_dw_split_phases_f32(float* dst, const float* src, Py_ssize_t ldx, Py_ssize_t h,
                                Py_ssize_t w)
    void cc_dw_split_phases_f64(double* dst, const double* src, Py_ssize_t ldx, Py_ssize_t h,
                                Py_ssize_t w)

    void cc_dw_pixel_f32(float* dst, const float* inp, const Py_ssize_t* off,
                         const float* const* wrow, Py_ssize_t ntaps, Py_ssize_t c,
                         const float* bias, int act)
    void cc_dw_pixel_f64(double* dst, const double* inp, const Py_ssize_t* off,
                         const double* const* wrow, Py_ssize_t ntaps, Py_ssize_t c,
                         const double* bias, int act)
    void cc_dw_square_pixels_f32(float* dst, Py_ssize_t ldd, const float* inp, Py_ssize_t px,
                                 Py_ssize_t rs, Py_ssize_t ss, int k, const float* wt,
                                 Py_ssize_t ldw, Py_ssize_t npx, Py_ssize_t c,
                                 const float* bias, int act)
    void cc_dw_square_pixels_f64(double* dst, Py_ssize_t ldd, const double* inp,
                                 Py_ssize_t px, Py_ssize_t rs, Py_ssize_t ss, int k,
                                 const double* wt, Py_ssize_t ldw, Py_ssize_t npx,
                                 Py_ssize_t c, const double* bias, int act)
    void cc_dw_gather_row_f32(float* dst, const float* src, Py_ssize_t sc, Py_ssize_t sw,
                              Py_ssize_t w, Py_ssize_t n)
    void cc_dw_gather_row_f64(double* dst, const double* src, Py_ssize_t sc, Py_ssize_t sw,
                              Py_ssize_t w, Py_ssize_t n)

cdef enum:
    ALIGN = 64
    # Below this many multiply-adds a call runs on one thread.
    SERIAL_MACS = 1 << 16
    # Values computed per sweep along a phase plane (up to CC_DW_MAX_CH rows of them in tmp,
    # 16 KiB in float32): 512 -> 1024 took 3-9% off 112x112 and 56x56 planes at 1 thread.
    SWEEP_ELEMS = 1024
    # Planes up to this many values run straight from the input (cc_dw_plane): no phase
    # plane. Its lane masks (taps x plane / VL) are made per call.
    FLAT_MAX_ELEMS = 1024
    # Planes per task on the flat path with row phases: all their splits, then their outputs
    # (DepthwisePlan.plane_group)
    PLANE_GROUP = 4
    # Channel-blocked path: a band of a block's padded input rows per task (DepthwiseBlocked),
    # at most this many bytes (it stays in L2; the kernel's window of K rows, in L1)
    BAND_BYTES = 192 * 1024
    # ... and rows of all channels of channels-last input, at most this many bytes a band
    ROWS_BYTES = 1024 * 1024


cdef ScratchCache scratch_cache  # see _scratch.pxd
scratch_cache.buffer = NULL
scratch_cache.size = 0


cdef inline void dw_row(floating* tmp, Py_ssize_t ldt, const floating* inp,
                        const Py_ssize_t* tap_offset, const floating* w, Py_ssize_t taps,
                        Py_ssize_t w_out, int ch, const floating* bias) noexcept nogil:
    if floating is float:
        cc_dw_row_f32(tmp, ldt, inp, tap_offset, w, taps, w_out, ch, bias)
    else:
        cc_dw_row_f64(tmp, ldt, inp, tap_offset, w, taps, w_out, ch, bias)


cdef struct DepthwisePlan:
    PhasePlan pp
    Py_ssize_t c_in, multiplier, taps, bands, rows_per_band
    Py_ssize_t sx_n, sx_c, sx_h, sx_w
    Py_ssize_t plane_elems       # the phase plane plus slack for the last vectors' reads
    Py_ssize_t sweep_rows        # output rows computed in one sweep
    Py_ssize_t row_elems         # one sweep's span rounded up to CC_DW_ROW_VECS vectors
    Py_ssize_t per_thread        # the phase plane, then CC_DW_MAX_CH output rows
    OutputSpec o
    # rows3x3: 3x3, stride 1, dilation 1, rows contiguous in and out: each output row
    # straight from its three input rows (cc_dw3x3_nchw_row), no phase plane
    bint rows3x3
    const void* zero_row         # w zeros: the rows above and below the input
    # flat planes (cc_dw_plane): the input plane contiguous and small; the stride-1 result
    # on the input's grid, then every stride-th row and column of it. At stride 2 along
    # even-width rows (col_phases) the plane is first split into its even and odd columns, and
    # the result computed on that half-width grid (each column a kept one): half the work
    bint flat
    bint col_phases
    # ... and at stride 2 along both axes of an even-sized plane (row_phases), into the four
    # planes of its even and odd rows and columns: the grid is then the output's own, every
    # value computed is kept, and the kernel writes the output plane itself
    bint row_phases
    Py_ssize_t grid_w            # the grid's width: W, or W / 2 with col_phases
    Py_ssize_t grid_h            # the grid's height: H, or H / 2 with row_phases
    Py_ssize_t grid_row_step     # from one output row (column) to the next on the grid
    Py_ssize_t grid_col_step
    # the grid is the output plane itself, contiguous, and at most bias and relu/relu6 to
    # apply: the kernel writes it there, not through tmp and the output pass (with
    # depthwise_task's divisions gone, 1 thread: 960 channels of 7x7 and 576 of 14x14
    # 0.83-0.87x the time)
    bint flat_direct
    Py_ssize_t planes            # images * c_in
    # planes per task (flat): every plane's split is made before any plane is computed. The
    # kernel's first reads of a split plane it had just written waited for those stores to
    # complete (a third of the kernel's samples, 576 channels of 14x14 at stride 2)
    Py_ssize_t plane_group
    Py_ssize_t split_elems       # from one plane's split to the next's
    Py_ssize_t chunks            # vectors per plane
    Py_ssize_t flat_out          # where the strided result is compacted (stride > 1)
    Py_ssize_t flat_split        # col_phases / row_phases: where the split planes go
    Py_ssize_t* flat_off         # [taps] input offset of each tap
    unsigned* flat_lanes         # [taps][chunks] the lanes that read the input


cdef inline void run_task(const DepthwisePlan* dp, const floating* x, const floating* w,
                         Py_ssize_t task, floating* buf) noexcept nogil:
    # (one call a task, to either: with the flat path's behind a second call, 960 channels
    # of 7x7 took 1.08x the time)
    if dp.flat:
        flat_planes(dp, x, w, task, buf)
    else:
        depthwise_task(dp, x, w, task, buf)


cdef void depthwise_task(const DepthwisePlan* dp, const floating* x, const floating* w,
                         Py_ssize_t task, floating* buf) noexcept nogil:
    """Input plane (n, c), output rows of band `task % bands`, every channel it feeds."""
    cdef const PhasePlan* pp = &dp.pp
    cdef const OutputSpec* o = &dp.o
    # (divisions only where needed: two per task were 5% of 960 channels of 7x7)
    cdef Py_ssize_t band = 0, plane = task
    if dp.bands > 1:
        band, plane = task % dp.bands, task // dp.bands
    cdef Py_ssize_t n = 0, c = plane
    if plane >= dp.c_in:
        n, c = plane // dp.c_in, plane % dp.c_in
    cdef Py_ssize_t oh0 = band * dp.rows_per_band
    cdef Py_ssize_t oh1 = min(oh0 + dp.rows_per_band, pp.h_out)
    cdef Py_ssize_t j0, ch, j, oh, oc, rows, r
    cdef floating* tmp = buf + dp.plane_elems
    cdef floating zeros[4]
    cdef const floating* bias
    zeros[0] = zeros[1] = zeros[2] = zeros[3] = 0
    if dp.rows3x3:
        rows3x3_task(dp, x + n * dp.sx_n + c * dp.sx_c, w, n, c, oh0, oh1)
        return
    build_phase_plane(pp, x + n * dp.sx_n + c * dp.sx_c, dp.sx_h, dp.sx_w, buf)
    j0 = 0
    while j0 < dp.multiplier:
        ch = min(<Py_ssize_t> CC_DW_MAX_CH, dp.multiplier - j0)
        oc = c * dp.multiplier + j0
        bias = zeros
        if o.bias != NULL:
            bias = <const floating*> o.bias + oc
        oh = oh0
        while oh < oh1:
            # several output rows in one sweep along the flattened phase plane: output
            # (oh + r, ow) sits at r*ph_w + ow, every tap is still one contiguous run, and
            # the ph_w - w_out values between rows are computed and dropped. Small planes
            # (7x7, 14x14) then fill whole vectors instead of one part-filled vector a row.
            rows = min(dp.sweep_rows, oh1 - oh)
            dw_row(tmp, dp.row_elems, buf + oh * pp.ph_w, pp.tap_offset, w + oc * dp.taps,
                   dp.taps, (rows - 1) * pp.ph_w + pp.w_out, <int> ch, bias)
            for r in range(rows):
                for j in range(ch):
                    store_run(o, <floating*> o.out + n * o.sn + (oc + j) * o.sc
                              + (oh + r) * o.sh, o.sw, tmp + j * dp.row_elems + r * pp.ph_w,
                              1, pp.w_out, <floating*> NULL, 0)
            oh += rows
        j0 += ch


cdef void rows3x3_task(const DepthwisePlan* dp, const floating* plane, const floating* w,
                       Py_ssize_t n, Py_ssize_t c, Py_ssize_t oh0, Py_ssize_t oh1) noexcept nogil:
    """Output rows [oh0, oh1) of every output channel of input plane (n, c), each straight
    from its three input rows: with no phase plane to build and no buffer to pass through,
    the plane is read and the output written once, in registers between (1 thread, against
    the phase plane: 32 channels of 112x112 0.253 -> 0.173 ms, 144 of 56x56 0.316 -> 0.236,
    multiplier 2 on 64 of 56x56 0.243 -> 0.206). Activations other than relu/relu6 and the
    residual then go through the output pass, a row at a time while it is in L1."""
    cdef const OutputSpec* o = &dp.o
    cdef const PhasePlan* pp = &dp.pp
    cdef const floating* res
    cdef floating* dst
    cdef floating bias
    cdef Py_ssize_t j, oc, oh, a, b
    cdef bint in_registers = act_in_registers(o)
    for j in range(dp.multiplier):
        oc = c * dp.multiplier + j
        bias = 0
        if o.bias != NULL:
            bias = (<const floating*> o.bias)[oc]
        dst = <floating*> o.out + n * o.sn + oc * o.sc
        res = NULL
        if o.residual != NULL and in_registers:   # laid out like the output
            res = <const floating*> o.residual + (dst - <floating*> o.out)
        # all the rows in one call, or (output pass after the kernel) one at a time
        oh = oh0
        while oh < oh1:
            a, b = oh, (oh1 if in_registers else oh + 1)
            if floating is float:
                cc_dw3x3_nchw_rows_f32(dst, o.sh, res, plane, dp.sx_h, pp.h,
                                       <const float*> dp.zero_row, a, b, pp.stride_h,
                                       pp.pad_top, pp.w, pp.w_out, pp.pad_left,
                                       <int> pp.stride_w, w + oc * 9, bias,
                                       o.act if in_registers else 0)
            else:
                cc_dw3x3_nchw_rows_f64(dst, o.sh, res, plane, dp.sx_h, pp.h,
                                       <const double*> dp.zero_row, a, b, pp.stride_h,
                                       pp.pad_top, pp.w, pp.w_out, pp.pad_left,
                                       <int> pp.stride_w, w + oc * 9, bias,
                                       o.act if in_registers else 0)
            if not in_registers:   # the row is still in L1
                store_run(o, dst + a * o.sh, 1, dst + a * o.sh, 1, pp.w_out,
                          <floating*> NULL, 0)
            oh = b


cdef void flat_planes(const DepthwisePlan* dp, const floating* x, const floating* w,
                      Py_ssize_t task, floating* buf) noexcept nogil:
    """Planes [task * G, task * G + G) of the flat path, G = plane_group: each one's split,
    then each one's outputs."""
    cdef Py_ssize_t p = task * dp.plane_group
    cdef Py_ssize_t count = min(dp.plane_group, dp.planes - p), n = 0, c = p, n0, c0, i
    cdef const floating* src[<int> PLANE_GROUP]
    if p >= dp.c_in:
        n, c = p // dp.c_in, p % dp.c_in
    if count == 1:
        # (one plane a task: stride 1, or stride 2 without row phases; through the loops
        # below, 960 channels of 7x7 took 1.02-1.04x the time)
        flat_plane_task(dp, split_plane(dp, x + n * dp.sx_n + c * dp.sx_c,
                                        buf + dp.flat_split), w, n, c, buf)
        return
    n0, c0 = n, c
    for i in range(count):
        src[i] = split_plane(dp, x + n * dp.sx_n + c * dp.sx_c,
                             buf + dp.flat_split + i * dp.split_elems)
        c += 1
        if c == dp.c_in:
            n, c = n + 1, 0
    n, c = n0, c0
    for i in range(count):
        flat_plane_task(dp, src[i], w, n, c, buf)
        c += 1
        if c == dp.c_in:
            n, c = n + 1, 0


cdef inline const floating* split_plane(const DepthwisePlan* dp, const floating* plane,
                                        floating* split) noexcept nogil:
    """The plane the flat kernel reads: the input plane itself, or its column phases
    (col_phases) or row and column phases (row_phases), made in split."""
    cdef const PhasePlan* pp = &dp.pp
    cdef Py_ssize_t half_plane = pp.h * dp.grid_w
    if dp.row_phases:
        # [even rows: even columns | odd columns][odd rows: ...], each H/2 x W/2
        if floating is float:
            cc_dw_split_phases_f32(split, plane, pp.w, pp.h, pp.w)
        else:
            cc_dw_split_phases_f64(split, plane, pp.w, pp.h, pp.w)
        return split
    if dp.col_phases:
        # [even columns | odd columns], each h x W/2: one strided run each (W even)
        copy_run(split, plane, half_plane, 2, True)
        copy_run(split + half_plane, plane + 1, half_plane, 2, True)
        return split
    return plane


cdef inline void flat_plane_task(const DepthwisePlan* dp, const floating* plane,
                                 const floating* w, Py_ssize_t n, Py_ssize_t c,
                                 floating* tmp) noexcept nogil:
    """Every output channel of input plane (n, c), straight from the plane (cc_dw_plane): the
    stride-1 result on the input's grid; at a larger stride (or a smaller output), every
    stride-th row and column of it, compacted (a 14x14 plane at stride 2 computes 4x the
    outputs it keeps, and still costs less than building its four phase planes). At stride 2
    along even-width rows, on the grid of the plane split into its even and odd columns:
    every column computed is kept, 2x the outputs, not 4x (1 thread: 576 channels of 14x14
    0.086 -> 0.075 ms, 144 of 28x28 0.080 -> 0.062, 5x5 multiplier 2 on 32x32 0.120 ->
    0.070)."""
    cdef const OutputSpec* o = &dp.o
    cdef const PhasePlan* pp = &dp.pp
    cdef Py_ssize_t j, oc, oh
    cdef floating bias
    cdef floating* dst
    cdef floating* res = tmp
    cdef Py_ssize_t col_step = dp.grid_col_step, row_step = dp.grid_row_step
    cdef bint direct = dp.flat_direct
    cdef Py_ssize_t n_out = pp.h_out * pp.w_out
    for j in range(dp.multiplier):
        oc = c * dp.multiplier + j
        bias = 0
        if o.bias != NULL:
            bias = (<const floating*> o.bias)[oc]
        dst = <floating*> o.out + n * o.sn + oc * o.sc
        if floating is float:
            cc_dw_plane_f32(tmp, plane, dp.flat_off, dp.flat_lanes, w + oc * dp.taps, dp.taps,
                            dp.chunks, bias, dst if direct else NULL, n_out, o.act)
        else:
            cc_dw_plane_f64(tmp, plane, dp.flat_off, dp.flat_lanes, w + oc * dp.taps, dp.taps,
                            dp.chunks, bias, dst if direct else NULL, n_out, o.act)
        if direct:
            continue
        if row_step > 1 or col_step > 1 or pp.w_out != dp.grid_w:
            res = tmp + dp.flat_out
            for oh in range(pp.h_out):   # whole-vector writes (the buffer has a vector of slack)
                copy_run(res + oh * pp.w_out, tmp + oh * row_step * dp.grid_w, pp.w_out,
                         col_step, False)
        if o.sw == 1 and o.sh == pp.w_out:
            # a contiguous output plane: one run
            store_run(o, dst, 1, res, 1, pp.h_out * pp.w_out, <floating*> NULL, 0)
        else:
            for oh in range(pp.h_out):
                store_run(o, dst + oh * o.sh, o.sw, res + oh * pp.w_out, 1, pp.w_out,
                          <floating*> NULL, 0)


cdef int plan_flat(DepthwisePlan* dp, Py_ssize_t vl) noexcept nogil:
    """The taps' offsets and lane masks of the flat-plane kernel. -1 when out of memory.
    Output q of the grid (grid_w wide, grid_h rows) reads input q + flat_off[t] for tap t;
    with col_phases the input is the split plane, and a tap's column offset ds falls in
    phase ds & 1, (ds - (ds & 1)) / 2 columns along; with row_phases its row offset dr
    likewise (phase planes in the order (row phase, column phase))."""
    cdef const PhasePlan* pp = &dp.pp
    cdef Py_ssize_t gw = dp.grid_w, gh = dp.grid_h, t, r, s, q, i, p, ih, iw, dr, ds, lo, hi
    cdef Py_ssize_t base
    dp.chunks = (gh * gw + vl - 1) // vl
    dp.flat_off = <Py_ssize_t*> malloc(dp.taps * sizeof(Py_ssize_t))
    dp.flat_lanes = <unsigned*> malloc(dp.taps * dp.chunks * sizeof(unsigned))
    if dp.flat_off == NULL or dp.flat_lanes == NULL:
        return -1
    for q in range(dp.taps * dp.chunks):
        dp.flat_lanes[q] = 0
    for t in range(dp.taps):
        r, s = t // pp.kw, t % pp.kw
        dr, ds = r * pp.dil_h - pp.pad_top, s * pp.dil_w - pp.pad_left
        base = 0
        if dp.row_phases:
            base = (dr & 1) * 2
            dr = (dr - (dr & 1)) // 2
        if dp.col_phases:
            base += ds & 1
            ds = (ds - (ds & 1)) // 2
        dp.flat_off[t] = base * gh * gw + dr * gw + ds
        # grid (ih - dr, iw - ds) reads input (ih, iw): the rows and columns inside the input
        lo, hi = max(0, -ds), min(gw, gw - ds)
        for ih in range(max(0, dr), min(gh, gh + dr)):
            p = (ih - dr) * gw + lo
            q, i = p // vl, p % vl
            for iw in range(lo, hi):
                dp.flat_lanes[t * dp.chunks + q] |= 1u << i
                i += 1
                if i == vl:
                    q, i = q + 1, 0
    return 0


# -- channels last ---------------------------------------------------------------------------
# NHWC input and output with one output channel per input channel: each output pixel's C
# channels are one vector loop over the taps that land inside the input (cc_dw_pixel), with
# the weights transposed to one row of C per tap. No phase plane, no per-plane edge work.

cdef struct ChannelsLastPlan:
    Py_ssize_t c, c_pad, h, w, h_out, w_out, kh, kw
    Py_ssize_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w
    Py_ssize_t sx_n, sx_h, sx_w
    const void* x
    const void* wt             # [kh*kw][c_pad]: tap t's weight for every channel, zero-padded
    OutputSpec o
    # per-thread scratch: tmp (w_out x c_pad values, tmp_bytes), then 2*taps tap offsets and
    # 2*taps weight rows (a pixel's own list, then the row interior's)
    Py_ssize_t tmp_bytes, per_thread


cdef inline void dw_pixel(floating* dst, const floating* x, const Py_ssize_t* off,
                          const floating** wrow, Py_ssize_t ntaps, Py_ssize_t c,
                          const floating* bias, int act) noexcept nogil:
    if floating is float:
        cc_dw_pixel_f32(dst, x, off, wrow, ntaps, c, bias, act)
    else:
        cc_dw_pixel_f64(dst, x, off, wrow, ntaps, c, bias, act)


cdef inline Py_ssize_t list_taps(const ChannelsLastPlan* p, Py_ssize_t ih0, Py_ssize_t iw0,
                                 bint every_column, Py_ssize_t* off,
                                 const floating** wrow) noexcept nogil:
    """The taps of the window at input (ih0, iw0) that land inside the input: their input
    offsets (from the image) and weight rows; every_column: the columns are known to be inside
    (a row's interior, iw0 = 0: offsets then from the window's first column). Returns how many."""
    cdef Py_ssize_t r, s, ih, iw, ntaps = 0
    cdef const floating* wt = <const floating*> p.wt
    for r in range(p.kh):
        ih = ih0 + r * p.dil_h
        if ih < 0 or ih >= p.h:
            continue
        for s in range(p.kw):
            iw = iw0 + s * p.dil_w
            if not every_column and (iw < 0 or iw >= p.w):
                continue
            off[ntaps] = ih * p.sx_h + iw * p.sx_w
            wrow[ntaps] = wt + (r * p.kw + s) * p.c_pad
            ntaps += 1
    return ntaps


cdef inline void dw_square_pixels(floating* dst, Py_ssize_t ldd, const floating* x,
                                  Py_ssize_t px, Py_ssize_t rs, Py_ssize_t ss, int k,
                                  const floating* wt, Py_ssize_t ldw, Py_ssize_t npx,
                                  Py_ssize_t c, const floating* bias, int act) noexcept nogil:
    if floating is float:
        cc_dw_square_pixels_f32(dst, ldd, x, px, rs, ss, k, wt, ldw, npx, c, bias, act)
    else:
        cc_dw_square_pixels_f64(dst, ldd, x, px, rs, ss, k, wt, ldw, npx, c, bias, act)


cdef void channels_last_row(const ChannelsLastPlan* p, Py_ssize_t row,
                            floating* tmp) noexcept nogil:
    """Output row `row` (image row // h_out, row row % h_out), with the thread's scratch at tmp
    (ChannelsLastPlan). A row of a 3x3, 5x5 or 7x7 kernel whose taps all lie inside the
    input computes its interior pixels with cc_dw_square_pixels; the other pixels list the
    taps that land inside the input (once for the row's interior, per pixel at its ends).
    Bias and relu/relu6 are applied as the kernels write the output; a residual or another
    activation goes through tmp (w_out x c_pad) and the output pass."""
    cdef Py_ssize_t n = row // p.h_out, oh = row % p.h_out
    cdef Py_ssize_t ih0 = oh * p.stride_h - p.pad_top, iw0, ow, ntaps, nrow
    cdef const floating* x = <const floating*> p.x + n * p.sx_n
    cdef const OutputSpec* o = &p.o
    cdef floating* dst = <floating*> o.out + n * o.sn + oh * o.sh
    cdef Py_ssize_t taps = p.kh * p.kw
    cdef Py_ssize_t* off = <Py_ssize_t*> (<char*> tmp + p.tmp_bytes)
    cdef const floating** wrow = <const floating**> (off + 2 * taps)
    cdef bint direct = epilogue_in_registers(o)
    cdef floating* y = dst if direct else tmp
    cdef Py_ssize_t ldy = o.sw if direct else p.c_pad
    cdef const floating* bias = <const floating*> o.bias if direct else NULL
    cdef int act = o.act if direct else 0
    # interior pixels: [ow_lo, ow_hi) read no padding columns
    cdef Py_ssize_t ow_lo = min(p.w_out, (p.pad_left + p.stride_w - 1) // p.stride_w)
    cdef Py_ssize_t ow_hi = ow_lo
    if p.w - (p.kw - 1) * p.dil_w + p.pad_left > 0:
        ow_hi = max(ow_lo, min(p.w_out, (p.w - (p.kw - 1) * p.dil_w + p.pad_left - 1)
                               // p.stride_w + 1))
    # the interior's taps (second half of the lists), from each window's first column
    nrow = list_taps(p, ih0, 0, True, off + taps, wrow + taps)
    if p.kh == p.kw and p.kw in (3, 5, 7) and nrow == taps and ow_hi > ow_lo:
        dw_square_pixels(y + ow_lo * ldy, ldy,
                         x + ih0 * p.sx_h + (ow_lo * p.stride_w - p.pad_left) * p.sx_w,
                         p.stride_w * p.sx_w, p.dil_h * p.sx_h, p.dil_w * p.sx_w, <int> p.kw,
                         <const floating*> p.wt, p.c_pad, ow_hi - ow_lo, p.c, bias, act)
    else:
        for ow in range(ow_lo, ow_hi):
            iw0 = ow * p.stride_w - p.pad_left
            dw_pixel(y + ow * ldy, x + iw0 * p.sx_w, off + taps, wrow + taps, nrow, p.c,
                     bias, act)
    # the ends of the row: each pixel's own list
    for ow in range(p.w_out):
        if ow_lo <= ow < ow_hi:
            continue
        ntaps = list_taps(p, ih0, ow * p.stride_w - p.pad_left, False, off, wrow)
        dw_pixel(y + ow * ldy, x, off, wrow, ntaps, p.c, bias, act)
    if not direct:
        for ow in range(p.w_out):
            store_run(o, dst + ow * o.sw, 1, tmp + ow * p.c_pad, 1, p.c,
                      <const floating*> o.bias, 1)


cdef void pack_taps_major(const floating* w, Py_ssize_t c, Py_ssize_t c_pad, Py_ssize_t taps,
                          floating* dst) noexcept nogil:
    """dst[t][ch] = w[ch][t] (the channels-last kernel's vectors run along the channels),
    channels c..c_pad zero. Transposed in registers, VL taps at a time: per call (conv2d
    without a prepared layer) the element loop took 20-30 us of 1152 channels of 5x5 on 7x7,
    a third of the layer."""
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t t = 0
    while t < taps:
        transpose(dst + t * c_pad, c_pad, w + t, taps, c, <int> min(vl, taps - t))
        t += vl
    if c < c_pad:
        for t in range(taps):
            zero_fill(dst + t * c_pad + c, c_pad - c)


def taps_major_size(Py_ssize_t c, Py_ssize_t taps, Py_ssize_t itemsize):
    """Elements of pack_weights_taps_major's output for c channels of taps taps."""
    return taps * round_up(c, (CC_VL_F32 if itemsize == 4 else CC_VL_F64))


def pack_weights_taps_major(const floating[::1] w, Py_ssize_t taps, floating[::1] out):
    """The (C, 1, kH, kW) depthwise weights w (flattened) as the channels-last kernel reads
    them, into out (taps_major_size elements): a prepared layer packs them once (per call,
    the transposition took ~60 us of a MobileNetV2 forward's ~8 ms)."""
    cdef Py_ssize_t c = w.shape[0] // taps
    with nogil:
        pack_taps_major(&w[0], c, out.shape[0] // taps, taps, &out[0])


cdef int depthwise_channels_last(const floating* x, const Py_ssize_t* shape,
                                 const Py_ssize_t* strides, const floating[::1] w,
                                 const floating* w_taps, Py_ssize_t h_out, Py_ssize_t w_out,
                                 Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride_h,
                                 Py_ssize_t stride_w, Py_ssize_t pad_top, Py_ssize_t pad_left,
                                 Py_ssize_t dil_h, Py_ssize_t dil_w, int threads,
                                 const OutputSpec* o) except -1:
    """The input x: shape (N, C, H, W), strides in bytes, channels contiguous (strides[1]
    is the item size); output through o. w_taps: the weights packed by
    pack_weights_taps_major, or NULL (packed here)."""
    cdef ChannelsLastPlan p
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t taps = kh * kw, t, c, rows
    cdef int caller_cpu
    p.c, p.h, p.w = shape[1], shape[2], shape[3]
    p.c_pad = round_up(p.c, vl)
    p.h_out, p.w_out = h_out, w_out
    p.kh, p.kw, p.stride_h, p.stride_w = kh, kw, stride_h, stride_w
    p.pad_top, p.pad_left, p.dil_h, p.dil_w = pad_top, pad_left, dil_h, dil_w
    p.sx_n, p.sx_h, p.sx_w = strides[0] // itemsize, strides[2] // itemsize, strides[3] // itemsize
    p.x = x
    p.o = o[0]
    rows = shape[0] * p.h_out
    threads = <int> min(<Py_ssize_t> threads, rows)
    p.tmp_bytes = round_up(p.w_out * p.c_pad * itemsize, ALIGN)
    p.per_thread = p.tmp_bytes + round_up(2 * taps * (sizeof(Py_ssize_t) + sizeof(void*)), ALIGN)
    cdef Py_ssize_t wt_bytes = 0 if w_taps != NULL else round_up(taps * p.c_pad * itemsize, ALIGN)
    # Pixels a multiple of 1 KiB apart (256, 512, 1024 float32 channels): a block's 30 input
    # vectors would fall in one to four L1 sets and evict each other before their reuse by the
    # next block and row (1024 channels on 14x14 took 3.7x the time of 1008, 512 2x that of
    # 496). Such an input is read from a copy whose pixels are a cache line further apart.
    cdef Py_ssize_t images = shape[0], pixels = shape[0] * p.h * p.w
    cdef Py_ssize_t px = p.c + ALIGN // itemsize
    cdef bint aliased = taps > 1 and strides[3] % (L1_SET_SPAN // 4) == 0
    cdef Py_ssize_t copy_bytes = round_up(pixels * px * itemsize, ALIGN) if aliased else 0
    # kept between calls (_scratch.pxd): the copy of a large input is an mmap, its page
    # faults paid on every call
    cdef size_t scratch_bytes = wt_bytes + threads * p.per_thread + copy_bytes + ALIGN
    cdef char* scratch = <char*> take_scratch(&scratch_cache, scratch_bytes)
    if scratch == NULL:
        raise MemoryError("cconv: cannot allocate the convolution's scratch memory")
    cdef char* wt = scratch + (ALIGN - <uintptr_t> scratch % ALIGN)
    cdef char* buf0 = wt + wt_bytes
    cdef floating* xcopy = <floating*> (buf0 + threads * p.per_thread)
    try:
        with nogil:
            caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
            if aliased:   # unpadded: the kernels handle the borders
                for t in prange(images * p.h, num_threads=threads, schedule='static'):
                    leave_caller_cpu(caller_cpu)
                    copy_padded_row(x, strides, xcopy, t, p.h, p.w, p.c, p.h, p.w, 0, 0, px)
                p.x = xcopy
                p.sx_n, p.sx_h, p.sx_w = p.h * p.w * px, p.w * px, px
            if w_taps != NULL:
                p.wt = w_taps
            else:
                pack_taps_major(&w[0], p.c, p.c_pad, taps, <floating*> wt)
                p.wt = wt
            if threads == 1:
                for t in range(rows):
                    channels_last_row(&p, t, <floating*> buf0)
            else:
                for t in prange(rows, num_threads=threads, schedule='static'):
                    leave_caller_cpu(caller_cpu)
                    channels_last_row(&p, t, <floating*> (buf0 + threadid() * p.per_thread))
    finally:
        give_scratch(&scratch_cache, scratch, scratch_bytes)
    return 0


# -- channel-blocked -------------------------------------------------------------------------
# 5x5 and 7x7 kernels in either layout: each task takes a block of VL channels of one image
# and a band of its output rows, gathers the band's input rows, zero-padded, into a buffer
# with one vector of the block's channels per pixel (NCHW: transposed in registers), and
# computes each output row with cc_dw_square_pixels, one FMA per tap of a vector of
# channels. The kernel's window of K padded rows (W x 64 bytes each) stays in L1, where
# NCHW rows read through unaligned loads along the row (most of them split across cache
# lines) and NHWC rows of all C channels (K x 21 KiB for 96 channels of 56) did not: 7x7,
# 96 channels of 56x56, 1 thread: NCHW 0.59 ms, NHWC 0.71 ms before (ONNX Runtime, which
# reorders to the same kind of layout, 0.41). The output leaves a row at a time: NHWC
# straight from the kernel (bias and relu/relu6 in registers), otherwise through
# store_pixel_major.

cdef struct BlockedPlan:
    Py_ssize_t c, c_pad, cblocks, h, w, h_out, w_out, k
    Py_ssize_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w
    Py_ssize_t sx_n, sx_c, sx_h, sx_w
    Py_ssize_t w_pad, band_rows, bands
    # band_major: a thread's share of the tasks is a run of output rows, every channel block
    # of them, not a run of channel blocks. With channels-last output split by blocks, 2
    # threads were slower than 1 on 64 channels of 28x28 (55 us against 35; by rows 20).
    # The cause is not pinned down: those arrays were not 64-byte aligned, so every vector
    # of the output straddled two cache lines, and 768 channels of 7x7 took 36 us at 2
    # threads aligned, 50-55 not. Not when each band would be shorter than the kernel, its
    # extra k - 1 rows gathered again (768 channels of 7x7: 54 us as bands).
    bint band_major
    const void* x
    const void* wt             # [k*k][c_pad] (pack_taps_major), or NULL: ...
    const void* weights        # ... each task packs its block's from the (C, 1, k, k) ones
    OutputSpec o
    # per-thread scratch: the band (rows_in x w_pad x VL), tmp, runs, the block's weights
    Py_ssize_t band_elems, tmp_elems, per_thread


cdef inline void gather_row(floating* dst, const floating* src, Py_ssize_t sc, Py_ssize_t sw,
                            Py_ssize_t w, Py_ssize_t n) noexcept nogil:
    if floating is float:
        cc_dw_gather_row_f32(dst, src, sc, sw, w, n)
    else:
        cc_dw_gather_row_f64(dst, src, sc, sw, w, n)


cdef void blocked_task(const BlockedPlan* p, Py_ssize_t task, floating* buf) noexcept nogil:
    """Task = (image, channel block, band of output rows): image outermost, then the channel
    blocks (or the bands: BlockedPlan.band_major)."""
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t n = task // (p.bands * p.cblocks), r = task % (p.bands * p.cblocks)
    cdef Py_ssize_t band = r // p.cblocks if p.band_major else r % p.bands
    cdef Py_ssize_t cb = r % p.cblocks if p.band_major else r // p.bands
    cdef Py_ssize_t c0 = cb * vl
    cdef Py_ssize_t nc = min(vl, p.c - c0)
    cdef Py_ssize_t oh0 = band * p.band_rows, oh1 = min(oh0 + p.band_rows, p.h_out)
    cdef Py_ssize_t ih0 = oh0 * p.stride_h - p.pad_top
    cdef Py_ssize_t rows_in = (oh1 - oh0 - 1) * p.stride_h + (p.k - 1) * p.dil_h + 1
    cdef Py_ssize_t row_elems = p.w_pad * vl, i, ih, oh, q, m
    cdef Py_ssize_t left = p.pad_left * vl, inner = p.w * vl
    cdef const floating* x = <const floating*> p.x + n * p.sx_n + c0 * p.sx_c
    cdef floating* tmp = buf + p.band_elems
    cdef floating* runs = tmp + p.tmp_elems
    cdef floating* wblock = runs + STORE_RUN_CHANNELS * STORE_RUN
    cdef const floating* wt = <const floating*> p.wt + c0
    cdef Py_ssize_t ldw = p.c_pad, taps = p.k * p.k
    cdef floating* row
    cdef const OutputSpec* o = &p.o
    cdef floating* dst
    cdef const floating* bias = <const floating*> o.bias
    cdef floating bias_block[16]   # >= VL: a last partial block's bias, zero-padded
    cdef bint in_registers = epilogue_in_registers(o)
    # NHWC: the kernel writes the output; NCHW rows: it writes tmp, transposed into them
    cdef bint direct = in_registers and o.sc == 1 and nc == vl
    cdef bint transposed = in_registers and o.sw == 1 and not direct
    if bias != NULL:
        # the kernel reads a whole vector of bias: past the array's end in a partial block
        for i in range(vl):
            bias_block[i] = bias[c0 + i] if i < nc else 0
        bias = bias_block
    if p.wt == NULL:
        # per call: the block's weights packed here, by the thread that reads them (packed
        # for all blocks by the calling thread, the other thread's reads of them crossed
        # cores: 2 threads took as long as 1 on 768 channels of 7x7)
        pack_taps_major(<const floating*> p.weights + c0 * taps, nc, vl, taps, wblock)
        wt, ldw = wblock, vl
    for i in range(rows_in):
        ih = ih0 + i
        row = buf + i * row_elems
        if ih < 0 or ih >= p.h:
            zero_fill(row, row_elems)
            continue
        zero_fill(row, left)
        gather_row(row + left, x + ih * p.sx_h, p.sx_c, p.sx_w, p.w, nc)
        zero_fill(row + left + inner, row_elems - left - inner)
    for oh in range(oh0, oh1):
        dst = <floating*> o.out + n * o.sn + oh * o.sh
        row = buf + (oh - oh0) * p.stride_h * row_elems
        if direct:
            dw_square_pixels(dst + c0, o.sw, row, p.stride_w * vl, p.dil_h * row_elems,
                             p.dil_w * vl, <int> p.k, wt, ldw, p.w_out, vl, bias, o.act)
            continue
        dw_square_pixels(tmp, vl, row, p.stride_w * vl, p.dil_h * row_elems, p.dil_w * vl,
                         <int> p.k, wt, ldw, p.w_out, vl, bias if transposed else NULL,
                         o.act if transposed else 0)
        if transposed:
            transpose(dst + c0 * o.sc, o.sc, tmp, vl, p.w_out, <int> nc)
            continue
        q = 0
        while q < p.w_out:
            m = min(<Py_ssize_t> STORE_RUN, p.w_out - q)
            store_pixel_major(o, dst + c0 * o.sc + q * o.sw, tmp + q * vl, vl, m, nc, bias,
                              runs)
            q += m


cdef int depthwise_blocked(const floating* x, const Py_ssize_t* shape,
                           const Py_ssize_t* strides, const floating[::1] w,
                           const floating* w_taps, Py_ssize_t h_out, Py_ssize_t w_out,
                           Py_ssize_t k, Py_ssize_t stride_h, Py_ssize_t stride_w,
                           Py_ssize_t pad_top, Py_ssize_t pad_left, Py_ssize_t dil_h,
                           Py_ssize_t dil_w, int threads, const OutputSpec* o) except -1:
    """A square k x k depthwise layer (one output channel per input channel) through the
    channel-blocked path. x: shape (N, C, H, W), strides in bytes (any); output through o.
    w_taps: the weights packed by pack_weights_taps_major, or NULL (packed here)."""
    cdef BlockedPlan p
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    cdef Py_ssize_t taps = k * k, t, ntasks, images = shape[0], span, rows_max
    cdef int caller_cpu
    p.c, p.h, p.w = shape[1], shape[2], shape[3]
    p.c_pad = round_up(p.c, vl)
    p.cblocks = p.c_pad // vl
    p.h_out, p.w_out, p.k = h_out, w_out, k
    p.stride_h, p.stride_w, p.pad_top, p.pad_left = stride_h, stride_w, pad_top, pad_left
    p.dil_h, p.dil_w = dil_h, dil_w
    p.sx_n, p.sx_c = strides[0] // itemsize, strides[1] // itemsize
    p.sx_h, p.sx_w = strides[2] // itemsize, strides[3] // itemsize
    p.x = x
    p.o = o[0]
    # padded row: every column a window reads (the right padding included)
    p.w_pad = max(p.w + pad_left, (w_out - 1) * stride_w + (k - 1) * dil_w + 1)
    span = (k - 1) * dil_h + 1
    rows_max = max(span, BAND_BYTES // (p.w_pad * vl * itemsize))
    p.band_rows = max(1, (rows_max - span) // stride_h + 1)
    p.bands = (h_out + p.band_rows - 1) // p.band_rows
    p.band_major = (threads > 1 and o.sc == 1 and images < 2 * threads
                    and h_out >= threads * k)
    if p.sx_c == 1 and h_out >= threads * k:
        # channels-last input: every block's gather reads the band's pixels, a cache line of
        # each in turn; bands whose rows of all channels stay in L2 meanwhile, taken a band at
        # a time, read the input from memory once, not once per block
        p.band_major = True
        rows_max = max(span, ROWS_BYTES // (p.w * p.c * itemsize))
        p.band_rows = min(p.band_rows, max(1, (rows_max - span) // stride_h + 1))
        p.bands = (h_out + p.band_rows - 1) // p.band_rows
    if p.band_major and images * p.bands < threads:
        # a run of rows for each thread
        p.bands = min(h_out, (threads + images - 1) // images)
    elif threads > 1 and images * p.cblocks * p.bands < 2 * threads:
        # too few blocks to share: narrower bands (each gathers its k - 1 extra rows again)
        p.bands = min(h_out, (2 * threads + images * p.cblocks - 1) // (images * p.cblocks))
    p.band_rows = (h_out + p.bands - 1) // p.bands
    p.bands = (h_out + p.band_rows - 1) // p.band_rows
    ntasks = images * p.cblocks * p.bands
    threads = <int> min(<Py_ssize_t> threads, ntasks)
    p.band_elems = round_up(((p.band_rows - 1) * stride_h + span) * p.w_pad * vl,
                            ALIGN // itemsize)
    p.tmp_elems = round_up(w_out * vl, ALIGN // itemsize)
    p.per_thread = (p.band_elems + p.tmp_elems + STORE_RUN_CHANNELS * STORE_RUN
                    + round_up(taps * vl, ALIGN // itemsize))
    p.wt, p.weights = w_taps, &w[0]
    cdef size_t scratch_bytes = threads * p.per_thread * itemsize + ALIGN
    cdef char* scratch = <char*> take_scratch(&scratch_cache, scratch_bytes)
    if scratch == NULL:
        raise MemoryError("cconv: cannot allocate the convolution's scratch memory")
    cdef floating* buf0 = <floating*> (scratch + (ALIGN - <uintptr_t> scratch % ALIGN))
    try:
        with nogil:
            if threads == 1:
                for t in range(ntasks):
                    blocked_task(&p, t, buf0)
            else:
                caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
                for t in prange(ntasks, num_threads=threads, schedule='static'):
                    leave_caller_cpu(caller_cpu)
                    blocked_task(&p, t, buf0 + threadid() * p.per_thread)
    finally:
        give_scratch(&scratch_cache, scratch, scratch_bytes)
    return 0


def conv2d_depthwise_nchw(const floating[:, :, :, :] x, const floating[::1] w, bias,
                          floating[:, :, :, :] out, Py_ssize_t kh, Py_ssize_t kw,
                          Py_ssize_t stride_h, Py_ssize_t stride_w, Py_ssize_t pad_top,
                          Py_ssize_t pad_left, Py_ssize_t dil_h, Py_ssize_t dil_w,
                          int num_threads, residual=None, int act=0, double alpha=0,
                          w_taps=None):
    """out = act(depthwise conv2d(x, w) + bias + residual), groups = C_in, C_out =
    multiplier * C_in.

    x: (N, C_in, H, W) and out: (N, C_out, H_out, W_out), any strides that are multiples of
    the item size (every element of out written); w: the (C_out, 1, kH, kW) weights flattened
    C-contiguous; bias: None or C-contiguous (C_out,); residual: None or an array with out's
    shape and strides. GIL released; up to num_threads threads. w_taps: None, or the weights
    from pack_weights_taps_major (used when the input is channels last).
    """
    cdef DepthwisePlan dp
    cdef const floating[::1] w_taps_view
    cdef const floating* w_taps_ptr = NULL
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef Py_ssize_t images = x.shape[0], planes, ntasks, t, chunk, max_off
    cdef int threads = num_threads, caller_cpu
    cdef char* scratch = NULL
    cdef floating* buf0
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    if images == 0 or out.shape[1] == 0:
        return
    dp.pp.h, dp.pp.w, dp.pp.kh, dp.pp.kw = x.shape[2], x.shape[3], kh, kw
    dp.pp.stride_h, dp.pp.stride_w, dp.pp.pad_top, dp.pp.pad_left = (stride_h, stride_w,
                                                                    pad_top, pad_left)
    dp.pp.dil_h, dp.pp.dil_w = dil_h, dil_w
    dp.pp.h_out, dp.pp.w_out = out.shape[2], out.shape[3]
    dp.c_in = x.shape[1]
    dp.multiplier = out.shape[1] // dp.c_in
    dp.taps = kh * kw
    dp.sx_n = x.strides[0] // itemsize
    dp.sx_c = x.strides[1] // itemsize
    dp.sx_h = x.strides[2] // itemsize
    dp.sx_w = x.strides[3] // itemsize
    output_spec(&dp.o, out, residual, bias, act, alpha, False)
    if w_taps is not None:
        w_taps_view = w_taps
        if w_taps_view.shape[0] != dp.taps * ((dp.c_in + vl - 1) // vl * vl):
            raise ValueError("w_taps: not this layer's pack_weights_taps_major output")
        w_taps_ptr = &w_taps_view[0]
    # 5x5 and 7x7: the channel-blocked path, unless its last block would be mostly padding
    # lanes (it computes whole blocks: 17 channels of 64x64 5x5 took 1.3x the time of the
    # planes' way at 1 thread, 1.6x at 2; 20 channels of 28x28 7x7 0.4x). 3x3 stays on the
    # planes' kernels, faster on every MobileNetV2 layer tried (by 1.1-1.75x)
    if (dp.multiplier == 1 and kh == kw and (kw == 5 or kw == 7) and dp.c_in >= vl
            and 5 * dp.c_in >= 3 * round_up(dp.c_in, vl)
            and dp.sx_c > 0 and dp.sx_h > 0 and dp.sx_w > 0):
        if images * dp.c_in * dp.pp.h_out * dp.pp.w_out * dp.taps < SERIAL_MACS:
            threads = 1
        depthwise_blocked(&x[0, 0, 0, 0], x.shape, x.strides, w, w_taps_ptr, out.shape[2],
                          out.shape[3], kh, stride_h, stride_w, pad_top, pad_left, dil_h,
                          dil_w, threads, &dp.o)
        return
    if (dp.sx_c == 1 and out.strides[1] == itemsize and dp.multiplier == 1
            and dp.c_in >= vl):
        # channels last: vectors along the channels (a plane's rows are C values apart)
        if images * dp.c_in * dp.pp.h_out * dp.pp.w_out * dp.taps < SERIAL_MACS:
            threads = 1
        depthwise_channels_last(&x[0, 0, 0, 0], x.shape, x.strides, w, w_taps_ptr,
                                out.shape[2], out.shape[3], kh, kw, stride_h, stride_w,
                                pad_top, pad_left, dil_h, dil_w, threads, &dp.o)
        return
    dp.flat_off = NULL
    dp.flat_lanes = NULL
    # flat: the kept outputs lie on the input's grid (rows and columns (o*stride))
    dp.flat = (stride_h * (dp.pp.h_out - 1) < dp.pp.h and stride_w * (dp.pp.w_out - 1) < dp.pp.w
               and dp.sx_w == 1 and dp.sx_h == dp.pp.w and dp.pp.h * dp.pp.w <= FLAT_MAX_ELEMS)
    # the flat kernel on the plane's four phases (stride 2, even sizes: row_phases below)
    cdef bint four_phases = (stride_h == 2 and stride_w == 2 and dp.pp.h % 2 == 0
                             and dp.pp.w % 2 == 0)
    # rows3x3 also takes small planes whose output rows fill 7/8 of their vectors, when they
    # are two vectors or more, or at stride 2 (where the flat kernel computes twice the
    # outputs it keeps) unless on the four phases. 1 thread, AVX-512, flat -> rows: 192
    # channels of 28x28 0.089 -> 0.073 ms, 32 x 64 of 28x28 0.82 -> 0.77, 144 of 28x28 at
    # stride 2 0.047 -> 0.033 (with four phases rows -> flat: 0.045 -> 0.032, 192 of 28x28
    # 0.059 -> 0.040; 32x32 the same; past FLAT_MAX_ELEMS four phases lost: 144 of 56x56
    # 0.166 -> 0.198, 32 of 64x64 0.036 -> 0.051); but 576 of 14x14 0.070 -> 0.091, 960 of
    # 7x7 0.044 -> 0.099, 576 of 14x14 at stride 2 0.058 -> 0.071, 96 of 28x20 0.052 ->
    # 0.072: those stay flat. Only with 64-byte vectors (a shifted tap is one valignd; on
    # AVX2 two or three shuffles, and the flat kernel was faster on every small plane tried:
    # 192 of 28x28 0.12 -> 0.145 ms if taken)
    cdef Py_ssize_t nvec = (dp.pp.w_out + vl - 1) // vl
    dp.rows3x3 = (kh == 3 and kw == 3 and stride_w <= 2 and dil_h == 1
                  and dil_w == 1 and dp.sx_w == 1 and dp.o.sw == 1
                  and (not dp.flat
                       or (CC_VECTOR_BYTES == 64 and 8 * dp.pp.w_out >= 7 * nvec * vl
                           and (nvec >= 2 or (stride_w == 2 and not four_phases)))))
    dp.flat = dp.flat and not dp.rows3x3
    # Small planes at stride 2 stay here, not through channels-last copies of the planes and
    # the channels-last kernel: alone and in cache that detour was faster (1 thread, 576
    # channels of 14x14: 0.040 against 0.058 ms), but inside MobileNetV2, its copies cold,
    # it took 0.216 ms against 0.075 (batch 1, 1 thread; 2 threads 0.141 / 0.063; batch 8
    # 1.71 / 0.56 ms), the forward 1.00-1.03x the time of this way.
    dp.col_phases = dp.flat and stride_w == 2 and dp.pp.w % 2 == 0
    dp.row_phases = dp.col_phases and four_phases
    dp.grid_w = dp.pp.w // 2 if dp.col_phases else dp.pp.w
    dp.grid_h = dp.pp.h // 2 if dp.row_phases else dp.pp.h
    dp.plane_group = PLANE_GROUP if dp.row_phases else 1
    dp.grid_row_step = 1 if dp.row_phases else stride_h
    dp.grid_col_step = 1 if dp.col_phases else stride_w
    dp.flat_direct = (dp.grid_row_step == 1 and dp.grid_col_step == 1
                      and dp.pp.w_out == dp.grid_w and dp.pp.h_out == dp.grid_h
                      and dp.o.sw == 1 and dp.o.sh == dp.pp.w_out
                      and epilogue_in_registers(&dp.o))
    dp.split_elems = 0
    try:
        if dp.flat and plan_flat(&dp, vl) < 0:
            raise MemoryError("cconv: cannot allocate the convolution plan")
        if phase_plan_init(&dp.pp) < 0:
            raise MemoryError("cconv: cannot allocate the convolution plan")
        dp.plane_elems = round_up(dp.pp.n_phases * dp.pp.ph_plane + dp.pp.ph_w
                                  + CC_DW_ROW_VECS * vl,
                                  ALIGN // itemsize)
        # rows per sweep: a span of about SWEEP_ELEMS values (the sweep's results stay in L1)
        dp.sweep_rows = max(1, min(dp.pp.h_out, SWEEP_ELEMS // dp.pp.ph_w))
        dp.row_elems = round_up((dp.sweep_rows - 1) * dp.pp.ph_w + dp.pp.w_out,
                                CC_DW_ROW_VECS * vl)
        dp.per_thread = dp.plane_elems + CC_DW_MAX_CH * dp.row_elems
        if dp.flat:
            # the stride-1 plane, then the compacted one (whole-vector writes: + a vector)
            dp.flat_out = round_up(dp.chunks * vl, ALIGN // itemsize)
            dp.flat_split = dp.flat_out + round_up(dp.pp.h_out * dp.pp.w_out + vl,
                                                   ALIGN // itemsize)
            dp.per_thread = dp.flat_split
            if dp.col_phases:
                # the split plane, then a guard as long as the kernel's masked loads reach
                # past it (their lanes off, their lines still touched): without it they
                # touched the next thread's buffer as it was written, and 2 threads took as
                # long as 1 (576 channels of 14x14 at stride 2: 2 threads 60-92 us, 1 thread
                # 59-74; with the guard 50 against 62)
                max_off = 0
                for t in range(dp.taps):
                    max_off = max(max_off, dp.flat_off[t])
                dp.split_elems = round_up(dp.pp.h * dp.pp.w, ALIGN // itemsize)
                dp.per_thread += ((dp.plane_group - 1) * dp.split_elems
                                  + round_up(max(dp.pp.h * dp.pp.w, dp.chunks * vl + max_off)
                                             + ALIGN // itemsize, ALIGN // itemsize))
        planes = dp.planes = images * dp.c_in
        if planes * dp.multiplier * dp.pp.h_out * dp.pp.w_out * dp.taps < SERIAL_MACS:
            threads = 1
        # Split output rows into bands only when there are too few planes to share out;
        # each band rebuilds its plane's phases.
        dp.bands = 1
        if threads > 1 and planes < 4 * threads and not dp.flat:
            dp.bands = min(dp.pp.h_out, (4 * threads + planes - 1) // planes)
        dp.rows_per_band = (dp.pp.h_out + dp.bands - 1) // dp.bands
        dp.bands = (dp.pp.h_out + dp.rows_per_band - 1) // dp.rows_per_band
        ntasks = planes * dp.bands
        if dp.flat:
            ntasks = (planes + dp.plane_group - 1) // dp.plane_group
        threads = <int> min(<Py_ssize_t> threads, ntasks)
        chunk = max(1, ntasks // (16 * threads))
        if dp.rows3x3:
            dp.per_thread = 0   # no phase plane; one row of zeros, read by every thread
        scratch = <char*> malloc((threads * dp.per_thread + dp.pp.w) * itemsize + ALIGN)
        if scratch == NULL:
            raise MemoryError("cconv: cannot allocate the convolution's scratch memory")
        buf0 = <floating*> (scratch + (ALIGN - <uintptr_t> scratch % ALIGN))
        dp.zero_row = buf0 + threads * dp.per_thread
        with nogil:
            zero_tail(<floating*> dp.zero_row, 0, dp.pp.w if dp.rows3x3 else 0)
            # the slack read by the last vector of a row is defined (then ignored)
            for t in range(threads if not (dp.flat or dp.rows3x3) else 0):
                zero_tail(buf0 + t * dp.per_thread, dp.pp.n_phases * dp.pp.ph_plane,
                          dp.plane_elems)
            if threads == 1:
                for t in range(ntasks):
                    run_task(&dp, &x[0, 0, 0, 0], &w[0], t, buf0)
            elif images == 1:
                # one image: each thread its equal share of the planes, no scheduling at all
                # (2 threads, against the dynamic chunks below: 256 channels of 8x8 0.64-0.68x
                # the time, 960 of 7x7 0.82-0.86x, 14x14 to 112x112 planes 0.81-0.91x;
                # MobileNetV2's forward 0.98x at batch 1, 1.02x at batch 8: dynamic there)
                caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
                for t in prange(ntasks, num_threads=threads, schedule='static'):
                    leave_caller_cpu(caller_cpu)
                    run_task(&dp, &x[0, 0, 0, 0], &w[0], t,
                                   buf0 + threadid() * dp.per_thread)
            else:
                # chunks of tasks, about 16 a thread: one 7x7 plane is ~50 ns of work, and
                # taking the tasks one at a time (an atomic add on a line both cores write)
                # cost as much (960 channels of 7x7 at 2 threads barely beat 1 thread)
                caller_cpu = cconv_current_cpu()   # see cconv_leave_cpu
                for t in prange(ntasks, num_threads=threads, schedule='dynamic',
                                chunksize=chunk):
                    leave_caller_cpu(caller_cpu)
                    run_task(&dp, &x[0, 0, 0, 0], &w[0], t,
                                   buf0 + threadid() * dp.per_thread)
    finally:
        free(scratch)
        free(dp.flat_off)
        free(dp.flat_lanes)
        phase_plan_free(&dp.pp)


cdef inline Py_ssize_t round_up(Py_ssize_t n, Py_ssize_t unit) noexcept nogil:
    return (n + unit - 1) // unit * unit


cdef void zero_tail(floating* buf, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(start, end):
        buf[i] = 0
