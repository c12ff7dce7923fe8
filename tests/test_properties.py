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
    # Measured over 3000 random cases: at most 1.6x. Only for outputs of at least 16 values:
    # a lone output where padding hides most taps is a sum of 1-3 products for the direct
    # path (one or two roundings), while Winograd still combines all 9 weights.
    if ref.size >= 16:
        direct = cconv.conv2d(x, w, b, algorithm="direct", **case["params"])
        floor = np.finfo(x.dtype).eps * np.abs(ref).max()
        assert err.max() <= 4 * max(np.abs(direct - ref).max(), floor)
