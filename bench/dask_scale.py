"""cconv.dask scaling bench at full size (issue 8): 1,024 images 3x224x224 on a LocalCluster
with 1 and 2 workers against one process, and a 1x8x32768x32768 image (32 GiB of float32
output) streamed to a zarr store with the workers' peak RSS below 2 GiB.

    python bench/dask_scale.py [--json out.json] [--side 16384] [--store DIR]

The code is cconv/_dask_scale.py (also `python -m cconv dask`, at small sizes).
"""
import sys

from cconv._dask_scale import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], full=True))
