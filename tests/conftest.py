import os

import zlib

import numpy as np
import pytest

import cconv
from reference import conv2d_reference

try:
    import torch
except ImportError:  # parity tests need it; CI installs torch==2.13.0 and sets CCONV_REQUIRE_TORCH
    torch = None
    if os.environ.get("CCONV_REQUIRE_TORCH"):
        raise

if os.environ.get("CCONV_REQUIRE_DASK"):
    # the test extra installs dask; CI sets this so that tests/test_dask.py can never be skipped
    import dask.array  # noqa: F401
    import distributed  # noqa: F401

if os.environ.get("CCONV_REQUIRE_INSTALLED"):
    # CI tests the build pip installed, never the source folder
    assert "site-packages" in cconv.__file__, f"cconv imported from {cconv.__file__}"


def pytest_report_header(config):
    from cconv import _dispatch, _cpu
    return (f"cconv {cconv.__version__} from {os.path.dirname(cconv.__file__)}; "
            f"SIMD {_dispatch.LEVEL}; OpenMP {_cpu.openmp_version()}; "
            f"threads {cconv.get_num_threads()}; torch {torch.__version__ if torch else 'absent'}")


@pytest.fixture
def rng(request):
    # a seed per test, the same in every run (hash() of a str changes with PYTHONHASHSEED), so
    # that failures reproduce
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def error_bound(x, w, b, dtype, factor=1.0, **params):
    """Per-element bound on |cconv - exact|: (K + 2) * eps * conv(|x|, |w|) + eps * |bias|.

    The classical worst-case bound of a K-term dot product in floating point, whatever the
    summation order (eps = 2u gives a factor 2 of margin). K = C_in/groups * kH * kW.
    """
    k_len = w.shape[1] * w.shape[2] * w.shape[3]
    eps = np.finfo(dtype).eps
    bound = (k_len + 2) * eps * conv2d_reference(np.abs(x), np.abs(w), None, **params)
    if b is not None:
        bound = bound + eps * np.abs(np.asarray(b, np.float64))[:, None, None]
    return factor * bound


def assert_conv_matches(x, w, b=None, check_torch=True, **params):
    """Run cconv.conv2d into a NaN-filled out=, compare with the float64 reference within the
    K-scaled bound (and with torch, when installed); return the result."""
    ref = conv2d_reference(x, w, b, **params)
    out = np.full(ref.shape, np.nan, dtype=x.dtype)
    y = cconv.conv2d(x, w, b, out=out, **params)
    assert y is out
    assert y.dtype == x.dtype and y.shape == ref.shape
    bound = error_bound(x, w, b, x.dtype, **params)
    err = np.abs(y.astype(np.float64) - ref)
    bad = ~(err <= bound)  # also catches NaN: elements never written
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} outputs off; max err {np.nanmax(err):.3e}, "
        f"first at {np.argwhere(bad)[0]}; x {x.shape} w {w.shape} params {params}")
    # torch refuses empty spatial inputs even when padding gives a non-empty output
    if check_torch and torch is not None and min(x.shape[-2:]) > 0:
        t = torch_conv2d(x, w, b, **params)
        terr = np.abs(y.astype(np.float64) - t)
        assert (terr <= 2 * bound).all(), f"vs torch: max err {terr.max():.3e}, params {params}"
    return y


def torch_conv2d(x, w, b=None, **params):
    """torch.nn.functional.conv2d on copies of NumPy arrays; ((top, bottom), (left, right))
    padding, which torch cannot express, goes through F.pad."""
    F = torch.nn.functional
    tx = torch.from_numpy(np.ascontiguousarray(x))
    pad = params.get("padding", 0)
    if isinstance(pad, (tuple, list)) and not isinstance(pad[0], int):
        (t, bt), (l, r) = pad
        tx = F.pad(tx, (l, r, t, bt))
        params = dict(params, padding=0)
    tb = None if b is None else torch.from_numpy(np.ascontiguousarray(b))
    with torch.inference_mode():
        return F.conv2d(tx, torch.from_numpy(np.ascontiguousarray(w)), tb, **params).numpy()


def winograd_error_bound(x, w, b, dtype, padding=0, groups=1, dilation=1):
    """Per-element bound for Winograd F(2x2,3x3) (3x3, stride 1): its transforms combine all
    16 values of a tile's 4x4 input patch and all 9 weights of a filter, so rounding scales
    with those, not with the products a direct sum adds: 2 * (K + 2) * eps * sum over input
    channels of (sum of |x| over the 5x5 window around the output that covers every patch it
    can belong to) * (sum of |w| over the filter's taps)."""
    from reference import normalise_padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    t, bo, l, r = normalise_padding(padding, 3, 3, (dh, dw))
    w1 = np.abs(np.asarray(w, np.float64)).sum(axis=(2, 3))          # (C_out, C_in/g)
    box = np.broadcast_to(w1[:, :, None, None], w1.shape + (5, 5))
    k_len = w.shape[1] * 9
    eps = np.finfo(dtype).eps
    bound = 2 * (k_len + 2) * eps * conv2d_reference(
        np.abs(x), box, None, padding=((t + dh, bo + dh), (l + dw, r + dw)), groups=groups,
        dilation=(dh, dw))  # a dilated layer's window: its phase's 5x5 grid around the output
    if b is not None:
        bound = bound + eps * np.abs(np.asarray(b, np.float64))[:, None, None]
    return bound
