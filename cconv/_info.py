"""`python -m cconv info`: what this build is and what it chose on this machine."""
import os
import platform
import sys

import numpy as np

from . import __version__, _cpu, _dispatch, _threads


def info():
    """A dict describing the build, the CPU and the choices made at import."""
    quota = _threads._cgroup_cpu_limit()
    return {
        "version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "compiler": _cpu.compiler(),
        "openmp": _cpu.openmp_version(),
        "threads": _threads.get_num_threads(),
        "affinity_cpus": _threads._affinity_cpus(),
        "cgroup_cpu_limit": quota,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "simd": _dispatch.LEVEL,
        "simd_supported": _dispatch.supported_levels(),
        "CCONV_SIMD": os.environ.get("CCONV_SIMD"),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
        "gemm_tile": (_dispatch.direct.MR, _dispatch.direct.NR_F32, _dispatch.direct.NR_F64),
    }


def print_info(file=sys.stdout):
    d = info()
    omp = (f"yes (_OPENMP {d['openmp']})" if d["openmp"]
           else "no: serial build (compiler without OpenMP, or CCONV_NO_OPENMP=1)")
    mr, nr32, nr64 = d["gemm_tile"]
    lines = [
        f"cconv {d['version']}  (python {d['python']}, numpy {d['numpy']}, {d['machine']})",
        f"compiler:  {d['compiler']}",
        f"OpenMP:    {omp}",
        f"threads:   {d['threads']}  (affinity CPUs {d['affinity_cpus']}, cgroup CPU limit "
        f"{d['cgroup_cpu_limit'] or 'none'}, OMP_NUM_THREADS {d['OMP_NUM_THREADS'] or 'unset'})",
        f"SIMD:      {d['simd']}  (CPU supports {', '.join(d['simd_supported'])}; "
        f"CCONV_SIMD {d['CCONV_SIMD'] or 'unset'})",
        f"GEMM tile: {mr} x {nr32} float32, {mr} x {nr64} float64",
        f"idle wait: GOMP_SPINCOUNT={d['GOMP_SPINCOUNT']} (libgomp workers spin that long "
        "after a call, then sleep)",
    ]
    print("\n".join(lines), file=file)


def cpu_model():
    """The CPU's name from /proc/cpuinfo where there is one, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line():
    """One line naming the CPU, the threads cconv uses and its SIMD level."""
    return f"{cpu_model()}, {_threads.get_num_threads()} threads, {_dispatch.LEVEL}"
