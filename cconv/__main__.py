"""python -m cconv [info | examples | dask | bench]

  (no argument)  run PyTorch's conv2d documentation examples and layers of ResNet-50, VGG-16 and
                 MobileNetV2; print time, GFLOP/s and the error against a float64 reference;
                 exit 1 if an error exceeds its bound
  info           version, compiler, OpenMP, threads and SIMD level
  dask [...]     cconv.dask on a local cluster: a batch of images on 1 and 2 worker processes,
                 and an image larger than memory streamed to zarr (small sizes; needs
                 "cconv[dask]"; bench/dask_scale.py runs the full sizes; `dask --help`)
  bench [...]    the benchmark against torch, onnxruntime and ncnn (bench/run.py of a source
                 checkout, run from its root; `bench --help` for its options)
"""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "examples"
    if cmd in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if cmd == "info":
        from ._info import print_info
        print_info()
        return 0
    if cmd == "dask":
        from ._dask_scale import main as dask_main
        return dask_main(argv[1:])
    if cmd == "bench":
        return _bench(argv[1:])
    if cmd == "examples":
        from ._examples import run_examples
        return run_examples(argv[1:])
    print(f"python -m cconv: unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 2


def _bench(args):
    import os
    import subprocess
    script = os.path.join(os.getcwd(), "bench", "run.py")
    if not os.path.exists(script):
        print("python -m cconv bench: bench/run.py not found; run it from the root of a cconv "
              "source checkout", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, script, *args])


if __name__ == "__main__":
    sys.exit(main())
