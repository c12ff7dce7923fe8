"""The serving API: prepared Conv2d, fused epilogues, NHWC, threads and concurrency."""
import pickle
import threading

import numpy as np
import pytest

import cconv
from conftest import error_bound, torch, torch_conv2d
from reference import conv2d_reference

ACTIVATIONS = [None, "relu", "relu6", "leaky_relu", ("leaky_relu", 0.2), ("leaky_relu", -1.5),
               "silu", "sigmoid", "hardswish", "gelu"]


def reference_activation(v, activation):
    """The activations as torch defines them, in float64 NumPy (math.erf for gelu)."""
    import math
    if activation is None:
        return v
    if isinstance(activation, tuple):
        return np.where(v > 0, v, v * activation[1])
    return {
        "relu": lambda: np.maximum(v, 0),
        "relu6": lambda: np.minimum(np.maximum(v, 0), 6),
        "leaky_relu": lambda: np.where(v > 0, v, v * 0.01),
        "silu": lambda: v / (1 + np.exp(-v)),
        "sigmoid": lambda: 1 / (1 + np.exp(-v)),
        "hardswish": lambda: v * np.clip(v + 3, 0, 6) / 6,
        "gelu": lambda: 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))),
    }[activation]()


def activation_slope_bound(activation):
    """Largest |d act / dv|: how much an error in the sum can grow through the activation."""
    if isinstance(activation, tuple):
        return max(1.0, abs(activation[1]))
    return {"gelu": 1.13, "silu": 1.1, "hardswish": 1.5}.get(activation, 1.0)


def check_epilogue(y, x, w, b, residual, activation, layout="NCHW", **params):
    xn = x if layout == "NCHW" else np.moveaxis(x, -1, -3)
    yn = y if layout == "NCHW" else np.moveaxis(y, -1, -3)
    rn = residual if residual is None or layout == "NCHW" else np.moveaxis(residual, -1, -3)
    pre = conv2d_reference(xn, w, b, **params)
    if rn is not None:
        pre = pre + rn
    ref = reference_activation(pre, activation)
    eps = np.finfo(x.dtype).eps
    bound = (4 * error_bound(xn, w, b, x.dtype, **params) * activation_slope_bound(activation)
             + 8 * eps * (np.abs(ref) + np.abs(pre)) + 8 * eps)
    err = np.abs(yn - ref)
    assert (err <= bound).all(), f"{activation}: max err {err.max():.3e}"


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm,wshape,groups", [
    ("direct", (24, 16, 3, 3), 1), ("winograd", (24, 16, 3, 3), 1), ("direct", (24, 16, 1, 1), 1),
    ("direct", (16, 1, 3, 3), 16), ("direct", (24, 8, 3, 3), 2)])
def test_fused_bias_residual_activation(rng, activation, dtype, algorithm, wshape, groups):
    x = (3 * rng.standard_normal((2, 16, 13, 11))).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    pad = wshape[2] // 2
    shape = (2, wshape[0], 13, 11)
    residual = (3 * rng.standard_normal(shape)).astype(dtype)
    for res in (None, residual):
        y = cconv.conv2d(x, w, b, padding=pad, groups=groups, algorithm=algorithm,
                         activation=activation, residual=res)
        check_epilogue(y, x, w, b, res, activation, padding=pad, groups=groups)
        layer = cconv.Conv2d(w, b, padding=pad, groups=groups, algorithm=algorithm,
                             activation=activation)
        np.testing.assert_array_equal(layer(x, residual=res), y)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_in_the_microkernel(rng, activation, dtype):
    # 1x1 layers apply relu/relu6 in registers after the last block of K: several K blocks,
    # whole and partial tiles, NaN and Inf where they land in the sum
    x = rng.standard_normal((2, 300, 8, 9)).astype(dtype)
    x[0, 5, 2, 3] = np.nan
    x[1, 7, 0, 0] = np.inf
    x[1, 9, 7, 8] = -np.inf
    w = rng.standard_normal((40, 300, 1, 1)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    y = cconv.Conv2d(w, b, activation=activation)(x)
    pre = conv2d_reference(x, w, b)
    ref = reference_activation(pre, activation)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(y[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    err = np.abs(y[finite] - ref[finite])
    bound = error_bound(np.nan_to_num(x, posinf=0, neginf=0), w, b, dtype)[finite]
    assert (err <= bound).all(), err.max()


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("activation,torch_fn", [
    ("relu", "relu"), ("relu6", "relu6"), ("silu", "silu"), ("sigmoid", "sigmoid"),
    ("hardswish", "hardswish"), ("gelu", "gelu"), (("leaky_relu", 0.3), "leaky_relu")])
def test_activations_match_torch(rng, activation, torch_fn):
    F = torch.nn.functional
    x = (4 * rng.standard_normal((1, 8, 20, 20))).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    res = rng.standard_normal((1, 16, 20, 20)).astype(np.float32)
    y = cconv.conv2d(x, w, b, padding=1, activation=activation, residual=res)
    pre = torch.from_numpy(torch_conv2d(x, w, b, padding=1) + res)
    fn = getattr(F, torch_fn) if torch_fn != "sigmoid" else torch.sigmoid
    t = (fn(pre, 0.3) if torch_fn == "leaky_relu" else fn(pre)).numpy()
    np.testing.assert_allclose(y, t, rtol=2e-5, atol=2e-5 * np.abs(t).max())


def test_activation_nan_and_limits():
    x = np.array([[[[np.nan, np.inf, -np.inf, -100.0, 100.0, 0.5, -0.5, 0.0]]]], np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    for act in ("relu", "relu6", "leaky_relu", "silu", "sigmoid", "hardswish", "gelu"):
        y = cconv.conv2d(x, w, activation=act)[0, 0, 0]
        assert np.isnan(y[0]), act                                  # NaN stays NaN
        ref = reference_activation(x[0, 0, 0, 3:].astype(np.float64), act)
        np.testing.assert_allclose(y[3:], ref, rtol=1e-6, atol=1e-30, err_msg=act)
    np.testing.assert_array_equal(cconv.conv2d(x, w, activation="sigmoid")[0, 0, 0, 1:3], [1, 0])
    np.testing.assert_array_equal(cconv.conv2d(x, w, activation="relu")[0, 0, 0, 1:3], [np.inf, 0])


@pytest.mark.parametrize("bad,exc,msg", [
    ("tanh", ValueError, r"activation must be None, one of 'relu', 'relu6', 'leaky_relu', 'silu', 'sigmoid', 'hardswish', 'gelu', \(\"leaky_relu\", slope\); got 'tanh'"),
    (("leaky_relu",), ValueError, "activation must be None"),
    (("leaky_relu", "a"), TypeError, "slope must be a real number"),
    (("leaky_relu", float("nan")), ValueError, "slope must be finite"),
    (3, TypeError, "activation must be None"),
])
def test_bad_activation(bad, exc, msg):
    x = np.zeros((1, 2, 4, 4), np.float32)
    w = np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(exc, match=msg):
        cconv.conv2d(x, w, activation=bad)
    with pytest.raises(exc, match=msg):
        cconv.Conv2d(w, activation=bad)


def test_bad_residual():
    x = np.zeros((1, 2, 4, 4), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"residual must have the output's shape \(1, 3, 2, 2\), got \(1, 3, 4, 4\)"):
        cconv.conv2d(x, w, residual=np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="residual dtype float64 does not match the output dtype float32"):
        cconv.conv2d(x, w, residual=np.zeros((1, 3, 2, 2)))


def test_residual_may_be_the_output_array(rng):
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 4, 1, 1)).astype(np.float32)
    acc = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    expected = cconv.conv2d(x, w) + acc
    cconv.conv2d(x, w, residual=acc, out=acc)   # acc += conv(x): in place
    np.testing.assert_allclose(acc, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm,wshape,groups,params", [
    ("direct", (20, 12, 3, 3), 1, dict(padding=1)),
    ("direct", (20, 12, 1, 1), 1, {}),
    ("direct", (20, 12, 3, 3), 1, dict(stride=2, padding=((0, 1), (2, 1)))),
    ("direct", (20, 6, 5, 5), 2, dict(dilation=2, padding=3)),
    ("direct", (24, 1, 3, 3), 12, dict(padding=1, stride=2)),
    ("winograd", (20, 12, 3, 3), 1, dict(padding=1)),
    ("winograd", (20, 12, 3, 3), 1, dict(padding=((2, 0), (1, 3)))),
])
def test_nhwc_gives_the_nchw_result(rng, dtype, algorithm, wshape, groups, params):
    x = rng.standard_normal((2, 12, 15, 17)).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    nchw = cconv.conv2d(x, w, b, groups=groups, algorithm=algorithm, activation="relu", **params)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    res = rng.standard_normal(nchw.shape).astype(dtype)
    res_nhwc = np.ascontiguousarray(res.transpose(0, 2, 3, 1))
    y = cconv.conv2d(x_nhwc, w, b, groups=groups, algorithm=algorithm, activation="relu",
                     layout="NHWC", **params)
    assert y.shape == nchw.shape[:1] + nchw.shape[2:] + nchw.shape[1:2] and y.flags.c_contiguous
    np.testing.assert_allclose(y, nchw.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    layer = cconv.Conv2d(w, b, groups=groups, algorithm=algorithm, layout="NHWC", **params)
    y2 = layer(x_nhwc, residual=res_nhwc)
    expected = cconv.conv2d(x, w, b, groups=groups, algorithm=algorithm, residual=res, **params)
    np.testing.assert_allclose(y2, expected.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    # unbatched channels-last
    y3 = layer(x_nhwc[0])
    np.testing.assert_allclose(y3, layer(x_nhwc)[0], rtol=0, atol=0)


def test_nhwc_errors_name_the_layout():
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"input must be 3-D \(H, W, C_in\) or 4-D \(N, H, W, C_in\)"):
        cconv.conv2d(np.zeros((8, 8), np.float32), w, layout="NHWC")
    with pytest.raises(ValueError, match=r"expects 3 input channels .* input shape \(1, 8, 8, 4\) has 4"):
        cconv.conv2d(np.zeros((1, 8, 8, 4), np.float32), w, layout="NHWC")
    with pytest.raises(ValueError, match="layout must be 'NCHW' or 'NHWC', got 'CHWN'"):
        cconv.conv2d(np.zeros((1, 3, 8, 8), np.float32), w, layout="CHWN")


class TestConv2d:
    def test_copies_the_weights_and_is_immutable(self, rng):
        w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
        b = rng.standard_normal(8).astype(np.float32)
        layer = cconv.Conv2d(w, b, padding=1)
        x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
        before = layer(x)
        w[...] = 0
        b[...] = 0
        np.testing.assert_array_equal(layer(x), before)
        with pytest.raises(AttributeError, match="immutable"):
            layer.stride = (2, 2)
        with pytest.raises(ValueError):
            layer.weight[0, 0, 0, 0] = 1     # its copy is read-only

    def test_matches_conv2d_for_every_parameter(self, rng):
        for wshape, params in [((6, 4, 3, 3), dict(padding=1)), ((6, 2, 3, 2), dict(groups=2, stride=2)),
                               ((6, 4, 1, 1), {}), ((8, 1, 5, 5), dict(groups=4, padding="same")),
                               ((32, 32, 3, 3), dict(padding=1)), ((6, 4, 3, 3), dict(dilation=2))]:
            c_in = wshape[1] * params.get("groups", 1)
            x = rng.standard_normal((2, c_in, 12, 13)).astype(np.float32)
            w = rng.standard_normal(wshape).astype(np.float32)
            layer = cconv.Conv2d(w, **params)
            expected = cconv.conv2d(x, w, algorithm=layer.algorithm, **params)
            np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
            assert layer.output_shape(x.shape) == expected.shape
            assert layer.output_shape(x.shape[1:]) == expected.shape[1:]

    def test_algorithm_nbytes_repr(self, rng):
        layer = cconv.Conv2d(np.ones((64, 64, 3, 3), np.float32), np.zeros(64, np.float32),
                             padding=1, activation="relu")
        assert layer.algorithm == "winograd"
        u_bytes = 16 * 64 * 64 * 4  # 16 transformed 64x64 matrices (MR divides 64? rounded up)
        assert layer.nbytes >= u_bytes + 64 * 64 * 9 * 4
        assert repr(layer) == ("Conv2d(64, 64, kernel_size=(3, 3), padding=(1, 1), "
                               "activation='relu', algorithm='winograd', dtype=float32)")
        small = cconv.Conv2d(np.ones((4, 2, 3, 3)), stride=2, padding=((0, 1), (1, 0)), groups=1)
        assert small.algorithm == "direct"
        assert repr(small) == ("Conv2d(2, 4, kernel_size=(3, 3), stride=(2, 2), padding=((0, 1), "
                               "(1, 0)), bias=None, algorithm='direct', dtype=float64)")
        assert cconv.Conv2d(np.ones((8, 1, 3, 3)), groups=8).explain((1, 8, 5, 5))["kernel"] == "depthwise"

    def test_properties_rebuild_the_layer(self, rng):
        # a layer's properties go back into the constructor (cloning a layer, as with
        # torch's nn.Conv2d attributes), whatever form the padding was given in
        w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
        b = rng.standard_normal(8).astype(np.float32)
        x = rng.standard_normal((2, 4, 11, 10)).astype(np.float32)
        for padding, expected in [(1, (1, 1)), ((2, 0), (2, 0)), ("same", (1, 1)),
                                  ("valid", (0, 0)), (((0, 1), (1, 0)), ((0, 1), (1, 0))),
                                  (((1, 1), (2, 2)), (1, 2))]:
            layer = cconv.Conv2d(w, b, stride=1, padding=padding, dilation=1,
                                 activation=("leaky_relu", 0.1))
            assert layer.padding == expected
            clone = cconv.Conv2d(layer.weight, layer.bias, stride=layer.stride,
                                 padding=layer.padding, dilation=layer.dilation,
                                 groups=layer.groups, activation=layer.activation,
                                 algorithm=layer.algorithm, layout=layer.layout)
            assert repr(clone) == repr(layer)
            np.testing.assert_array_equal(clone(x), layer(x))

    def test_pickles(self, rng):
        w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
        layer = cconv.Conv2d(w, w[:, 0, 0, 0].copy(), padding=((1, 0), (0, 1)),
                             activation=("leaky_relu", 0.1), layout="NHWC")
        clone = pickle.loads(pickle.dumps(layer))
        assert repr(clone) == repr(layer) and clone.algorithm == layer.algorithm
        x = rng.standard_normal((2, 10, 11, 16)).astype(np.float32)
        np.testing.assert_array_equal(clone(x), layer(x))

    def test_bad_calls(self, rng):
        layer = cconv.Conv2d(np.ones((4, 3, 3, 3), np.float32))
        with pytest.raises(ValueError, match="expects 3 input channels"):
            layer(np.zeros((1, 5, 8, 8), np.float32))
        with pytest.raises(TypeError, match="weight dtype float32 does not match input dtype float64"):
            layer(np.zeros((1, 3, 8, 8)))
        with pytest.raises(ValueError, match="output would be empty"):
            layer(np.zeros((1, 3, 2, 2), np.float32))
        with pytest.raises(ValueError, match="algorithm='winograd' needs a 3x3 kernel"):
            cconv.Conv2d(np.ones((4, 3, 5, 5), np.float32), algorithm="winograd")

    def test_many_shapes_keep_a_bounded_cache(self, rng):
        layer = cconv.Conv2d(np.ones((2, 1, 3, 3), np.float32), padding=1)
        for h in range(1, 60):
            layer(np.ones((1, 1, h, 5), np.float32))
        assert len(layer._calls) <= 16

    def test_eight_threads_at_once_give_serial_results(self, rng):
        layer = cconv.Conv2d(rng.standard_normal((32, 32, 3, 3)).astype(np.float32),
                             padding=1, activation="relu")
        inputs = [rng.standard_normal((1, 32, 20 + i, 17)).astype(np.float32) for i in range(8)]
        serial = [layer(x) for x in inputs]
        results = [[None] * 20 for _ in range(8)]

        def work(i):
            for r in range(20):
                results[i][r] = layer(inputs[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(8):
            for r in range(20):
                np.testing.assert_array_equal(results[i][r], serial[i])


def test_threads_context_is_per_thread_and_restores():
    from cconv import _threads
    expect = (lambda n: n) if _threads.OPENMP else (lambda n: 1)   # serial builds: always 1
    before = cconv.get_num_threads()
    seen = {}

    def other():
        seen["other"] = cconv.get_num_threads()

    with cconv.threads(1):
        assert cconv.get_num_threads() == 1
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with cconv.threads(3):
            assert cconv.get_num_threads() == expect(3)
        assert cconv.get_num_threads() == 1
    assert cconv.get_num_threads() == before
    assert seen["other"] == before
    with pytest.raises(ValueError, match="threads: n must be >= 1, got 0"):
        with cconv.threads(0):
            pass


def test_threadpoolctl_sees_and_limits_cconv():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from cconv import _threads
    if not _threads.OPENMP:
        pytest.skip("serial build")
    import cconv._direct_baseline  # noqa: F401  (loaded: links the OpenMP runtime)
    info = threadpoolctl.threadpool_info()
    assert any(i["internal_api"] == "openmp" for i in info), info
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _threads.effective_num_threads() == 1
    assert _threads.effective_num_threads() == cconv.get_num_threads()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS[1:], ids=str)
@pytest.mark.parametrize("algorithm,wshape,groups", [
    ("direct", (24, 16, 3, 3), 1), ("winograd", (24, 16, 3, 3), 1), ("direct", (24, 16, 1, 1), 1),
    ("direct", (16, 1, 3, 3), 16)])
def test_activation_is_exact_on_the_kernels_own_sum(rng, dtype, activation, algorithm, wshape,
                                                     groups):
    """The fused activation against the activation applied (float64) to the same kernel's
    result without it: a few ulps, whatever K, so that a bad exp or erf cannot hide behind
    the convolution's own error bound."""
    x = (4 * rng.standard_normal((1, 16, 17, 19))).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    res = rng.standard_normal((1, wshape[0], 17, 19)).astype(dtype)
    kw = dict(padding=wshape[2] // 2, groups=groups, algorithm=algorithm)
    pre = cconv.conv2d(x, w, b, residual=res, **kw).astype(np.float64)
    y = cconv.conv2d(x, w, b, residual=res, activation=activation, **kw)
    ref = reference_activation(pre, activation)
    eps = np.finfo(dtype).eps
    # gelu = 0.5 v (1 + erf(v / sqrt 2)): 1 + erf cancels for negative v, so its error is
    # absolute, ~eps |v| (float64, libm erf), or 0.5 |v| 1.5e-7 (float32's erf approximation)
    atol = 0
    if activation == "gelu":
        atol = np.abs(pre) * (2e-7 if dtype == np.float32 else 4 * eps)
    # near underflow (silu, sigmoid of large negative sums) results are denormal: absolute floor
    floor = 1e3 * np.finfo(dtype).tiny
    np.testing.assert_array_less(np.abs(y - ref), 6 * eps * np.abs(ref) + atol + floor)


def test_output_shape_is_remembered_and_still_validates():
    w = np.zeros((8, 4, 3, 3), np.float32)
    layer = cconv.Conv2d(w, padding=1, stride=2, layout="NHWC")
    for _ in range(2):   # the second answer comes from the layer's cache
        assert layer.output_shape((2, 9, 7, 4)) == (2, 5, 4, 8)
        assert layer.output_shape((9, 7, 4)) == (5, 4, 8)
        assert layer.output_shape((np.int64(2), 9, 7, 4)) == (2, 5, 4, 8)
        with pytest.raises(ValueError, match="expects 4 input channels"):
            layer.output_shape((2, 9, 7, 3))
        with pytest.raises(TypeError):
            layer.output_shape((2, 9, 7, 4.0))
    for h in range(1, 40):   # more shapes than the cache holds: answers stay right
        assert layer.output_shape((1, h, 6, 4)) == (1, (h - 1) // 2 + 1, 3, 8)
    assert layer.output_shape((2, 9, 7, 4)) == (2, 5, 4, 8)


class TestRepeatedCalls:
    """A Conv2d remembers what a call on an input shape needs (its geometry and kernel); the
    second and later calls on a shape take shortcuts for the usual out= and residual=. Every
    argument is still checked on every call, and the shortcuts give the same results."""

    @pytest.fixture(params=["NCHW", "NHWC"])
    def case(self, request, rng):
        layout = request.param
        w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
        b = rng.standard_normal(6).astype(np.float32)
        x = rng.standard_normal((2, 5, 9, 8)).astype(np.float32)
        r = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
        expect = conv2d_reference(x, w, b, padding=1) + r
        bound = error_bound(x, w, b, np.float32, padding=1) + 1e-6 * np.abs(r)
        to_layout = (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1))) \
            if layout == "NHWC" else (lambda a: a)
        from_layout = (lambda a: a.transpose(0, 3, 1, 2)) if layout == "NHWC" else (lambda a: a)
        layer = cconv.Conv2d(w, b, padding=1, layout=layout)
        return layer, to_layout(x), to_layout(r), expect, bound, from_layout

    def test_every_form_of_out_and_residual_twice(self, case):
        layer, x, r, expect, bound, from_layout = case
        for _ in range(2):   # the first call fills the cache, the second uses it
            assert np.all(np.abs(from_layout(layer(x)) - (expect - from_layout(r))) <= bound)
            out = np.full(x.shape[:-1] + (6,) if layer.layout == "NHWC"
                          else (2, 6, 9, 8), np.nan, np.float32)
            assert layer(x, out=out, residual=r) is out
            assert np.all(np.abs(from_layout(out) - expect) <= bound)
            # residual overlapping out (a few elements behind it in one buffer): read
            # before out is written
            buf = np.empty(out.size + 8, np.float32)
            out_b, res_b = buf[8:].reshape(out.shape), buf[:-8].reshape(out.shape)
            res_b[...] = r
            layer(x, out=out_b, residual=res_b)
            assert np.all(np.abs(from_layout(out_b) - expect) <= bound)
            # residual with other strides than out; out not C-contiguous (Fortran order)
            layer(x, out=out, residual=np.asfortranarray(r))
            assert np.all(np.abs(from_layout(out) - expect) <= bound)
            out_f = np.asfortranarray(np.zeros_like(out))
            layer(x, out=out_f, residual=r)
            assert np.all(np.abs(from_layout(out_f) - expect) <= bound)

    def test_bad_out_is_refused_on_a_known_shape(self, case):
        layer, x, r, *_ = case
        out = layer(x)   # the shape is known from here on
        with pytest.raises(TypeError, match="out must have dtype float32, got float64"):
            layer(x, out=out.astype(np.float64))
        with pytest.raises(ValueError, match="out must have shape"):
            layer(x, out=out[:1])
        buf = np.zeros(x.size + out.size, np.float32)
        x_in_buf = buf[:x.size].reshape(x.shape)
        x_in_buf[...] = x
        layer(x_in_buf)   # its shape and strides are known too
        with pytest.raises(ValueError, match="out must not share memory with input"):
            layer(x_in_buf, out=buf[x.size - 1:-1].reshape(out.shape))
        readonly = out.copy()
        readonly.flags.writeable = False
        with pytest.raises(ValueError, match="out is read-only"):
            layer(x, out=readonly)
        with pytest.raises(TypeError, match="residual dtype float64 does not match"):
            layer(x, residual=r.astype(np.float64))
        with pytest.raises(ValueError, match="residual must have the output's shape"):
            layer(x, residual=r[:1])
        with pytest.raises(TypeError, match="weight dtype float32 does not match input dtype float64"):
            layer(x.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "relu6", "silu"])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("hw", [(37, 45), (20, 15)])
def test_depthwise_rows_fuse_bias_residual_and_activation(rng, dtype, activation, threads,
                                                          stride, hw):
    # NCHW depthwise 3x3 at stride 1 or 2: each output row (or a few of a small plane at a
    # time) is computed from its input rows and finished in registers (relu/relu6) or
    # through the output pass (other activations); residual added before the activation
    x = rng.standard_normal((2, 3, hw[0], hw[1] * stride)).astype(dtype)
    w = rng.standard_normal((6, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    params = dict(stride=stride, padding=1, groups=3)
    r = rng.standard_normal(conv2d_reference(x, w, None, **params).shape).astype(dtype)
    with cconv.threads(threads):
        got = cconv.conv2d(x, w, b, **params, activation=activation, residual=r)
    v = conv2d_reference(x, w, b, **params) + r
    bound = (error_bound(x, w, b, dtype, **params) + np.finfo(dtype).eps * np.abs(v)
             + np.finfo(dtype).eps) * activation_slope_bound(activation) * 2
    assert np.all(np.abs(got - reference_activation(v, activation)) <= bound)


def test_serving_bench_breakdown_runs():
    # bench/serving.py reaches into Conv2d's call path to time its parts: it must follow it
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "bench", "serving.py")
    spec = importlib.util.spec_from_file_location("bench_serving", path)
    serving = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serving)
    parts = serving.tiny_call_breakdown()
    assert set(parts) >= {"whole call layer(x)", "kernel call alone", "thread count"}
    assert all(np.isfinite(v) for v in parts.values())
