"""How many OpenMP threads cconv uses: one function decides (cf. sklearn's
_openmp_effective_n_threads).

Default: OMP_NUM_THREADS when set, else the CPUs this process may really use: its affinity mask
and, in a container, the cgroup CPU quota (cpu.max). Thread pools sized to the host's cores inside
a 2-CPU container are a known 10-30x slowdown elsewhere (pytorch#16717, onnxruntime#29510).
threadpoolctl limits our OpenMP runtime by calling omp_set_num_threads() in the calling thread;
such a limit is honoured (see effective_num_threads).
"""
import contextlib
import math
import operator
import os
import threading
from typing import Iterator

from . import _cpu

OPENMP = _cpu.openmp_version() > 0


def _affinity_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_cpu_limit(proc_cgroup="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """CPUs allowed by the cgroup quota (v2 cpu.max, or v1 cfs), rounded up; None if unlimited.

    In cgroup v2 a quota on any ancestor of the process's group limits it too: the smallest wins.
    """
    limits = []
    cgroup = _read(proc_cgroup) or ""
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":  # cgroup v2: check every level up to the root
            path = path.strip("/")
            while True:
                value = _read(os.path.join(root, path, "cpu.max"))
                if value:
                    quota, _, period = value.partition(" ")
                    if quota != "max" and period:
                        limits.append(int(quota) / int(period))
                if not path:
                    break
                path = os.path.dirname(path)
    for base in (f"{root}/cpu", f"{root}/cpu,cpuacct"):  # cgroup v1
        quota, period = _read(f"{base}/cpu.cfs_quota_us"), _read(f"{base}/cpu.cfs_period_us")
        if quota and period and int(quota) > 0 and int(period) > 0:
            limits.append(int(quota) / int(period))
    if not limits:
        return None
    return max(1, math.ceil(min(limits)))


def _env_threads():
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


def usable_cpus():
    """The CPUs this process may really use: min(affinity CPUs, cgroup quota)."""
    n = _affinity_cpus()
    quota = _cgroup_cpu_limit()
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def default_num_threads():
    """OMP_NUM_THREADS if set, else usable_cpus()."""
    n = _env_threads()
    return usable_cpus() if n is None else max(1, n)


_configured = default_num_threads()
# What omp_get_max_threads() says when nobody has limited it: a different value in the calling
# thread means threadpoolctl (or the user) called omp_set_num_threads().
_omp_default = _cpu.omp_max_threads()


# `with cconv.threads(n)`: a per-Python-thread override, so that one request handler can
# limit itself without changing what other threads use.
class _ThreadLocal(threading.local):
    n = None   # no threads(n) block in force in this thread (a class default: reading an
               # attribute a thread-local lacks raises and catches, ~0.4 us a call)


_local = _ThreadLocal()


def _check(n, fname):
    if isinstance(n, bool) or not hasattr(type(n), "__index__"):
        raise TypeError(f"{fname}: n must be an int, got {type(n).__name__}")
    try:
        n = operator.index(n)
    except Exception:  # a hostile __index__, or a non-scalar array
        raise TypeError(f"{fname}: n must be an int, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"{fname}: n must be >= 1, got {n}")
    if n > 4096:
        raise ValueError(f"{fname}: n must be <= 4096, got {n}")
    return n


def get_num_threads() -> int:
    """The number of threads cconv's kernels use in this thread (1 in a build without OpenMP):
    the `threads(n)` in force here, else set_num_threads' value, else the default."""
    if not OPENMP:
        return 1
    local = _local.n
    return local if local is not None else _configured


def set_num_threads(n: int) -> None:
    """Set the number of threads cconv's kernels use, for every Python thread (a `threads(n)`
    block still takes precedence where it is in force).

    n must be an int >= 1. In a build without OpenMP it is accepted and has no effect.
    """
    global _configured
    _configured = _check(n, "set_num_threads")


@contextlib.contextmanager
def threads(n: int) -> Iterator[int]:
    """Use n threads inside the block, in this Python thread only; the previous setting comes
    back on exit (also on an exception).

    >>> import cconv
    >>> with cconv.threads(1):
    ...     cconv.get_num_threads()
    1
    """
    n = _check(n, "threads")
    previous = _local.n
    _local.n = n
    try:
        yield n
    finally:
        _local.n = previous


# fork(): libgomp's worker pool does not survive it, and a child that then runs a parallel
# region waits forever for workers it does not have (scikit-learn FAQ; pytorch#17199). Before
# fork, the forking thread's pool is released (omp_pause_resource_all), so the child starts
# with none and builds its own; the parent rebuilds its pool on its next call. Where the
# runtime cannot release it, children run serially instead.
_serial_after_fork = False
_pause_ok = True


def _before_fork():
    global _pause_ok
    _pause_ok = _cpu.omp_pause() == 0


def _after_fork_in_child():
    global _serial_after_fork
    if not _pause_ok:
        _serial_after_fork = True


if OPENMP and hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def effective_num_threads():
    """Threads for the next kernel call from this thread: get_num_threads(), lowered by a
    threadpoolctl limit (omp_set_num_threads in this thread)."""
    if not OPENMP or _serial_after_fork:
        return 1
    n = _local.n  # get_num_threads(), inline: every call asks
    if n is None:
        n = _configured
    omp = _cpu.omp_max_threads()
    if omp != _omp_default and omp < n:
        n = omp
    return max(1, n)
