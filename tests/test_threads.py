"""Thread control: defaults from the environment, the cgroup quota, set/get, GIL release."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import cconv
from cconv import _threads


def run_python(code, **env):
    full_env = dict(os.environ)
    full_env.pop("OMP_NUM_THREADS", None)
    full_env.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=full_env, timeout=120, cwd=os.path.dirname(__file__))
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


needs_openmp = pytest.mark.skipif(not _threads.OPENMP, reason="serial build: always 1 thread")


@needs_openmp
def test_default_follows_omp_num_threads():
    assert run_python("import cconv; print(cconv.get_num_threads())", OMP_NUM_THREADS="3") == "3"
    assert run_python("import cconv; print(cconv.get_num_threads())", OMP_NUM_THREADS="5,2") == "5"


@needs_openmp
def test_default_follows_the_affinity_mask():
    code = ("import os; os.sched_setaffinity(0, {0}); import cconv; "
            "print(cconv.get_num_threads())")
    assert run_python(code) == "1"


def _fake_cgroup(tmp_path, v2_files, proc_line="0::/a/b\n"):
    proc = tmp_path / "cgroup"
    proc.write_text(proc_line)
    root = tmp_path / "fs"
    for rel, text in v2_files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return str(proc), str(root)


def test_cgroup_v2_quota_is_read_and_rounded_up(tmp_path):
    proc, root = _fake_cgroup(tmp_path, {"a/b/cpu.max": "150000 100000\n"})
    assert _threads._cgroup_cpu_limit(proc, root) == 2


def test_cgroup_v2_quota_on_an_ancestor_limits_too(tmp_path):
    proc, root = _fake_cgroup(tmp_path, {"a/b/cpu.max": "max 100000\n",
                                         "a/cpu.max": "100000 100000\n"})
    assert _threads._cgroup_cpu_limit(proc, root) == 1


def test_cgroup_unlimited(tmp_path):
    proc, root = _fake_cgroup(tmp_path, {"a/b/cpu.max": "max 100000\n"})
    assert _threads._cgroup_cpu_limit(proc, root) is None


def test_cgroup_v1_quota(tmp_path):
    proc, root = _fake_cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "250000\n",
                                         "cpu/cpu.cfs_period_us": "100000\n"},
                              proc_line="4:cpu,cpuacct:/\n")
    assert _threads._cgroup_cpu_limit(proc, root) == 3


@needs_openmp
def test_set_and_get_num_threads():
    before = cconv.get_num_threads()
    try:
        cconv.set_num_threads(3)
        assert cconv.get_num_threads() == 3
        assert _threads.effective_num_threads() == 3
    finally:
        cconv.set_num_threads(before)
    assert cconv.get_num_threads() == before


def test_compute_releases_the_gil():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 64, 64)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    cconv.conv2d(x, w, padding=1)  # warm-up
    done = threading.Event()
    ticks = 0

    def work():
        for _ in range(3):
            cconv.conv2d(x, w, padding=1)
        done.set()

    t = threading.Thread(target=work)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1  # runs only while the worker does not hold the GIL
    t.join()
    elapsed = time.perf_counter() - start
    # with the GIL held during compute this loop would barely run; here it spins all along
    assert ticks > 1000 * elapsed * 50, (ticks, elapsed)


CO_LOCATED_WORKERS = r"""
import os, threading, numpy as np, cconv
from reference import conv2d_reference
cpu = min(os.sched_getaffinity(0))
rng = np.random.default_rng(0)
layers = [((1, 16, 30, 30), (24, 16, 3, 3), dict(padding=1)),                 # Winograd
          ((1, 16, 30, 30), (24, 16, 3, 3), dict(stride=2, padding=1)),       # direct
          ((1, 16, 30, 30), (16, 1, 3, 3), dict(padding=1, groups=16))]      # depthwise
cconv.set_num_threads(2)
for xs, ws, kw in layers:
    x = rng.standard_normal(xs, dtype=np.float32)
    w = rng.standard_normal(ws, dtype=np.float32)
    conv = cconv.Conv2d(w, **kw)
    conv(x)   # the pool exists
    main, main_mask = threading.get_native_id(), os.sched_getaffinity(0)
    tids = [int(t) for t in os.listdir("/proc/self/task") if int(t) != main]
    masks = {t: os.sched_getaffinity(t) for t in tids}
    os.sched_setaffinity(0, {cpu})
    for t in tids:   # every other thread onto the caller's CPU, then free again
        os.sched_setaffinity(t, {cpu})
        os.sched_setaffinity(t, masks[t])
    outs = [conv(x) for _ in range(20)]
    os.sched_setaffinity(0, main_mask)
    assert {t: os.sched_getaffinity(t) for t in tids} == masks
    ref = conv2d_reference(x.astype(np.float64), w.astype(np.float64), **kw)
    for out in outs:
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
print("ok")
"""


@needs_openmp
@pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux thread affinity and two CPUs")
def test_workers_started_on_the_callers_cpu_keep_their_affinity():
    # A worker on the caller's CPU moves itself (_openmp_helpers.pxd, cconv_leave_cpu) by
    # narrowing its affinity, then restoring it: afterwards every thread's allowed CPUs are
    # what they were, and the results are right.
    assert run_python(CO_LOCATED_WORKERS) == "ok"
