"""Argument validation for conv2d: the one place where user input is checked.

Every check raises TypeError (wrong kind of thing) or ValueError (right kind, wrong value) with a
message that names the argument, the value received and the rule, in the manner of NumPy's
messages. Kernels trust what comes out of here.
"""
import math
import operator
from typing import NamedTuple

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Python ints beyond this cannot be valid sizes, strides or paddings; reject them before they
# overflow a C integer (2**40 elements of float32 are already 4 TiB).
MAX_PARAM = 2**40


class ConvGeometry(NamedTuple):
    """Normalised shapes and parameters of one conv2d call (batched, NCHW)."""
    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    kh: int
    kw: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    dil_h: int
    dil_w: int
    groups: int
    h_out: int
    w_out: int

    @property
    def out_shape(self):
        return (self.n, self.c_out, self.h_out, self.w_out)

    @property
    def k_len(self):
        """Accumulation length of one output: C_in/groups * kH * kW."""
        return self.c_in // self.groups * self.kh * self.kw

    @property
    def flops(self):
        """Direct-convolution FLOP count (2 per multiply-add)."""
        return 2 * self.n * self.c_out * self.h_out * self.w_out * self.k_len


def _fmt_shape(shape):
    return str(tuple(int(s) for s in shape))


def as_float_array(value, name, fname):
    """value as an ndarray of float32/float64 (no copy if it already is one)."""
    if not isinstance(value, np.ndarray):
        if value is None:
            raise TypeError(f"{fname}: {name} must be a float32 or float64 array, got None")
        try:
            value = np.asarray(value)
        except Exception as exc:  # arbitrary __array__ implementations may raise anything
            raise TypeError(f"{fname}: {name} could not be converted to an array: "
                            f"{type(exc).__name__}: {exc}") from None
    if value.dtype.kind != "f" or value.dtype.itemsize not in (4, 8):
        raise TypeError(f"{fname}: {name} must be a float32 or float64 array, "
                        f"got dtype {value.dtype}")
    return value


def native_dtype(a):
    """float32 or float64 in native byte order: what a is computed and returned as."""
    return a.dtype.newbyteorder("=")


def kernel_ready(a):
    """a itself if the kernels can read it in place (native byte order, aligned, strides a
    multiple of the item size), else a C-contiguous, aligned, native copy. Never modifies a."""
    item = a.dtype.itemsize
    if (a.dtype.isnative and a.flags.aligned
            and all(s % item == 0 for s in a.strides)):
        return a
    return contiguous_copy(a)


def contiguous_copy(a, dtype=None):
    """A fresh C-contiguous, aligned copy in native byte order (np.ascontiguousarray would hand
    back a misaligned array unchanged when it is already contiguous)."""
    return np.array(a, dtype=(dtype or a.dtype).newbyteorder("="), order="C", copy=True)


def aligned_contiguous(a, dtype):
    """a if it is already C-contiguous, aligned and of dtype, else such a copy."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned:
        return a
    return contiguous_copy(a, dtype)


def safe_repr(value, limit=60):
    """repr of a user's value for a message, shortened, whatever its __repr__ does."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe(value):
    """type and repr of a user's value for a message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {_fmt_shape(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {safe_repr(value)}"


def _int(value, name, fname, minimum):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be an int, got {_describe(value)}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iu":
            raise TypeError(f"{fname}: {name} must be an int, got {_describe(value)}")
        value = value.item()
    try:
        value = operator.index(value)
    except Exception:  # no __index__, or one that raises
        raise TypeError(f"{fname}: {name} must be an int, got {_describe(value)}") from None
    if value < minimum:
        raise ValueError(f"{fname}: {name} must be >= {minimum}, got {value}")
    if value > MAX_PARAM:
        raise ValueError(f"{fname}: {name} is too large: {value} > {MAX_PARAM}")
    return value


def _is_int_like(value):
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return hasattr(type(value), "__index__")


def int_pair(value, name, fname, minimum):
    """An int or a sequence of 1 or 2 ints (torch's _pair) -> (a, b), each >= minimum."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{fname}: {name} must be an int or a pair of ints, got {value!r}")
    if _is_int_like(value):
        v = _int(value, name, fname, minimum)
        return v, v
    try:
        items = list(value)
    except Exception:  # not iterable, or an iterator that raises
        raise TypeError(f"{fname}: {name} must be an int or a pair of ints, "
                        f"got {_describe(value)}") from None
    if len(items) == 1:
        items = items * 2
    if len(items) != 2:
        raise ValueError(f"{fname}: {name} must be an int or a pair of ints, "
                         f"got {len(items)} values {_describe(value)}")
    return tuple(_int(v, name, fname, minimum) for v in items)


def parse_padding(padding, kh, kw, dil, stride, fname):
    """padding -> (top, bottom, left, right).

    Accepts "valid", "same" (stride 1 only; total dil*(k-1), the odd extra at bottom/right, as
    torch splits it), an int, a pair (symmetric per axis) or ((top, bottom), (left, right)).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{fname}: padding='same' requires stride 1, got stride={stride}")
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            return th // 2, th - th // 2, tw // 2, tw - tw // 2
        raise ValueError(f"{fname}: padding must be 'valid', 'same', an int, a pair of ints or "
                         f"((top, bottom), (left, right)), got {safe_repr(padding)}")
    if _is_sequence(padding) and len(padding) == 2 and all(_is_sequence(p) for p in padding):
        if any(len(p) != 2 for p in padding):
            raise ValueError(f"{fname}: padding ((top, bottom), (left, right)) needs two values "
                             f"per axis, got {safe_repr(padding)}")
        (top, bottom), (left, right) = (int_pair(p, "padding", fname, 0) for p in padding)
        return top, bottom, left, right
    ph, pw = int_pair(padding, "padding", fname, 0)
    return ph, ph, pw, pw


def _is_sequence(value):
    if isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return False
    try:
        len(value)
    except Exception:
        return False
    return True


def parse_shape(value, name, fname):
    """A shape given as a sequence of ints >= 0 -> tuple (for explain / output_shape)."""
    if isinstance(value, (str, bytes)) or not _is_sequence(value):
        raise TypeError(f"{fname}: {name} must be a sequence of ints, got {_describe(value)}")
    try:
        items = list(value)
    except Exception:
        raise TypeError(f"{fname}: {name} must be a sequence of ints, "
                        f"got {_describe(value)}") from None
    shape = tuple(_int(v, name, fname, 0) for v in items)
    if len(shape) > 8:
        raise ValueError(f"{fname}: {name} has {len(shape)} dimensions, got {_fmt_shape(shape)}")
    return shape


def shape_probe(value, name, fname, dtype=np.float32):
    """An array of the given shape backed by no memory, for shape-only checks."""
    shape = parse_shape(value, name, fname)
    try:
        return np.broadcast_to(np.dtype(dtype).type(0), shape)
    except ValueError:
        raise ValueError(f"{fname}: {name} {_fmt_shape(shape)} is too large") from None


def output_size(size, pad0, pad1, k, dil, stride):
    return (size + pad0 + pad1 - dil * (k - 1) - 1) // stride + 1


ACTIVATIONS = {None: 0, "relu": 1, "relu6": 2, "leaky_relu": 3, "silu": 4, "sigmoid": 5,
               "hardswish": 6, "gelu": 7}   # codes of cc_epilogue.h
LEAKY_RELU_DEFAULT_SLOPE = 0.01             # torch.nn.functional.leaky_relu's default
LAYOUTS = ("NCHW", "NHWC")


def parse_activation(activation, fname):
    """activation -> (code, slope). None, a name, or ("leaky_relu", slope)."""
    if activation is None:
        return 0, 0.0
    names = ", ".join(repr(k) for k in ACTIVATIONS if k) + ', ("leaky_relu", slope)'
    if isinstance(activation, tuple):
        if len(activation) != 2 or activation[0] != "leaky_relu":
            raise ValueError(f"{fname}: activation must be None, one of {names}; "
                             f"got {safe_repr(activation)}")
        slope = activation[1]
        if isinstance(slope, (bool, np.bool_)) or not isinstance(slope, (int, float, np.number)):
            raise TypeError(f"{fname}: the leaky_relu slope must be a real number, "
                            f"got {_describe(slope)}")
        slope = float(slope)
        if not np.isfinite(slope):
            raise ValueError(f"{fname}: the leaky_relu slope must be finite, got {slope}")
        return ACTIVATIONS["leaky_relu"], slope
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"{fname}: activation must be None, one of {names}; "
                        f"got {_describe(activation)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{fname}: activation must be None, one of {names}; got {activation!r}")
    return ACTIVATIONS[activation], (LEAKY_RELU_DEFAULT_SLOPE if activation == "leaky_relu"
                                     else 0.0)


def parse_layout(layout, fname):
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"{fname}: layout must be 'NCHW' or 'NHWC', got {safe_repr(layout)}")
    return layout


class LayerSpec(NamedTuple):
    """A convolution's weights and parameters, validated (input-independent part)."""
    weight: np.ndarray      # (C_out, C_in/groups, kH, kW), readable by the kernels
    bias: object            # C-contiguous (C_out,) or None
    dtype: np.dtype
    stride: tuple
    dilation: tuple
    padding: tuple          # (top, bottom, left, right)
    groups: int
    layout: str


def parse_layer(weight, bias, stride, padding, dilation, groups, layout, fname):
    w = as_float_array(weight, "weight", fname)
    if w.ndim != 4:
        raise ValueError(f"{fname}: weight must be 4-D (C_out, C_in/groups, kH, kW), "
                         f"got shape {_fmt_shape(w.shape)}")
    dtype = native_dtype(w)
    c_out, c_in_g, kh, kw = w.shape
    if c_out < 1:
        raise ValueError(f"{fname}: weight must have at least one output channel, "
                         f"got shape {_fmt_shape(w.shape)}")
    if kh < 1 or kw < 1:
        raise ValueError(f"{fname}: kernel size must be >= 1, got {kh}x{kw} "
                         f"(weight shape {_fmt_shape(w.shape)})")
    groups = _int(groups, "groups", fname, 1)
    if c_out % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the output channels {c_out} "
                         f"(weight shape {_fmt_shape(w.shape)})")
    b = None
    if bias is not None:
        b = as_float_array(bias, "bias", fname)
        if native_dtype(b) != dtype:
            raise TypeError(f"{fname}: bias dtype {native_dtype(b)} does not match weight dtype "
                            f"{dtype}")
        if b.shape != (c_out,):
            raise ValueError(f"{fname}: bias must have shape ({c_out},) to match weight shape "
                             f"{_fmt_shape(w.shape)}, got {_fmt_shape(b.shape)}")
        b = aligned_contiguous(b, dtype)
    stride = int_pair(stride, "stride", fname, 1)
    dilation = int_pair(dilation, "dilation", fname, 1)
    pads = parse_padding(padding, kh, kw, dilation, stride, fname)
    layout = parse_layout(layout, fname)
    return LayerSpec(kernel_ready(w), b, dtype, stride, dilation, pads, groups, layout)


def parse_input(input, spec, fname, input_name="input"):
    """The input for a layer -> (x4, geometry, batched): x4 viewed as (N, C_in, H, W) whatever
    the layout (channels-last arrays as a strided view, no copy)."""
    x = as_float_array(input, input_name, fname)
    nhwc = spec.layout == "NHWC"
    if x.ndim not in (3, 4):
        form = "(H, W, C_in) or 4-D (N, H, W, C_in)" if nhwc else "(C_in, H, W) or 4-D (N, C_in, H, W)"
        raise ValueError(f"{fname}: {input_name} must be 3-D {form}, "
                         f"got shape {_fmt_shape(x.shape)}")
    if native_dtype(x) != spec.dtype:
        raise TypeError(f"{fname}: weight dtype {spec.dtype} does not match {input_name} dtype "
                        f"{native_dtype(x)}")
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    if nhwc:
        x4 = x4.transpose(0, 3, 1, 2)
    n, c_in, h, wd = x4.shape
    w = spec.weight
    c_out, c_in_g, kh, kw = w.shape
    groups = spec.groups
    if c_in % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the input channels {c_in} "
                         f"({input_name} shape {_fmt_shape(x.shape)})")
    if c_in_g != c_in // groups:
        raise ValueError(
            f"{fname}: weight shape {_fmt_shape(w.shape)} expects {c_in_g * groups} input "
            f"channels ({c_in_g} per group x groups={groups}), but {input_name} shape "
            f"{_fmt_shape(x.shape)} has {c_in}")
    top, bottom, left, right = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    h_out = output_size(h, top, bottom, kh, dh, sh)
    w_out = output_size(wd, left, right, kw, dw, sw)
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"{fname}: the output would be empty: {input_name} of {h}x{wd} padded to "
            f"{h + top + bottom}x{wd + left + right} is smaller than the dilated kernel "
            f"{dh * (kh - 1) + 1}x{dw * (kw - 1) + 1} "
            f"({input_name} shape {_fmt_shape(x.shape)}, weight shape {_fmt_shape(w.shape)})")
    geom = ConvGeometry(n, c_in, h, wd, c_out, kh, kw, sh, sw, top, bottom, left, right, dh, dw,
                        groups, h_out, w_out)
    check_output_size(geom, spec.dtype, fname)
    return kernel_ready(x4), geom, batched


def output_shape(geom, batched, layout):
    """The output's shape in the user's layout."""
    n, c, h, w = geom.out_shape
    shape = (n, h, w, c) if layout == "NHWC" else (n, c, h, w)
    return shape if batched else shape[1:]


def as_kernel_view(a, layout, batched):
    """An output-shaped array in the user's layout -> its (N, C, H, W) view for the kernels."""
    a4 = a if batched else a[None]
    return a4.transpose(0, 3, 1, 2) if layout == "NHWC" else a4


def parse_conv2d(input, weight, bias, stride, padding, dilation, groups, fname="conv2d",
                 layout="NCHW"):
    """Validate conv2d's arguments -> (x4, weight, bias, geometry, batched)."""
    spec = parse_layer(weight, bias, stride, padding, dilation, groups, layout, fname)
    x4, geom, batched = parse_input(input, spec, fname)
    return x4, spec.weight, spec.bias, geom, batched


def parse_residual(residual, shape, dtype, fname, out):
    """residual: an array of the output's shape (in the user's layout) and dtype -> laid out
    exactly like `out` (the array the kernels write: C-contiguous, or the caller's strides),
    and a copy if it shares memory with out."""
    r = as_float_array(residual, "residual", fname)
    if native_dtype(r) != dtype:
        raise TypeError(f"{fname}: residual dtype {native_dtype(r)} does not match the output "
                        f"dtype {dtype}")
    if r.shape != tuple(shape):
        raise ValueError(f"{fname}: residual must have the output's shape {_fmt_shape(shape)}, "
                         f"got {_fmt_shape(r.shape)}")
    if (r.dtype != dtype or not r.flags.aligned or r.strides != out.strides
            or np.may_share_memory(r, out)):
        r = like_strided(out, r)
    return r


# New outputs of at least this many bytes start on a 64-byte boundary: the direct kernel
# writes outputs over 8 MB with streaming stores, which need aligned whole cache lines (numpy
# aligns to 16 bytes: 3 -> 64 channels, 3x3 on 224x224, 1 thread, 2.4 ms instead of 1.9).
ALIGNED_OUTPUT_BYTES = 1 << 20


def empty_output(shape, dtype):
    """np.empty(shape, dtype), 64-byte aligned when large (ALIGNED_OUTPUT_BYTES)."""
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    if count * dtype.itemsize < ALIGNED_OUTPUT_BYTES:
        return np.empty(shape, dtype)
    raw = np.empty(count * dtype.itemsize + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def like_strided(out, a):
    """A copy of a laid out with out's (non-negative) strides (C-contiguous when out is)."""
    span = sum((n - 1) * st for n, st in zip(out.shape, out.strides) if n > 0) + out.itemsize
    buf = np.empty(span // out.itemsize if out.size else 0, out.dtype)
    r = np.lib.stride_tricks.as_strided(buf, out.shape, out.strides, writeable=True)
    r[...] = a
    return r


def check_output_size(geom, dtype, fname):
    count = geom.n * geom.c_out * geom.h_out * geom.w_out
    if count * dtype.itemsize > np.iinfo(np.intp).max // 2:
        raise ValueError(f"{fname}: the output of shape {_fmt_shape(geom.out_shape)} is too large "
                         f"to allocate ({count} elements of {dtype})")


def parse_out(out, shape, dtype, fname, inputs):
    """Check a user-supplied out= array: exact shape and dtype, writeable, and not overlapping
    the inputs (the kernels would read what they already wrote). Any memory layout: a
    channels-last view, a slice of a larger buffer (a concatenation written in place)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fname}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fname}: out must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{fname}: out must have shape {_fmt_shape(shape)}, "
                         f"got {_fmt_shape(out.shape)}")
    if not out.flags.writeable:
        raise ValueError(f"{fname}: out is read-only")
    if not out.dtype.isnative:
        raise ValueError(f"{fname}: out must be in native byte order")
    for name, a in inputs:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError(f"{fname}: out must not share memory with {name}")
    return out


def output_arrays(out, residual, shape, dtype, layout, batched, fname, inputs):
    """(out, target, out4, residual4) for a call: out (the caller's, checked, or a new array),
    the array the kernels write (kernel_target; copied into out after when it is not out) and
    the (N, C, H, W) views of it and of the residual laid out like it (or None)."""
    if out is None:
        out = target = empty_output(shape, dtype)
    elif _plain_out(out, shape, dtype, inputs):
        target = out   # the usual out= (a buffer reused call after call)
    else:
        parse_out(out, shape, dtype, fname, inputs)
        target = kernel_target(out, shape, dtype)
    residual4 = None
    if residual is not None:
        if (type(residual) is np.ndarray and residual.dtype == dtype
                and residual.shape == shape and residual.strides == target.strides
                and residual.flags.aligned and not np.may_share_memory(residual, target)):
            residual4 = residual   # laid out like target already: parse_residual's checks
        else:
            residual4 = parse_residual(residual, shape, dtype, fname, target)
        residual4 = as_kernel_view(residual4, layout, batched)
    return out, target, as_kernel_view(target, layout, batched), residual4


def _plain_out(out, shape, dtype, inputs):
    """out passes parse_out's checks and is its own kernel_target (C-contiguous, aligned):
    the common case, checked in one pass."""
    if type(out) is not np.ndarray or out.dtype != dtype or out.shape != shape:
        return False
    flags = out.flags
    if not (flags.writeable and flags.c_contiguous and flags.aligned):
        return False
    for _, a in inputs:
        if a is not None and np.may_share_memory(out, a):
            return False
    return True


def kernel_target(out, shape, dtype):
    """The array the kernels write for a caller's out= (checked by parse_out): out itself when
    its elements are aligned, its strides non-negative and no two elements share memory (the
    kernels take any such strides), else a C-contiguous temporary copied into out after."""
    if out.flags.c_contiguous and out.flags.aligned:
        return out
    if out.flags.aligned and out.size:
        extent = out.itemsize
        for st, n in sorted((st, n) for st, n in zip(out.strides, out.shape) if n > 1):
            if st < extent:
                break
            extent += st * (n - 1)
        else:
            return out
    return empty_output(shape, dtype)
