"""Faults and load: fork, many threads, leaks, neighbours (torch's OpenMP runtime), Ctrl-C."""
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import cconv
from conftest import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=120, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=HERE, env=full_env)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_after_parallel_use(method, tmp_path):
    # a script file: spawn and forkserver children import the main module by its path
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing as mp, numpy as np, cconv
        def work(i):
            x = np.ones((1, 32, 40, 40), np.float32) * i
            w = np.ones((32, 32, 3, 3), np.float32)
            return float(cconv.conv2d(x, w, padding=1).sum()), cconv.get_num_threads()
        if __name__ == "__main__":
            cconv.set_num_threads(2)
            for _ in range(3):   # the parent uses its OpenMP pool first
                cconv.conv2d(np.ones((1, 32, 40, 40), np.float32),
                             np.ones((32, 32, 3, 3), np.float32), padding=1)
            with mp.get_context("{method}").Pool(2) as pool:
                results = pool.map_async(work, range(4)).get(timeout=60)
            expected = float(cconv.conv2d(np.ones((1, 32, 40, 40), np.float32),
                                          np.ones((32, 32, 3, 3), np.float32), padding=1).sum())
            assert [r[0] for r in results] == [expected * i for i in range(4)], results
            print("ok")
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=HERE)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_os_fork_child_uses_threads_and_parent_keeps_working():
    out = run_python("""
        import os, numpy as np, cconv
        from cconv import _threads
        x = np.ones((1, 64, 32, 32), np.float32); w = np.ones((64, 64, 3, 3), np.float32)
        y = cconv.conv2d(x, w, padding=1)
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(cconv.conv2d(x, w, padding=1), y)
            os._exit(0 if ok and _threads.effective_num_threads() == cconv.get_num_threads() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert np.array_equal(cconv.conv2d(x, w, padding=1), y)
        print("ok")
    """, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def _mixed_cases(rng):
    cases = []
    for i in range(24):
        dtype = (np.float32, np.float64)[i % 2]
        layout = ("NCHW", "NHWC")[(i // 2) % 2]
        groups = (1, 2, 4)[i % 3]
        c_in = 4 * groups * (1 + i % 3)
        k = (1, 3, 3, 5)[i % 4]
        algorithm = "winograd" if k == 3 and i % 8 < 4 else ("direct" if i % 5 else "auto")
        stride = 1 if algorithm == "winograd" else 1 + i % 2
        x = rng.standard_normal((1 + i % 2, c_in, 9 + i % 5, 11 + i % 4)).astype(dtype)
        if layout == "NHWC":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        w = rng.standard_normal((8 * groups, c_in // groups, k, k)).astype(dtype)
        layer = cconv.Conv2d(w, w[:, 0, 0, 0].copy(), stride=stride, padding=k // 2,
                             groups=groups, activation=("relu", "silu", None)[i % 3],
                             algorithm=algorithm, layout=layout)
        cases.append((layer, x))
    return cases


def test_sixteen_threads_two_thousand_calls_each_bit_identical(rng):
    cases = _mixed_cases(rng)
    expected = [layer(x) for layer, x in cases]
    failures = []

    def work(t):
        for r in range(2000):
            i = (t * 7 + r) % len(cases)
            layer, x = cases[i]
            if not np.array_equal(layer(x), expected[i]):
                failures.append((t, r, i))
                return

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not failures, failures[:5]


def test_memory_stays_flat_over_50000_calls_of_changing_shapes():
    out = run_python("""
        import numpy as np, cconv, resource, gc
        rng = np.random.default_rng(0)
        def rss_kib():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        w3 = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
        layer = cconv.Conv2d(w3, padding=1)
        def call(i):
            h, w = 3 + i % 29, 2 + (i * 7) % 31
            x = np.ones((1 + i % 2, 4, h, w), np.float32)
            if i % 5 == 0:   # a fifth of the calls fail
                try:
                    cconv.conv2d(x, w3, stride=0)
                except ValueError:
                    pass
                try:
                    layer(x[:, :3])
                except ValueError:
                    pass
                return
            if i % 2:
                layer(x)
            else:
                cconv.conv2d(x, w3, padding=(i % 3, 1), algorithm=("auto", "direct", "winograd")[i % 3])
        for i in range(10000):
            call(i)
        gc.collect()
        before = rss_kib()
        for i in range(10000, 60000):
            call(i)
        gc.collect()
        grown = rss_kib() - before
        print("grown_kib", grown)
        assert grown < 2048, grown
    """, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_torch_in_the_same_process_alternating_from_threads(rng):
    F = torch.nn.functional
    x = rng.standard_normal((2, 16, 24, 24)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    expected = cconv.conv2d(x, w, padding=1)
    with torch.inference_mode():
        t_expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    errors = []

    def work(t):
        for r in range(100):
            if (t + r) % 2:
                if not np.array_equal(cconv.conv2d(x, w, padding=1), expected):
                    errors.append(("cconv", t, r))
            else:
                with torch.inference_mode():
                    y = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
                if not np.array_equal(y, t_expected):
                    errors.append(("torch", t, r))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "hung next to torch"
    assert not errors, errors[:5]
    np.testing.assert_allclose(expected, t_expected, rtol=1e-4, atol=1e-4)


def test_ctrl_c_during_a_long_call():
    """SIGINT during a long call: the call finishes (the kernels run without the GIL), then
    KeyboardInterrupt is raised in Python, and cconv keeps working."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time, numpy as np, cconv
        x = np.ones((8, 64, 64, 64), np.float32); w = np.ones((64, 64, 3, 3), np.float32)
        print("ready", flush=True)
        try:
            for _ in range(1000):   # 1.2 GFLOP a call: seconds in all, one call short under ASan
                cconv.conv2d(x, w, padding=1, algorithm="direct")
            print("not interrupted", flush=True)
        except KeyboardInterrupt:
            y = cconv.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32))
            print("interrupted, then", float(y.sum()), flush=True)
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE)
    assert proc.stdout.readline().strip() == "ready"
    import time
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()   # not left running when the test fails
    assert "interrupted, then 486.0" in out, out + err


def test_gomp_spincount_default_and_respected():
    code = "import os, cconv; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=HERE)
    assert out.stdout.strip() == "10000"
    out = run_python(code, env={"GOMP_SPINCOUNT": "123"})
    assert out.stdout.strip() == "123"
