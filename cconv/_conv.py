"""conv2d: validate, choose the algorithm, allocate, run."""
import numpy as np

from . import _args, _dispatch, _threads

ALGORITHMS = ("auto", "direct")


def parse_algorithm(algorithm, fname):
    if not isinstance(algorithm, str):
        raise TypeError(f"{fname}: algorithm must be a str, one of {', '.join(ALGORITHMS)}; "
                        f"got {type(algorithm).__name__} {algorithm!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{fname}: algorithm must be one of {', '.join(ALGORITHMS)}; "
                         f"got {algorithm!r}")
    return algorithm


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
    algorithm : "auto" or "direct"
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
    parse_algorithm(algorithm, fname)
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
    run_direct(x, w, b, geom, out4, _threads.effective_num_threads())
    return out
