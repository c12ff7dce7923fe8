# Phase images: the input rewritten so that every kernel tap reads a contiguous run.
#
# For stride (sh, sw), dilation (dh, dw) and padding (top, left), tap (r, s) of output pixel
# (oh, ow) reads xpad[oh*sh + r*dh, ow*sw + s*dw]. Split the zero-padded plane into its stride
# phases, xph[a, b][i, j] = xpad[a + sh*i, b + sw*j]: the tap reads phase
# ((r*dh) % sh, (s*dw) % sw) at (oh + r*dh // sh, ow + s*dw // sw), so on a grid ph_w wide
# (the output's width plus a few columns that are computed and dropped) every tap is the pixel
# number oh*ph_w + ow plus a constant: tap_offset. Only the phases some tap uses are built.
#
# Inline functions in a .pxd: compiled into each kernel module with that module's instruction
# set (no cross-module calls between per-ISA builds).
from libc.stdlib cimport malloc, free
from cython cimport floating

cdef extern from "cc_copy.h" nogil:
    void cc_copy_strided_f32(float* dst, const float* src, Py_ssize_t n, Py_ssize_t stride)
    void cc_copy_strided_f64(double* dst, const double* src, Py_ssize_t n, Py_ssize_t stride)
    void cc_zero_f32(float* dst, Py_ssize_t n)
    void cc_zero_f64(double* dst, Py_ssize_t n)
    void cc_copy_strided_over_f32(float* dst, const float* src, Py_ssize_t n, Py_ssize_t stride)
    void cc_copy_strided_over_f64(double* dst, const double* src, Py_ssize_t n,
                                  Py_ssize_t stride)
    void cc_zero_over_f32(float* dst, Py_ssize_t n)
    void cc_zero_over_f64(double* dst, Py_ssize_t n)
    void cc_transpose_f32(float* dst, Py_ssize_t ldd, const float* src, Py_ssize_t lds,
                          Py_ssize_t rows, int cols)
    void cc_transpose_f64(double* dst, Py_ssize_t ldd, const double* src, Py_ssize_t lds,
                          Py_ssize_t rows, int cols)
    const int CC_TRANSPOSE_REGS_f32   # float32 blocks transposed in registers (AVX2, AVX-512)
    const int CC_VL_F32
    const int CC_VL_F64


cdef struct PhasePlan:
    Py_ssize_t h, w, kh, kw, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w
    Py_ssize_t h_out, w_out
    Py_ssize_t n_phases, ph_h, ph_w, ph_plane
    Py_ssize_t* phase_a        # [n_phases] row and column phase of each
    Py_ssize_t* phase_b
    Py_ssize_t* tap_offset     # [kh*kw] where tap (r, s) starts in a channel's phases
    Py_ssize_t* phase_cols     # [2*n_phases] per phase, its first and end column inside the
                               # input (the same for every row: computed once, not per row)


cdef inline int phase_plan_init(PhasePlan* pp) noexcept nogil:
    """Fill the phases, the phase planes' shape and the tap offsets from the geometry fields.
    Returns -1 when out of memory; phase_plan_free must be called either way."""
    cdef Py_ssize_t sh = pp.stride_h, sw = pp.stride_w, khw = pp.kh * pp.kw
    cdef Py_ssize_t r, s, a, b, i, ph, max_r0 = 0, max_c0 = 0
    pp.phase_a = <Py_ssize_t*> malloc(khw * sizeof(Py_ssize_t))
    pp.phase_b = <Py_ssize_t*> malloc(khw * sizeof(Py_ssize_t))
    pp.tap_offset = <Py_ssize_t*> malloc(khw * sizeof(Py_ssize_t))
    pp.phase_cols = <Py_ssize_t*> malloc(2 * khw * sizeof(Py_ssize_t))
    if (pp.phase_a == NULL or pp.phase_b == NULL or pp.tap_offset == NULL
            or pp.phase_cols == NULL):
        return -1
    pp.n_phases = 0
    for r in range(pp.kh):
        for s in range(pp.kw):
            a = (r * pp.dil_h) % sh
            b = (s * pp.dil_w) % sw
            max_r0 = max(max_r0, (r * pp.dil_h) // sh)
            max_c0 = max(max_c0, (s * pp.dil_w) // sw)
            ph = -1
            for i in range(pp.n_phases):
                if pp.phase_a[i] == a and pp.phase_b[i] == b:
                    ph = i
            if ph < 0:
                ph = pp.n_phases
                pp.phase_a[ph] = a
                pp.phase_b[ph] = b
                pp.n_phases += 1
            pp.tap_offset[r * pp.kw + s] = ph  # the phase for now, the offset below
    pp.ph_h = pp.h_out + max_r0
    pp.ph_w = pp.w_out + max_c0
    pp.ph_plane = pp.ph_h * pp.ph_w
    for r in range(pp.kh):
        for s in range(pp.kw):
            i = r * pp.kw + s
            pp.tap_offset[i] = (pp.tap_offset[i] * pp.ph_plane + (r * pp.dil_h) // sh * pp.ph_w
                                + (s * pp.dil_w) // sw)
    cdef Py_ssize_t iw0, jlo, jhi
    for ph in range(pp.n_phases):
        # columns j with 0 <= b + sw*j - pad_left < W
        iw0 = pp.phase_b[ph] - pp.pad_left
        jlo = 0
        if iw0 < 0:
            jlo = (-iw0 + sw - 1) // sw
        jhi = 0
        if iw0 < pp.w:
            jhi = (pp.w - 1 - iw0) // sw + 1
        jhi = min(jhi, pp.ph_w)
        pp.phase_cols[2 * ph] = min(jlo, jhi)
        pp.phase_cols[2 * ph + 1] = jhi
    return 0


cdef inline void phase_plan_free(PhasePlan* pp) noexcept nogil:
    free(pp.phase_a)
    free(pp.phase_b)
    free(pp.tap_offset)
    free(pp.phase_cols)
    pp.phase_a = pp.phase_b = pp.tap_offset = pp.phase_cols = NULL


cdef inline void build_phase_plane(const PhasePlan* pp, const floating* plane, Py_ssize_t sx_h,
                                   Py_ssize_t sx_w, floating* dst) noexcept nogil:
    """The phases of one input plane (element strides sx_h, sx_w) into dst:
    dst[ph][i][j] = xpad[a + sh*i, b + sw*j], zero where that falls in the padding.

    Rows are written front to back with whole vectors (no masked stores: the kernels load
    these rows right away, and a load overlapping a masked store waits for it to retire; on a
    7x7 depthwise plane that was most of the time). A whole-vector write may run past its
    piece by up to a vector, into what is written next: the rest of the row, or the phase's
    next rows. Rows whose overrun could leave their phase plane (into the next phase's first
    rows, written earlier, or past the last plane) are written exactly, so nothing outside
    the phase planes is touched."""
    cdef Py_ssize_t ph, i, a, b, ih, iw0, jlo, jhi
    cdef Py_ssize_t sw = pp.stride_w
    cdef floating* row
    cdef bint exact
    cdef Py_ssize_t vl = CC_VL_F32 if floating is float else CC_VL_F64
    # row by row, every phase of it: the input is read once, in order (phases share rows)
    for i in range(pp.ph_h):
        exact = (i + 1) * pp.ph_w + vl > pp.ph_plane
        for ph in range(pp.n_phases):
            a = pp.phase_a[ph]
            b = pp.phase_b[ph]
            row = dst + ph * pp.ph_plane + i * pp.ph_w
            ih = a + pp.stride_h * i - pp.pad_top
            if ih < 0 or ih >= pp.h:
                zero_run(row, pp.ph_w, exact)
                continue
            iw0 = b - pp.pad_left
            jlo = pp.phase_cols[2 * ph]
            jhi = pp.phase_cols[2 * ph + 1]
            zero_run(row, jlo, exact)
            copy_run(row + jlo, plane + ih * sx_h + (iw0 + jlo * sw) * sx_w, jhi - jlo,
                     sw * sx_w, exact)
            zero_run(row + jhi, pp.ph_w - jhi, exact)


cdef inline void build_phase_planes_cl(const PhasePlan* pp, const floating* pixels,
                                       Py_ssize_t sx_h, Py_ssize_t sx_w, int nch,
                                       Py_ssize_t ph_channel, floating* dst) noexcept nogil:
    """build_phase_plane for nch <= VL channels of a channels-last input at once (pixels: the
    first one's plane; a pixel's channels contiguous; channel c's phases at dst + c *
    ph_channel): each phase row's pixels transposed in registers into the channels' rows.
    One channel at a time, each row touches a cache line per pixel, and every other channel
    of the pixel the same lines again. Written exactly: nothing outside the phase planes."""
    cdef Py_ssize_t ph, i, a, b, ih, iw0, jlo, jhi, c
    cdef floating* row
    for i in range(pp.ph_h):
        for ph in range(pp.n_phases):
            a = pp.phase_a[ph]
            b = pp.phase_b[ph]
            row = dst + ph * pp.ph_plane + i * pp.ph_w
            ih = a + pp.stride_h * i - pp.pad_top
            jlo, jhi = pp.ph_w, pp.ph_w
            if 0 <= ih < pp.h:
                jlo = pp.phase_cols[2 * ph]
                jhi = pp.phase_cols[2 * ph + 1]
            for c in range(nch):
                zero_fill(row + c * ph_channel, jlo)
            if jhi > jlo:
                iw0 = b - pp.pad_left
                transpose(row + jlo, ph_channel,
                          pixels + ih * sx_h + (iw0 + jlo * pp.stride_w) * sx_w,
                          pp.stride_w * sx_w, jhi - jlo, nch)
            for c in range(nch):
                zero_fill(row + c * ph_channel + jhi, pp.ph_w - jhi)


cdef inline void zero_run(floating* dst, Py_ssize_t n, bint exact) noexcept nogil:
    if exact:
        zero_fill(dst, n)
    elif floating is float:
        cc_zero_over_f32(dst, n)
    else:
        cc_zero_over_f64(dst, n)


cdef inline void copy_run(floating* dst, const floating* src, Py_ssize_t n, Py_ssize_t stride,
                          bint exact) noexcept nogil:
    if floating is float:
        if exact:
            cc_copy_strided_f32(dst, src, n, stride)
        else:
            cc_copy_strided_over_f32(dst, src, n, stride)
    else:
        if exact:
            cc_copy_strided_f64(dst, src, n, stride)
        else:
            cc_copy_strided_over_f64(dst, src, n, stride)


cdef inline void transpose(floating* dst, Py_ssize_t ldd, const floating* src, Py_ssize_t lds,
                           Py_ssize_t rows, int cols) noexcept nogil:
    """dst[c * ldd + r] = src[r * lds + c], r < rows, c < cols <= the vector length."""
    if floating is float:
        cc_transpose_f32(dst, ldd, src, lds, rows, cols)
    else:
        cc_transpose_f64(dst, ldd, src, lds, rows, cols)


cdef inline void zero_fill(floating* dst, Py_ssize_t n) noexcept nogil:
    if floating is float:
        cc_zero_f32(dst, n)
    else:
        cc_zero_f64(dst, n)


# Addresses this many bytes apart fall in the same L1 set (32-48 KiB, 8-12 ways, 64 B lines: 4 KiB
# on the x86 cores of the last decade): rows read together that far apart evict each other.
cdef enum:
    L1_SET_SPAN = 4096


cdef inline void copy_padded_row(const floating* x, const Py_ssize_t* strides, floating* xpad,
                                 Py_ssize_t row, Py_ssize_t h, Py_ssize_t w_in, Py_ssize_t c_in,
                                 Py_ssize_t h_pad, Py_ssize_t w_pad, Py_ssize_t pad_top,
                                 Py_ssize_t pad_left, Py_ssize_t px) noexcept nogil:
    """Row `row` (image row // h_pad, padded row row % h_pad) of the padded channels-last copy
    of x (channels contiguous, strides in bytes), pixels px >= c_in elements apart: zeros,
    the input row's pixels, zeros."""
    cdef Py_ssize_t n = row // h_pad, ih = row % h_pad - pad_top, iw
    cdef Py_ssize_t itemsize = sizeof(floating)
    cdef Py_ssize_t sn = strides[0] // itemsize, sh = strides[2] // itemsize
    cdef Py_ssize_t sw = strides[3] // itemsize
    cdef floating* dst = xpad + row * w_pad * px
    cdef const floating* src
    if ih < 0 or ih >= h:
        zero_fill(dst, w_pad * px)
        return
    zero_fill(dst, pad_left * px)
    src = x + n * sn + ih * sh
    if sw == c_in and px == c_in:   # the row's pixels are contiguous
        copy_run(dst + pad_left * c_in, src, w_in * c_in, 1, True)
    else:
        for iw in range(w_in):
            copy_run(dst + (pad_left + iw) * px, src + iw * sw, c_in, 1, True)
    zero_fill(dst + (pad_left + w_in) * px, (w_pad - pad_left - w_in) * px)
