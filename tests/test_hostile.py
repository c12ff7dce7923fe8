"""Hostile input: every public function, every argument, bad values of every kind. Only
TypeError, ValueError or MemoryError may come out, each naming the argument; never a crash."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cconv

X = np.zeros((1, 2, 5, 5), np.float32)
W = np.zeros((3, 2, 3, 3), np.float32)
ALLOWED = (TypeError, ValueError, MemoryError)


class RaisingArray:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array here")


class RaisingSequence:
    def __len__(self):
        raise RuntimeError("no length")

    def __iter__(self):
        raise RuntimeError("no items")


class RaisingIndex:
    def __index__(self):
        raise RuntimeError("no index")


class RaisingRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


BAD_VALUES = [
    None, "a", b"x", 1.5, True, np.True_, [1, [2]], RaisingArray(), RaisingSequence(),
    RaisingIndex(), RaisingRepr(), object(), {"a": 1}, np.zeros((2, 2), np.complex64),
    np.array([1, 2], dtype=object), -1, 0, 2**70, -2**70, (1,), (1, 2, 3), ((1, 2), (3,)),
    ((1, 2), (3, "a")), np.float32(2), np.array(2.5), np.array([1, 2]), float("nan"),
    float("inf"), 1 + 2j, [], (), slice(1), np.zeros((2, 3), np.int16),
    np.zeros((1, 2, 5, 5), np.int32), np.zeros((1, 2, 5, 5), np.complex128),
    np.zeros((1, 2, 5, 5), np.float16), [[[[0.0]]]], np.zeros((0,)), np.zeros(()),
]
ARGS = ["input", "weight", "bias", "stride", "padding", "dilation", "groups", "algorithm",
        "activation", "residual", "layout", "out"]


def _call_conv2d(arg, value):
    kw = dict(input=X, weight=W)
    kw[arg] = value
    return cconv.conv2d(kw.pop("input"), kw.pop("weight"), **kw)


def _call_layer(arg, value):
    kw = dict(weight=W)
    kw[arg] = value
    return cconv.Conv2d(kw.pop("weight"), **kw)


@pytest.mark.parametrize("arg", ARGS)
def test_conv2d_every_argument(arg):
    for value in BAD_VALUES:
        try:
            _call_conv2d(arg, value)
        except ALLOWED as exc:
            assert str(exc).startswith("conv2d: "), (arg, value, exc)
            if arg not in ("input", "weight", "out", "residual"):
                assert arg in str(exc) or "slope" in str(exc), (arg, value, exc)


@pytest.mark.parametrize("arg", ["weight", "bias", "stride", "padding", "dilation", "groups",
                                 "algorithm", "activation", "layout"])
def test_conv2d_layer_every_argument(arg):
    for value in BAD_VALUES:
        try:
            _call_layer(arg, value)
        except ALLOWED as exc:
            assert str(exc).startswith("Conv2d: "), (arg, value, exc)


@pytest.mark.parametrize("arg", ["input", "out", "residual"])
def test_conv2d_layer_call_every_argument(arg):
    layer = cconv.Conv2d(W)
    for value in BAD_VALUES:
        kw = {"input": X, arg: value}
        try:
            layer(kw.pop("input"), **kw)
        except ALLOWED as exc:
            assert str(exc).startswith("Conv2d: "), (arg, value, exc)


def test_other_functions():
    layer = cconv.Conv2d(W)
    for value in BAD_VALUES:
        for fn in (cconv.set_num_threads, layer.output_shape, layer.explain,
                   lambda v: cconv.threads(v).__enter__(),
                   lambda v: cconv.explain(v, W.shape), lambda v: cconv.explain(X.shape, v)):
            try:
                fn(value)
            except ALLOWED:
                pass
    assert cconv.get_num_threads() >= 1


def test_sizes_whose_products_overflow_64_bits():
    x = np.broadcast_to(np.float32(0), (2**20, 1, 2**20, 2**20))   # 2**60 elements, no memory
    w = np.zeros((2**20, 1, 1, 1), np.float32)                       # output: 2**80 elements
    with pytest.raises(ValueError, match="too large"):
        cconv.conv2d(x, w)
    with pytest.raises(ValueError, match="too large"):
        cconv.Conv2d(w)(x)
    with pytest.raises(ValueError, match="too large"):
        cconv.conv2d(X, W, padding=2**39)
    with pytest.raises(ValueError, match=r"explain: input_shape \(8589934592, 8589934592, 8589934592\) is too large"):
        cconv.explain((2**33,) * 3, W.shape)


# -- random garbage ---------------------------------------------------------------------------

small_arrays = st.builds(
    lambda shape, dtype: np.zeros(shape, dtype),
    st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
    st.sampled_from([np.float32, np.float64, np.int64, np.complex64, np.bool_, np.float16]))
garbage = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-3, 6),
    st.floats(allow_nan=True), st.text(max_size=4), st.binary(max_size=3),
    st.lists(st.integers(-2, 4), max_size=4), st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
    st.tuples(st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
              st.tuples(st.integers(-1, 3), st.integers(-1, 3))),
    small_arrays, st.sampled_from(BAD_VALUES), st.sampled_from(
        ["same", "valid", "auto", "direct", "winograd", "relu", "NHWC", "NCHW", "gelu"]))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(ARGS), garbage, max_size=4), st.booleans())
def test_random_garbage_only_raises_argument_errors(kwargs, valid_arrays):
    kw = dict(input=X, weight=W) if valid_arrays else {}
    kw.update(kwargs)
    args = [kw.pop("input", None), kw.pop("weight", None)]
    try:
        cconv.conv2d(*args, **kw)
    except ALLOWED:
        pass
    layer_kw = {k: v for k, v in kw.items() if k not in ("out", "residual")}
    try:
        layer = cconv.Conv2d(args[1], **layer_kw)
        layer(args[0], **{k: v for k, v in kw.items() if k in ("out", "residual")})
    except ALLOWED:
        pass
