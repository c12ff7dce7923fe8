"""Benchmark cconv against torch, onnxruntime and ncnn, layer by layer, in one run.

    python bench/run.py [--threads 1 2] [--layers NAME|suite|unseen ...] [--json FILE]
                        [--plot FILE.png] [--rounds R] [--float64]

Each thread count runs in its own child process with OMP_NUM_THREADS & co. set before any library
loads. Per layer the engines get the same inputs; after a warm-up they run in interleaved bursts
(rotating order, a pause before each burst so that a peer's spinning worker threads go idle), and
the median of all calls is reported. Ratios (peer time / cconv time) are what to read: the host is
shared and its clock varies, so absolute times drift between runs while ratios within a run hold.
GFLOP/s is the direct-convolution FLOP count over time; % peak is against the float32 FMA peak
measured in the same child process (cconv's FMA loop, same instruction set as its kernels).

cconv runs as a prepared `cconv.Conv2d` (weights packed once, outside the timed call, as the
peers' sessions and nets hold theirs) and, as `cconv-call`, as `cconv.conv2d`, which packs the
weights in every call; the summary gives the peers' ratios against both.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from suite import ALL, SUITE, UNSEEN  # noqa: E402

PEERS = ["torch", "onnxruntime", "ncnn", "ncnn-w23"]
# "cconv" is a prepared cconv.Conv2d (weights packed once, like the peers' sessions and nets);
# "cconv-call" is cconv.conv2d, which packs (or Winograd-transforms) the weights in every call
OURS = ["cconv", "cconv-call"]
THREAD_ENV = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"]


def progress(i, n, label):
    width = 30
    done = int(width * i / max(n, 1))
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {label:<40}")
    sys.stderr.flush()
    if i == n:
        sys.stderr.write("\n")


def rss_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_extra_mib(fn):
    """Extra resident memory at the peak of one call: reset the high-water mark (Linux
    /proc/self/clear_refs), run, compare VmHWM with the RSS before. None where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = rss_kib("VmRSS")
    fn()
    after = rss_kib("VmHWM")
    if before is None or after is None:
        return None
    return max(0, after - before) / 1024


def time_engines(fns, rounds, pause, burst_s=0.02):
    """Interleaved bursts: returns {engine: median seconds per call}.

    Each burst starts after a pause and once no other thread of the process runs (so that the
    previous engine's spinning workers have gone idle: engines.wait_for_quiet_threads) with one
    untimed call (so that this engine's own pool is awake): what is timed is
    back-to-back calls, the same for every engine. Idle-wake latency is measured separately."""
    import numpy as np
    from engines import wait_for_quiet_threads
    est = {}
    for name, fn in fns.items():  # warm-up, and an estimate of the call time
        fn()
        t = time.perf_counter()
        fn()
        est[name] = max(time.perf_counter() - t, 1e-6)
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            wait_for_quiet_threads(pause)
            fn = fns[name]
            fn()  # untimed: wakes this engine's thread pool after the pause
            reps = max(2, min(200, int(burst_s / est[name])))
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: float(np.median(v)) for name, v in times.items()}


def worker(args):
    """One thread count, in this process: prints a JSON document on stdout."""
    import numpy as np

    import engines
    import cconv
    from cconv import _dispatch

    threads = args.threads[0]
    peak = _dispatch.peak.fma_peak_gflops(threads)
    layers = [ALL[name] for name in args.layer_names]
    results, notes = [], {}
    for i, layer in enumerate(layers):
        progress(i, len(layers), f"{threads}T {layer.name}")
        rng = np.random.default_rng(0)
        x = rng.standard_normal(layer.input_shape, dtype=np.float32)
        w = (rng.standard_normal(layer.weight_shape, dtype=np.float32)
             / np.float32(math.sqrt(np.prod(layer.weight_shape[1:]))))
        b = rng.standard_normal(layer.c_out, dtype=np.float32)
        fns = {}
        for name in OURS + [p for p in PEERS if p in args.engines]:
            try:
                fns[name] = engines.make(name, layer, x, w, b, threads)
            except engines.EngineUnavailable as exc:
                notes[name] = str(exc)
        if args.float64:
            fns["cconv-f64"] = engines._cconv(layer, x, w, b, threads, dtype=np.float64)
        # the first call of each engine: its output, and the resident memory it adds at peak
        # (one-time allocations included: cconv keeps its largest scratch buffer)
        outs, mem = {}, {}
        for name, fn in fns.items():
            mem[name] = peak_extra_mib(fn)
            outs[name] = fn()
        ref = outs.get("torch")
        med = time_engines(fns, args.rounds, args.pause)
        row = dict(name=layer.name, kind=layer.kind, c_in=layer.c_in, gflop=layer.flops * 1e-9,
                   threads=threads, ms={k: v * 1e3 for k, v in med.items()},
                   gflops={k: layer.flops / v * 1e-9 for k, v in med.items()},
                   max_err_vs_torch={k: float(np.abs(np.asarray(o, np.float64) - ref).max())
                                     for k, o in outs.items()} if ref is not None else {},
                   peak_extra_mib=mem)
        row["pct_peak"] = {k: 100 * v / peak for k, v in row["gflops"].items()}
        row["ratio"] = {k: med[k] / med["cconv"] for k in med if k != "cconv"}
        results.append(row)
    progress(len(layers), len(layers), "")
    tiny = tiny_call_us(threads)
    json.dump(dict(threads=threads, peak_gflops=peak, simd=_dispatch.LEVEL, layers=results,
                   notes=notes, tiny_call_us=tiny, cconv_version=cconv.__version__), sys.stdout)


def tiny_call_us(threads):
    """End-to-end time of a tiny call (1x1x8x8 input, 3x3 kernel, padding 1), median of many."""
    import numpy as np

    import cconv
    from engines import wait_for_quiet_threads
    cconv.set_num_threads(threads)
    x = np.ones((1, 1, 8, 8), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    wait_for_quiet_threads(0.05)   # the last layer's engines idle
    for _ in range(200):
        cconv.conv2d(x, w, padding=1)
    ts = []
    for _ in range(2000):
        t = time.perf_counter()
        cconv.conv2d(x, w, padding=1)
        ts.append(time.perf_counter() - t)
    return 1e6 * float(np.median(ts))


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


GROUPS = [
    ("direct targets (not depthwise, not 3x3s1)", lambda r: r["kind"] in ("1x1", "direct")),
    ("3x3 stride 1, >=32 ch", lambda r: r["kind"] == "3x3s1"),
    ("1x1", lambda r: r["kind"] == "1x1"),
    ("depthwise", lambda r: r["kind"] == "depthwise"),
    ("C_in <= 4", lambda r: r["c_in"] <= 4),
    ("whole suite", lambda r: True),
]


def group_geomeans(doc, peers, ratio, out):
    """One line per layer group: the geomean of ratio(row, peer) for each peer (None: left out)."""
    for label, pred in GROUPS:
        rows = [r for r in doc["layers"] if pred(r)]
        if rows:
            cells = "  ".join(f"{p} {geomean([ratio(r, p) for r in rows]):.2f}x" for p in peers)
            print(f"  {label:<42} ({len(rows):>2} layers)  {cells}", file=out)


def report(doc, out=sys.stdout):
    t = doc["threads"]
    peers = sorted({k for r in doc["layers"] for k in r["ratio"]} - {"cconv-f64", "cconv-call"})
    f64 = any("cconv-f64" in r["ratio"] for r in doc["layers"])
    call = all("cconv-call" in r["ratio"] for r in doc["layers"])
    print(f"\n== {t} thread(s), SIMD {doc['simd']}, measured fp32 FMA peak "
          f"{doc['peak_gflops']:.1f} GFLOP/s ==", file=out)
    head = (f"{'layer':<16} {'kind':<9} {'GFLOP':>6} {'cconv ms':>9} {'GFLOP/s':>8} {'%peak':>6} "
            + " ".join(f"{'x ' + p:>12}" for p in peers) + f" {'err vs torch':>12} {'MiB':>6}"
            + (f" {'call/prep':>9}" if call else "")
            + (f" {'f64/f32':>8}" if f64 else ""))
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in doc["layers"]:
        ratios = " ".join(f"{r['ratio'].get(p, float('nan')):>12.2f}" for p in peers)
        err = r["max_err_vs_torch"].get("cconv")
        mib = r["peak_extra_mib"].get("cconv")
        print(f"{r['name']:<16} {r['kind']:<9} {r['gflop']:>6.2f} {r['ms']['cconv']:>9.3f} "
              f"{r['gflops']['cconv']:>8.1f} {r['pct_peak']['cconv']:>6.1f} {ratios} "
              f"{err if err is not None else float('nan'):>12.2e} "
              f"{mib if mib is not None else float('nan'):>6.1f}"
              + (f" {r['ratio']['cconv-call']:>9.2f}" if call else "")
              + (f" {1 / r['ratio']['cconv-f64']:>8.2f}" if f64 else ""), file=out)
    print("\ngeomean speed ratio (peer time / cconv time; > 1 means cconv is faster):", file=out)
    group_geomeans(doc, peers, lambda r, p: r["ratio"].get(p), out)
    if call:
        print("the same against cconv.conv2d, which packs the weights in every call:", file=out)
        group_geomeans(doc, peers, lambda r, p: r["ratio"][p] / r["ratio"]["cconv-call"]
                       if p in r["ratio"] else None, out)
    if f64:
        print(f"  {'float64 speed / float32 speed (cconv)':<42} "
              f"{1 / geomean([r['ratio'].get('cconv-f64') for r in doc['layers']]):.2f}",
              file=out)
    print(f"  tiny call (1x1x8x8, 3x3) end to end: {doc['tiny_call_us']:.1f} us", file=out)
    for name, note in doc["notes"].items():
        print(f"  note: {name} skipped: {note}", file=out)


def plot(docs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(docs), 1, figsize=(14, 4.5 * len(docs)), squeeze=False)
    for ax, doc in zip(axes[:, 0], docs):
        names = [r["name"] for r in doc["layers"]]
        peers = sorted({k for r in doc["layers"] for k in r["ratio"]}
                       - {"cconv-f64", "cconv-call"})
        width = 0.8 / max(len(peers), 1)
        for j, p in enumerate(peers):
            ax.bar([i + j * width for i in range(len(names))],
                   [r["ratio"].get(p, 0) for r in doc["layers"]], width, label=f"vs {p}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("speed ratio (peer / cconv)")
        ax.set_title(f"cconv speed ratio, {doc['threads']} thread(s), {doc['simd']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"plot written to {path}", file=sys.stderr)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--layers", nargs="+", default=["suite"],
                    help="layer names, or 'suite' / 'unseen' / 'all'")
    ap.add_argument("--engines", nargs="+", default=PEERS, help="peers to compare with")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.05,
                    help="seconds before each burst (then until the other threads are idle)")
    ap.add_argument("--float64", action="store_true", help="also time cconv in float64")
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--plot", help="bar chart of the ratios (needs matplotlib)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    names = []
    for item in args.layers:
        if item in ("suite", "unseen", "all"):
            names += [l.name for l in {"suite": SUITE, "unseen": UNSEEN,
                                       "all": SUITE + UNSEEN}[item]]
        elif item in ALL:
            names.append(item)
        else:
            ap.error(f"unknown layer {item!r}; known: {', '.join(ALL)}")
    args.layer_names = names
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args)
        return 0
    docs = []
    for t in args.threads:
        env = dict(os.environ, **{k: str(t) for k in THREAD_ENV})
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(t),
               "--rounds", str(args.rounds), "--pause", str(args.pause),
               "--engines", *args.engines, "--layers", *args.layer_names]
        if args.float64:
            cmd.append("--float64")
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(f"benchmark at {t} thread(s) failed", file=sys.stderr)
            return 1
        doc = json.loads(proc.stdout)
        docs.append(doc)
        report(doc)
    print(f"\n{time.strftime('%Y-%m-%d')}, {machine()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(docs, f, indent=1)
    if args.plot:
        plot(docs, args.plot)
    return 0


def machine():
    from cconv._info import cpu_model
    return f"{cpu_model()}, {os.cpu_count()} CPUs"


if __name__ == "__main__":
    sys.exit(main())
