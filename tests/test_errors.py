"""Every invalid argument raises TypeError or ValueError naming the argument and the value."""
import re

import numpy as np
import pytest

import cconv

X = np.zeros((1, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)
B = np.zeros(6, np.float32)


class RaisingArray:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array here")


def call(**kw):
    args = dict(input=X, weight=W, bias=None)
    args.update(kw)
    return cconv.conv2d(args.pop("input"), args.pop("weight"), args.pop("bias"), **args)


CASES = [
    # (arguments, exception, pattern the message must match)
    (dict(input=X.astype(np.int64)), TypeError, r"input must be a float32 or float64 array, got dtype int64"),
    (dict(input=X.astype(np.complex64)), TypeError, r"input .* got dtype complex64"),
    (dict(input=X.astype(np.float16)), TypeError, r"input .* got dtype float16"),
    (dict(input=np.array([[["a"]]])), TypeError, r"input .* got dtype <U1"),
    (dict(input=X.astype(object)), TypeError, r"input .* got dtype object"),
    (dict(input=None), TypeError, r"input must be a float32 or float64 array, got None"),
    (dict(input=RaisingArray()), TypeError, r"input could not be converted.*no array here"),
    (dict(input=np.zeros((8, 8), np.float32)), ValueError, r"input must be 3-D .* or 4-D .*got shape \(8, 8\)"),
    (dict(input=np.zeros((1, 1, 4, 8, 8), np.float32)), ValueError, r"input must be 3-D.*\(1, 1, 4, 8, 8\)"),
    (dict(weight=W.astype(np.float64)), TypeError, r"weight dtype float64 does not match input dtype float32"),
    (dict(weight=np.zeros((6, 4, 3), np.float32)), ValueError, r"weight must be 4-D .*got shape \(6, 4, 3\)"),
    (dict(weight=np.zeros((6, 3, 3, 3), np.float32)), ValueError, r"weight shape \(6, 3, 3, 3\) expects 3 input channels .*input shape \(1, 4, 8, 8\) has 4"),
    (dict(weight=np.zeros((0, 4, 3, 3), np.float32)), ValueError, r"at least one output channel.*\(0, 4, 3, 3\)"),
    (dict(weight=np.zeros((6, 4, 0, 3), np.float32)), ValueError, r"kernel size must be >= 1, got 0x3"),
    (dict(weight=np.zeros((6, 4, 9, 9), np.float32)), ValueError, r"output would be empty: input of 8x8 padded to 8x8 is smaller than the dilated kernel 9x9"),
    (dict(bias=np.zeros(5, np.float32)), ValueError, r"bias must have shape \(6,\) to match weight shape \(6, 4, 3, 3\), got \(5,\)"),
    (dict(bias=np.zeros((6, 1), np.float32)), ValueError, r"bias must have shape \(6,\).*got \(6, 1\)"),
    (dict(bias=B.astype(np.float64)), TypeError, r"bias dtype float64 does not match weight dtype float32"),
    (dict(bias=B.astype(np.int32)), TypeError, r"bias must be a float32 or float64 array, got dtype int32"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(stride=-2), ValueError, r"stride must be >= 1, got -2"),
    (dict(stride=1.0), TypeError, r"stride must be an int or a pair of ints, got float 1.0"),
    (dict(stride=True), TypeError, r"stride must be an int, got bool True"),
    (dict(stride="2"), TypeError, r"stride must be an int or a pair of ints, got '2'"),
    (dict(stride=None), TypeError, r"stride must be an int or a pair of ints, got NoneType None"),
    (dict(stride=(1, 1, 1)), ValueError, r"stride must be an int or a pair of ints, got 3 values"),
    (dict(stride=()), ValueError, r"stride must be an int or a pair of ints, got 0 values"),
    (dict(stride=(1, 0)), ValueError, r"stride must be >= 1, got 0"),
    (dict(stride=(1, [2])), TypeError, r"stride must be an int, got list"),
    (dict(stride=2**70), ValueError, r"stride is too large"),
    (dict(dilation=0), ValueError, r"dilation must be >= 1, got 0"),
    (dict(dilation=(2, 1.5)), TypeError, r"dilation must be an int, got float 1.5"),
    (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (dict(padding="full"), ValueError, r"padding must be 'valid', 'same', an int, a pair of ints or \(\(top, bottom\), \(left, right\)\), got 'full'"),
    (dict(padding="SAME"), ValueError, r"padding must be 'valid', 'same'.*got 'SAME'"),
    (dict(padding=0.5), TypeError, r"padding must be an int or a pair of ints, got float 0.5"),
    (dict(padding=(1, 2, 3)), ValueError, r"padding must be an int or a pair of ints, got 3 values"),
    (dict(padding=((1, 2), (3,))), ValueError, r"padding \(\(top, bottom\), \(left, right\)\) needs two values per axis"),
    (dict(padding=((1, -2), (3, 0))), ValueError, r"padding must be >= 0, got -2"),
    (dict(padding="same", stride=2), ValueError, r"padding='same' requires stride 1, got stride=\(2, 2\)"),
    (dict(groups=0), ValueError, r"groups must be >= 1, got 0"),
    (dict(groups=3), ValueError, r"groups=3 must divide the input channels 4 \(input shape \(1, 4, 8, 8\)\)"),
    (dict(groups=4), ValueError, r"groups=4 must divide the output channels 6 \(weight shape \(6, 4, 3, 3\)\)"),
    (dict(groups=2.0), TypeError, r"groups must be an int, got float"),
    (dict(groups=None), TypeError, r"groups must be an int, got NoneType"),
    (dict(algorithm="fft"), ValueError, r"algorithm must be one of auto, direct, winograd; got .fft."),
    (dict(algorithm=None), TypeError, r"algorithm must be a str"),
    (dict(out=np.zeros((1, 6, 6, 6), np.float64)), TypeError, r"out must have dtype float32, got float64"),
    (dict(out=np.zeros((1, 6, 6, 5), np.float32)), ValueError, r"out must have shape \(1, 6, 6, 6\), got \(1, 6, 6, 5\)"),
    (dict(out=[0.0]), TypeError, r"out must be a numpy.ndarray, got list"),
]


@pytest.mark.parametrize("kwargs,exc,pattern", CASES, ids=[re.sub(r"\W+", "_", p)[:40] for _, _, p in CASES])
def test_invalid_argument(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call(**kwargs)
    assert str(info.value).startswith("conv2d: ")


def test_read_only_out():
    out = np.zeros((1, 6, 6, 6), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        call(out=out)


def test_out_overlapping_input():
    buf = np.zeros((1, 6, 8, 8), np.float32)
    w = np.zeros((6, 6, 1, 1), np.float32)
    with pytest.raises(ValueError, match="out must not share memory with input"):
        cconv.conv2d(buf, w, out=buf)


def test_output_too_large_fails_before_any_work():
    x = np.broadcast_to(np.float32(1), (2**20, 1, 2**20, 2**20))  # no memory behind it
    w = np.ones((4, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"output of shape \(1048576, 4, 1048576, 1048576\) is too large"):
        cconv.conv2d(x, w)


def test_output_that_cannot_be_allocated_raises_memory_error():
    x = np.broadcast_to(np.float32(1), (1, 1, 2**20, 2**20))
    w = np.ones((2**10, 1, 1, 1), np.float32)  # 4 PiB of output
    with pytest.raises(MemoryError):
        cconv.conv2d(x, w)


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        cconv.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int, got float"):
        cconv.set_num_threads(2.0)
    with pytest.raises(TypeError, match="n must be an int, got bool"):
        cconv.set_num_threads(True)
