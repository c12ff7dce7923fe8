"""conv2d: validate, choose the algorithm, allocate, run; and the kernel runner shared with the
prepared Conv2d."""
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._types import Activation, IntPair, Padding

from . import _args, _dispatch, _select, _threads


class Prepared:
    """Weights in the forms the kernels take, made on demand and kept (a prepared Conv2d keeps
    one; conv2d makes a throwaway one per call, which packs nothing ahead)."""
    __slots__ = ("rows", "winograd", "panels", "indirect", "taps_major")

    def __init__(self, weight):
        self.rows = np.ascontiguousarray(weight)   # OIHW, each row's K values contiguous
        self.winograd = self.panels = self.indirect = self.taps_major = None


def run(x4, prepared, bias, geom, out4, algorithm, threads, exact_nonfinite, residual4=None,
        act=0, alpha=0.0):
    """Compute x4 (N, C_in, H, W view) into out4 (N, C_out, H_out, W_out view, any layout)
    through the output pass (bias, residual, activation)."""
    channels_last = out4.strides[1] == out4.itemsize and out4.shape[1] > 1
    launcher(prepared, bias, geom, algorithm, exact_nonfinite, act, alpha, out4.dtype,
             channels_last)(x4, out4, residual4, threads)


def launcher(prepared, bias, geom, algorithm, exact_nonfinite, act, alpha, dtype,
             channels_last=False):
    """launch(x4, out4, residual4, threads): the kernel for this geometry with every argument
    that does not change between calls bound once. A prepared Conv2d keeps one per input
    shape, so that its calls skip choosing the kernel and spelling out its twenty arguments
    (a service's batch-1 call on a 14x14 layer takes ~100 us; Python's share of it counts).
    The kernels' float or double specialisation is taken here too: a fused function's
    dispatch on its arguments' types costs ~0.2 us a call. channels_last: the output is
    (_select.direct_kernel)."""
    if geom.n == 0:
        return _nothing_to_compute
    if geom.k_len == 0:  # no input channels: an empty sum, the output pass alone
        return lambda x4, out4, residual4, threads: _output_pass_only(out4, bias, residual4,
                                                                      act, alpha)
    rows = prepared.rows.reshape(-1)
    ctype = "float" if dtype == np.float32 else "double"
    # the geometry as closure cells (a NamedTuple's attributes cost ~30 ns each a call)
    groups, kh, kw, k_len = geom.groups, geom.kh, geom.kw, geom.k_len
    stride_h, stride_w, dil_h, dil_w = geom.stride_h, geom.stride_w, geom.dil_h, geom.dil_w
    pad_top, pad_left = geom.pad_top, geom.pad_left
    if algorithm == "winograd" and (dil_h, dil_w) != (1, 1):
        return _dilated_winograd_launcher(prepared, bias, geom, exact_nonfinite, act, alpha,
                                          ctype)
    if algorithm == "winograd":
        kernel = _dispatch.winograd.conv2d_winograd_nchw[ctype]
        u = prepared.winograd

        def launch(x4, out4, residual4, threads):
            kernel(x4, u, rows, bias, out4, groups, pad_top, pad_left, threads,
                   exact_nonfinite, residual4, act, alpha)
    elif _select.direct_kernel(geom, channels_last) == "depthwise":
        # one input channel per group (depthwise, with any multiplier, or C_in == 1): nothing
        # to reduce over channels, the row-vectorised depthwise kernel
        kernel = _dispatch.depthwise.conv2d_depthwise_nchw[ctype]
        taps_major = prepared.taps_major

        def launch(x4, out4, residual4, threads):
            kernel(x4, rows, bias, out4, kh, kw, stride_h, stride_w, pad_top, pad_left,
                   dil_h, dil_w, threads, residual4, act, alpha, taps_major)
    else:
        kernel = _dispatch.direct.conv2d_direct_nchw[ctype]
        panels, indirect = prepared.panels, prepared.indirect

        def launch(x4, out4, residual4, threads):
            kernel(x4, rows, k_len, bias, out4, groups, kh, kw, stride_h, stride_w, pad_top,
                   pad_left, dil_h, dil_w, threads, 0, residual4, act, alpha, panels,
                   indirect)
    return launch


def dilation_phases(size, size_out, dil, pad):
    """A stride-1 convolution with dilation d along one axis, as d dense ones (dilation 1):
    output positions a, a+d, a+2d, ... read input positions d*(i + r + m) + a' for tap r,
    i.e. every d-th input position from a' (a - pad = d*m + a', m <= 0 as pad >= 0 > a - d):
    a dense convolution of that view with padding -m before it. Returns, per phase with
    outputs, (first output, first input, padding before it); None if a phase that has
    outputs has no input (a' >= size: tiny inputs, the caller runs the direct kernel)."""
    phases = []
    for a in range(min(dil, size_out)):
        m, a_in = divmod(a - pad, dil)
        if a_in >= size:
            return None
        phases.append((a, a_in, -m))
    return phases


def _dilated_winograd_launcher(prepared, bias, geom, exact_nonfinite, act, alpha, ctype):
    """Winograd for a dilated 3x3 stride-1 convolution: with dilation (dh, dw) the outputs
    (a + dh*i, b + dw*j) only read inputs on the grid (a' + dh*k, b' + dw*l), a dense 3x3
    convolution of that strided view (DeepLab's atrous layers: dh*dw Winograd calls on
    views of the input and output, no copies). Falls back to the direct kernel when a phase
    has no input (see dilation_phases)."""
    rows_ph = dilation_phases(geom.h, geom.h_out, geom.dil_h, geom.pad_top)
    cols_ph = dilation_phases(geom.w, geom.w_out, geom.dil_w, geom.pad_left)
    dtype = np.float32 if ctype == "float" else np.float64
    if rows_ph is None or cols_ph is None:
        return launcher(prepared, bias, geom, "direct", exact_nonfinite, act, alpha, dtype)
    winograd = _dispatch.winograd
    kernel = winograd.conv2d_winograd_nchw[ctype]
    rows = prepared.rows.reshape(-1)
    groups, dh, dw = geom.groups, geom.dil_h, geom.dil_w
    u = prepared.winograd
    if u is None:  # conv2d: transform the weights once per call, not once per phase
        c_out, c_in_g = prepared.rows.shape[:2]
        u = np.empty(winograd.winograd_weights_size(c_out, c_in_g, groups), dtype)
        winograd.transform_weights_winograd(prepared.rows, groups, u,
                                            _threads.effective_num_threads())
    phases = [(slice(a, None, dh), slice(b, None, dw), slice(r0, None, dh),
               slice(c0, None, dw), pt, pl)
              for a, r0, pt in rows_ph for b, c0, pl in cols_ph]

    def launch(x4, out4, residual4, threads):
        for oa, ob, ia, ib, pt, pl in phases:
            kernel(x4[:, :, ia, ib], u, rows, bias, out4[:, :, oa, ob], groups, pt, pl,
                   threads, exact_nonfinite,
                   None if residual4 is None else residual4[:, :, oa, ob], act, alpha)
    return launch


def _nothing_to_compute(x4, out4, residual4, threads):
    """An empty batch."""


def _output_pass_only(out4, bias, residual4, act, alpha):
    """act(bias + residual) with NumPy, for the degenerate C_in == 0 (never a hot path)."""
    from ._activations import apply_activation
    value = np.zeros(out4.shape, out4.dtype)
    if bias is not None:
        value += bias[:, None, None]
    if residual4 is not None:
        value += residual4
    out4[...] = apply_activation(value, act, alpha)


# What conv2d decided for the shapes of a call (validation, geometry, algorithm, output
# shape), by _call_key: a service calling conv2d rather than a prepared Conv2d repeats the
# same shapes, and re-checking them was most of a small call (a 1x1x8x8 input with a 3x3
# kernel: 51 us end to end on a Zen 3 VM, of which 4 us in the kernel).
_CALLS: dict = {}
_CALLS_MAX = 256


def _plain_param(value):
    """An int, a str, or a tuple of ints or of pairs of ints (exact types)."""
    t = type(value)
    if t is int or t is str:
        return True
    return t is tuple and all(type(e) is int or (type(e) is tuple
                                                 and all(type(f) is int for f in e))
                              for e in value)


def _call_key(input, weight, bias, stride, padding, dilation, groups, algorithm, activation,
              layout, threads):
    """Everything conv2d's checks and choices depend on other than the arrays' values
    (shapes, strides, dtypes, alignment, the parameters, the thread count), or None when an
    argument is not of a plain type: those take the full checks every time (a subclass, an
    array-like or a parameter with its own __index__ or __eq__ could answer differently)."""
    if type(input) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    if bias is None:
        bias_key = None
    elif type(bias) is np.ndarray:
        bias_key = (bias.shape, bias.strides, bias.dtype, bias.flags.aligned)
    else:
        return None
    if not (type(groups) is int and type(algorithm) is str and type(layout) is str
            and (activation is None or type(activation) is str) and _plain_param(stride)
            and _plain_param(padding) and _plain_param(dilation)):
        return None
    return (input.shape, input.strides, input.dtype, input.flags.aligned, weight.shape,
            weight.strides, weight.dtype, weight.flags.aligned, bias_key, stride, padding,
            dilation, groups, algorithm, activation, layout, threads)


def conv2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           stride: IntPair = 1, padding: Padding = 0, dilation: IntPair = 1, groups: int = 1,
           *, algorithm: str = "auto", activation: Activation = None,
           residual: Optional[ArrayLike] = None, layout: str = "NCHW",
           out: Optional[NDArray] = None) -> NDArray:
    """2-D convolution with torch.nn.functional.conv2d's semantics, on NumPy arrays.

    Parameters
    ----------
    input : ndarray, (N, C_in, H, W) or unbatched (C_in, H, W), float32 or float64; with
        layout="NHWC", (N, H, W, C_in) or (H, W, C_in)
    weight : ndarray, (C_out, C_in/groups, kH, kW), same dtype (in both layouts)
    bias : ndarray (C_out,) or None
    stride, dilation : int or pair of ints, >= 1
    padding : int, pair of ints, ((top, bottom), (left, right)), "valid" or "same"
    groups : int dividing C_in and C_out
    algorithm : "auto", "direct" or "winograd" (3x3 and stride 1 only; a dilated layer runs
        as dilation_h x dilation_w dense Winograd convolutions of strided views). "auto"
        chooses from the shapes (cconv.explain() says what and why). Winograd under "auto"
        gives NaN and Inf exactly the outputs a direct convolution gives them (tiles with a
        non-finite value are recomputed directly; non-finite weights use the direct kernel).
        Forced "winograd" transforms every tile: a NaN or Inf in the input spreads to every
        output of the 2x2 tiles whose 4x4 input patch holds it (up to a 4x4 block), as in
        other Winograd engines.
    activation : None, "relu", "relu6", "leaky_relu" (slope 0.01), ("leaky_relu", slope),
        "silu", "sigmoid", "hardswish" or "gelu" (torch's definitions), applied in the pass
        that writes the output
    residual : ndarray of the output's shape (in `layout`) or None: added before the
        activation, as in a ResNet block (ONNX Runtime's fused Conv + Add + activation)
    layout : "NCHW" (default) or "NHWC" (channels last) for input, residual and output
    out : optional array of the output's shape (in `layout`) and dtype, written and
        returned; any memory layout (a channels-last view, a slice of a larger buffer)

    Returns
    -------
    ndarray (N, C_out, H_out, W_out) (or (N, H_out, W_out, C_out), or unbatched), the input's
    dtype, where H_out = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1.

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
    >>> cconv.conv2d(x, -w, np.ones(2, np.float32), padding=1, activation="relu").max()
    np.float32(0.0)
    """
    fname = "conv2d"
    threads = _threads.effective_num_threads()
    key = _call_key(input, weight, bias, stride, padding, dilation, groups, algorithm,
                    activation, layout, threads)
    call = _CALLS.get(key) if key is not None else None
    if call is not None:
        geom, batched, shape, dtype, act, alpha, algo = call
        x4 = _args.as_kernel_view(input, layout, batched)
        w, b = weight, bias
    else:
        spec = _args.parse_layer(weight, bias, stride, padding, dilation, groups, layout, fname)
        x4, geom, batched = _args.parse_input(input, spec, fname)
        act, alpha = _args.parse_activation(activation, fname)
        algo, _ = _select.choose(geom, _select.parse_algorithm(algorithm, fname), fname)
        shape, dtype = _args.output_shape(geom, batched, layout), spec.dtype
        if (key is not None and spec.weight is weight and spec.bias is bias
                and x4.ctypes.data == input.ctypes.data):
            # the arrays are used as they are (no copies were needed): what was decided
            # holds for any arrays of the same key
            if len(_CALLS) >= _CALLS_MAX:
                _CALLS.clear()
            _CALLS[key] = (geom, batched, shape, dtype, act, alpha, algo)
        w, b = spec.weight, spec.bias
    if out is None and residual is None:
        out = target = _args.empty_output(shape, dtype)
        out4, residual4 = _args.as_kernel_view(out, layout, batched), None
    else:
        out, target, out4, residual4 = _args.output_arrays(
            out, residual, shape, dtype, layout, batched, fname,
            (("input", input), ("weight", weight), ("bias", bias)))
    if algo == "winograd" and algorithm == "auto" and not np.isfinite(w).all():
        algo = "direct"  # a non-finite weight would spread over whole tiles
    run(x4, Prepared(w), b, geom, out4, algo, threads, algorithm == "auto", residual4, act,
        alpha)
    if target is not out:
        out[...] = target
    return out
