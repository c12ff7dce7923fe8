"""Any memory layout is accepted, gives the same answer, and is never modified."""
import numpy as np
import pytest

import cconv
from conftest import assert_conv_matches


def _views(base):
    """Differently laid-out arrays equal to `base` (N, C, H, W)."""
    n, c, h, w = base.shape
    yield "c_contiguous", base.copy()
    yield "fortran", np.asfortranarray(base)
    big = np.zeros((n, 2 * c, 2 * h, 3 * w), base.dtype)
    big[:, ::2, ::2, ::3] = base
    yield "strided_slice", big[:, ::2, ::2, ::3]
    yield "negative_strides", base[:, ::-1, ::-1, ::-1].copy()[:, ::-1, ::-1, ::-1]
    yield "channels_last_memory", np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    ro = base.copy()
    ro.flags.writeable = False
    yield "read_only", ro
    yield "big_endian", base.astype(base.dtype.newbyteorder(">"))
    raw = np.zeros(base.nbytes + 1, np.uint8)
    mis = np.ndarray(base.shape, base.dtype, buffer=raw[1:])
    mis[...] = base
    assert not mis.flags.aligned
    yield "misaligned", mis


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_input_layout_gives_the_same_result(rng, dtype):
    x = rng.standard_normal((2, 5, 11, 9)).astype(dtype)
    w = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    expected = cconv.conv2d(x, w, b, padding=1, stride=(1, 2))
    for xname, xv in _views(x):
        for wname, wv in _views(w):
            xcopy, wcopy = xv.copy(), wv.copy()
            y = cconv.conv2d(xv, wv, b, padding=1, stride=(1, 2))
            assert y.dtype == np.dtype(dtype) and y.flags.c_contiguous, (xname, wname)
            np.testing.assert_allclose(y, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                       atol=1e-5, err_msg=f"input {xname}, weight {wname}")
            np.testing.assert_array_equal(xv, xcopy)  # never modified
            np.testing.assert_array_equal(wv, wcopy)


def test_zero_strides_broadcast_input(rng):
    row = rng.standard_normal((1, 1, 1, 13)).astype(np.float32)
    x = np.broadcast_to(row, (2, 3, 10, 13))  # strides (0, 0, 0, 4), read-only
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    assert_conv_matches(x, w, None, padding=1)
    wb = np.broadcast_to(w[:1], (4, 3, 3, 3))
    assert_conv_matches(x, wb, None, padding=(0, 2))


def test_inputs_are_never_modified(rng):
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    copies = [a.copy() for a in (x, w, b)]
    cconv.conv2d(x, w, b, padding=2, dilation=2, groups=2)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


def test_array_likes_are_converted(rng):
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((1, 2, 3, 3))
    y = cconv.conv2d(x.tolist(), w.tolist())
    np.testing.assert_allclose(y, cconv.conv2d(x, w), rtol=1e-12)
    assert y.dtype == np.float64
