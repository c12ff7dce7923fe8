"""Winograd F(2x2,3x3): results against the float64 reference, accuracy against the direct
path, non-finite values, and the algorithm choice."""
import numpy as np
import pytest

import cconv
from cconv import _threads
from conftest import assert_conv_matches, error_bound, winograd_error_bound
from reference import conv2d_reference

DTYPES = [np.float32, np.float64]


def make(rng, xshape, c_out, groups=1, dtype=np.float32, bias=True):
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal((c_out, xshape[-3] // groups, 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


def winograd_error_ok(x, w, b, **params):
    """Forced Winograd against the reference: every output within its K-scaled bound, and its
    max error within 4x the direct path's max error on the same inputs."""
    ref = conv2d_reference(x, w, b, **params)
    yw = cconv.conv2d(x, w, b, algorithm="winograd", **params)
    yd = cconv.conv2d(x, w, b, algorithm="direct", **params)
    err_w = np.abs(yw.astype(np.float64) - ref)
    err_d = np.abs(yd.astype(np.float64) - ref)
    assert (err_w <= winograd_error_bound(x, w, b, x.dtype, **params)).all(), err_w.max()
    tiny = np.finfo(x.dtype).eps * np.abs(ref).max()
    assert err_w.max() <= 4 * max(err_d.max(), tiny), (err_w.max(), err_d.max())
    return yw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [0, 1, 2, 3, (1, 0), (0, 2), ((0, 1), (2, 0)), ((3, 1), (1, 3)), "same", "valid"])
def test_every_padding(rng, padding, dtype):
    x, w, b = make(rng, (2, 20, 13, 16), 24, dtype=dtype)
    winograd_error_ok(x, w, b, padding=padding)


@pytest.mark.parametrize("hw", [(1, 1), (2, 2), (3, 3), (1, 7), (4, 5), (9, 7), (16, 16), (17, 33),
                                (31, 2), (40, 41)])
def test_odd_even_and_tiny_images(rng, hw):
    # images smaller than a tile, odd sizes: partial tiles at the right and bottom edges
    x, w, b = make(rng, (1, 17) + hw, 19)
    winograd_error_ok(x, w, b, padding=1)
    if min(hw) >= 3:
        winograd_error_ok(x, w, None, padding=0)


@pytest.mark.parametrize("c_in,c_out,groups", [(16, 16, 2), (12, 30, 3), (64, 64, 4), (8, 8, 8),
                                               (33, 65, 1), (1, 5, 1)])
def test_groups_and_channel_counts(rng, c_in, c_out, groups):
    x, w, b = make(rng, (2, c_in, 11, 14), c_out, groups)
    winograd_error_ok(x, w, b, padding=1, groups=groups)


def test_unbatched_and_empty_batch(rng):
    x, w, b = make(rng, (9, 12, 10), 7)
    y = winograd_error_ok(x, w, b, padding=1)
    assert y.shape == (7, 12, 10)
    x0 = np.zeros((0, 9, 12, 10), np.float32)
    assert cconv.conv2d(x0, w, b, padding=1, algorithm="winograd").shape == (0, 7, 12, 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_layer_against_torch(rng, dtype):
    x, w, b = make(rng, (1, 64, 30, 30), 64, dtype=dtype)
    assert cconv.explain(x.shape, w.shape, padding=1)["algorithm"] == "winograd"
    assert_conv_matches(x, w, b, padding=1)  # auto: Winograd, within the direct bound


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_does_not_change_the_result(rng, threads):
    x, w, b = make(rng, (3, 40, 19, 23), 50)
    before = cconv.get_num_threads()
    try:
        cconv.set_num_threads(1)
        one = cconv.conv2d(x, w, b, padding=1, algorithm="winograd")
        cconv.set_num_threads(threads)
        many = cconv.conv2d(x, w, b, padding=1, algorithm="winograd")
    finally:
        cconv.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (5, 7), (16, 16), (31, 2), (0, 33)])
def test_auto_puts_nonfinite_inputs_exactly_where_direct_does(rng, value, where):
    x, w, b = make(rng, (1, 64, 32, 34), 64)
    x[0, 3][where] = value
    x[0, 60, 10, 10] = np.nan
    assert cconv.explain(x.shape, w.shape, padding=1)["algorithm"] == "winograd"
    auto = cconv.conv2d(x, w, b, padding=1)
    direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    np.testing.assert_array_equal(np.isnan(auto), np.isnan(direct))
    np.testing.assert_array_equal(np.isposinf(auto), np.isposinf(direct))
    np.testing.assert_array_equal(np.isneginf(auto), np.isneginf(direct))
    finite = np.isfinite(direct)
    bound = error_bound(np.nan_to_num(x, nan=0, posinf=0, neginf=0), w, b, x.dtype, padding=1)
    assert (np.abs(auto[finite] - direct[finite]) <= 8 * bound[finite]).all()


@pytest.mark.parametrize("n,hw,threads", [(3, (14, 15), 1), (5, (13, 13), 2), (2, (16, 20), 2), (4, (7, 7), 1)])
def test_tile_blocks_spanning_images(rng, n, hw, threads):
    # a task's block of tiles runs on from the end of one image into the next (56 or 49 tiles
    # per image, 16-tile panels): every image right, and non-finite inputs of a later image
    # land only in that image, where a direct convolution puts them
    x, w, b = make(rng, (n, 64) + hw, 64)
    before = cconv.get_num_threads()
    try:
        cconv.set_num_threads(threads)
        winograd_error_ok(x, w, b, padding=1)
        x[n - 1, 2, hw[0] // 2, 0] = np.nan
        x[1, 5, 0, hw[1] - 1] = np.inf
        x[1, 6, hw[0] - 1, hw[1] - 1] = -np.inf
        assert cconv.explain(x.shape, w.shape, padding=1)["algorithm"] == "winograd"
        auto = cconv.conv2d(x, w, b, padding=1)
        direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    finally:
        cconv.set_num_threads(before)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(auto), test(direct))
    assert np.isfinite(auto[0]).all() and not np.isfinite(auto[n - 1]).all()
    finite = np.isfinite(direct)
    bound = error_bound(np.nan_to_num(x, nan=0, posinf=0, neginf=0), w, b, x.dtype, padding=1)
    assert (np.abs(auto[finite] - direct[finite]) <= 8 * bound[finite]).all()


def test_forced_winograd_spreads_nan_over_tiles_as_documented(rng):
    x, w, b = make(rng, (1, 16, 12, 12), 16)
    x[0, 0, 5, 5] = np.nan
    forced = cconv.conv2d(x, w, b, padding=1, algorithm="winograd")
    direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    assert np.isnan(direct).sum() == 16 * 9
    # every direct NaN is there, and more: whole 2x2 tiles whose 4x4 patch holds the NaN
    assert np.isnan(forced)[np.isnan(direct)].all()
    rows, cols = np.nonzero(np.isnan(forced[0, 0]))
    assert rows.min() >= 2 and rows.max() <= 7 and cols.min() >= 2 and cols.max() <= 7


def test_auto_uses_direct_for_nonfinite_weights(rng):
    x, w, b = make(rng, (1, 64, 32, 32), 64)
    assert cconv.explain(x.shape, w.shape, padding=1)["algorithm"] == "winograd"
    w[3, 5, 1, 1] = np.inf
    auto = cconv.conv2d(x, w, b, padding=1)
    direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    np.testing.assert_array_equal(auto, direct)


@pytest.mark.parametrize("wshape,params,reason", [
    ((8, 8, 5, 5), {}, "kernel is 5x5"),
    ((8, 8, 3, 3), dict(stride=2), "stride is"),
    ((8, 8, 3, 3), dict(stride=(1, 2), dilation=2), "stride is"),
    ((8, 8, 1, 3), {}, "kernel is 1x3"),
])
def test_forcing_winograd_on_other_shapes_names_the_reason(wshape, params, reason):
    x = np.zeros((1, 8, 16, 16), np.float32)
    with pytest.raises(ValueError, match=f"algorithm='winograd' needs a 3x3 kernel.*{reason}"):
        cconv.conv2d(x, np.zeros(wshape, np.float32), algorithm="winograd", **params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw,dilation,padding", [
    ((20, 17), 2, 2), ((23, 31), (3, 2), ((0, 4), (5, 1))), ((9, 9), 4, 4), ((16, 12), (1, 3), 3),
    ((7, 8), 3, 0), ((6, 7), 5, ((5, 3), (1, 5))), ((40, 7), (2, 5), "same"), ((11, 13), 2, 7)])
def test_dilated_layers_as_dense_phases(rng, hw, dilation, padding, dtype):
    # dilation d: d x d Winograd calls on strided views, each with its own padding (a positive
    # shift skips phase rows instead); against the reference, within 4x the direct error
    x, w, b = make(rng, (2, 12) + hw, 10, dtype=dtype)
    winograd_error_ok(x, w, b, padding=padding, dilation=dilation)
    res = rng.standard_normal(cconv.conv2d(x, w, b, padding=padding, dilation=dilation).shape)
    res = res.astype(dtype)
    for layout in ("NCHW", "NHWC"):
        conv = cconv.Conv2d(w, b, padding=padding, dilation=dilation, algorithm="winograd",
                            activation="relu", layout=layout)
        xl = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        rl = res if layout == "NCHW" else np.ascontiguousarray(res.transpose(0, 2, 3, 1))
        y = conv(xl, residual=rl)
        y = y if layout == "NCHW" else y.transpose(0, 3, 1, 2)
        ref = np.maximum(conv2d_reference(x, w, b, padding=padding, dilation=dilation) + res, 0)
        bound = winograd_error_bound(x, w, b, dtype, padding=padding, dilation=dilation)
        bound += 2 * np.finfo(dtype).eps * np.abs(ref)  # + the residual, rounded once more
        assert (np.abs(y - ref) <= bound).all()


def test_dilated_phase_without_input_runs_direct(rng):
    # output grid (0, *) of a 2-row input with dilation 4 and padding 4 reads only padding
    # rows: no phase view to run Winograd on, the direct kernel computes the layer
    x, w, b = make(rng, (1, 8, 2, 9), 8)
    y = cconv.conv2d(x, w, b, padding=4, dilation=4, algorithm="winograd")
    np.testing.assert_allclose(y, conv2d_reference(x, w, b, padding=4, dilation=4),
                               rtol=1e-5, atol=1e-5)


def test_dilated_auto_places_nonfinite_inputs_like_direct(rng):
    x, w, b = make(rng, (1, 128, 64, 64), 128)
    x[0, 3, 7, 9] = np.nan
    x[0, 9, 30, 31] = np.inf
    assert cconv.explain(x.shape, w.shape, padding=2, dilation=2)["algorithm"] == "winograd"
    auto = cconv.conv2d(x, w, b, padding=2, dilation=2)
    direct = cconv.conv2d(x, w, b, padding=2, dilation=2, algorithm="direct")
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(auto), test(direct))
    assert np.isnan(auto).sum() == 128 * 9


def test_dilated_choice_per_phase():
    # each phase is its own Winograd call: the pixel threshold applies to a phase's pixels
    big = cconv.explain((1, 128, 64, 64), (128, 128, 3, 3), padding=2, dilation=2)
    small = cconv.explain((1, 256, 33, 33), (256, 256, 3, 3), padding=6, dilation=6)
    assert big["algorithm"] == "winograd" and "4 dense convolutions" in big["reason"]
    assert small["algorithm"] == "direct" and "36 dense convolutions" in small["reason"]


def test_dilated_phase_threshold_depends_on_channels_and_threads():
    # 81 pixels per phase (33x33, dilation 4): Winograd's 16 small calls won with 256 channels
    # at 1 thread only (0.91x the direct time; 1.07x at 2), with 512 at both (0.86x, 0.92x),
    # never with 128 (1.10x, 1.46x)
    def chosen(channels, threads):
        layer = cconv.Conv2d(np.zeros((channels, channels, 3, 3), np.float32), padding=4,
                             dilation=4)
        with cconv.threads(threads):
            return layer.explain((1, channels, 33, 33))["algorithm"]
    # (a serial build runs 1 thread whatever is asked)
    two = "direct" if _threads.OPENMP else "winograd"
    assert [chosen(256, 1), chosen(256, 2)] == ["winograd", two]
    assert [chosen(512, 1), chosen(512, 2)] == ["winograd", "winograd"]
    assert [chosen(128, 1), chosen(128, 2)] == ["direct", "direct"]


def test_prepared_layer_counts_dilated_pixels_per_phase():
    # a prepared layer built for Winograd falls back to the direct kernel per call when the
    # input is too small: by the same per-phase count as the choice itself (it once counted
    # all output pixels, and ran Winograd's 16 calls of 144 pixels, 1.16x the direct time)
    w = np.ones((64, 64, 3, 3), np.float32)
    layer = cconv.Conv2d(w, padding=4, dilation=4)
    assert layer.algorithm == "winograd"   # built for a large input
    for threads in (1, 2):
        with cconv.threads(threads):
            small = layer.explain((1, 64, 48, 48))   # 16 phases of 12x12
            assert small["algorithm"] == "direct", small
            assert "16 dense convolutions of 144 output pixels" in small["reason"]
            assert layer.explain((1, 64, 96, 96))["algorithm"] == "winograd"   # 24x24 each
    x = np.random.default_rng(5).standard_normal((1, 64, 48, 48)).astype(np.float32)
    np.testing.assert_allclose(layer(x), cconv.conv2d(x, w, padding=4, dilation=4,
                                                      algorithm="direct"),
                               rtol=1e-4, atol=1e-3)


def test_explain():
    e = cconv.explain((1, 256, 56, 56), (256, 256, 3, 3), padding=1)
    assert e["algorithm"] == "winograd" and e["output_shape"] == (1, 256, 56, 56)
    assert e["flops"] == 2 * 256 * 256 * 9 * 56 * 56
    e = cconv.explain((32, 56, 56), (32, 1, 3, 3), padding=1, groups=32)
    assert (e["algorithm"], e["kernel"]) == ("direct", "depthwise")
    assert e["output_shape"] == (32, 56, 56)
    e = cconv.explain((1, 8, 9, 9), (8, 8, 3, 3), stride=2)
    assert e["algorithm"] == "direct" and "stride" in e["reason"]
    assert cconv.explain((1, 8, 9, 9), (8, 8, 3, 3), algorithm="direct")["reason"] == "requested"
    with pytest.raises(ValueError, match="explain: groups=3 must divide"):
        cconv.explain((1, 8, 9, 9), (8, 8, 3, 3), groups=3)
    with pytest.raises(TypeError, match="explain: input_shape must be a sequence of ints"):
        cconv.explain(None, (8, 8, 3, 3))


def test_tile_panel_width_follows_the_estimated_makespan():
    # a 7x7 image's 16 tiles fill one vector: with AVX-512 (MR = 12, its narrow kernel
    # hides the FMA latency) one-vector panels, as cheap as NR-wide ones there and with half
    # the V and M blocks; larger images take the NR-wide kernel, faster per FMA. With MR = 6
    # (AVX2, SSE) the narrow kernel does not hide the latency: NR-wide panels throughout.
    from cconv import _dispatch
    nr = _dispatch.direct.NR_F32
    summary = _dispatch.winograd.split_summary
    for threads in (1, 2):
        small = summary(1, 512, 512, 1, 7, 7, 4, threads)["tiles_per_panel"]
        assert small == (nr // 2 if _dispatch.direct.MR >= 8 else nr)
        for hw in [(28, 28), (56, 56), (57, 57)]:
            assert summary(1, 256, 256, 1, *hw, 4, threads)["tiles_per_panel"] == nr, hw


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_last_tile_panel_against_reference(rng, dtype, threads):
    # the last panel of a task holds 1 to NR-1 tiles: only those are computed (the kernel's
    # FMAs and stores cover them, rounded up to half a vector) and their outputs must be the
    # only ones that land. Tile counts of every residue class of interest modulo 8, 16 and 32,
    # over images of a batch and 40 output channels (a partial 12-row block too).
    for images, hw in [(1, (2, 2)), (1, (16, 18)), (1, (34, 34)), (2, (17, 15)), (3, (12, 11)),
                       (1, (30, 64)), (2, (23, 9))]:
        x, w, b = make(rng, (images, 24) + hw, 40, dtype=dtype)
        with cconv.threads(threads):
            winograd_error_ok(x, w, b, padding=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_short_tile_rows_sharing_a_vector(rng, dtype, threads):
    # images up to 14 wide (7 tiles a row): several tile rows, of one image or the next, share
    # one vector of the transforms, one unused slot between rows (its patch straddles two
    # rows); each result is compacted into tile order. Every width of tile row, every padding
    # kind, against the reference; then NaN and Inf on the columns next to a row boundary land
    # exactly where a direct convolution puts them.
    for hw, padding in [((1, 1), 1), ((3, 2), 1), ((5, 6), 1), ((9, 7), 1), ((12, 11), 1),
                        ((14, 14), 1), ((10, 13), ((0, 1), (2, 0))), ((6, 16), 0)]:
        x, w, b = make(rng, (3, 20) + hw, 24, dtype=dtype)
        with cconv.threads(threads):
            winograd_error_ok(x, w, b, padding=padding)
    x, w, b = make(rng, (3, 64, 11, 12), 64, dtype=dtype)
    x[0, 1, 3, 11] = np.nan       # last column: the patch beside the unused slot
    x[1, 2, 6, 0] = np.inf        # first column of a later row
    x[2, 3, 10, 11] = -np.inf     # the last tile of the batch
    with cconv.threads(threads):
        assert cconv.explain(x.shape, w.shape, padding=1)["algorithm"] == "winograd"
        auto = cconv.conv2d(x, w, b, padding=1)
        direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(auto), test(direct))
    finite = np.isfinite(direct)
    bound = error_bound(np.nan_to_num(x, nan=0, posinf=0, neginf=0), w, b, x.dtype, padding=1)
    assert (np.abs(auto[finite] - direct[finite]) <= 8 * bound[finite]).all()


@pytest.mark.parametrize("hw", [(7, 7), (5, 9), (8, 8)])
def test_narrow_tile_panels_against_reference(rng, hw):
    # few tiles per image, several images and channel blocks: the narrow microkernel path
    x, w, b = make(rng, (3, 40) + hw, 50)
    winograd_error_ok(x, w, b, padding=1)
    winograd_error_ok(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                      padding=1)


def test_prepared_small_images_choose_by_thread_count(rng):
    # bench/crossover.txt: with its weights transformed once, Winograd wins on a 7x7 image at
    # 1 thread from 64 channels (not with 32); on 2 threads the direct kernel wins below 128
    x, w, b = make(rng, (1, 64, 7, 7), 64)
    conv = cconv.Conv2d(w, b, padding=1)
    x32, w32, b32 = make(rng, (1, 32, 7, 7), 32)
    with cconv.threads(1):
        assert conv.explain(x.shape)["algorithm"] == "winograd"
        assert cconv.Conv2d(w32, b32, padding=1).explain(x32.shape)["algorithm"] == "direct"
        y1 = conv(x)
    ref = conv2d_reference(x, w, b, padding=1)
    assert (np.abs(y1 - ref) <= winograd_error_bound(x, w, b, x.dtype, padding=1)).all()
    from cconv import _threads
    with cconv.threads(2):
        if _threads.effective_num_threads() < 2:
            return  # no OpenMP or one CPU: 2 threads cannot be had here
        e = conv.explain(x.shape)
        assert e["algorithm"] == "direct" and "on 2 threads" in e["reason"], e
        y2 = conv(x)
        # with >= 128 channels it wins on 2 threads too
        x128, w128, b128 = make(rng, (1, 128, 7, 7), 128)
        conv128 = cconv.Conv2d(w128, b128, padding=1)
        assert conv128.explain(x128.shape)["algorithm"] == "winograd"
        y128 = conv128(x128)
    assert (np.abs(y2 - ref) <= error_bound(x, w, b, x.dtype, padding=1)).all()
    ref128 = conv2d_reference(x128, w128, b128, padding=1)
    assert (np.abs(y128 - ref128)
            <= winograd_error_bound(x128, w128, b128, x128.dtype, padding=1)).all()


def test_bench_accuracy_script_winograd_within_4x_of_direct(capsys):
    # bench/accuracy.py, whose figures the README quotes, on two suite layers: Winograd's
    # largest error within 4x the direct kernel's on the same float32 inputs
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "accuracy.py")
    spec = importlib.util.spec_from_file_location("bench_accuracy", path)
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    accuracy.main(["--layers", "odd-3x3-57", "grouped-g4", "--seeds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith(("odd-3x3-57", "grouped-g4")) for line in lines) == 2
    ratios = [float(line.split()[-1]) for line in lines if line.startswith("largest ratio")]
    assert len(ratios) == 1 and max(ratios) <= 4, lines


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channels_last_input_and_output(rng, dtype, threads):
    # channels-last input: each band built for a vector of channels at once (transposed);
    # channels-last output: a vector of output channels' tiles transposed into pixels. Channel
    # counts below, at and past a vector (tails of 1..15), packed short tile rows, groups,
    # several images, uneven padding; bias + relu6, then residual + silu through the output
    # pass; both mixed layouts (out= views); NaN/Inf under auto land where direct puts them.
    cases = [((1, 64, 23, 26), 64, 1, 1), ((2, 20, 9, 13), 7, 1, 0), ((3, 17, 6, 6), 17, 1, 2),
             ((1, 3, 10, 10), 5, 1, 1), ((2, 48, 7, 5), 32, 2, 1), ((1, 40, 12, 11), 33, 1, ((0, 1), (2, 0))),
             ((1, 33, 30, 17), 40, 1, 1)]
    for xshape, c_out, groups, padding in cases:
        x, w, b = make(rng, xshape, c_out, groups, dtype)
        params = dict(padding=padding, groups=groups)
        ref = conv2d_reference(x, w, b, **params)
        act = lambda r: np.minimum(np.maximum(r, 0), 6)
        bound = winograd_error_bound(x, w, b, dtype, **params)
        with cconv.threads(threads):
            y = cconv.conv2d(_nhwc(x), w, b, layout="NHWC", algorithm="winograd",
                             activation="relu6", **params).transpose(0, 3, 1, 2)
            assert (np.abs(y - act(ref)) <= bound).all(), (xshape, np.abs(y - act(ref)).max())
            residual = rng.standard_normal(ref.shape).astype(dtype)
            layer = cconv.Conv2d(w, b, layout="NHWC", algorithm="winograd", activation="silu",
                                 **params)
            y2 = layer(_nhwc(x), residual=_nhwc(residual)).transpose(0, 3, 1, 2)
            s = ref + residual
            want = s / (1 + np.exp(-s))
            assert (np.abs(y2 - want) <= bound + 4 * np.finfo(dtype).eps * np.abs(want)).all()
            # NCHW input into channels-last memory, and channels-last input into NCHW memory
            out_cl = np.full(ref.shape[:1] + ref.shape[2:] + ref.shape[1:2], np.nan, dtype)
            cconv.conv2d(x, w, b, algorithm="winograd", out=out_cl.transpose(0, 3, 1, 2),
                         **params)
            assert (np.abs(out_cl.transpose(0, 3, 1, 2) - ref) <= bound).all()
            out_nchw = np.full(ref.shape, np.nan, dtype)
            cconv.conv2d(_nhwc(x), w, b, layout="NHWC", algorithm="winograd",
                         out=out_nchw.transpose(0, 2, 3, 1), **params)
            assert (np.abs(out_nchw - ref) <= bound).all()
    x, w, b = make(rng, (3, 64, 11, 12), 64, dtype=dtype)
    x[0, 1, 3, 11] = np.nan
    x[1, 20, 6, 0] = np.inf
    x[2, 63, 10, 11] = -np.inf
    with cconv.threads(threads):
        assert cconv.explain(_nhwc(x).shape, w.shape, padding=1,
                             layout="NHWC")["algorithm"] == "winograd"
        auto = cconv.conv2d(_nhwc(x), w, b, padding=1, layout="NHWC").transpose(0, 3, 1, 2)
        direct = cconv.conv2d(x, w, b, padding=1, algorithm="direct")
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(auto), test(direct))
