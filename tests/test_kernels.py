"""Every kernel path, forced, against the float64 reference: both GEMM methods of the direct
convolution (PANELS: weights broadcast over im2col panels; INDIRECT: pixels broadcast from the
phase image), weights read in place or packed ahead, the 1x1 in-place path and the depthwise
kernel, at 1 and 3 threads. (conv2d's own choice is covered by the other tests.)"""
import numpy as np
import pytest

import cconv
from cconv import _args, _dispatch
from conftest import error_bound
from reference import conv2d_reference

PANELS, INDIRECT = 1, 2

CASES = [
    # input shape, weight shape, stride, padding, dilation, groups
    ((1, 5, 9, 7), (13, 5, 3, 3), 1, 1, 1, 1),
    ((2, 16, 17, 14), (40, 16, 3, 3), 2, 1, 1, 1),
    ((1, 8, 12, 23), (7, 8, 5, 2), (1, 3), (2, 0), (2, 1), 1),
    ((3, 6, 10, 10), (9, 2, 3, 3), 1, 2, 2, 3),
    ((1, 24, 7, 7), (50, 24, 1, 1), 1, 0, 1, 1),         # 1x1: B read in place (PANELS)
    ((2, 12, 9, 9), (30, 12, 1, 1), 2, 0, 1, 1),         # strided 1x1
    ((1, 3, 31, 29), (16, 3, 7, 7), 2, 3, 1, 1),         # stem
    ((1, 33, 6, 40), (65, 33, 3, 3), 1, 1, 1, 1),        # partial tiles everywhere
    ((2, 4, 1, 1), (5, 4, 3, 3), 1, 1, 1, 1),            # tiny image
    ((1, 40, 5, 5), (70, 40, 1, 1), 1, 0, 1, 1),         # more channels than pixels
]


def _run_direct(x, w, b, stride, padding, dilation, groups, method, threads, packed):
    x4, w4, b4, g, _ = _args.parse_conv2d(x, w, b, stride, padding, dilation, groups)
    out = np.full(g.out_shape, np.nan, x.dtype)
    kernels = _dispatch.direct
    prepacked = {}
    if packed:
        weights = np.empty(kernels.packed_weights_size(g.c_out, g.k_len, g.groups, method,
                                                       x.dtype.itemsize), x.dtype)
        kernels.pack_weights(np.ascontiguousarray(w4), g.groups, method, weights)
        prepacked = {"w_panels" if method == PANELS else "w_indirect": weights}
    kernels.conv2d_direct_nchw(x4, np.ascontiguousarray(w4).reshape(-1), g.k_len, b4, out,
                               g.groups, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_top,
                               g.pad_left, g.dil_h, g.dil_w, threads, method, **prepacked)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("method,packed", [(PANELS, False), (PANELS, True), (INDIRECT, False),
                                           (INDIRECT, True)])
@pytest.mark.parametrize("case", CASES, ids=[str(c[0]) + str(c[1]) for c in CASES])
def test_direct_methods(rng, case, method, packed, threads, dtype):
    xs, ws, stride, padding, dilation, groups = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = _run_direct(x, w, b, stride, padding, dilation, groups, method, threads, packed)
    err = np.abs(y - conv2d_reference(x, w, b, **params))
    assert (err <= error_bound(x, w, b, dtype, **params)).all(), np.nanmax(err)


# INDIRECT reading input rows in place (a_rows_in_place): interior tiles from the input itself
# (one base at stride 1, 2 and 4, gathered across rows or at stride 3), border pixels from
# copies of their windows. border_cost 0 takes the path for any border.
ROWS_IN_PLACE_CASES = [
    ((2, 16, 17, 14), (40, 16, 3, 3), 2, 1, 1, 1),
    ((1, 8, 12, 23), (7, 8, 5, 2), (1, 3), (2, 0), (2, 1), 1),   # stride 3 along rows: gathered
    ((3, 6, 10, 10), (9, 2, 3, 3), 1, 2, 2, 3),                   # groups, dilation
    ((1, 3, 31, 29), (16, 3, 7, 7), 2, 3, 1, 1),                  # stem
    ((1, 5, 9, 30), (13, 5, 3, 3), 1, 0, 1, 1),     # unpadded: tiles across rows, the last one
    ((2, 3, 8, 8), (6, 3, 3, 3), 2, 0, 1, 1),       # at the input's end
    ((1, 4, 20, 21), (8, 4, 3, 3), 2, ((0, 3), (2, 1)), 1, 1),   # bottom and right borders
    ((1, 2, 6, 40), (20, 2, 3, 3), 1, ((3, 3), (0, 0)), 1, 1),   # more border than interior
    # stride 4, one base: patchify (ConvNeXt's stem), the last tile's reads past its pixels
    # ending at the input's last value, and a padded 11x11 stem
    ((2, 3, 28, 60), (20, 3, 4, 4), 4, 0, 1, 1),
    ((1, 2, 9, 51), (5, 2, 3, 3), 4, 0, 1, 1),
    ((1, 3, 45, 47), (35, 3, 11, 11), 4, 2, 1, 1),
    ((1, 4, 13, 70), (6, 2, 5, 3), (3, 4), (1, 2), (1, 2), 2),
    # stride 16 (ViT's patches), fewer output pixels than channels: gathered, in place
    ((2, 3, 32, 48), (40, 3, 16, 16), 16, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("case", ROWS_IN_PLACE_CASES,
                         ids=[str(c[0]) + str(c[1]) for c in ROWS_IN_PLACE_CASES])
def test_indirect_reads_input_rows_in_place(rng, case, threads, dtype):
    xs, ws, stride, padding, dilation, groups = case
    kernels = _dispatch.direct
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    # contiguous; and a view whose rows, planes and images lie further apart than their length
    big = rng.standard_normal((xs[0] + 1, xs[1] + 2, xs[2] + 3, xs[3] + 5)).astype(dtype)
    for x in (np.ascontiguousarray(big[:xs[0], :xs[1], :xs[2], :xs[3]]),
              big[1:, 2:, 1:xs[2] + 1, 3:xs[3] + 3]):
        x4, _, _, g, _ = _args.parse_conv2d(x, w, b, stride, padding, dilation, groups)
        kernels.set_border_cost(0)
        try:
            plan = kernels.plan_summary(
                g.n, g.c_in, g.h, g.w, g.c_out, g.groups, g.kh, g.kw, g.stride_h, g.stride_w,
                g.pad_top, g.pad_left, g.dil_h, g.dil_w, g.h_out, g.w_out, x.dtype.itemsize,
                threads, INDIRECT)
            assert plan["a_rows_in_place"], plan
            y = _run_direct(x, w, b, stride, padding, dilation, groups, INDIRECT, threads,
                            False)
        finally:
            kernels.set_border_cost(6)
        err = np.abs(y - conv2d_reference(x, w, b, **params))
        assert (err <= error_bound(x, w, b, dtype, **params)).all(), np.nanmax(err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("case", [
    ((1, 8, 15, 13), (8, 1, 3, 3), 1, 1, 1),
    ((2, 5, 20, 9), (15, 1, 3, 3), 2, 1, 1),      # multiplier 3
    ((1, 4, 11, 30), (16, 1, 5, 5), 1, 2, 2),     # multiplier 4 (one pass shares the loads)
    ((1, 6, 9, 9), (6, 1, 3, 2), (2, 1), (0, 3), (1, 2)),
    ((1, 1, 17, 40), (9, 1, 3, 3), 1, 1, 1),      # C_in == 1: multiplier 9
    ((3, 2, 1, 3), (2, 1, 3, 3), 1, 1, 1),        # rows shorter than a vector
    # small planes at stride 1, output the input's size: run straight from the input plane
    ((2, 7, 7, 7), (7, 1, 3, 3), 1, 1, 1),
    ((1, 3, 5, 17), (6, 1, 3, 3), 1, 1, 1),       # multiplier 2, rows across vectors
    ((1, 4, 9, 6), (4, 1, 5, 3), 1, (4, 2), (2, 2)),
    ((1, 3, 6, 6), (3, 1, 3, 3), 1, ((0, 2), (2, 0)), 1),   # uneven padding
    ((1, 2, 32, 32), (2, 1, 3, 3), 1, 1, 1),      # the largest such plane
    # ... and at other strides or output sizes: every stride-th output of the stride-1 plane
    ((2, 6, 14, 14), (6, 1, 3, 3), 2, 1, 1),
    ((1, 3, 9, 11), (6, 1, 3, 3), (2, 3), (1, 0), 1),
    ((1, 2, 10, 7), (2, 1, 3, 3), 1, 0, 1),        # valid: smaller output
    ((1, 2, 13, 12), (2, 1, 5, 5), 3, 2, (1, 2)),
    # stride 2 along even-width rows: on the plane split into its even and odd columns
    ((1, 5, 14, 14), (5, 1, 3, 3), 2, 0, 1),
    ((1, 3, 9, 16), (6, 1, 5, 5), 2, 2, 1),        # multiplier 2, odd height
    ((1, 2, 12, 10), (2, 1, 3, 3), 2, 2, 2),       # dilation 2: every tap in the even phase
    ((1, 2, 8, 20), (2, 1, 3, 4), (1, 2), ((1, 0), (3, 1)), 1),  # even kernel, uneven pads
    ((1, 3, 4, 32), (3, 1, 3, 3), 2, 1, 1),        # the widest such plane
    # larger planes, 3x3 at stride 1: each output row straight from three input rows
    ((1, 3, 40, 37), (3, 1, 3, 3), 1, 1, 1),       # rows of 2 vectors and a part (AVX-512)
    ((2, 2, 33, 70), (4, 1, 3, 3), 1, 1, 1),       # multiplier 2; 4 vectors + a part a row
    ((1, 2, 100, 12), (2, 1, 3, 3), 1, ((2, 0), (0, 2)), 1),  # rows under a vector, uneven
    ((1, 2, 40, 40), (2, 1, 3, 3), 1, 0, 1),       # valid: rows read past the output's end
    ((1, 1, 50, 129), (3, 1, 3, 3), 1, (3, 5), 1),  # C_in 1; padding past a row of zeros
    ((1, 2, 34, 300), (2, 1, 3, 3), 1, ((0, 1), (7, 0)), 1),  # long rows, pad left only
    # a row's first vectors wholly in the padding (their lanes found once a call: none)
    ((1, 2, 30, 40), (2, 1, 3, 3), 1, ((1, 1), (18, 35)), 1),
    # ... and at stride 2 along the rows (each row's even and odd columns split in registers)
    ((1, 3, 40, 37), (3, 1, 3, 3), 2, 1, 1),
    ((2, 2, 33, 70), (4, 1, 3, 3), 2, 1, 1),       # multiplier 2
    ((1, 2, 41, 200), (2, 1, 3, 3), 2, ((0, 1), (0, 1)), 1),  # TensorFlow's SAME at stride 2
    ((1, 1, 50, 129), (3, 1, 3, 3), 2, (3, 5), 1),  # odd width, padding past a row of zeros
    ((1, 2, 30, 150), (2, 1, 3, 3), (1, 2), 0, 1),
    ((1, 2, 45, 141), (2, 1, 3, 3), (3, 1), 1, 1),  # stride 3 down the rows
    ((1, 2, 5, 700), (2, 1, 3, 3), 2, 1, 1),       # rows of more vectors than the lane tables
    # small planes whose rows fill their vectors: several output rows per block
    ((1, 3, 30, 30), (3, 1, 3, 3), 1, 1, 1),
    ((2, 2, 29, 28), (4, 1, 3, 3), 2, 1, 1),       # one vector a row, 15 rows: 3 blocks + 3
    ((1, 2, 20, 48), (2, 1, 3, 3), 1, 1, 1),       # three vectors a row (AVX-512)
    ((1, 2, 21, 31), (2, 1, 3, 3), 1, ((1, 0), (0, 1)), 1),
    ((1, 2, 17, 60), (2, 1, 3, 3), (1, 2), 1, 1),
])
def test_depthwise_kernel(rng, case, threads, dtype):
    xs, ws, stride, padding, dilation = case
    groups = xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x4, w4, b4, g, _ = _args.parse_conv2d(x, w, b, stride, padding, dilation, groups)
    out = np.full(g.out_shape, np.nan, dtype)
    _dispatch.depthwise.conv2d_depthwise_nchw(
        x4, np.ascontiguousarray(w4).reshape(-1), b4, out, g.kh, g.kw, g.stride_h, g.stride_w,
        g.pad_top, g.pad_left, g.dil_h, g.dil_w, threads)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    err = np.abs(out - conv2d_reference(x, w, b, **params))
    assert (err <= error_bound(x, w, b, dtype, **params)).all(), np.nanmax(err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("hw,act", [((7, 7), 2), ((5, 9), 1), ((14, 14), 0), ((4, 4), 2),
                                    ((31, 33), 1)])
def test_depthwise_small_planes_written_in_place(rng, hw, act, threads, dtype):
    """A small plane's stride-1 result goes straight into output planes that lie apart, bias
    and relu (1) / relu6 (2) applied as it is written: every value right, nothing written
    between or after the planes (the last vector of a plane is lane-masked)."""
    c = 9
    x = rng.standard_normal((2, c) + hw).astype(dtype) * 4
    w = rng.standard_normal((c, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    plane = hw[0] * hw[1]
    gap = plane + 37   # elements from one output plane to the next
    buf = np.full(2 * c * gap + 64, 7.5, dtype)
    out = np.lib.stride_tricks.as_strided(
        buf, (2, c) + hw, (c * gap * buf.itemsize, gap * buf.itemsize, hw[1] * buf.itemsize,
                           buf.itemsize))
    _dispatch.depthwise.conv2d_depthwise_nchw(x, w.reshape(-1), b, out, 3, 3, 1, 1, 1, 1, 1, 1,
                                              threads, None, act)
    ref = conv2d_reference(x, w, b, padding=1, groups=c)
    expect = {0: ref, 1: np.maximum(ref, 0), 2: np.clip(ref, 0, 6)}[act]
    bound = error_bound(x, w, b, dtype, padding=1, groups=c)
    assert (np.abs(out - expect) <= bound).all(), np.abs(out - expect).max()
    written = np.zeros(buf.size, bool)
    for n in range(2):
        for ch in range(c):
            written[(n * c + ch) * gap:(n * c + ch) * gap + plane] = True
    assert (buf[~written] == 7.5).all()


def test_kernel_modules_match_the_chosen_level():
    assert _dispatch.direct.ISA == _dispatch.LEVEL


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("width", [1, 2, 5, 9, 16, 17, 33])
def test_phase_planes_of_narrow_images(rng, stride, width):
    # phase planes are written with whole vectors that may run into the next rows (never past
    # the phase plane): rows narrower than a vector, several phases, every kernel
    for xs, ws, groups in [((2, 3, 7, width), (3, 1, 3, 3), 3),
                           ((1, 4, 6, width), (5, 4, 3, 3), 1)]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        params = dict(stride=stride, padding=1, dilation=1, groups=groups)
        ref = conv2d_reference(x, w, None, **params)
        x4, w4, _, g, _ = _args.parse_conv2d(x, w, None, stride, 1, 1, groups)
        if groups == 1:
            got = [_run_direct(x, w, None, stride, 1, 1, 1, m, t, False)
                   for m in (PANELS, INDIRECT) for t in (1, 3)]
        else:
            got = []
            for t in (1, 3):
                out = np.full(g.out_shape, np.nan, np.float32)
                _dispatch.depthwise.conv2d_depthwise_nchw(
                    x4, np.ascontiguousarray(w4).reshape(-1), None, out, g.kh, g.kw,
                    g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h, g.dil_w, t)
                got.append(out)
        for y in got:
            err = np.abs(y - ref)
            assert (err <= error_bound(x, w, None, np.float32, **params)).all(), np.nanmax(err)


# -- channels-last kernels: depthwise along the channels, and INDIRECT reading the input in
# place. Channels-last (NHWC) input and output, compared with the float64 reference.

def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return a.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [
    # (C, H, W, kernel, stride, padding, dilation): C from one vector to a partial last one
    (16, 1, 1, (3, 3), 1, 1, 1),                       # one pixel, every tap but the centre
    (20, 5, 7, (3, 3), 1, 1, 1),                       # 3x3 interior path + edges
    (37, 15, 17, (3, 3), 2, 1, 1),                     # stride 2, channel tail
    (24, 12, 13, (3, 3), (1, 3), ((0, 2), (1, 0)), 1), # uneven padding
    (33, 9, 11, (3, 3), 1, 2, 2),                      # dilation
    (18, 10, 10, (5, 5), 3, 2, 1),                     # generic taps
    (64, 8, 6, (2, 3), 1, 0, (2, 1)),                  # valid, even kernel
    # pixels a multiple of 1 KiB apart (here, or in the 2C-wide slice): read from a copy
    (256, 6, 7, (3, 3), 1, 1, 1),
    (128, 9, 8, (3, 3), 2, 1, 1),
])
def test_depthwise_channels_last(rng, case, threads, dtype):
    c, h, w_, k, stride, padding, dilation = case
    x = rng.standard_normal((2, c, h, w_)).astype(dtype)
    w = rng.standard_normal((c, 1) + k).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=c)
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    with cconv.threads(threads):
        # bias + relu6 written by the kernel; a residual and silu through the output pass
        y = _nchw(cconv.conv2d(_nhwc(x), w, b, layout="NHWC", activation="relu6", **params))
        res = rng.standard_normal(ref.shape).astype(dtype)
        y2 = _nchw(cconv.Conv2d(w, b, layout="NHWC", activation="silu", **params)(
            _nhwc(x), residual=_nhwc(res)))
        # channels that are a slice of a wider channels-last array (pixels 2C apart)
        wide = np.zeros((2, h, w_, 2 * c), dtype)
        wide[..., :c] = _nhwc(x)
        y3 = _nchw(cconv.conv2d(wide[..., :c], w, b, layout="NHWC", **params))
    assert (np.abs(y - np.clip(ref, 0, 6)) <= bound).all()
    z = ref + res
    silu = z / (1 + np.exp(-z))
    assert (np.abs(y2 - silu) <= 4 * bound + 1e-6 * np.abs(silu) + 1e-7).all()
    assert (np.abs(y3 - ref) <= bound).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [
    # (N, C, H, W, kernel, stride, padding, dilation): 5x5 and 7x7 through the channel-blocked
    # path (a band of padded rows per block of channels), either layout; C fills >= 60% of
    # its blocks' lanes at both vector widths, else the layer takes the planes' kernels
    (1, 16, 7, 7, 7, 1, 3, 1),                        # ConvNeXt's last stage, in small
    (2, 20, 9, 11, 5, 1, 2, 1),                       # channel tail (both vector widths)
    (1, 37, 15, 17, 5, 2, 2, 1),                      # stride 2, odd sizes
    (1, 16, 15, 6, 5, (2, 1), 2, 1),                  # narrow rows, taller stride
    (1, 16, 5, 30, 5, 1, 2, 1),                       # rows of 16 + 14 pixels ...
    (1, 16, 8, 23, 7, 1, 3, 1),                       # ... and 16 + 7 (AVX2: 8 + 8 + 7)
    (1, 24, 12, 13, 7, (1, 2), ((0, 3), (2, 1)), 1),  # uneven padding and strides
    (1, 33, 13, 12, 5, 1, 4, 2),                      # dilation: the generic tap order
    (1, 16, 20, 9, 7, 3, 0, 1),                       # stride 3, no padding
    (1, 20, 120, 100, 5, 1, 2, 1),                    # several bands of rows per block
    (3, 16, 3, 4, 5, 1, 2, 1),                        # image smaller than the kernel
])
def test_depthwise_channel_blocked(rng, case, threads, dtype):
    n, c, h, w_, k, stride, padding, dilation = case
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((c, 1, k, k)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=c)
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    res = rng.standard_normal(ref.shape).astype(dtype)
    z = ref + res
    silu = z / (1 + np.exp(-z))
    # a view with negative and non-unit strides: gathered element by element
    big = np.zeros((n, c, 2 * h, w_), dtype)
    big[:, :, ::2] = x[:, :, ::-1]
    view = big[:, :, ::2][:, :, ::-1]
    assert np.array_equal(view, x) and view.strides[2] < 0
    with cconv.threads(threads):
        for layout, to, back in (("NCHW", lambda a: a, lambda a: a), ("NHWC", _nhwc, _nchw)):
            # bias + relu6 in registers (NHWC: the kernel writes the output; NCHW: through
            # a transposition), silu + residual through the output pass
            y = back(cconv.conv2d(to(x), w, b, layout=layout, activation="relu6", **params))
            assert (np.abs(y - np.clip(ref, 0, 6)) <= bound).all(), layout
            y2 = back(cconv.Conv2d(w, b, layout=layout, activation="silu", **params)(
                to(x), residual=to(res)))
            assert (np.abs(y2 - silu) <= 4 * bound + 1e-6 * np.abs(silu) + 1e-7).all(), layout
        y3 = cconv.conv2d(view, w, None, **params)
    assert (np.abs(y3 - (ref - b[:, None, None])) <= bound).all()
    # a NaN reaches exactly the outputs whose window holds it
    xn = x.copy()
    xn[0, c - 1, h // 2, w_ // 2] = np.nan
    with cconv.threads(threads):
        yn = cconv.conv2d(xn, w, b, **params)
    touched = conv2d_reference(np.isnan(xn).astype(dtype), np.ones_like(w), None, **params) > 0
    assert (np.isnan(yn) == touched).all()
    assert (np.abs(yn[~touched] - ref[~touched]) <= bound[~touched]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [
    # (N, C, H, W, padding, dilation): 3x3 at stride 2 on small NCHW planes, with a vector of
    # channels or more (the flat kernel, lane-masked, or rows3x3; once channels-last copies)
    (1, 16, 14, 14, 1, 1),
    (2, 40, 7, 9, 1, 1),                          # channel tail, odd sizes, two images
    (1, 33, 12, 10, ((0, 1), (0, 1)), 1),         # TensorFlow's SAME at stride 2
    (1, 24, 16, 16, 2, 2),                        # dilation 2
    (3, 17, 5, 6, 0, 1),                          # valid; output rows of two pixels
    (1, 256, 8, 8, 1, 1),                         # pixels 1 KiB apart in the copy
    # even sizes: the plane split into its four phases, four planes a task, here across
    # images (15 planes) and with the planes' count not a multiple of four
    (3, 5, 10, 6, 1, 1),
    (2, 7, 6, 4, ((1, 0), (0, 1)), 1),
    (1, 3, 2, 2, 1, 1),                           # one output pixel from each phase
    (2, 20, 28, 28, 1, 1),                        # output rows 14 wide (with AVX-512 once
    (1, 9, 32, 30, 1, 1),                         # rows3x3's)
])
def test_depthwise_small_planes_stride_2(rng, case, threads, dtype):
    n, c, h, w_, padding, dilation = case
    x = rng.standard_normal((n, 2 * c, h, w_)).astype(dtype)[:, ::2]  # channels 2 planes apart
    w = rng.standard_normal((c, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    params = dict(stride=2, padding=padding, dilation=dilation, groups=c)
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    res = rng.standard_normal(ref.shape).astype(dtype)
    with cconv.threads(threads):
        y = cconv.conv2d(x, w, b, activation="relu6", **params)
        layer = cconv.Conv2d(w, b, activation="silu", **params)   # weights packed ahead
        y2 = layer(x, residual=res)
        # out= with rows that do not follow each other (a slice of wider rows)
        wide = np.full(ref.shape[:3] + (ref.shape[3] + 3,), np.nan, dtype)
        y3 = cconv.conv2d(x, w, None, out=wide[..., 1:-2], **params)
    assert (np.abs(y - np.clip(ref, 0, 6)) <= bound).all()
    z = ref + res
    silu = z / (1 + np.exp(-z))
    assert (np.abs(y2 - silu) <= 4 * bound + 1e-6 * np.abs(silu) + 1e-7).all()
    ref_nb = ref - b[:, None, None]
    assert (np.abs(y3 - ref_nb) <= bound + 1e-6 * np.abs(ref_nb)).all()
    assert np.isnan(wide[..., 0]).all() and np.isnan(wide[..., -2:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("kernel, padding", [(3, 1), (5, 2), (2, 0), (3, 0)])
def test_depthwise_phase_split_planes_with_a_channel_multiplier(rng, kernel, padding, threads,
                                                                dtype):
    # stride 2 on even-sized small planes (the four-phase split), two output channels per
    # input plane, planes of several images in one task: each output channel its own
    # weights and bias
    n, c, h, w_ = 3, 5, 12, 8
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((2 * c, 1, kernel, kernel)).astype(dtype)
    b = rng.standard_normal(2 * c).astype(dtype)
    params = dict(stride=2, padding=padding, groups=c)
    ref = conv2d_reference(x, w, b, **params)
    with cconv.threads(threads):
        y = cconv.conv2d(x, w, b, activation="relu", **params)
    assert (np.abs(y - np.maximum(ref, 0)) <= error_bound(x, w, b, dtype, **params)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [
    # (C_in, C_out, H, W, kernel, stride, dilation, groups): no padding, so the tiles read the
    # channels-last input itself
    (24, 40, 9, 13, (1, 1), 1, 1, 1),
    (24, 40, 9, 13, (1, 1), 2, 1, 1),
    (13, 70, 11, 8, (3, 3), 1, 1, 1),
    (16, 24, 12, 12, (3, 2), (2, 1), (1, 2), 2),
    (96, 33, 7, 7, (1, 1), 1, 1, 1),
    # pixels 4 KiB apart in float32 (1024 channels) or float64 (512): copied a line apart
    (1024, 64, 5, 6, (1, 1), 1, 1, 1),
    (512, 70, 4, 5, (3, 3), 1, 1, 1),
])
def test_direct_channels_last_input_in_place(rng, case, threads, dtype):
    ci, co, h, w_, k, stride, dilation, groups = case
    x = rng.standard_normal((2, ci, h, w_)).astype(dtype)
    w = rng.standard_normal((co, ci // groups) + k).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    params = dict(stride=stride, dilation=dilation, groups=groups)
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    res = rng.standard_normal(ref.shape).astype(dtype)
    wide = np.zeros((2, h, w_, ci + 5), dtype)
    wide[..., :ci] = _nhwc(x)
    with cconv.threads(threads):
        y = _nchw(cconv.conv2d(_nhwc(x), w, b, layout="NHWC", algorithm="direct", **params))
        layer = cconv.Conv2d(w, b, layout="NHWC", algorithm="direct", activation="relu",
                             **params)
        y2 = _nchw(layer(wide[..., :ci], residual=_nhwc(res)))
        # whole tiles x whole channel panels written by the microkernel, bias and relu6 in
        # registers; the partial last tile and panel through the output pass
        y3 = _nchw(cconv.conv2d(_nhwc(x), w, b, layout="NHWC", activation="relu6",
                                algorithm="direct", **params))
    assert (np.abs(y - ref) <= bound).all()
    assert (np.abs(y3 - np.clip(ref, 0, 6)) <= bound).all()
    assert (np.abs(y2 - np.maximum(ref + res, 0)) <= bound + np.finfo(dtype).eps * np.abs(res)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [
    # (N, C_in, C_out, H, W, kernel, stride, padding, dilation, groups): a channels-last
    # input through the phase image, built a vector of channels at a time (transposed):
    # stride 1 and >= 16 channels a group (>= 4 grouped), or an output that is not channels
    # last (one channel); channel tails of 1..15 lanes, phase rows without a valid column
    # (stride 3 on a 2-wide image), small outputs
    (2, 16, 24, 13, 11, (5, 5), 1, 2, 1, 1),
    (1, 37, 20, 9, 17, (3, 3), 1, 1, 1, 1),
    (3, 48, 30, 6, 5, (3, 1), 1, ((2, 0), (1, 3)), 1, 2),
    (1, 20, 8, 8, 9, (3, 3), 1, 3, 2, 1),
    (2, 19, 17, 7, 7, (7, 7), 1, 3, 1, 1),
    (1, 64, 16, 1, 2, (1, 1), 1, ((1, 1), (4, 0)), 1, 1),
    (2, 5, 1, 3, 2, (1, 1), (1, 3), 1, 1, 1),
    (1, 40, 1, 9, 8, (3, 3), 2, 1, 1, 1),
    (2, 32, 16, 10, 9, (3, 3), 1, 1, 1, 8),     # grouped, 4 and 8 channels a group
    (1, 72, 45, 7, 12, (3, 3), 1, ((0, 2), (1, 1)), 1, 9),
])
def test_direct_channels_last_phase_image(rng, case, threads, dtype):
    n, ci, co, h, w_, k, stride, padding, dilation, groups = case
    x = rng.standard_normal((n, ci, h, w_)).astype(dtype)
    w = rng.standard_normal((co, ci // groups) + k).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    wide = np.zeros((n, h, w_, ci + 3), dtype)
    wide[..., :ci] = _nhwc(x)
    with cconv.threads(threads):
        y = _nchw(cconv.conv2d(_nhwc(x), w, b, layout="NHWC", algorithm="direct", **params))
        y2 = _nchw(cconv.Conv2d(w, b, layout="NHWC", algorithm="direct", activation="relu",
                                **params)(wide[..., :ci]))
    assert (np.abs(y - ref) <= bound).all()
    assert (np.abs(y2 - np.maximum(ref, 0)) <= bound).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_last_pixels_4k_apart_with_padding(rng, dtype):
    """A channels-last input whose pixels are 4 KiB apart, with padding: the padded copy
    spaces its pixels a cache line further (1024 float32 or 512 float64 channels), and
    nothing of the gap is read."""
    ci = 4096 // np.dtype(dtype).itemsize
    x = rng.standard_normal((1, ci, 6, 7)).astype(dtype)
    w = rng.standard_normal((64, ci, 3, 3)).astype(dtype)
    b = rng.standard_normal(64).astype(dtype)
    params = dict(padding=((1, 0), (2, 1)), stride=(1, 2))
    ref = conv2d_reference(x, w, b, **params)
    bound = error_bound(x, w, b, dtype, **params)
    for threads in (1, 2):
        with cconv.threads(threads):
            y = _nchw(cconv.conv2d(_nhwc(x), w, b, layout="NHWC", algorithm="direct", **params))
        assert (np.abs(y - ref) <= bound).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_out", [1, 8, 16, 17, 24, 40, 64])
def test_microkernel_tails_write_only_their_part(rng, c_out, dtype):
    """Every pixel count 1..26 (tiles of 1..MR rows, MR <= 12, through the MR/3, 2MR/3 and
    MR row variants) x channel tails of one and two vectors, K long enough for several K
    blocks (accumulated through masked loads): the channels-last output is written by the
    microkernel itself; nothing past it is touched, and the results match."""
    c_in = 300
    w = rng.standard_normal((c_out, c_in, 1, 1)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    layer = cconv.Conv2d(w, b, layout="NHWC", activation="relu6", algorithm="direct")
    for pixels in range(1, 27):
        x = rng.standard_normal((1, c_in, 1, pixels)).astype(dtype)
        ref = np.clip(conv2d_reference(x, w, b), 0, 6)
        bound = error_bound(x, w, b, dtype)
        n = pixels * c_out
        buf = np.full(n + 64, 7.5, dtype)
        out = buf[:n].reshape(1, 1, pixels, c_out)
        layer(_nhwc(x), out=out)
        assert (buf[n:] == 7.5).all(), pixels
        assert (np.abs(_nchw(out) - ref) <= bound).all(), pixels


# PANELS over one K block into an output with contiguous rows: each panel holds pixels of one
# output row and is written by the microkernel straight into the output (c_in_place), the
# row's last panel partial; outputs over 8 MB stored past the caches where aligned.
ROW_PANEL_CASES = [
    # input shape, weight shape, stride, padding, groups
    ((1, 3, 40, 75), (20, 3, 3, 3), 1, 1, 1),          # whole panels and a part, each row
    ((2, 4, 33, 70), (24, 2, 3, 3), 2, ((0, 1), (1, 0)), 2),   # stride 2, groups, uneven pads
    ((1, 3, 224, 224), (64, 3, 3, 3), 1, 1, 1),        # 12.8 MB output: streaming stores
    ((1, 2, 30, 64), (40, 2, 5, 5), 1, 2, 1),          # rows of whole panels only
    ((2, 3, 20, 20), (24, 3, 3, 3), 1, 1, 1),          # rows under a panel (one partial each)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("case", ROW_PANEL_CASES, ids=[str(c[0]) for c in ROW_PANEL_CASES])
def test_row_panels_written_in_place(rng, case, threads, dtype):
    xs, ws, stride, padding, groups = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    params = dict(stride=stride, padding=padding, groups=groups)
    x4, w4, _, g, _ = _args.parse_conv2d(x, w, b, stride, padding, 1, groups)
    kernels = _dispatch.direct
    plan = kernels.plan_summary(
        g.n, g.c_in, g.h, g.w, g.c_out, g.groups, g.kh, g.kw, g.stride_h, g.stride_w,
        g.pad_top, g.pad_left, g.dil_h, g.dil_w, g.h_out, g.w_out, x.dtype.itemsize, threads,
        PANELS)
    assert plan["c_in_place"], plan   # the path under test (PANELS forced: on some SIMD
    ref = conv2d_reference(x, w, b, **params)   # levels auto picks INDIRECT for these)
    _check_output_pass(rng, x4, w4, b, g, threads, ref, error_bound(x, w, b, dtype, **params))


def _check_output_pass(rng, x4, w4, b, g, threads, ref, bound):
    """PANELS forced into outputs of several layouts, with bias, residual and activations
    applied where the path writes the output, against the float64 reference `ref`."""
    dtype = x4.dtype
    kernels = _dispatch.direct
    residual = rng.standard_normal(ref.shape).astype(dtype)
    shape = ref.shape
    # outputs: contiguous; one element off a 64-byte boundary (no streaming stores); rows
    # further apart than their length (a view of a wider array)
    outs = [np.full(shape, np.nan, dtype),
            np.full(np.prod(shape) + 1, np.nan, dtype)[1:].reshape(shape),
            np.full(shape[:3] + (shape[3] + 5,), np.nan, dtype)[..., 2:shape[3] + 2]]
    rows = np.ascontiguousarray(w4).reshape(-1)
    for out in outs:
        # activation codes of cc_epilogue.h: 1 relu, 2 relu6, 3 leaky_relu
        for act, alpha, res, expect in [(0, 0.0, None, ref), (1, 0.0, None, np.maximum(ref, 0)),
                                        (0, 0.0, residual, ref + residual),
                                        (2, 0.0, residual, np.clip(ref + residual, 0, 6)),
                                        (3, 0.5, None, np.where(ref > 0, ref, 0.5 * ref))]:
            out[...] = np.nan
            kernels.conv2d_direct_nchw(x4, rows, g.k_len, b, out, g.groups, g.kh, g.kw,
                                       g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h,
                                       g.dil_w, threads, PANELS,
                                       None if res is None else _args.like_strided(out, res),
                                       act, alpha)
            err = np.abs(out.astype(np.float64) - expect)
            assert (err <= bound + (0 if res is None else np.finfo(dtype).eps
                                    * np.abs(expect))).all(), (act, np.nanmax(err))


# 1x1 layers whose tasks have at least 8 blocks of MR output channels: with K >= 16 they copy
# their block of the input into panels (task_in_place's copy_block), and every such task
# sweeps its panels in groups, block by block: partial panels (in the last group), several K
# blocks, groups, a partial last channel block
BLOCK_COPY_CASES = [
    ((2, 72, 13, 11), (100, 72, 1, 1), 1),
    ((1, 800, 2, 3), (48, 800, 1, 1), 1),
    ((1, 128, 9, 9), (112, 64, 1, 1), 2),
    ((1, 16, 23, 29), (96, 16, 1, 1), 1),      # in place, 42 panels: two groups
    ((2, 24, 17, 19), (130, 24, 1, 1), 1),
    ((1, 40, 15, 15), (112, 20, 1, 1), 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", BLOCK_COPY_CASES, ids=[str(c[0]) for c in BLOCK_COPY_CASES])
def test_one_by_one_block_copied(rng, case, dtype):
    xs, ws, groups = case
    # the cases count output channels in blocks of 6 (AVX2's MR); AVX-512 builds block 12
    ws = (ws[0] * _dispatch.direct.MR // 6,) + ws[1:]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x4, w4, _, g, _ = _args.parse_conv2d(x, w, b, 1, 0, 1, groups)
    plan = _dispatch.direct.plan_summary(
        g.n, g.c_in, g.h, g.w, g.c_out, g.groups, 1, 1, 1, 1, 0, 0, 1, 1, g.h_out, g.w_out,
        x.dtype.itemsize, 1, PANELS)
    assert plan["b_in_place"] and plan["channel_units_per_task"] >= 8, plan
    ref = conv2d_reference(x, w, b, groups=groups)
    _check_output_pass(rng, x4, w4, b, g, 1, ref, error_bound(x, w, b, dtype, groups=groups))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,c_out", [
    ((1, 900, 7, 7), 50),      # 49 pixels: 3 panels and one of 1 pixel; 3 K blocks
    ((1, 70, 3, 6), 13),       # 18: a panel of 2
    ((2, 300, 5, 13), 100),    # 65 per image: 4 panels and 1, 17 channel blocks (copied)
    ((1, 20, 3, 11), 7),       # 33: 2 panels and 1, a partial channel block
])
def test_last_pixels_of_a_panel_against_packed_weights(rng, xs, c_out, dtype):
    """A panel's last one or two pixels run cc_gemm_ukernel_cols (packed weights: a prepared
    layer), accumulated over K blocks, with bias, residual and activation, into an output
    with nothing past it touched."""
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((c_out, xs[1], 1, 1)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    residual = rng.standard_normal((xs[0], c_out) + xs[2:]).astype(dtype)
    plan = _dispatch.direct.plan_summary(xs[0], xs[1], xs[2], xs[3], c_out, 1, 1, 1, 1, 1, 0,
                                         0, 1, 1, xs[2], xs[3], x.dtype.itemsize, 1, 0, True)
    assert plan["method"] == "panels" and plan["b_in_place"], plan
    ref = conv2d_reference(x, w, b)
    bound = error_bound(x, w, b, dtype) + np.finfo(dtype).eps * np.abs(ref + residual)
    for activation, f in [(None, lambda v: v), ("relu6", lambda v: np.clip(v, 0, 6))]:
        layer = cconv.Conv2d(w, b, activation=activation, algorithm="direct")
        n = residual.size
        buf = np.full(n + 64, 7.5, dtype)
        out = buf[:n].reshape(residual.shape)
        layer(x, out=out, residual=residual)
        assert (buf[n:] == 7.5).all()
        assert (np.abs(out - f(ref + residual)) <= bound).all(), np.abs(out - f(ref + residual)).max()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_input_channel_many_outputs_runs_the_gemm(rng, layout, dtype):
    # C_in = 1 (per group) with >= 16 output channels on a small plane: the direct kernel's
    # GEMM, not the depthwise kernel (_select.direct_kernel); conv2d and a prepared Conv2d
    # (which packs the GEMM's panels too) against the reference, bias and relu fused
    cases = [((2, 1, 28, 28), (32, 1, 5, 5), 1, 2, 1),     # MNIST's first layer
             ((1, 2, 20, 33), (48, 1, 3, 3), 1, 1, 2),     # groups, 24 channels each
             ((1, 1, 30, 31), (16, 1, 3, 3), 2, 0, 1)]
    if layout == "NHWC":
        # into a channels-last output, from 4 output channels on, any plane (groups == 1)
        cases += [((1, 1, 100, 130), (4, 1, 3, 3), 1, 1, 1), ((1, 1, 9, 40), (6, 1, 2, 3), 2, 0, 1)]
    for xs, ws, stride, padding, groups in cases:
        params = dict(stride=stride, padding=padding, groups=groups)
        layer = cconv.Conv2d(np.zeros(ws, dtype), layout=layout, **params)
        assert layer.explain(xs[:1] + xs[2:] + xs[1:2] if layout == "NHWC"
                             else xs)["kernel"] == "direct"
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        ref = np.maximum(conv2d_reference(x, w, b, **params), 0)
        bound = error_bound(x, w, b, dtype, **params)
        xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x
        conv = cconv.Conv2d(w, b, activation="relu", layout=layout, **params)
        for y in (conv(xl), cconv.conv2d(xl, w, b, activation="relu", layout=layout, **params)):
            if layout == "NHWC":
                y = y.transpose(0, 3, 1, 2)
            assert (np.abs(y - ref) <= bound).all()
    # few output channels in NCHW: the depthwise kernel; many, on any plane: the GEMM
    assert cconv.Conv2d(np.zeros((4, 1, 3, 3)), padding=1).explain(
        (1, 1, 100, 130))["kernel"] == "depthwise"
    assert cconv.explain((1, 1, 28, 28), (8, 1, 5, 5))["kernel"] == "depthwise"
    assert cconv.explain((1, 1, 224, 224), (32, 1, 3, 3), padding=1)["kernel"] == "direct"
    assert cconv.explain((1, 32, 28, 28), (32, 1, 3, 3), groups=32)["kernel"] == "depthwise"
    # explain(layout=) says what conv2d runs in that layout: the channels-last GEMM for one
    # input channel and 4 outputs, where NCHW runs the depthwise kernel; shapes in the layout
    nhwc = cconv.explain((1, 100, 130, 1), (4, 1, 3, 3), padding=1, layout="NHWC")
    assert nhwc["kernel"] == "direct" and nhwc["output_shape"] == (1, 100, 130, 4)
    assert nhwc == cconv.Conv2d(np.zeros((4, 1, 3, 3)), padding=1, layout="NHWC").explain(
        (1, 100, 130, 1)) | {"reason": nhwc["reason"]}
    with pytest.raises(ValueError, match="explain: layout must be 'NCHW' or 'NHWC'"):
        cconv.explain((1, 1, 8, 8), (4, 1, 3, 3), layout="CHW")
    # a layer that never runs the GEMM does not pack weights for it (multiplier 4, 32 groups)
    assert cconv.Conv2d(np.zeros((128, 1, 3, 3), dtype), groups=32)._prepared.panels is None
    assert cconv.Conv2d(np.zeros((4, 1, 3, 3), dtype))._prepared.panels is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
def test_strided_and_padded_1x1_read_their_phase_image_in_place(rng, dtype, threads):
    """A 1x1 layer that is strided, padded or reads non-contiguous planes: its phase image is
    the [K][H_out*W_out] matrix, read in place by the 1x1 path (no panel copy, no accumulator
    block), images built in chunks, groups, a partial last panel, copied K blocks (>= 8
    channel blocks), bias, residual and activation, into an output with guard values after
    it; and an output with strided planes, which takes the other path."""
    cases = [  # input shape, C_out, stride, padding, groups
        ((1, 64, 56, 56), 128, 2, 0, 1),
        ((3, 64, 130, 130), 8, 2, 0, 1),         # 1 MiB of phases an image: 3 chunks
        ((2, 12, 9, 11), 30, (3, 2), 0, 1),      # 3 x 6 = 18 pixels: a partial panel
        ((1, 8, 10, 10), 12, 1, ((1, 0), (2, 1))),  # padded, stride 1
        ((1, 16, 13, 17), 20, (1, 2), 1, 2),     # groups
        ((1, 600, 14, 14), 64, 2, 0, 1),         # 2 K blocks
    ]
    with cconv.threads(threads):
        for xs, c_out, stride, padding, *g in cases:
            groups = g[0] if g else 1
            x = rng.standard_normal(xs).astype(dtype)
            w = rng.standard_normal((c_out, xs[1] // groups, 1, 1)).astype(dtype)
            b = rng.standard_normal(c_out).astype(dtype)
            params = dict(stride=stride, padding=padding, groups=groups)
            ref = conv2d_reference(x, w, b, **params)
            residual = rng.standard_normal(ref.shape).astype(dtype)
            bound = (error_bound(x, w, b, dtype, **params)
                     + np.finfo(dtype).eps * np.abs(ref + residual))
            geom = _args.parse_conv2d(x, w, b, stride, padding, 1, groups, "conv2d")[3]
            plan = _dispatch.direct.plan_summary(
                xs[0], xs[1], xs[2], xs[3], c_out, groups, 1, 1, geom.stride_h, geom.stride_w,
                geom.pad_top, geom.pad_left, 1, 1, ref.shape[2], ref.shape[3],
                x.dtype.itemsize, threads, 0, True)
            assert plan["method"] == "panels" and plan["b_from_phase"], (xs, plan)
            layer = cconv.Conv2d(w, b, activation="relu6", algorithm="direct", **params)
            n = residual.size
            buf = np.full(n + 64, 7.5, dtype)
            out = buf[:n].reshape(residual.shape)
            layer(x, out=out, residual=residual)
            assert (buf[n:] == 7.5).all()
            expected = np.clip(ref + residual, 0, 6)
            assert (np.abs(out - expected) <= bound).all(), (xs, np.abs(out - expected).max())
            # non-contiguous input planes, and an output whose planes are strided
            wide = np.zeros(ref.shape[:3] + (2 * ref.shape[3],), dtype)
            got = cconv.conv2d(x, w, b, out=wide[:, :, :, ::2], algorithm="direct", **params)
            assert (np.abs(got - ref) <= error_bound(x, w, b, dtype, **params)).all()
            xv = np.repeat(x, 2, axis=3)[:, :, :, ::2]
            got = cconv.conv2d(xv, w, b, algorithm="direct", **params)
            assert (np.abs(got - ref) <= error_bound(x, w, b, dtype, **params)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_thread_split_weighs_the_partial_last_panel(rng, dtype):
    # 49 pixels are a whole panel and a partial one (NR = 32 with AVX-512 float32): split
    # across two threads they leave one thread idle two thirds of the time, so the output
    # channels are split instead; the result is the same as on one thread and right
    x = rng.standard_normal((1, 960, 7, 7)).astype(dtype)
    w = rng.standard_normal((160, 960, 1, 1)).astype(dtype)
    b = rng.standard_normal(160).astype(dtype)
    plan = _dispatch.direct.plan_summary(1, 960, 7, 7, 160, 1, 1, 1, 1, 1, 0, 0, 1, 1, 7, 7,
                                         x.dtype.itemsize, 2, 0, True)
    if plan["pixel_units"] > 1 and 49 % (plan["nr"] if plan["method"] == "panels"
                                         else plan["mr"]):
        assert plan["pixel_units_per_task"] == plan["pixel_units"], plan
        assert plan["tasks"] == 2, plan
    conv = cconv.Conv2d(w, b)
    with cconv.threads(1):
        one = conv(x)
    with cconv.threads(2):
        two = conv(x)
    np.testing.assert_array_equal(one, two)
    assert (np.abs(two - conv2d_reference(x, w, b)) <= error_bound(x, w, b, dtype)).all()


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("packed", [True, False])
def test_stride_four_stems_read_their_input_in_place(itemsize, packed):
    """A stride above 2 builds its phase image value by value: ConvNeXt's 4x4 stride-4 stem
    (no padding) and AlexNet's 11x11 stride-4 stem (padding 2, 216 of 3025 output pixels in
    the border) run INDIRECT on the input itself (PANELS, or the phase image, took 1.2-2.5x
    the time on AVX-512)."""
    m = _dispatch.direct
    for args in [(1, 3, 224, 224, 96, 1, 4, 4, 4, 4, 0, 0, 1, 1, 56, 56),
                 (2, 3, 227, 227, 96, 1, 11, 11, 4, 4, 2, 2, 1, 1, 55, 55)]:
        # the border rule (INDIRECT given) ...
        plan = m.plan_summary(*args, itemsize, 1, INDIRECT, weights_packed=packed)
        assert plan["a_rows_in_place"], (args, plan)
        # ... and the method chosen for float32 (float64 on SSE2 has 2 lanes a vector: there
        # PANELS's GEMM is estimated to pay for the phase image)
        if itemsize == 4:
            plan = m.plan_summary(*args, itemsize, 1, weights_packed=packed)
            assert plan["method"] == "indirect" and plan["a_rows_in_place"], (args, plan)
    # ViT-B/16's patch embedding: 196 output pixels, 768 channels, still in place
    vit = (1, 3, 224, 224, 768, 1, 16, 16, 16, 16, 0, 0, 1, 1, 14, 14, itemsize, 1)
    assert m.plan_summary(*vit, INDIRECT, weights_packed=packed)["a_rows_in_place"]
    if itemsize == 4 and packed:   # (unpacked, INDIRECT would transpose 768 x 768 weights)
        plan = m.plan_summary(*vit, weights_packed=packed)
        assert plan["method"] == "indirect" and plan["a_rows_in_place"], plan
    # a stride-2 stem with a border as large keeps its phase image (7x7, padding 3, 60x60)
    plan = m.plan_summary(1, 3, 60, 60, 64, 1, 7, 7, 2, 2, 3, 3, 1, 1, 30, 30, itemsize, 1,
                          INDIRECT, weights_packed=packed)
    assert not plan["a_rows_in_place"], plan
