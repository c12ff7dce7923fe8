"""conv2d: validate, choose the algorithm, allocate, run."""
import numpy as np

from . import _args, _dispatch, _select, _threads


def run_direct(x, weight, bias, geom, out4, num_threads):
    """Direct convolution of x (N, C_in, H, W) into out4 (N, C_out, H_out, W_out)."""
    # The kernels read the weights in place, one OIHW row per output channel: only their
    # K = (C_in/g, kH, kW) values must be contiguous.
    rows = np.ascontiguousarray(weight).reshape(-1)
    if geom.c_in // geom.groups == 1:
        # one input channel per group (depthwise, with any multiplier, or C_in == 1): no
        # reduction over channels, the row-vectorised depthwise kernel
        _dispatch.depthwise.conv2d_depthwise_nchw(
            x, rows, bias, out4, geom.kh, geom.kw, geom.stride_h, geom.stride_w, geom.pad_top,
            geom.pad_left, geom.dil_h, geom.dil_w, num_threads)
        return
    _dispatch.direct.conv2d_direct_nchw(
        x, rows, geom.k_len, bias, out4, geom.groups, geom.kh, geom.kw, geom.stride_h,
        geom.stride_w, geom.pad_top, geom.pad_left, geom.dil_h, geom.dil_w, num_threads)


def run_winograd(x, weight, bias, geom, out4, num_threads, exact_nonfinite):
    """Winograd F(2x2,3x3) of x into out4; the weights are transformed on the way."""
    w = np.ascontiguousarray(weight)
    _dispatch.winograd.conv2d_winograd_nchw(x, None, w.reshape(-1), bias, out4, geom.groups,
                                            geom.pad_top, geom.pad_left, num_threads,
                                            exact_nonfinite)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           algorithm="auto", out=None):
    """2-D convolution with torch.nn.functional.conv2d's semantics, on NumPy arrays.

    Parameters
    ----------
    input : ndarray, (N, C_in, H, W) or unbatched (C_in, H, W), float32 or float64
    weight : ndarray, (C_out, C_in/groups, kH, kW), same dtype
    bias : ndarray (C_out,) or None
    stride, dilation : int or pair of ints, >= 1
    padding : int, pair of ints, ((top, bottom), (left, right)), "valid" or "same"
    groups : int dividing C_in and C_out
    algorithm : "auto", "direct" or "winograd" (3x3, stride 1, dilation 1 only). "auto"
        chooses from the shapes (cconv.explain() says what and why). Winograd under "auto"
        gives NaN and Inf exactly the outputs a direct convolution gives them (tiles with a
        non-finite value are recomputed directly; non-finite weights use the direct kernel).
        Forced "winograd" transforms every tile: a NaN or Inf in the input spreads to every
        output of the 2x2 tiles whose 4x4 input patch holds it (up to a 4x4 block), as in
        other Winograd engines.
    out : optional C-contiguous array of the output's shape and dtype, written and returned

    Returns
    -------
    ndarray (N, C_out, H_out, W_out) (or unbatched), the input's dtype, where
    H_out = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1.

    Examples
    --------
    >>> import numpy as np, cconv
    >>> x = np.ones((1, 3, 5, 5), np.float32)
    >>> w = np.ones((2, 3, 3, 3), np.float32)
    >>> cconv.conv2d(x, w, padding=1)[0, 0]
    array([[12., 18., 18., 18., 12.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [12., 18., 18., 18., 12.]], dtype=float32)
    """
    fname = "conv2d"
    x, w, b, geom, batched = _args.parse_conv2d(input, weight, bias, stride, padding,
                                                dilation, groups, fname)
    algo, _ = _select.choose(geom, _select.parse_algorithm(algorithm, fname), fname)
    shape = geom.out_shape if batched else geom.out_shape[1:]
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    else:
        _args.parse_out(out, shape, x.dtype, fname, (("input", input), ("weight", weight),
                                                      ("bias", bias)))
    out4 = out if batched else out[None]
    if geom.n == 0:
        return out
    if geom.k_len == 0:  # no input channels: an empty sum, only the bias
        out4[...] = 0 if b is None else b[:, None, None]
        return out
    threads = _threads.effective_num_threads()
    if algo == "winograd" and algorithm == "auto" and not np.isfinite(w).all():
        algo = "direct"  # a non-finite weight would spread over whole tiles
    if algo == "winograd":
        run_winograd(x, w, b, geom, out4, threads, exact_nonfinite=algorithm == "auto")
    else:
        run_direct(x, w, b, geom, out4, threads)
    return out
