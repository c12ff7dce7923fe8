"""hypothesis property tests over the whole parameter space (bounded sizes so CI stays fast)."""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import cconv
from conftest import assert_conv_matches


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 4))
    c_in = groups * draw(st.integers(1, 5))
    c_out = groups * draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    form = draw(st.sampled_from(["int", "pair", "tblr", "same", "valid"]))
    if form == "same" and (sh, sw) != (1, 1):
        form = "pair"
    if form == "int":
        padding = draw(st.integers(0, 4))
    elif form == "pair":
        padding = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
    elif form == "tblr":
        padding = tuple(tuple(draw(st.integers(0, 4)) for _ in range(2)) for _ in range(2))
    else:
        padding = form
    pt, pb, pl, pr = {"int": lambda p: (p, p, p, p), "pair": lambda p: (p[0], p[0], p[1], p[1]),
                      "tblr": lambda p: (p[0][0], p[0][1], p[1][0], p[1][1]),
                      "same": lambda p: (0, dh * (kh - 1), 0, dw * (kw - 1)),
                      "valid": lambda p: (0, 0, 0, 0)}[form](padding)
    # an input large enough for at least one output
    h = draw(st.integers(max(0, dh * (kh - 1) + 1 - pt - pb), 24))
    w = draw(st.integers(max(0, dw * (kw - 1) + 1 - pl - pr), 24))
    if form == "same":
        h, w = max(h, 1), max(w, 1)
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    batched = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(xshape=(n, c_in, h, w) if batched else (c_in, h, w),
                wshape=(c_out, c_in // groups, kh, kw), bias=bias, dtype=dtype, seed=seed,
                params=dict(stride=(sh, sw), padding=padding, dilation=(dh, dw), groups=groups))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_matches_reference_and_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["xshape"]).astype(case["dtype"])
    w = rng.standard_normal(case["wshape"]).astype(case["dtype"])
    b = rng.standard_normal(case["wshape"][0]).astype(case["dtype"]) if case["bias"] else None
    assert_conv_matches(x, w, b, **case["params"])


@settings(max_examples=60, deadline=None)
@given(conv_cases(), st.integers(1, 4))
def test_thread_count_does_not_change_the_result(case, threads):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["xshape"]).astype(case["dtype"])
    w = rng.standard_normal(case["wshape"]).astype(case["dtype"])
    before = cconv.get_num_threads()
    try:
        cconv.set_num_threads(1)
        one = cconv.conv2d(x, w, **case["params"])
        cconv.set_num_threads(threads)
        many = cconv.conv2d(x, w, **case["params"])
    finally:
        cconv.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


@st.composite
def winograd_cases(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 12))
    c_out = groups * draw(st.integers(1, 14))
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(0, 3 - pads[0] - pads[1]), 30))
    w = draw(st.integers(max(0, 3 - pads[2] - pads[3]), 30))
    return dict(xshape=(draw(st.integers(1, 2)), c_in, h, w), wshape=(c_out, c_in // groups, 3, 3),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                seed=draw(st.integers(0, 2**32 - 1)), bias=draw(st.booleans()),
                params=dict(padding=((pads[0], pads[1]), (pads[2], pads[3])), groups=groups))


@settings(max_examples=150, deadline=None)
@given(winograd_cases())
def test_winograd_matches_reference(case):
    from conftest import winograd_error_bound
    from reference import conv2d_reference
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["xshape"]).astype(case["dtype"])
    w = rng.standard_normal(case["wshape"]).astype(case["dtype"])
    b = rng.standard_normal(case["wshape"][0]).astype(case["dtype"]) if case["bias"] else None
    out = np.full((x.shape[0], w.shape[0]) + tuple(
        s + p0 + p1 - 2 for s, (p0, p1) in zip(x.shape[2:], case["params"]["padding"])),
        np.nan, x.dtype)
    y = cconv.conv2d(x, w, b, algorithm="winograd", out=out, **case["params"])
    ref = conv2d_reference(x, w, b, **case["params"])
    err = np.abs(y - ref)
    assert (err <= winograd_error_bound(x, w, b, x.dtype, **case["params"])).all(), np.nanmax(err)
    # and the largest error within 4x the direct path's (floored at eps * the largest output).
    # Measured over 3000 random cases: at most 1.6x. Only for outputs of at least 16 values
    # and images at least 3 wide and high: where padding hides most taps of every output (a
    # lone output; a 1-wide image, whose outputs see one kernel column) the direct path sums
    # 1-3 products (one or two roundings) while Winograd still combines all 9 weights (17x1,
    # one input channel per group: 4.3x, found by this test; 2-3 wide: up to 3.2x in 4000).
    # float64 results are judged against an extended-precision reference (a float64 one is
    # no more precise than the kernels: the direct kernel often matches it exactly).
    if ref.size >= 16 and min(x.shape[2:]) >= 3:
        direct = cconv.conv2d(x, w, b, algorithm="direct", **case["params"])
        if x.dtype == np.float64:
            ref = conv2d_reference(x, w, b, dtype=np.longdouble, **case["params"])
        floor = np.finfo(x.dtype).eps * np.abs(ref).max()
        assert np.abs(y - ref).max() <= 4 * max(np.abs(direct - ref).max(), floor)


@st.composite
def channels_last_cases(draw):
    """Channel counts large enough for the channels-last kernels (vectors along the channels:
    depthwise from one vector of channels on, 1x1 and unpadded layers read in place)."""
    depthwise = draw(st.booleans())
    c_in = draw(st.integers(1, 40))
    groups = c_in if depthwise else draw(st.sampled_from([g for g in (1, 2, 4) if c_in % g == 0]))
    c_out = c_in if depthwise else groups * draw(st.integers(1, 70 // groups))
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (3, 3), (5, 5), (2, 3)]))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, 2, "tblr"]))
    if padding == "tblr":
        padding = tuple(tuple(draw(st.integers(0, 3)) for _ in range(2)) for _ in range(2))
        pt, pb, pl, pr = padding[0] + padding[1]
    else:
        pt = pb = pl = pr = padding
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pt - pb), 16))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pl - pr), 16))
    return dict(xshape=(draw(st.integers(1, 2)), c_in, h, w),
                wshape=(c_out, c_in // groups, kh, kw), seed=draw(st.integers(0, 2**32 - 1)),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                activation=draw(st.sampled_from([None, "relu", "relu6", "silu"])),
                residual=draw(st.booleans()), threads=draw(st.integers(1, 2)),
                params=dict(stride=(sh, sw), padding=padding, dilation=(dh, dw),
                            groups=groups))


@settings(max_examples=150, deadline=None)
@given(channels_last_cases())
def test_channels_last_matches_reference(case):
    from conftest import error_bound
    from reference import conv2d_reference
    rng = np.random.default_rng(case["seed"])
    dtype, params = case["dtype"], case["params"]
    x = rng.standard_normal(case["xshape"]).astype(dtype)
    w = rng.standard_normal(case["wshape"]).astype(dtype)
    b = rng.standard_normal(case["wshape"][0]).astype(dtype)
    ref = conv2d_reference(x, w, b, **params)
    res = rng.standard_normal(ref.shape).astype(dtype) if case["residual"] else None
    z = ref if res is None else ref + res
    act = case["activation"]
    expected = {None: z, "relu": np.maximum(z, 0), "relu6": np.clip(z, 0, 6),
                "silu": z / (1 + np.exp(-z))}[act]
    bound = error_bound(x, w, b, dtype, **params) * (4 if act == "silu" else 1)
    if res is not None:
        bound = bound + np.finfo(dtype).eps * np.abs(res)
    if act == "silu":
        bound = bound + 1e-6 * np.abs(expected) + 1e-7
    with cconv.threads(case["threads"]):
        y = cconv.Conv2d(w, b, activation=act, layout="NHWC", **params)(
            np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
            residual=None if res is None else np.ascontiguousarray(res.transpose(0, 2, 3, 1)))
    err = np.abs(y.transpose(0, 3, 1, 2) - expected)
    assert (err <= bound).all(), (np.nanmax(err), case)
