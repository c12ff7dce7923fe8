"""Where Winograd F(2x2,3x3) beats the direct kernel: the measurements behind
cconv._select's rule for algorithm="auto".

    python bench/crossover.py [--threads 1 2] [--out bench/crossover.txt]

For 3x3 stride-1 padding-1 layers over a grid of channel counts (C_in = C_out), image sizes and
batch sizes, times conv2d with algorithm="direct" and "winograd" (the weights transformed on
every call, as conv2d does) and the same two as prepared Conv2d objects (weights packed or
transformed once), as pairs of back-to-back calls, and prints the speed-up of Winograd both
ways (the median of the pairs' ratios) with the quantities the rule looks at: channels per
group, output pixels and output pixels per filter (N*H*W / (C_out*C_in)). Each thread count
runs in its own process.
"""
import argparse
import os
import subprocess
import sys
import time

CHANNELS = [8, 16, 24, 32, 64, 128, 256, 512]
SIZES = [7, 14, 28, 56, 112]
BATCHES = [1, 8]


def paired_ratio(f_direct, f_winograd, budget_s, min_pairs):
    """Median over pairs of back-to-back calls (their order alternating) of direct time /
    Winograd time, and each one's median time. A ratio of neighbouring calls survives the
    host's clock and load drifting over the sweep; separate medians of two series do not
    (on a shared host they put one layer at 1.94x in one run and 1.23x in the next)."""
    import numpy as np
    td, tw, ratios = [], [], []
    start = time.perf_counter()
    while len(ratios) < min_pairs or time.perf_counter() - start < budget_s:
        pair = {}
        for name, f in (("d", f_direct), ("w", f_winograd))[::1 if len(ratios) % 2 else -1]:
            t = time.perf_counter()
            f()
            pair[name] = time.perf_counter() - t
        td.append(pair["d"])
        tw.append(pair["w"])
        ratios.append(pair["d"] / pair["w"])
    return float(np.median(td)), float(np.median(tw)), float(np.median(ratios))


def measure(threads, budget_s=0.3, min_pairs=9):
    import numpy as np

    import cconv
    cconv.set_num_threads(threads)
    rows = []
    for c in CHANNELS:
        for hw in SIZES:
            for n in BATCHES:
                if n * c * c * hw * hw * 9 > 4e9 or (n > 1 and hw > 56):
                    continue  # keep the sweep short: the big cases are clear already
                rng = np.random.default_rng(0)
                x = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
                w = rng.standard_normal((c, c, 3, 3), dtype=np.float32)
                fns = {a: (lambda a=a: cconv.conv2d(x, w, padding=1, algorithm=a))
                       for a in ("direct", "winograd")}
                for a in ("direct", "winograd"):  # prepared: weights packed once
                    fns[a + "_prepared"] = (lambda c=cconv.Conv2d(w, padding=1, algorithm=a):
                                            c(x))
                for f in fns.values():  # warm-up: scratch buffers, caches
                    f()
                    f()
                direct_s, winograd_s, speedup = paired_ratio(
                    fns["direct"], fns["winograd"], budget_s, min_pairs)
                _, _, prepared_speedup = paired_ratio(
                    fns["direct_prepared"], fns["winograd_prepared"], budget_s, min_pairs)
                rows.append(dict(c=c, hw=hw, n=n, direct_ms=direct_s * 1e3,
                                 winograd_ms=winograd_s * 1e3, speedup=speedup,
                                 prepared_speedup=prepared_speedup,
                                 pixels_per_filter=n * hw * hw / (c * c)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        import json
        json.dump(measure(args.worker), sys.stdout)
        return 0
    import json
    lines = [f"Winograd F(2x2,3x3) vs direct, 3x3 stride 1 padding 1, C_in = C_out, float32; "
             f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs",
             f"{'threads':>7} {'C':>5} {'HxW':>5} {'N':>3} {'direct ms':>10} "
             f"{'winograd ms':>12} {'speed-up':>9} {'prepared':>9} {'px/filter':>10}"]
    for t in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS="1")
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(t)],
                             env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        for r in json.loads(out):
            lines.append(f"{t:>7} {r['c']:>5} {r['hw']:>5} {r['n']:>3} {r['direct_ms']:>10.3f} "
                         f"{r['winograd_ms']:>12.3f} {r['speedup']:>9.2f} "
                         f"{r['prepared_speedup']:>9.2f} "
                         f"{r['pixels_per_filter']:>10.3f}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
