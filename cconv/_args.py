"""Argument validation for conv2d: the one place where user input is checked.

Every check raises TypeError (wrong kind of thing) or ValueError (right kind, wrong value) with a
message that names the argument, the value received and the rule, in the manner of NumPy's
messages. Kernels trust what comes out of here.
"""
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
    multiple of the item size), else a C-contiguous native copy. Never modifies a."""
    item = a.dtype.itemsize
    if (a.dtype.isnative and a.flags.aligned
            and all(s % item == 0 for s in a.strides)):
        return a
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def _int(value, name, fname, minimum):
    if isinstance(value, (bool, np.bool_)) or not hasattr(value, "__index__"):
        raise TypeError(f"{fname}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{fname}: {name} must be >= {minimum}, got {value}")
    if value > MAX_PARAM:
        raise ValueError(f"{fname}: {name} is too large: {value} > {MAX_PARAM}")
    return value


def int_pair(value, name, fname, minimum):
    """An int or a sequence of 1 or 2 ints (torch's _pair) -> (a, b), each >= minimum."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{fname}: {name} must be an int or a pair of ints, got {value!r}")
    if hasattr(value, "__index__") and not isinstance(value, np.ndarray):
        v = _int(value, name, fname, minimum)
        return v, v
    if isinstance(value, np.ndarray) and value.ndim == 0:
        v = _int(value.item(), name, fname, minimum)
        return v, v
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{fname}: {name} must be an int or a pair of ints, "
                        f"got {type(value).__name__} {value!r}") from None
    if len(items) == 1:
        items = items * 2
    if len(items) != 2:
        raise ValueError(f"{fname}: {name} must be an int or a pair of ints, "
                         f"got {len(items)} values {value!r}")
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
                         f"((top, bottom), (left, right)), got {padding!r}")
    if _is_sequence(padding) and len(padding) == 2 and all(_is_sequence(p) for p in padding):
        if any(len(p) != 2 for p in padding):
            raise ValueError(f"{fname}: padding ((top, bottom), (left, right)) needs two values "
                             f"per axis, got {padding!r}")
        (top, bottom), (left, right) = (int_pair(p, "padding", fname, 0) for p in padding)
        return top, bottom, left, right
    ph, pw = int_pair(padding, "padding", fname, 0)
    return ph, ph, pw, pw


def _is_sequence(value):
    return (hasattr(value, "__len__") and not isinstance(value, (str, bytes))
            and not (isinstance(value, np.ndarray) and value.ndim == 0))


def parse_groups(groups, c_in, c_out, fname, input_shape, weight_shape):
    groups = _int(groups, "groups", fname, 1)
    if c_in % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the input channels {c_in} "
                         f"(input shape {_fmt_shape(input_shape)})")
    if c_out % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the output channels {c_out} "
                         f"(weight shape {_fmt_shape(weight_shape)})")
    return groups


def output_size(size, pad0, pad1, k, dil, stride):
    return (size + pad0 + pad1 - dil * (k - 1) - 1) // stride + 1


def parse_conv2d(input, weight, bias, stride, padding, dilation, groups, fname="conv2d"):
    """Validate conv2d's arguments -> (x4, weight, bias, geometry, batched).

    x4 is the input viewed as 4-D (N, C_in, H, W); arrays are returned without copies when the
    kernels can read them as they are.
    """
    x = as_float_array(input, "input", fname)
    w = as_float_array(weight, "weight", fname)
    if x.ndim not in (3, 4):
        raise ValueError(f"{fname}: input must be 3-D (C_in, H, W) or 4-D (N, C_in, H, W), "
                         f"got shape {_fmt_shape(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"{fname}: weight must be 4-D (C_out, C_in/groups, kH, kW), "
                         f"got shape {_fmt_shape(w.shape)}")
    dtype = native_dtype(x)
    if native_dtype(w) != dtype:
        raise TypeError(f"{fname}: weight dtype {native_dtype(w)} does not match input dtype "
                        f"{dtype}")
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    n, c_in, h, wd = x4.shape
    c_out, c_in_g, kh, kw = w.shape
    if c_out < 1:
        raise ValueError(f"{fname}: weight must have at least one output channel, "
                         f"got shape {_fmt_shape(w.shape)}")
    if kh < 1 or kw < 1:
        raise ValueError(f"{fname}: kernel size must be >= 1, got {kh}x{kw} "
                         f"(weight shape {_fmt_shape(w.shape)})")
    groups = parse_groups(groups, c_in, c_out, fname, x.shape, w.shape)
    if c_in_g != c_in // groups:
        raise ValueError(
            f"{fname}: weight shape {_fmt_shape(w.shape)} expects {c_in_g * groups} input "
            f"channels ({c_in_g} per group x groups={groups}), but input shape "
            f"{_fmt_shape(x.shape)} has {c_in}")
    b = None
    if bias is not None:
        b = as_float_array(bias, "bias", fname)
        if native_dtype(b) != dtype:
            raise TypeError(f"{fname}: bias dtype {native_dtype(b)} does not match input dtype "
                            f"{dtype}")
        if b.shape != (c_out,):
            raise ValueError(f"{fname}: bias must have shape ({c_out},) to match weight shape "
                             f"{_fmt_shape(w.shape)}, got {_fmt_shape(b.shape)}")
        b = np.ascontiguousarray(b, dtype=b.dtype.newbyteorder("="))
    stride = int_pair(stride, "stride", fname, 1)
    dilation = int_pair(dilation, "dilation", fname, 1)
    top, bottom, left, right = parse_padding(padding, kh, kw, dilation, stride, fname)
    h_out = output_size(h, top, bottom, kh, dilation[0], stride[0])
    w_out = output_size(wd, left, right, kw, dilation[1], stride[1])
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"{fname}: the output would be empty: input of {h}x{wd} padded to "
            f"{h + top + bottom}x{wd + left + right} is smaller than the dilated kernel "
            f"{dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1} "
            f"(input shape {_fmt_shape(x.shape)}, weight shape {_fmt_shape(w.shape)})")
    geom = ConvGeometry(n, c_in, h, wd, c_out, kh, kw, stride[0], stride[1], top, bottom, left,
                        right, dilation[0], dilation[1], groups, h_out, w_out)
    check_output_size(geom, dtype, fname)
    return kernel_ready(x4), kernel_ready(w), b, geom, batched


def check_output_size(geom, dtype, fname):
    count = geom.n * geom.c_out * geom.h_out * geom.w_out
    if count * dtype.itemsize > np.iinfo(np.intp).max // 2:
        raise ValueError(f"{fname}: the output of shape {_fmt_shape(geom.out_shape)} is too large "
                         f"to allocate ({count} elements of {dtype})")


def parse_out(out, shape, dtype, fname, inputs):
    """Check a user-supplied out= array: exact shape and dtype, C-contiguous, writeable, and not
    overlapping the inputs (the kernels would read what they already wrote)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fname}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fname}: out must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{fname}: out must have shape {_fmt_shape(shape)}, "
                         f"got {_fmt_shape(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fname}: out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{fname}: out is read-only")
    if not out.flags.aligned or not out.dtype.isnative:
        raise ValueError(f"{fname}: out must be aligned and in native byte order")
    for name, a in inputs:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError(f"{fname}: out must not share memory with {name}")
    return out
