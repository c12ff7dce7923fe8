"""What a service sees: CPU burnt between calls, back-to-back latency, and where the time of a
tiny prepared call goes.

    python bench/serving.py [--threads 2] [--spincounts default 0 1000 10000 100000]

(1) Idle CPU: a prepared layer called 20 times a second; CPU time per request (all threads of
    the process, getrusage) against the call's own wall time, for cconv under each
    GOMP_SPINCOUNT (the spin of libgomp's idle workers before they sleep) and for torch.
(2) Back-to-back: median latency of the same call in a tight loop, under the same settings.
(3) A tiny prepared call (1x1x8x8 input, 3x3 kernel): median end-to-end time and its parts.
Each setting runs in its own process (libgomp reads GOMP_SPINCOUNT when it loads).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

LAYER = dict(x=(1, 64, 28, 28), w=(128, 64, 1, 1))   # a small layer: ~0.1 ms at 2 threads


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def idle_and_back_to_back(engine, threads, requests=60, rate=20.0):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(LAYER["x"], dtype=np.float32)
    w = rng.standard_normal(LAYER["w"], dtype=np.float32)
    if engine == "cconv":
        import cconv
        cconv.set_num_threads(threads)
        layer = cconv.Conv2d(w)
        call = lambda: layer(x)
    else:
        import torch
        torch.set_num_threads(threads)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        def call():
            with torch.inference_mode():
                return torch.nn.functional.conv2d(tx, tw)
    for _ in range(50):
        call()
    # back to back
    lat = []
    for _ in range(2000):
        t = time.perf_counter()
        call()
        lat.append(time.perf_counter() - t)
    # 20 requests a second
    time.sleep(0.2)
    walls = []
    c0 = cpu_seconds()
    for _ in range(requests):
        t = time.perf_counter()
        call()
        walls.append(time.perf_counter() - t)
        time.sleep(1.0 / rate)
    cpu = (cpu_seconds() - c0) / requests
    wall = float(np.median(walls))
    return dict(engine=engine, back_to_back_us=float(np.median(lat)) * 1e6,
                call_wall_us=wall * 1e6, cpu_per_request_us=cpu * 1e6, ratio=cpu / wall)


def tiny_call_breakdown():
    import cconv
    from cconv import _threads
    x = np.ones((1, 1, 8, 8), np.float32)
    layer = cconv.Conv2d(np.ones((1, 1, 3, 3), np.float32), padding=1)
    out = np.empty((1, 1, 8, 8), np.float32)
    x4, (geom, batched, shape, launch) = layer._call_for(x)

    def med(fn, n=20000):
        for _ in range(500):
            fn()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return float(np.median(ts)) * 1e6

    empty = med(lambda: None)
    parts = {
        "whole call layer(x)": med(lambda: layer(x)),
        "with out=": med(lambda: layer(x, out=out)),
        "input view, cached call": med(lambda: layer._call_for(x)),
        "np.empty(out)": med(lambda: np.empty((1, 1, 8, 8), np.float32)),
        "thread count": med(_threads.effective_num_threads),
        "kernel call alone": med(lambda: launch(x4, out, None, 1)),
        "conv2d (unprepared)": med(lambda: cconv.conv2d(x, np.ones((1, 1, 3, 3), np.float32),
                                                        padding=1)),
    }
    return {k: v - empty for k, v in parts.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spincounts", nargs="+", default=["default", "0", "1000", "10000",
                                                          "100000"])
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        engine, what = args.worker
        if what == "tiny":
            json.dump(tiny_call_breakdown(), sys.stdout)
        else:
            json.dump(idle_and_back_to_back(engine, args.threads), sys.stdout)
        return 0
    print(f"{time.strftime('%Y-%m-%d')}: layer {LAYER['x']} * {LAYER['w']}, "
          f"{args.threads} threads, 20 calls/s")
    print(f"{'engine':<8} {'GOMP_SPINCOUNT':>15} {'call us':>9} {'CPU/request us':>15} "
          f"{'CPU/wall':>9} {'back-to-back us':>16}")
    runs = [("cconv", s) for s in args.spincounts] + [("torch", "default")]
    for engine, spin in runs:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS="1")
        env.pop("GOMP_SPINCOUNT", None)
        env.pop("CCONV_GOMP_SPINCOUNT", None)
        if spin != "default":
            env["GOMP_SPINCOUNT"] = spin
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads",
                               str(args.threads), "--worker", engine, "idle"], env=env,
                              stdout=subprocess.PIPE, text=True)
        if proc.returncode:
            print(f"{engine:<8} {spin:>15}  (failed or not installed)")
            continue
        r = json.loads(proc.stdout)
        print(f"{engine:<8} {spin:>15} {r['call_wall_us']:>9.1f} {r['cpu_per_request_us']:>15.1f} "
              f"{r['ratio']:>9.2f} {r['back_to_back_us']:>16.1f}")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "cconv",
                           "tiny"], stdout=subprocess.PIPE, text=True, check=True)
    print("\ntiny prepared call (1x1x8x8 input, 3x3 kernel), median us, parts measured alone:")
    for k, v in json.loads(proc.stdout).items():
        print(f"  {k:<28} {v:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
