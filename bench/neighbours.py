"""cconv next to torch (which ships its own OpenMP runtime) in one process: a timing sanity
check that the two pools do not collapse into oversubscription.

    python bench/neighbours.py [--threads 2] [--calls 300]

Times a fixed amount of work: cconv alone, torch alone, then both together from two Python
threads each (calls alternating), and prints the combined time against the sum of the two
alone. With two independent pools on the same cores, some slowdown is expected; a collapse
(the combined run many times slower than the sum) is what this watches for.
"""
import argparse
import threading
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args(argv)
    import torch
    import cconv
    torch.set_num_threads(args.threads)
    cconv.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 64, 28, 28), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    layer = cconv.Conv2d(w, padding=1)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)

    def run_cconv(n):
        for _ in range(n):
            layer(x)

    def run_torch(n):
        with torch.inference_mode():
            for _ in range(n):
                torch.nn.functional.conv2d(tx, tw, padding=1)

    run_cconv(20)
    run_torch(20)

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    alone_c = timed(lambda: run_cconv(args.calls))
    time.sleep(0.2)
    alone_t = timed(lambda: run_torch(args.calls))
    time.sleep(0.2)

    def together():
        ts = [threading.Thread(target=f, args=(args.calls // 2,))
              for f in (run_cconv, run_cconv, run_torch, run_torch)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    both = timed(together)
    print(f"{time.strftime('%Y-%m-%d')}: {args.calls} calls each, {args.threads} threads per "
          f"library, layer (1, 64, 28, 28) * (64, 64, 3, 3)")
    print(f"  cconv alone {alone_c * 1e3:8.1f} ms")
    print(f"  torch alone {alone_t * 1e3:8.1f} ms")
    print(f"  together    {both * 1e3:8.1f} ms  ({both / (alone_c + alone_t):.2f}x the sum alone; "
          "a collapse would be several x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
