"""cconv.dask at work: a batch spread over worker processes, and an image larger than memory.

(a) batch: N images 3 x S x S through a 3x3 layer (3 -> 64 channels, padding 1, ReLU), each
    image reduced to its mean activation on the worker that computed it. Timed on a
    dask.distributed LocalCluster with 1 and with 2 worker processes, and as plain
    cconv.conv2d in this process over the same images in the same batch slices. The input is
    generated on the workers and persisted before timing (loading images is not measured).
(b) stream: a 1 x C x S x S image (generated chunk by chunk, never whole in memory) through a
    3x3 C -> C layer, written to a zarr store chunk by chunk on a LocalCluster; the time, the
    workers' peak RSS, and sampled output tiles checked against cconv.conv2d in memory on the
    same region of the input (tiles at the border and across chunk edges included).

`python -m cconv dask` runs a small version; bench/dask_scale.py the full one.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

SEED = 20261128


def _cluster(n_workers, memory_limit="auto"):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit,
                           silence_logs=50)
    return cluster, Client(cluster)


def _peak_rss_mib():
    import resource   # Unix only: imported where used
    # ru_maxrss: KiB on Linux, the process's largest resident set since it started
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _layer(rng, c_in, c_out):
    w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
    b = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
    return w, b


def batch_bench(n_images=1024, size=224, c_out=64, images_per_chunk=16, workers=(1, 2),
                repeats=3, log=print):
    """(a): images per second in one process and on LocalClusters of `workers` processes."""
    import dask.array as da
    import cconv
    import cconv.dask as cdask

    rng = np.random.default_rng(SEED)
    w, b = _layer(rng, 3, c_out)
    shape = (n_images, 3, size, size)
    chunks = (images_per_chunk, 3, size, size)
    x_lazy = da.random.default_rng(SEED).standard_normal(shape, chunks=chunks, dtype=np.float32)
    x = x_lazy.compute(scheduler="threads")
    flop = 2.0 * n_images * c_out * 3 * 9 * size * size
    result = {"images": n_images, "size": size, "c_out": c_out,
              "images_per_chunk": images_per_chunk, "gflop": flop / 1e9, "runs": []}

    # in process: the same slices through cconv.conv2d, its threads on every core
    buf = np.empty((images_per_chunk, c_out, size, size), np.float32)
    expected = np.empty(n_images)

    def in_process(fresh):
        for i in range(0, n_images, images_per_chunk):
            part = x[i:i + images_per_chunk]
            out = None if fresh else buf[:len(part)]
            out = cconv.conv2d(part, w, b, padding=1, activation="relu", out=out)
            expected[i:i + len(part)] = out.mean(axis=(1, 2, 3))

    # Two baselines: one output buffer reused (out=), and a new output array per slice, as a
    # dask task must make (a 16-image slice's output is 205 MB: fresh pages from the OS each
    # time, and their page faults cost about as much as the convolution itself)
    t_proc = {}
    for fresh in (False, True):
        in_process(fresh)   # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            in_process(fresh)
            times.append(time.perf_counter() - t)
        t_proc[fresh] = float(np.median(times))
        label = "new output per slice" if fresh else "output buffer reused (out=)"
        result["runs"].append({"engine": f"cconv.conv2d, one process, {label}",
                               "threads": cconv.get_num_threads(), "seconds": t_proc[fresh],
                               "images_per_s": n_images / t_proc[fresh],
                               "gflops": flop / t_proc[fresh] / 1e9})
        log(f"  one process ({cconv.get_num_threads()} threads), {label}: {t_proc[fresh]:.2f} s, "
            f"{n_images / t_proc[fresh]:.0f} images/s, {flop / t_proc[fresh] / 1e9:.0f} GFLOP/s")

    for k in workers:
        cluster, client = _cluster(k)
        try:
            xp = client.persist(x_lazy)
            from distributed import wait
            wait(xp)
            means = cdask.conv2d(xp, w, b, padding=1, activation="relu").mean(axis=(1, 2, 3))
            got = means.compute()   # warm-up (and the weights prepared on the workers)
            err = float(np.max(np.abs(got - expected)))
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                means.compute()
                times.append(time.perf_counter() - t)
            t_k = float(np.median(times))
        finally:
            client.close()
            cluster.close()
        result["runs"].append({"engine": f"cconv.dask, LocalCluster {k} worker(s) x 1 thread",
                               "workers": k, "seconds": t_k, "images_per_s": n_images / t_k,
                               "gflops": flop / t_k / 1e9,
                               "speedup_vs_one_process_reused_out": t_proc[False] / t_k,
                               "speedup_vs_one_process_new_out": t_proc[True] / t_k,
                               "max_abs_diff_vs_one_process": err})
        log(f"  LocalCluster {k} worker(s): {t_k:.2f} s, {n_images / t_k:.0f} images/s, "
            f"{t_proc[True] / t_k:.2f}x one process with new outputs "
            f"({t_proc[False] / t_k:.2f}x with out=), max |diff| {err:.1e}")
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"cluster means differ from in-process means by {err}")
    one = [r for r in result["runs"] if r.get("workers") == 1]
    two = [r for r in result["runs"] if r.get("workers") == 2]
    if one and two:
        result["speedup_2_vs_1_workers"] = one[0]["seconds"] / two[0]["seconds"]
    return result


def stream_bench(side=32768, channels=8, chunk=2048, store=None, workers=2, samples=6,
                 tile=192, rss_limit_mib=2048, log=print):
    """(b): a 1 x channels x side x side image streamed to a zarr store."""
    import dask.array as da
    import zarr
    import cconv
    import cconv.dask as cdask

    rng = np.random.default_rng(SEED + 1)
    w, b = _layer(rng, channels, channels)
    x = da.random.default_rng(SEED + 1).standard_normal(
        (1, channels, side, side), chunks=(1, channels, chunk, chunk), dtype=np.float32)
    out_bytes = channels * side * side * 4
    own_store = store is None
    store = store or tempfile.mkdtemp(prefix="cconv-dask-")
    path = os.path.join(store, "out.zarr")
    result = {"shape": [1, channels, side, side], "chunk": chunk, "workers": workers,
              "output_gib": out_bytes / 2**30, "store": path}
    cluster, client = _cluster(workers, memory_limit=f"{rss_limit_mib}MiB")
    try:
        y = cdask.conv2d(x, w, b, padding=1)
        assert y.chunks[2:] == x.chunks[2:]   # same-padded: the zarr chunks are the blocks
        layout = dict(shape=y.shape, chunks=(1, channels, chunk, chunk), dtype=np.float32)
        if hasattr(zarr, "create_array"):   # zarr 3
            arr = zarr.create_array(store=path, compressors=None, overwrite=True, **layout)
        else:                               # zarr 2
            arr = zarr.open_array(path, mode="w", compressor=None, **layout)
        t = time.perf_counter()
        da.store(y, arr, lock=False)
        seconds = time.perf_counter() - t
        rss = client.run(_peak_rss_mib)
    finally:
        client.close()
        cluster.close()
    flop = 2.0 * channels * channels * 9 * side * side
    result.update(seconds=seconds, gflops=flop / seconds / 1e9,
                  write_mib_per_s=out_bytes / 2**20 / seconds,
                  worker_peak_rss_mib=sorted(rss.values()))
    log(f"  {side}x{side}x{channels} -> zarr ({out_bytes / 2**30:.1f} GiB, chunks {chunk}): "
        f"{seconds:.1f} s, {flop / seconds / 1e9:.0f} GFLOP/s, "
        f"{out_bytes / 2**20 / seconds:.0f} MiB/s; worker peak RSS "
        + ", ".join(f"{v:.0f}" for v in sorted(rss.values())) + " MiB")

    # sampled tiles against cconv.conv2d in memory on the same input region
    out = zarr.open_array(path, mode="r")
    corners = [(0, 0), (side - tile, side - tile), (chunk - tile // 2, chunk - tile // 2)]
    while len(corners) < samples:
        corners.append(tuple(int(v) for v in rng.integers(0, side - tile, 2)))
    worst = 0.0
    for r0, c0 in corners[:samples]:
        r1, c1 = r0 + tile, c0 + tile
        a, bb = max(r0 - 1, 0), min(r1 + 1, side)
        c, d = max(c0 - 1, 0), min(c1 + 1, side)
        region = x[:, :, a:bb, c:d].compute(scheduler="threads")
        pads = ((1 - (r0 - a), 1 - (bb - r1)), (1 - (c0 - c), 1 - (d - c1)))
        expected = cconv.conv2d(region, w, b, padding=pads)
        got = out[:, :, r0:r1, c0:c1]
        err = float(np.max(np.abs(got - expected)))
        worst = max(worst, err)
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-5):
            raise AssertionError(f"tile at ({r0}, {c0}): max |diff| {err}")
    result.update(tiles_checked=len(corners[:samples]), tile=tile, tile_max_abs_diff=worst,
                  rss_below_limit=max(rss.values()) < rss_limit_mib)
    log(f"  {len(corners[:samples])} tiles of {tile}x{tile} match cconv.conv2d in memory "
        f"(max |diff| {worst:.1e}); peak RSS below {rss_limit_mib} MiB: "
        f"{result['rss_below_limit']}")
    if own_store:
        shutil.rmtree(store, ignore_errors=True)
    return result


def _fit_side(side, channels, store):
    """Shrink the streamed image until its output takes at most half the free disk."""
    free = shutil.disk_usage(store or tempfile.gettempdir()).free
    while side > 1024 and channels * side * side * 4 > free / 2:
        side //= 2
    return side


def main(argv=None, full=False):
    parser = argparse.ArgumentParser(
        prog="bench/dask_scale.py" if full else "python -m cconv dask",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024 if full else 64)
    parser.add_argument("--size", type=int, default=224 if full else 112)
    parser.add_argument("--side", type=int, default=32768 if full else 4096,
                        help="side of the streamed image (shrunk to fit half the free disk)")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=2048 if full else 1024)
    parser.add_argument("--store", default=None, help="folder for the zarr store (default: a "
                        "temporary folder, removed afterwards)")
    parser.add_argument("--repeats", type=int, default=3 if full else 2)
    parser.add_argument("--skip", choices=["batch", "stream"], action="append", default=[])
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
        if "stream" not in args.skip:
            import zarr  # noqa: F401
    except ImportError as e:
        print(f"cconv dask: {e}; install the extra: pip install \"cconv[dask]\"",
              file=sys.stderr)
        return 2
    import cconv
    from ._info import machine_line
    print(f"cconv {cconv.__version__} on dask: {machine_line()}; "
          f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    results = {}
    if "batch" not in args.skip:
        print(f"(a) {args.images} images 3x{args.size}x{args.size}, 3x3 conv 3 -> 64 + ReLU, "
              "mean per image")
        results["batch"] = batch_bench(args.images, args.size, repeats=args.repeats)
    if "stream" not in args.skip:
        side = _fit_side(args.side, args.channels, args.store)
        if side != args.side:
            print(f"  (side {args.side} does not fit the disk: {side})")
        print(f"(b) 1x{args.channels}x{side}x{side} float32, 3x3 conv {args.channels} -> "
              f"{args.channels}, streamed to zarr on 2 workers")
        results["stream"] = stream_bench(side, args.channels, min(args.chunk, side), args.store)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    ok = results.get("stream", {}).get("rss_below_limit", True)
    return 0 if ok else 1
