"""conv2d against the float64 reference (and torch) over the parameter space."""
import itertools
import pickle

import numpy as np
import pytest

import cconv
from conftest import assert_conv_matches, error_bound
from reference import conv2d_reference

DTYPES = [np.float32, np.float64]


def make(rng, xshape, wshape, bias=True, dtype=np.float32):
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype) if bias else None
    return x, w, b


# The five examples of torch.nn.functional.conv2d's documentation
DOC_EXAMPLES = [
    ((1, 3, 224, 224), (64, 3, 3, 3), True, dict(padding=1)),
    ((4, 64, 112, 112), (128, 64, 3, 3), False, dict(stride=2, padding=1)),
    ((1, 128, 32, 32), (128, 128, 3, 3), False, dict(padding=2, dilation=2)),
    ((32, 64, 28, 28), (64, 1, 3, 3), False, dict(padding=1, groups=64)),
    ((8, 128, 16, 16), (256, 128, 3, 3), False, dict(stride=(2, 2), padding=(1, 1))),
]


@pytest.mark.parametrize("xshape,wshape,bias,params", DOC_EXAMPLES)
def test_torch_documentation_examples(rng, xshape, wshape, bias, params):
    assert_conv_matches(*make(rng, xshape, wshape, bias), **params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c_in,c_out", [(1, 1), (3, 4), (4, 13), (13, 16), (16, 17), (17, 3)])
@pytest.mark.parametrize("hw", [(1, 1), (9, 7), (25, 33)])
def test_channels_and_sizes_leave_partial_blocks(rng, dtype, c_in, c_out, hw):
    # 3x3, padding 1: every output exists for every size, partial MR/NR tiles everywhere
    assert_conv_matches(*make(rng, (2, c_in) + hw, (c_out, c_in, 3, 3), dtype=dtype), padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [(1, 1), (2, 2), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1), (2, 5)])
@pytest.mark.parametrize("stride", [1, 2, 3, (1, 2), (3, 1)])
def test_kernel_and_stride(rng, dtype, k, stride):
    x, w, b = make(rng, (2, 5, 17, 14), (7, 5) + k, dtype=dtype)
    assert_conv_matches(x, w, b, stride=stride, padding=(k[0] // 2, k[1] // 2))


@pytest.mark.parametrize("padding", [0, 1, 2, 4, (0, 3), (2, 1), "valid", "same",
                                     ((0, 2), (1, 0)), ((3, 1), (0, 4))])
@pytest.mark.parametrize("dilation", [1, 2, 3, (1, 2), (2, 3)])
def test_padding_and_dilation(rng, padding, dilation):
    x, w, b = make(rng, (1, 6, 15, 16), (8, 6, 3, 2))
    assert_conv_matches(x, w, b, padding=padding, dilation=dilation)


@pytest.mark.parametrize("k", [(2, 2), (4, 4), (3, 4), (1, 2)])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_padding_same_even_kernels_split_like_torch(rng, k, dilation):
    # the odd extra padding goes to the bottom/right, as torch splits it
    x, w, b = make(rng, (1, 2, 8, 9), (3, 2) + k)
    y = assert_conv_matches(x, w, b, padding="same", dilation=dilation)
    assert y.shape[2:] == x.shape[2:]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c_in,c_out,groups", [
    (4, 4, 2), (6, 9, 3), (8, 8, 8), (16, 32, 16), (13, 26, 13), (12, 6, 2), (64, 64, 64),
    (3, 3, 3), (32, 64, 32)])
def test_groups_grouped_depthwise_and_multiplier(rng, dtype, c_in, c_out, groups):
    x, w, b = make(rng, (2, c_in, 11, 10), (c_out, c_in // groups, 3, 3), dtype=dtype)
    assert_conv_matches(x, w, b, padding=1, groups=groups)
    assert_conv_matches(x, w, b, stride=2, dilation=2, padding=2, groups=groups)


@pytest.mark.parametrize("xhw,k,padding", [
    ((2, 2), (3, 3), 5),       # padding far larger than the kernel and the input
    ((1, 1), (5, 5), 2),       # kernel larger than the unpadded input
    ((3, 2), (7, 5), (3, 2)),
    ((4, 4), (3, 3), 3),       # outputs that see only padding
    ((1, 5), (1, 9), (0, 4)),
])
def test_padding_larger_than_kernel_and_kernel_larger_than_input(rng, xhw, k, padding):
    x, w, b = make(rng, (2, 3) + xhw, (5, 3) + k)
    assert_conv_matches(x, w, b, padding=padding)
    assert_conv_matches(x, w, None, padding=padding, stride=2)


def test_all_combinations_small(rng):
    """Every combination of a few values of each parameter, on a small odd-sized input."""
    for (k, stride, padding, dilation, groups, bias) in itertools.product(
            [(1, 1), (3, 3), (2, 3)], [1, 2], [0, 1, "same"], [1, 2], [1, 3], [False, True]):
        if padding == "same" and stride != 1:
            continue
        x, w, b = make(rng, (1, 6, 9, 8), (6, 6 // groups) + k, bias)
        assert_conv_matches(x, w, b, stride=stride, padding=padding, dilation=dilation,
                            groups=groups)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_input(rng, dtype):
    x, w, b = make(rng, (3, 10, 12), (4, 3, 3, 3), dtype=dtype)
    y = assert_conv_matches(x, w, b, padding=1)
    assert y.shape == (4, 10, 12)
    np.testing.assert_array_equal(y, cconv.conv2d(x[None], w, b, padding=1)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(rng, dtype):
    x, w, b = make(rng, (0, 3, 10, 12), (4, 3, 3, 3), dtype=dtype)
    y = cconv.conv2d(x, w, b, stride=2, padding=1)
    assert y.shape == (0, 4, 5, 6) and y.dtype == dtype


def test_zero_input_channels_gives_bias(rng):
    # an empty sum: every output is the bias (torch returns a 0-channel tensor here)
    x = np.zeros((2, 0, 5, 5), np.float32)
    w = np.zeros((3, 0, 3, 3), np.float32)
    b = np.array([1, -2, 3], np.float32)
    y = cconv.conv2d(x, w, b)
    assert y.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], (2, 3, 3, 3)))
    np.testing.assert_array_equal(cconv.conv2d(x, w), np.zeros((2, 3, 3, 3)))


def test_empty_image_made_non_empty_by_padding_gives_bias():
    # every tap lands in the padding: an empty sum, as with no input channels (torch raises;
    # cconv.dask's empty chunks rely on it)
    x = np.ones((1, 2, 0, 4), np.float32)
    w = np.ones((3, 2, 1, 1), np.float32)
    b = np.array([1, -2, 3], np.float32)
    y = cconv.conv2d(x, w, b, padding=1)
    assert y.shape == (1, 3, 2, 6)
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], (1, 3, 2, 6)))


@pytest.mark.parametrize("algorithm", ["auto", "direct", "winograd"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("groups", [1, 3])
def test_prepared_layer_with_zero_input_channels(algorithm, layout, groups):
    # packing or transforming a weight with C_in/groups == 0 divided by zero (SIGFPE, the
    # process died); now the prepared layer is the output pass alone, like conv2d
    w = np.zeros((6, 0, 3, 3), np.float32)
    b = np.arange(-3, 3, dtype=np.float32)
    conv = cconv.Conv2d(w, b, padding=1, groups=groups, algorithm=algorithm,
                        activation="relu", layout=layout)
    x = np.zeros((2, 0, 5, 4) if layout == "NCHW" else (2, 5, 4, 0), np.float32)
    y = conv(x)
    want = np.broadcast_to(np.maximum(b, 0)[:, None, None], (2, 6, 5, 4))
    np.testing.assert_array_equal(y if layout == "NCHW" else y.transpose(0, 3, 1, 2), want)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(conv))(x), y)


def test_out_argument_written_in_place_and_returned(rng):
    x, w, b = make(rng, (2, 3, 8, 8), (5, 3, 3, 3))
    out = np.full((2, 5, 8, 8), np.nan, np.float32)
    y = cconv.conv2d(x, w, b, padding=1, out=out)
    assert y is out
    np.testing.assert_array_equal(out, cconv.conv2d(x, w, b, padding=1))
    out3 = np.full((5, 8, 8), np.nan, np.float32)
    assert cconv.conv2d(x[0], w, b, padding=1, out=out3) is out3
    np.testing.assert_array_equal(out3, out[0])


def strided_outs(shape, dtype):
    """(name, out view, the buffer it lives in) for out= arrays that are not C-contiguous: a
    channels-last view, channels 3.. of a wider buffer (a concatenation written in place),
    every other column, reversed rows (negative stride), and a view that is not aligned to
    its item size (the last two through a temporary)."""
    n, c, h, w = shape
    nhwc = np.full((n, h, w, c), np.nan, dtype)
    wide = np.full((n, c + 5, h, w), np.nan, dtype)
    cols = np.full((n, c, h, 2 * w), np.nan, dtype)
    rev = np.full(shape, np.nan, dtype)
    raw = np.full(np.prod(shape) * np.dtype(dtype).itemsize + 1, 255, np.uint8)
    unaligned = raw[1:].view(dtype).reshape(shape)
    return [("channels_last", nhwc.transpose(0, 3, 1, 2), nhwc),
            ("concat_slice", wide[:, 3:3 + c], wide),
            ("every_other_column", cols[..., ::2], cols),
            ("reversed_rows", rev[:, :, ::-1], rev),
            ("unaligned", unaligned, raw)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["3x3", "1x1", "depthwise", "winograd"])
def test_out_of_any_layout_gets_exactly_the_result(rng, dtype, kind):
    """out= with any strides is written in place (or through a temporary), with the same
    values as a fresh output, bias, residual and activation included; the rest of the
    buffer it lives in is untouched."""
    c_in, groups, k, algorithm = {"3x3": (6, 1, 3, "direct"), "1x1": (20, 1, 1, "direct"),
                                  "depthwise": (24, 24, 3, "direct"),
                                  "winograd": (8, 1, 3, "winograd")}[kind]
    c_out = 24 if kind == "depthwise" else 19
    x, w, b = make(rng, (2, c_in, 9, 11), (c_out, c_in // groups, k, k), dtype=dtype)
    params = dict(padding=k // 2, groups=groups, algorithm=algorithm, activation="relu")
    residual = rng.standard_normal((2, c_out, 9, 11)).astype(dtype)
    expect = cconv.conv2d(x, w, b, residual=residual, **params)
    layer = cconv.Conv2d(w, b, **params)
    for name, out, buf in strided_outs(expect.shape, dtype):
        before = buf.copy()
        assert cconv.conv2d(x, w, b, residual=residual, out=out, **params) is out, name
        np.testing.assert_allclose(out, expect, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12, err_msg=name)
        if name != "unaligned":   # the buffer's elements outside the view: untouched
            probe = np.zeros(buf.shape, np.int8)
            probe_view = {"channels_last": lambda a: a.transpose(0, 3, 1, 2),
                          "concat_slice": lambda a: a[:, 3:3 + c_out],
                          "every_other_column": lambda a: a[..., ::2],
                          "reversed_rows": lambda a: a[:, :, ::-1]}[name](probe)
            probe_view[...] = 1
            mask = probe == 0
            np.testing.assert_array_equal(buf[mask], before[mask], err_msg=name)
        out[...] = np.nan
        assert layer(x, residual=residual, out=out) is out
        np.testing.assert_allclose(out, expect, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12, err_msg=name)


def test_out_channels_last_view_in_nhwc_layer(rng):
    """layout="NHWC" with out= an NHWC view of NCHW memory (and a residual laid out like a
    C-contiguous NHWC array)."""
    x, w, b = make(rng, (1, 7, 10, 12), (16, 7, 3, 3))
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    residual = rng.standard_normal((1, 10, 12, 16)).astype(np.float32)
    expect = cconv.conv2d(x_nhwc, w, b, padding=1, residual=residual, layout="NHWC")
    nchw = np.full((1, 16, 10, 12), np.nan, np.float32)
    out = nchw.transpose(0, 2, 3, 1)
    cconv.conv2d(x_nhwc, w, b, padding=1, residual=residual, layout="NHWC", out=out)
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_identical_across_thread_counts(rng, dtype):
    x, w, b = make(rng, (3, 17, 23, 19), (33, 17, 3, 3), dtype=dtype)
    x1, w1, b1 = make(rng, (1, 64, 7, 7), (130, 64, 1, 1), dtype=dtype)
    before = cconv.get_num_threads()
    results = {}
    try:
        for n in (1, 2, 3):
            cconv.set_num_threads(n)
            results[n] = (cconv.conv2d(x, w, b, padding=1), cconv.conv2d(x1, w1, b1),
                          cconv.conv2d(x, w, b, stride=2, groups=1))
    finally:
        cconv.set_num_threads(before)
    # the summation order of an output never depends on how work is split across threads
    for n in (2, 3):
        for a, c in zip(results[1], results[n]):
            np.testing.assert_array_equal(a, c)


def test_nonfinite_values_propagate_like_torch(rng):
    x, w, b = make(rng, (1, 2, 9, 9), (3, 2, 3, 3))
    x[0, 0, 4, 4] = np.nan
    x[0, 1, 0, 8] = np.inf
    y = cconv.conv2d(x, w, b, padding=1)
    ref = cconv.conv2d(np.nan_to_num(x, nan=0, posinf=0), w, b, padding=1)
    nan_region = np.zeros((9, 9), bool)
    nan_region[3:6, 3:6] = True
    assert np.isnan(y[0][:, nan_region]).all()
    inf_region = np.zeros((9, 9), bool)
    inf_region[0:2, 7:9] = True
    assert not np.isfinite(y[0][:, inf_region]).any()
    clean = ~nan_region & ~inf_region
    np.testing.assert_array_equal(y[0][:, clean], ref[0][:, clean])


def _matches(y, x, w, b, **params):
    """y (returned by conv2d without out=) against the float64 reference."""
    ref = conv2d_reference(x.astype(x.dtype.newbyteorder("=")), w, b, **params)
    assert y.shape == ref.shape and y.dtype == w.dtype
    err = np.abs(y.astype(np.float64) - ref)
    assert (err <= error_bound(x, w, b, w.dtype, **params)).all(), np.nanmax(err)


def test_repeated_call_shapes_see_new_values_and_layouts(rng):
    """conv2d keeps what it decided for a call's shapes (cconv._conv._CALLS): later calls
    with the same shapes must still compute from their own arrays, and arrays of the same
    shape but other strides, byte order or alignment must take their own path."""
    from cconv import _conv
    _conv._CALLS.clear()
    for dtype in DTYPES:
        for _ in range(3):   # the first call decides, the next ones reuse
            x, w, b = make(rng, (2, 6, 9, 8), (10, 6, 3, 3), dtype=dtype)
            _matches(cconv.conv2d(x, w, b, padding=1), x, w, b, padding=1)
            _matches(cconv.conv2d(x[0], w, b, padding=1)[None], x[:1], w, b, padding=1)
        assert _conv._CALLS
        x, w, b = make(rng, (2, 6, 9, 8), (10, 6, 3, 3), dtype=dtype)
        # the same shapes as views with other strides, byte-swapped, misaligned, NHWC
        xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        swapped = x.astype(x.dtype.newbyteorder(">"))
        raw = np.empty(x.nbytes + 1, np.uint8)
        misaligned = raw[1:].view(dtype).reshape(x.shape)
        misaligned[...] = x
        for xv in (xt, swapped, misaligned, x[:, :, ::-1]):
            for _ in range(2):
                _matches(cconv.conv2d(xv, w, b, padding=1), xv, w, b, padding=1)
        for _ in range(2):
            y = cconv.conv2d(x.transpose(0, 2, 3, 1), w, b, padding=1, layout="NHWC")
            _matches(y.transpose(0, 3, 1, 2), x, w, b, padding=1)
        # the same arrays with other parameters, alternating
        for params in [dict(padding=0), dict(padding=1, stride=2), dict(padding=1),
                       dict(padding=2, dilation=2), dict(padding=(1, 2)), dict(padding=0),
                       dict(padding="same"), dict(padding=1, stride=2)]:
            _matches(cconv.conv2d(x, w, b, **params), x, w, b, **params)
        _matches(cconv.conv2d(x, w, None, padding=1), x, w, None, padding=1)
        y = cconv.conv2d(x, w, b, padding=1, activation="relu")
        _matches(np.minimum(y, 0), x, 0 * w, 0 * b, padding=1)   # relu applied: no negatives


def test_repeated_call_shapes_still_check_arguments(rng):
    """Bad arguments after good calls of the same shapes raise exactly as the first time."""
    x, w, b = make(rng, (1, 4, 7, 7), (6, 4, 3, 3))
    for _ in range(2):
        cconv.conv2d(x, w, b, stride=2, padding=1)
    with pytest.raises(TypeError, match="stride must be an int"):
        cconv.conv2d(x, w, b, stride=(True, 2), padding=1)
    with pytest.raises(TypeError, match="stride must be an int"):
        cconv.conv2d(x, w, b, stride=2.0, padding=1)
    with pytest.raises(TypeError, match="dtype"):
        cconv.conv2d(x.astype(np.float64), w, b, stride=2, padding=1)
    with pytest.raises(ValueError, match="out must not share memory"):
        cconv.conv2d(x, w, b, stride=2, padding=1,
                     out=x.reshape(-1)[:6 * 16].reshape(1, 6, 4, 4))
    with pytest.raises(ValueError, match="activation"):
        cconv.conv2d(x, w, b, stride=2, padding=1, activation="tanh")
    _matches(cconv.conv2d(x, w, b, stride=2, padding=1), x, w, b, stride=2, padding=1)
