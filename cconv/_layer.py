"""Conv2d: a prepared convolution, for calling the same weights many times (inference services).

Validation, the algorithm choice and the weight transforms happen once, at construction; a
call checks its input, takes the output geometry from a small per-shape cache and runs the
kernel with the GIL released.
"""
import threading
from collections import OrderedDict
from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _args, _conv, _dispatch, _select, _threads
from ._types import Activation, IntPair, Padding

# Input shapes whose geometry a Conv2d remembers (least recently used dropped): a service sees a
# few shapes; a bound keeps memory flat when shapes keep changing.
SHAPE_CACHE_SIZE = 16


class Conv2d:
    """A 2-D convolution with its weights prepared once: torch.nn.functional.conv2d's semantics,
    plus fused bias, residual and activation, and NCHW or NHWC layouts.

    Parameters
    ----------
    weight : ndarray (C_out, C_in/groups, kH, kW), float32 or float64. Copied: later changes to
        the caller's array do not reach the layer.
    bias : ndarray (C_out,) or None (copied)
    stride, padding, dilation, groups : as in cconv.conv2d (padding also
        ((top, bottom), (left, right)), "same" or "valid")
    activation : None, "relu", "relu6", "leaky_relu", ("leaky_relu", slope), "silu",
        "sigmoid", "hardswish", "gelu": applied in the pass that writes the output
    algorithm : "auto", "direct" or "winograd". "auto" picks Winograd F(2x2,3x3) for 3x3
        stride-1 layers with at least 24 channels per group (its weights are transformed now,
        not per call) and the direct kernels otherwise; a call with very few output pixels
        (a 7x7 image, unless it has >= 64 channels on one thread or >= 128 on more) still runs
        the direct kernel. Under "auto", NaN and Inf inputs land exactly where a direct
        convolution puts them.
    layout : "NCHW" (default) or "NHWC" (channels last), for input, residual and output

    The object is immutable, safe to call from many threads at once (the GIL is released while
    it computes), and pickles (the weights, not the packed forms, which are rebuilt).

    Examples
    --------
    >>> import numpy as np, cconv
    >>> conv = cconv.Conv2d(np.ones((8, 3, 3, 3), np.float32), padding=1, activation="relu")
    >>> conv
    Conv2d(3, 8, kernel_size=(3, 3), padding=(1, 1), bias=None, activation='relu', algorithm='direct', dtype=float32)
    >>> y = conv(np.ones((1, 3, 16, 16), np.float32))
    >>> y.shape, float(y[0, 0, 5, 5])
    ((1, 8, 16, 16), 27.0)
    >>> conv.output_shape((2, 3, 32, 32))
    (2, 8, 32, 32)
    """

    __slots__ = ("_spec", "_act", "_alpha", "_activation", "_algorithm", "_requested",
                 "_prepared", "_lock", "_calls", "_output_shapes", "__weakref__")

    def __init__(self, weight: ArrayLike, bias: Optional[ArrayLike] = None,
                 stride: IntPair = 1, padding: Padding = 0, dilation: IntPair = 1,
                 groups: int = 1, *, activation: Activation = None, algorithm: str = "auto",
                 layout: str = "NCHW") -> None:
        fname = "Conv2d"
        spec = _args.parse_layer(weight, bias, stride, padding, dilation, groups, layout, fname)
        act, alpha = _args.parse_activation(activation, fname)
        requested = _select.parse_algorithm(algorithm, fname)
        # own copies, read-only: nothing the caller does later reaches the layer
        w = np.array(spec.weight, dtype=spec.dtype, order="C", copy=True)
        w.flags.writeable = False
        b = None
        if spec.bias is not None:
            b = np.array(spec.bias, dtype=spec.dtype, copy=True)
            b.flags.writeable = False
        spec = spec._replace(weight=w, bias=b)
        c_out, c_in_g, kh, kw = w.shape
        probe = _args.ConvGeometry(1, c_in_g * spec.groups, 64, 64, c_out, kh, kw,
                                   spec.stride[0], spec.stride[1], *spec.padding,
                                   spec.dilation[0], spec.dilation[1], spec.groups, 64, 64)
        algo, _ = _select.choose(probe, requested, fname, weights_prepared=True)
        if algo == "winograd" and requested == "auto" and not np.isfinite(w).all():
            algo = "direct"  # a non-finite weight would spread over whole tiles
        prepared = _conv.Prepared(w)
        if algo == "winograd" and c_in_g > 0:  # (no input channels: the output pass alone)
            u = np.empty(_dispatch.winograd.winograd_weights_size(c_out, c_in_g, spec.groups),
                         spec.dtype)
            _dispatch.winograd.transform_weights_winograd(w, spec.groups, u,
                                                          _threads.get_num_threads())
            u.flags.writeable = False
            prepared.winograd = u
        else:
            _pack_direct(prepared, spec)
        setattr_ = object.__setattr__
        setattr_(self, "_spec", spec)
        setattr_(self, "_act", act)
        setattr_(self, "_alpha", alpha)
        setattr_(self, "_activation", activation)
        setattr_(self, "_algorithm", algo)
        setattr_(self, "_requested", requested)
        setattr_(self, "_prepared", prepared)
        setattr_(self, "_lock", threading.Lock())
        setattr_(self, "_calls", OrderedDict())
        setattr_(self, "_output_shapes", OrderedDict())

    def __setattr__(self, name, value):
        raise AttributeError(f"Conv2d is immutable: cannot set {name!r}")

    __delattr__ = __setattr__

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, input: ArrayLike, *, out: Optional[NDArray] = None,
                 residual: Optional[ArrayLike] = None) -> NDArray:
        """The convolution of `input` (shape and layout as at construction), through the
        fused output pass; `residual` (the output's shape) is added before the activation;
        `out` (the output's shape and dtype, any memory layout) is written and returned."""
        spec = self._spec
        x4, (geom, batched, shape, launch) = self._call_for(input)
        threads = _threads.effective_num_threads()
        if out is None and residual is None:
            out = _args.empty_output(shape, spec.dtype)
            launch(x4, _args.as_kernel_view(out, spec.layout, batched), None, threads)
            return out
        out, target, out4, residual4 = _args.output_arrays(
            out, residual, shape, spec.dtype, spec.layout, batched, "Conv2d",
            (("input", input),))
        launch(x4, out4, residual4, threads)
        if target is not out:
            out[...] = target
        return out

    def _call_for(self, x):
        """(x4, call) for input x: its (N, C_in, H, W) view and what a call on its shape
        needs, (geometry, batched, output shape, launch): cached per shape and strides for
        arrays the kernels read in place (a call then validates nothing twice)."""
        spec = self._spec
        if type(x) is np.ndarray and x.dtype == spec.dtype:
            call = self._calls.get((x.shape, x.strides))
            if call is not None and x.flags.aligned:
                x4 = x if call[1] else x[None]
                return (x4.transpose(0, 3, 1, 2) if spec.layout == "NHWC" else x4), call
        x4, geom, batched = _args.parse_input(x, spec, "Conv2d")
        call = (geom, batched, _args.output_shape(geom, batched, spec.layout),
                self._launcher(geom))
        item = spec.dtype.itemsize
        if (isinstance(x, np.ndarray) and x.dtype == spec.dtype and x.flags.aligned
                and all(s % item == 0 for s in x.strides)):
            # read in place by the kernels: the call depends on shape and strides only
            with self._lock:
                self._calls[(x.shape, x.strides)] = call
                if len(self._calls) > SHAPE_CACHE_SIZE:
                    self._calls.popitem(last=False)
        return x4, call

    def _launcher(self, geom):
        """launch(x4, out4, residual4, threads) for inputs of this geometry, with the layer's
        prepared weights (_conv.launcher). Not a method of self bound in a closure: the
        cache of calls would hold a cycle back to the layer."""
        prepared, spec, lock = self._prepared, self._spec, self._lock
        auto, act, alpha = self._requested == "auto", self._act, self._alpha

        def make(algo):
            return _conv.launcher(prepared, spec.bias, geom, algo, auto, act, alpha,
                                  spec.dtype, spec.layout == "NHWC")
        if self._algorithm != "winograd" or not auto:
            return make(self._algorithm)
        winograd, direct = make("winograd"), []
        too_small = Conv2d._too_small

        def launch(x4, out4, residual4, threads):
            if not too_small(geom, threads):
                winograd(x4, out4, residual4, threads)
                return
            if not direct:
                # too few pixels for the transforms to pay (a 7x7 image): the direct kernel,
                # its weights packed on the first such call
                with lock:
                    _pack_direct(prepared, spec)
                direct.append(make("direct"))
            direct[0](x4, out4, residual4, threads)
        return launch

    @staticmethod
    def _too_small(geom, threads):
        """Too few output pixels for Winograd to win on `threads` threads, even with its
        weights transformed (per phase when dilated, as _select.choose counts them)."""
        pixels, need = _select.winograd_pixels_needed(geom, True, threads)
        return pixels < need

    def _call_with_padding(self, input, padding):
        """The layer with another padding ((top, bottom), (left, right)): the same prepared
        weights (they do not depend on it). For cconv.dask's blocks, which pad only where
        the whole array has a border."""
        (top, bottom), (left, right) = padding
        spec = self._spec._replace(padding=(top, bottom, left, right))
        x4, geom, batched = _args.parse_input(input, spec, "Conv2d")
        out = _args.empty_output(_args.output_shape(geom, batched, spec.layout), spec.dtype)
        self._launcher(geom)(x4, _args.as_kernel_view(out, spec.layout, batched), None,
                             _threads.effective_num_threads())
        return out

    def output_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """The output's shape for an input of `input_shape` (in the layer's layout)."""
        # an inference engine's planner asks this for every layer: answered from a small
        # cache for tuples of ints (validating costs ~10 us)
        key = None
        if type(input_shape) is tuple and all(type(d) is int for d in input_shape):
            key = input_shape
            hit = self._output_shapes.get(key)
            if hit is not None:
                return hit
        fname = "Conv2d.output_shape"
        probe = _args.shape_probe(input_shape, "input_shape", fname, self._spec.dtype)
        _, geom, batched = _args.parse_input(probe, self._spec, fname, "input_shape")
        shape = _args.output_shape(geom, batched, self._spec.layout)
        if key is not None:
            with self._lock:
                self._output_shapes[key] = shape
                if len(self._output_shapes) > SHAPE_CACHE_SIZE:
                    self._output_shapes.popitem(last=False)
        return shape

    def explain(self, input_shape: Tuple[int, ...]) -> dict:
        """What runs for an input of `input_shape`, and why (as cconv.explain)."""
        fname = "Conv2d.explain"
        probe = _args.shape_probe(input_shape, "input_shape", fname, self._spec.dtype)
        _, geom, _ = _args.parse_input(probe, self._spec, fname, "input_shape")
        algo = self._algorithm
        reason = "prepared for it when the layer was built"
        if (algo == "winograd" and self._requested == "auto"
                and self._too_small(geom, _threads.effective_num_threads())):
            algo, reason = "direct", _select.choose(geom, "auto", "Conv2d", True)[1]
        kernel = (_select.direct_kernel(geom, self._spec.layout == "NHWC") if algo == "direct"
                  else algo)
        return dict(algorithm=algo, kernel=kernel, reason=reason,
                    output_shape=self.output_shape(input_shape), flops=geom.flops)

    # -- description -----------------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """"direct" or "winograd": what the layer was prepared for (see the class docstring
        for the small inputs that still run direct; explain() tells per input shape)."""
        return self._algorithm

    @property
    def nbytes(self) -> int:
        """Bytes of weights the layer holds: the prepared forms (Winograd-transformed or
        packed for the direct kernels) and its own copy of the weights and bias."""
        p = self._prepared
        arrays = [p.rows, p.winograd, p.panels, p.indirect, p.taps_major, self._spec.bias]
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def weight(self):
        """The layer's own (read-only) copy of the weights."""
        return self._spec.weight

    @property
    def bias(self):
        return self._spec.bias

    @property
    def stride(self):
        return self._spec.stride

    @property
    def padding(self):
        """As the constructor takes it (and as the repr shows it): (top, left) when each
        axis is padded alike on both sides, as torch's Conv2d.padding, else
        ((top, bottom), (left, right)); padding="same" and "valid" come back as their
        numbers."""
        top, bottom, left, right = self._spec.padding
        if (top, left) == (bottom, right):
            return (top, left)
        return ((top, bottom), (left, right))

    @property
    def dilation(self):
        return self._spec.dilation

    @property
    def groups(self):
        return self._spec.groups

    @property
    def activation(self):
        return self._activation

    @property
    def layout(self):
        return self._spec.layout

    @property
    def dtype(self):
        return self._spec.dtype

    def __repr__(self) -> str:
        s = self._spec
        c_out, c_in_g, kh, kw = s.weight.shape
        parts = [f"{c_in_g * s.groups}", f"{c_out}", f"kernel_size={(kh, kw)}"]
        if s.stride != (1, 1):
            parts.append(f"stride={s.stride}")
        if any(s.padding):
            parts.append(f"padding={self.padding}")
        if s.dilation != (1, 1):
            parts.append(f"dilation={s.dilation}")
        if s.groups != 1:
            parts.append(f"groups={s.groups}")
        if s.bias is None:
            parts.append("bias=None")
        if self._activation is not None:
            parts.append(f"activation={self._activation!r}")
        parts.append(f"algorithm={self._algorithm!r}")
        if s.layout != "NCHW":
            parts.append(f"layout={s.layout!r}")
        parts.append(f"dtype={s.dtype}")
        return f"Conv2d({', '.join(parts)})"

    # -- pickling: the weights and parameters; the prepared forms are rebuilt --------------

    def __reduce__(self):
        s = self._spec
        top, bottom, left, right = s.padding
        kwargs = dict(activation=self._activation, algorithm=self._requested, layout=s.layout)
        args = (np.array(s.weight), None if s.bias is None else np.array(s.bias), s.stride,
                ((top, bottom), (left, right)), s.dilation, s.groups)
        return (_rebuild, (args, kwargs))


def _pack_direct(prepared, spec):
    """Pack the weights for both arrangements of the direct kernel (once: no call packs)."""
    if prepared.panels is not None or prepared.taps_major is not None:
        return
    c_out, c_in_g, kh, kw = spec.weight.shape
    if c_in_g == 0:
        return  # nothing to pack: the layer is the output pass alone (bias, activation)
    if c_in_g == 1:
        # the depthwise kernel reads the weights as they are on NCHW input; on channels-last
        # input, and with 5x5 and 7x7 kernels in either layout (multiplier 1), tap-major, a
        # vector of channels per tap: packed here, not per call (960 channels on 7x7: 0.027
        # -> 0.023 ms)
        if c_out == spec.groups:
            n = _dispatch.depthwise.taps_major_size(c_out, kh * kw, spec.dtype.itemsize)
            # 64-byte aligned, as the per-call copy was: its vectors are whole cache lines
            raw = np.empty(n * spec.dtype.itemsize + 64, np.uint8)
            start = -raw.ctypes.data % 64
            wt = raw[start:start + n * spec.dtype.itemsize].view(spec.dtype)
            _dispatch.depthwise.pack_weights_taps_major(spec.weight.reshape(-1), kh * kw, wt)
            wt.flags.writeable = False
            prepared.taps_major = wt
        if not _select.one_channel_gemm_possible(c_out, spec.groups):
            return   # never the GEMM (_select.direct_kernel)
    packs = []
    for method in (1, 2):
        p = np.empty(_dispatch.direct.packed_weights_size(
            c_out, c_in_g * kh * kw, spec.groups, method, spec.dtype.itemsize), spec.dtype)
        _dispatch.direct.pack_weights(spec.weight, spec.groups, method, p)
        p.flags.writeable = False
        packs.append(p)
    prepared.indirect = packs[1]
    prepared.panels = packs[0]   # last: other threads test it to know the packing is done


def _rebuild(args, kwargs):
    return Conv2d(*args, **kwargs)
