"""`python -m cconv`: the main job.

Runs the five examples of PyTorch's conv2d documentation and layers of ResNet-50, VGG-16 and
MobileNetV2; for each prints the shapes, the algorithm, the median time, GFLOP/s and the largest
error against a float64 reference (cconv._reference, an im2col written separately from the
kernels), and exits 1 if an error exceeds its bound.

Error bound, per output element: |y - ref| <= (K + 2) * eps * sum_k |x_k * w_k| + eps * |bias|,
K the accumulation length: the classical bound for a K-term dot product in floating point,
whatever the summation order, with a factor 2 of margin (eps = 2u). Winograd layers use the
bound of tests/conftest.py's winograd_error_bound (its transforms mix whole tiles).
"""
import sys
import time

import numpy as np

from . import _args, _reference, _threads
from ._conv import conv2d
from ._select import explain

# name, input shape, weight shape, keyword arguments
LAYERS = [
    ("torch-doc-1", (1, 3, 224, 224), (64, 3, 3, 3), dict(padding=1, bias=True)),
    ("torch-doc-2", (4, 64, 112, 112), (128, 64, 3, 3), dict(stride=2, padding=1)),
    ("torch-doc-3", (1, 128, 32, 32), (128, 128, 3, 3), dict(padding=2, dilation=2)),
    ("torch-doc-4", (32, 64, 28, 28), (64, 1, 3, 3), dict(padding=1, groups=64)),
    ("torch-doc-5", (8, 128, 16, 16), (256, 128, 3, 3), dict(stride=(2, 2), padding=(1, 1))),
    ("resnet50-conv1", (1, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3)),
    ("resnet50-l1-1x1", (1, 64, 56, 56), (256, 64, 1, 1), dict(bias=True)),
    ("resnet50-l3-3x3", (1, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ("vgg16-conv3_2", (1, 256, 56, 56), (256, 256, 3, 3), dict(padding=1, bias=True)),
    ("mobilenetv2-dw-s2", (1, 96, 112, 112), (96, 1, 3, 3), dict(stride=2, padding=1, groups=96)),
    ("mobilenetv2-pw", (1, 192, 28, 28), (32, 192, 1, 1), dict()),
]


def _median_ms(fn, min_reps=3, budget_s=0.3):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget_s and len(times) < 50):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def check_layer(name, xshape, wshape, kwargs, dtype=np.float32, seed=0):
    """Run one layer; return (row dict, ok)."""
    rng = np.random.default_rng(seed)
    kwargs = dict(kwargs)
    x = rng.standard_normal(xshape).astype(dtype)
    w = (rng.standard_normal(wshape) / np.sqrt(np.prod(wshape[1:]))).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype) if kwargs.pop("bias", False) else None
    _, _, _, geom, _ = _args.parse_conv2d(x, w, b, kwargs.get("stride", 1),
                                          kwargs.get("padding", 0), kwargs.get("dilation", 1),
                                          kwargs.get("groups", 1))
    choice = explain(xshape, wshape, kwargs.get("stride", 1), kwargs.get("padding", 0),
                     kwargs.get("dilation", 1), kwargs.get("groups", 1))
    y = conv2d(x, w, b, **kwargs)
    ms = _median_ms(lambda: conv2d(x, w, b, **kwargs))
    ref = _reference.conv2d_im2col_float64(x, w, b, geom)
    absref = _reference.conv2d_im2col_float64(np.abs(x), np.abs(w), None, geom)
    eps = np.finfo(dtype).eps
    bound = (geom.k_len + 2) * eps * absref
    if choice["algorithm"] == "winograd":
        # Winograd's transforms mix a tile's whole 4x4 patch and all 9 taps of a filter
        # (tests/conftest.py derives this bound): 2 x, over a 5x5 window and summed |w|
        w1 = np.abs(w.astype(np.float64)).sum(axis=(2, 3))
        box = np.broadcast_to(w1[:, :, None, None], w1.shape + (5, 5))
        g5 = geom._replace(kh=5, kw=5, pad_top=geom.pad_top + 1, pad_bottom=geom.pad_bottom + 1,
                           pad_left=geom.pad_left + 1, pad_right=geom.pad_right + 1)
        bound = 2 * (geom.k_len + 2) * eps * _reference.conv2d_im2col_float64(
            np.abs(x), box, None, g5)
    if b is not None:
        bound += eps * np.abs(b.astype(np.float64))[:, None, None]
    err = np.abs(y.astype(np.float64) - ref)
    ok = bool(np.all(err <= bound)) and bool(np.all(np.isfinite(y)))
    row = dict(name=name, input=xshape, weight=wshape, algorithm=choice["kernel"], ms=ms,
               gflops=geom.flops / ms * 1e-6, max_err=float(err.max()),
               err_ratio=float((err / np.maximum(bound, np.finfo(np.float64).tiny)).max()))
    return row, ok


def run_examples(argv=()):
    dtype = np.float64 if "--float64" in argv else np.float32
    print(f"cconv conv2d, {np.dtype(dtype).name}, {_threads.get_num_threads()} thread(s)")
    header = (f"{'layer':<20} {'input':<18} {'weight':<17} {'algorithm':<9} {'ms':>8} "
              f"{'GFLOP/s':>8} {'max err':>9} {'err/bound':>9}")
    print(header)
    print("-" * len(header))
    failed = []
    for name, xs, ws, kw in LAYERS:
        row, ok = check_layer(name, xs, ws, kw, dtype)
        print(f"{name:<20} {str(xs):<18} {str(ws):<17} {row['algorithm']:<9} {row['ms']:>8.3f} "
              f"{row['gflops']:>8.1f} {row['max_err']:>9.2e} {row['err_ratio']:>9.2e}"
              + ("" if ok else "  <-- ERROR ABOVE BOUND"))
        if not ok:
            failed.append(name)
    if failed:
        print(f"FAILED: error above its bound in {', '.join(failed)}", file=sys.stderr)
        return 1
    print("all results within their error bounds")
    return 0
