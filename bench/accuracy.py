"""Winograd F(2x2,3x3) against the direct kernel: error against a float64 reference.

    python bench/accuracy.py [--layers suite unseen] [--seeds 2]

For every 3x3 stride-1 layer of the bench suite (bench/suite.py; --layers as in bench/run.py),
runs cconv.conv2d with algorithm="direct" and "winograd" on the same standard-normal float32
inputs, weights and bias, and prints the largest absolute error of each against an independent
float64 reference (cconv._reference: im2col and a matrix product per group),
the largest output for scale, and the ratio winograd / direct (the direct error floored at
eps times the largest output, as tests/test_properties.py does). Accuracy, not speed: nothing is
timed. The batch of each layer is cut to 2 images to keep the reference's memory small.
float32 only: for float64 inputs a float64 reference is no more precise than the kernels (the
direct kernel often matches it bit for bit), so the ratio would measure the reference.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cconv  # noqa: E402
from cconv import _args  # noqa: E402
from cconv._reference import conv2d_im2col_float64  # noqa: E402
from suite import ALL, SUITE, UNSEEN  # noqa: E402


def select(names):
    layers = []
    for name in names:
        if name == "suite":
            layers += SUITE
        elif name == "unseen":
            layers += UNSEEN
        else:
            layers.append(ALL[name])
    return [layer for layer in layers
            if layer.k == 3 and layer.stride == 1 and layer.groups < layer.c_in]


def measure(layer, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((min(layer.n, 2),) + layer.input_shape[1:]).astype(dtype)
    w = rng.standard_normal(layer.weight_shape).astype(dtype)
    b = rng.standard_normal(layer.c_out).astype(dtype)
    params = dict(padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    _, _, _, geom, _ = _args.parse_conv2d(x, w, b, 1, layer.padding, layer.dilation,
                                          layer.groups)
    ref = conv2d_im2col_float64(x, w, b, geom)
    errs = {}
    for algo in ("direct", "winograd"):
        y = cconv.conv2d(x, w, b, algorithm=algo, **params)
        errs[algo] = float(np.abs(y - ref).max())
    return errs, float(np.abs(ref).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", nargs="+", default=["suite", "unseen"])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    worst = {}
    print(f"{'layer':16s} {'dtype':8s} {'max |out|':>10s} {'direct err':>11s} "
          f"{'winograd err':>13s} {'ratio':>6s}")
    for layer in select(args.layers):
        for dtype in (np.float32,):
            for seed in range(args.seeds):
                errs, scale = measure(layer, dtype, seed)
                # (floored at eps * the largest output: the direct sums can be exact)
                floor = np.finfo(dtype).eps * scale
                ratio = errs["winograd"] / max(errs["direct"], floor)
                key = np.dtype(dtype).name
                worst[key] = max(worst.get(key, 0.0), ratio)
                print(f"{layer.name:16s} {key:8s} {scale:10.1f} {errs['direct']:11.2e} "
                      f"{errs['winograd']:13.2e} {ratio:6.2f}")
    for key, ratio in worst.items():
        print(f"largest ratio winograd / direct error, {key}: {ratio:.2f}")


if __name__ == "__main__":
    main()
