"""Whole networks: ResNet-18 and MobileNetV2 in cconv, torch (eager) and onnxruntime.

    python bench/networks.py [--threads 1 2] [--batch 1 8] [--rounds 7]

The real architectures with random weights. The torch model is the reference (eval mode, its
batch norms separate); cconv runs the same network built from cconv.Conv2d with each batch
norm folded into its convolution (as inference engines do) and ReLU/ReLU6 and the residual
Add fused into the convolution's output pass; pooling and the classifier are NumPy. cconv
runs each network twice: in NCHW (torch's layout) and channels last (NHWC: the image
transposed once on the way in; onnxruntime, too, runs its convolutions in a blocked
channels-last layout of its own). Each cconv layer writes into memory from an arena (`out=`)
that hands back blocks freed by earlier layers, as an inference engine's memory planner does
(a new 38 MB output per call would cost its fresh pages every time, ~4000 page faults per
MobileNetV2 batch of 8). onnxruntime runs the torch model exported to ONNX (its own graph
optimisations on). For each network, batch size and thread count: the largest logit
difference to torch, and the median end-to-end latency of each engine, interleaved, after
warm-up.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

# -- the torch reference models ---------------------------------------------------------------


def _torch():
    import torch
    return torch


def resnet18_torch(seed=0, num_classes=1000):
    torch = _torch()
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(nn.Sequential(BasicBlock(cin, cout, stride),
                                            BasicBlock(cout, cout, 1)))
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            x = self.layers(x)
            return self.fc(torch.flatten(torch.mean(x, dim=(2, 3), keepdim=True), 1))

    return _randomise(ResNet18(), seed)


def mobilenetv2_torch(seed=0, num_classes=1000):
    torch = _torch()
    nn = torch.nn

    def conv_bn(cin, cout, k, stride, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6())
        return nn.Sequential(*layers)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [] if expand == 1 else [conv_bn(cin, hidden, 1, 1)]
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                       conv_bn(hidden, cout, 1, 1, act=False)]
            self.conv = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            blocks, cin = [conv_bn(3, 32, 3, 2)], 32
            for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
                for i in range(n):
                    blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            blocks.append(conv_bn(cin, 1280, 1, 1))
            self.features = nn.Sequential(*blocks)
            self.classifier = nn.Linear(1280, num_classes)

        def forward(self, x):
            x = self.features(x)
            return self.classifier(torch.flatten(torch.mean(x, dim=(2, 3), keepdim=True), 1))

    return _randomise(MobileNetV2(), seed)


def _randomise(model, seed):
    """He-scaled conv weights and non-trivial batch-norm statistics, so that folding matters
    and activations stay in a realistic range through the depth."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
                m.bias.zero_()
    return model.eval()


# -- the same networks in cconv -------------------------------------------------------------


def fold(conv, bn, **kwargs):
    """A cconv.Conv2d computing bn(conv(x)) (eval mode), with its own kwargs (activation)."""
    import cconv
    w = conv.weight.detach().numpy().astype(np.float64)
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy().astype(np.float64)
    shift = (bn.bias.detach().numpy() - bn.running_mean.detach().numpy() * scale)
    if conv.bias is not None:
        shift = shift + conv.bias.detach().numpy() * scale
    return cconv.Conv2d((w * scale[:, None, None, None]).astype(np.float32),
                                 shift.astype(np.float32), stride=conv.stride,
                                 padding=conv.padding, groups=conv.groups, **kwargs)


def _max_pool_axis(a, axis, out):
    """out[i] = max(a[2i-1], a[2i], a[2i+1]) along `axis` (those that exist): 3-wide, stride 2,
    padding 1; out has a's shape but (n - 1) // 2 + 1 along axis."""
    n, no = a.shape[axis], out.shape[axis]
    at = lambda start, stop, step=1: (slice(None),) * axis + (slice(start, stop, step),)
    pairs = n // 2                                   # outputs whose 2i + 1 exists
    np.maximum(a[at(0, 2 * pairs, 2)], a[at(1, 2 * pairs, 2)], out=out[at(0, pairs)])
    if no > pairs:                                   # n odd: the last one has 2i (and 2i - 1)
        out[at(pairs, no)] = a[at(2 * pairs, n)]
    np.maximum(out[at(1, no)], a[at(1, 2 * no - 2, 2)], out=out[at(1, no)])
    return out


def maxpool3x3s2(x, axes=(2, 3), out=None, channel_block=16):
    """3x3, stride 2, padding 1 max pooling of x over its two image axes (NCHW: (2, 3), NHWC:
    (1, 2)), separably, without a padded copy, into out (None: a new array). NCHW runs
    channel_block channels at a time, the row-pooled block between the two passes in L2 (the
    whole 64 x 112 x 112 stem at once took 1.13 ms, 0.69 ms this way; 1.43 / 1.10 ms with
    the input not in cache)."""
    shape = list(x.shape)
    for ax in axes:
        shape[ax] = (shape[ax] - 1) // 2 + 1
    if out is None:
        out = np.empty(shape, x.dtype)
    if axes != (2, 3):
        rows = np.empty(shape[:axes[1]] + list(x.shape[axes[1]:]), x.dtype)
        return _max_pool_axis(_max_pool_axis(x, axes[0], rows), axes[1], out)
    c = x.shape[1]
    block = min(c, channel_block)
    rows = np.empty((x.shape[0], block, shape[2], x.shape[3]), x.dtype)
    for c0 in range(0, c, block):
        c1 = min(c, c0 + block)
        r = rows[:, :c1 - c0]
        _max_pool_axis(_max_pool_axis(x[:, c0:c1], 2, r), 3, out[:, c0:c1])
    return out


class Arena:
    """Output buffers reused across layers, as an inference engine's memory planner does: a
    layer takes memory for its output, the network gives it back after its last reader. The
    most recently given block that is large enough is taken first (it is the one most likely
    still in cache), whatever shape it last held: the working set stays near the largest few
    live activations, not the sum of all of them (MobileNetV2 at batch 1 has ~20 MB of outputs,
    more than this host's share of L3)."""

    ALIGN = 64

    def __init__(self):
        self.free = []          # aligned uint8 blocks, most recently given last
        self.block_of = {}      # id(array) -> its block
        self.shapes = {}        # (layer, input shape) -> (output shape, bytes): a planner's
                                # table (Conv2d.output_shape validates: ~10 us a call)
        self.views = {}         # (id(block), shape, dtype) -> the array on it: made once
                                # (the same blocks serve the same layers on every forward)

    def call(self, conv, x, residual=None, channels_last_out=False):
        """conv(x) into a block; channels_last_out: an NCHW layer writing channels-last
        memory (the array returned is NHWC), as an engine's first layer turns the NCHW image
        into its own layout without a separate transpose."""
        planned = self.shapes.get((id(conv), x.shape))
        if planned is None:
            shape = conv.output_shape(x.shape)
            if channels_last_out:
                shape = (shape[0], shape[2], shape[3], shape[1])
            planned = self.shapes[(id(conv), x.shape)] = (
                shape, int(np.prod(shape)) * x.dtype.itemsize)
        out = self.take(*planned, x.dtype)
        if channels_last_out:
            conv(x, out=out.transpose(0, 3, 1, 2), residual=residual)
            return out
        return conv(x, out=out, residual=residual)

    def take(self, shape, nbytes, dtype):
        """An array of shape (nbytes of dtype) on a free block, or a new one."""
        free = self.free
        for i in range(len(free) - 1, -1, -1):
            if free[i].nbytes >= nbytes:
                block = free.pop(i)
                break
        else:
            raw = np.empty(nbytes + self.ALIGN, np.uint8)
            start = -raw.ctypes.data % self.ALIGN
            block = raw[start:start + nbytes]
        key = (id(block), shape, dtype)
        out = self.views.get(key)
        if out is None:
            out = self.views[key] = block[:nbytes].view(dtype).reshape(shape)
        self.block_of[id(out)] = block
        return out

    def give(self, *arrays):
        for a in arrays:
            block = self.block_of.pop(id(a), None)
            if block is not None:
                self.free.append(block)


class ChannelsLast:
    """layout="NHWC": the network runs channels last (every layer's output, and the input of
    all but the first). The first convolution reads the NCHW image and writes channels-last
    memory (out= a channels-last view): no transpose of the image (0.19 ms of MobileNetV2's
    ~9 ms did that)."""

    def _layout_init(self, layout):
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
        self.layout = layout
        self.image_axes = (1, 2) if layout == "NHWC" else (2, 3)

    def _first(self, conv, x):
        """The first layer (built NCHW) on the NCHW image, its output in the network's
        layout."""
        return self.arena.call(conv, x, channels_last_out=self.layout == "NHWC")


class ResNet18Cconv(ChannelsLast):
    def __init__(self, tm, layout="NCHW"):
        self._layout_init(layout)
        conv = lambda c, bn, **kw: fold(c, bn, layout=layout, **kw)
        self.stem = fold(tm.conv1, tm.bn1, activation="relu")   # reads the NCHW image
        self.blocks = []
        for layer in tm.layers:
            for b in layer:
                down = None if b.downsample is None else conv(b.downsample[0], b.downsample[1])
                self.blocks.append((conv(b.conv1, b.bn1, activation="relu"),
                                    conv(b.conv2, b.bn2, activation="relu"), down))
        self.fc_w = tm.fc.weight.detach().numpy().T.copy()
        self.fc_b = tm.fc.bias.detach().numpy().copy()
        self.arena = Arena()
        self.pooled_shapes = {}

    def __call__(self, x):
        run, give = self.arena.call, self.arena.give
        stem = self._first(self.stem, x)
        pooled = self.pooled_shapes.get(stem.shape)
        if pooled is None:
            shape = list(stem.shape)
            for ax in self.image_axes:
                shape[ax] = (shape[ax] - 1) // 2 + 1
            pooled = self.pooled_shapes[stem.shape] = (tuple(shape),
                                                       int(np.prod(shape)) * stem.itemsize)
        x = maxpool3x3s2(stem, self.image_axes, out=self.arena.take(*pooled, stem.dtype))
        give(stem)
        for conv1, conv2, down in self.blocks:
            identity = x if down is None else run(down, x)
            h = run(conv1, x)
            y = run(conv2, h, residual=identity)   # relu(bn2(conv2(.)) + identity), fused
            give(h, x) if down is None else give(h, identity, x)
            x = y
        logits = x.mean(axis=self.image_axes) @ self.fc_w + self.fc_b
        give(x)
        return logits


class MobileNetV2Cconv(ChannelsLast):
    def __init__(self, tm, layout="NCHW"):
        torch = _torch()
        self._layout_init(layout)
        self.layers = []
        for i, m in enumerate(tm.features):
            if isinstance(m, torch.nn.Sequential):      # conv + bn + relu6
                # the first reads the NCHW image whatever the layout (_first)
                self.layers.append(([fold(m[0], m[1], activation="relu6",
                                          layout=layout if i else "NCHW")], False))
            else:                                         # inverted residual
                convs = []
                for sub in m.conv:
                    act = "relu6" if len(sub) == 3 else None
                    convs.append(fold(sub[0], sub[1], activation=act, layout=layout))
                self.layers.append((convs, m.use_res))
        self.fc_w = tm.classifier.weight.detach().numpy().T.copy()
        self.fc_b = tm.classifier.bias.detach().numpy().copy()
        self.arena = Arena()

    def __call__(self, x):
        run, give = self.arena.call, self.arena.give
        network_input = x
        x = self._first(self.layers[0][0][0], x)
        for convs, use_res in self.layers[1:]:
            y = x
            for conv in convs[:-1]:
                h = run(conv, y)
                if y is not x:
                    give(y)
                y = h
            out = run(convs[-1], y, residual=x if use_res else None)
            if y is not x:
                give(y)
            if x is not network_input:
                give(x)
            x = out
        logits = x.mean(axis=self.image_axes) @ self.fc_w + self.fc_b
        give(x)
        return logits


NETWORKS = {"resnet18": (resnet18_torch, ResNet18Cconv),
            "mobilenetv2": (mobilenetv2_torch, MobileNetV2Cconv)}


def onnx_session(tm, x, threads):
    """onnxruntime running the torch model exported to ONNX; None if unavailable."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    torch = _torch()
    buf = io.BytesIO()
    try:
        torch.onnx.export(tm, torch.from_numpy(x), buf, input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    except Exception as exc:  # the exporter needs extra packages in some torch versions
        print(f"note: torch.onnx.export failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})[0]


def worker(threads, batches, rounds, pause):
    from engines import wait_for_quiet_threads  # bench/, beside this script
    torch = _torch()
    import cconv
    torch.set_num_threads(threads)
    cconv.set_num_threads(threads)
    rows = []
    for name, (make_torch, make_cconv) in NETWORKS.items():
        tm = make_torch()
        net = make_cconv(tm)
        net_nhwc = make_cconv(tm, layout="NHWC")
        for batch in batches:
            x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224), dtype=np.float32)
            tx = torch.from_numpy(x)

            def run_torch():
                with torch.inference_mode():
                    return tm(tx).numpy()

            fns = {"cconv": lambda: net(x), "cconv-nhwc": lambda: net_nhwc(x),
                   "torch": run_torch}
            ort_fn = onnx_session(tm, x, threads)
            if ort_fn is not None:
                fns["onnxruntime"] = ort_fn
            ref = run_torch()
            diffs = {k: float(np.abs(f() - ref).max()) for k, f in fns.items()}
            times = {k: [] for k in fns}
            for f in fns.values():
                f()
            for r in range(rounds):
                for k in list(fns)[r % len(fns):] + list(fns)[:r % len(fns)]:
                    wait_for_quiet_threads(pause)   # a peer's spinning workers gone idle
                    fns[k]()
                    for _ in range(3):
                        t = time.perf_counter()
                        fns[k]()
                        times[k].append(time.perf_counter() - t)
            med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
            rows.append(dict(network=name, batch=batch, threads=threads, ms=med,
                             max_logit_diff=diffs, logit_scale=float(np.abs(ref).max())))
    json.dump(rows, sys.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.1)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.batch, args.rounds, args.pause)
        return 0
    print(f"{time.strftime('%Y-%m-%d')}: ResNet-18 and MobileNetV2, 224x224, float32")
    print(f"{'network':<12} {'batch':>5} {'threads':>7} {'cconv ms':>9} {'NHWC ms':>8} "
          f"{'torch ms':>9} {'ort ms':>8} {'x torch':>8} {'x ort':>7} {'NHWC x ort':>11} "
          f"{'max |logit diff|':>17} {'(of max)':>9}")
    all_rows = []
    for t in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(t),
                              "--batch", *map(str, args.batch), "--rounds", str(args.rounds),
                              "--pause", str(args.pause)],
                             env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        for r in json.loads(out):
            all_rows.append(r)
            ms = r["ms"]
            ort = ms.get("onnxruntime", float("nan"))
            diff = max(r['max_logit_diff']['cconv'], r['max_logit_diff']['cconv-nhwc'])
            print(f"{r['network']:<12} {r['batch']:>5} {r['threads']:>7} {ms['cconv']:>9.2f} "
                  f"{ms['cconv-nhwc']:>8.2f} {ms['torch']:>9.2f} {ort:>8.2f} "
                  f"{ms['torch'] / ms['cconv']:>8.2f} {ort / ms['cconv']:>7.2f} "
                  f"{ort / ms['cconv-nhwc']:>11.2f} {diff:>17.2e} {r['logit_scale']:>9.2f}")
    print_scaling(all_rows, args.threads)
    return 0


def print_scaling(rows, threads):
    """Each engine's own speedup from the fewest threads to each other count: on a shared
    host a contended second core shows here (every engine scaling poorly in that run),
    not only as a change in the ratios between engines."""
    base = min(threads)
    others = sorted(t for t in set(threads) if t != base)
    if not others:
        return
    by = {(r["network"], r["batch"], r["threads"]): r["ms"] for r in rows}
    engines = [e for e in ("cconv", "cconv-nhwc", "torch", "onnxruntime")
               if any(e in r["ms"] for r in rows)]
    print(f"\nspeedup over {base} thread{'s' if base > 1 else ''} (time at {base} / time at T)")
    print(f"{'network':<12} {'batch':>5} {'T':>3} " + " ".join(f"{e:>11}" for e in engines))
    for (name, batch, t) in sorted(by):
        if t not in others or (name, batch, base) not in by:
            continue
        one, many = by[(name, batch, base)], by[(name, batch, t)]
        cells = [f"{one[e] / many[e]:>11.2f}" if e in one and e in many else f"{'-':>11}"
                 for e in engines]
        print(f"{name:<12} {batch:>5} {t:>3} " + " ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
