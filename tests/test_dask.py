"""cconv.dask: lazy convolutions of chunked arrays equal cconv.conv2d on the whole array."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cconv

da = pytest.importorskip("dask.array")

import cconv.dask as cdask  # noqa: E402
from conftest import torch, torch_conv2d  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def check(x, w, b, chunks, layout="NCHW", scheduler="sync", out_channel_chunks=None, **params):
    expected = cconv.conv2d(x, w, b, **params)
    xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = cdask.conv2d(da.from_array(xin, chunks=chunks), w, b, layout=layout,
                     out_channel_chunks=out_channel_chunks, **params)
    assert isinstance(y, da.Array) and y.shape == (expected.shape if layout == "NCHW" else
                                                   expected.transpose(0, 2, 3, 1).shape)
    got = y.compute(scheduler=scheduler)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1, np.abs(expected).max()))
    return expected


@pytest.mark.parametrize("chunks", [(1, 1, 1, 1), (1, 2, 3, 5), (2, 3, 7, 4), (1, -1, 2, 9),
                                    (2, 5, 13, 13), -1])
@pytest.mark.parametrize("params", [
    dict(padding=1), dict(stride=2, padding=1), dict(stride=3, padding=(2, 0)),
    dict(dilation=2, padding=2), dict(stride=2, dilation=3, padding=((0, 4), (3, 1))),
    dict(padding="same"), dict(groups=3, padding=1, stride=(1, 2))])
def test_every_chunking_and_parameter(rng, chunks, params):
    # chunks of 1 pixel, odd sizes, chunks smaller than the halo (dilation 3, 5x5 windows)
    x = rng.standard_normal((2, 6, 13, 17)).astype(np.float32)
    w = rng.standard_normal((9, 6 // params.get("groups", 1), 3, 3)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    check(x, w, b, chunks, **params)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_layouts_schedulers_activation_and_output_channel_chunks(rng, layout, scheduler):
    x = rng.standard_normal((3, 8, 20, 23)).astype(np.float32)
    w = rng.standard_normal((12, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    check(x, w, b, (2, 3, 6, 7), layout=layout, scheduler=scheduler, out_channel_chunks=5,
          groups=2, padding=1, activation="relu")
    check(x, w[:, :4].repeat(2, axis=1), b, (1, 8, 9, 23), layout=layout, scheduler=scheduler,
          out_channel_chunks=5, padding=(0, 1), stride=2)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_against_torch(rng):
    x = rng.standard_normal((2, 5, 31, 29)).astype(np.float64)
    w = rng.standard_normal((7, 5, 5, 5)).astype(np.float64)
    y = cdask.conv2d(da.from_array(x, chunks=(1, 2, 8, 6)), w, stride=2, padding=3, dilation=2)
    np.testing.assert_allclose(y.compute(scheduler="sync"),
                               torch_conv2d(x, w, stride=2, padding=3, dilation=2), rtol=1e-10,
                               atol=1e-10)


def test_weights_are_one_key_not_embedded_in_every_task(rng):
    x = da.from_array(rng.standard_normal((4, 8, 64, 64)).astype(np.float32),
                      chunks=(1, 8, 16, 16))
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    y = cdask.conv2d(x, w, padding=1)
    graph = dict(y.__dask_graph__())
    holders = [k for k, v in graph.items() if _holds(v, w)]
    assert len(holders) == 1 and str(holders[0][0]).startswith("cconv-layer-"), holders
    assert len([k for k in graph if str(k[0]).startswith("cconv-conv2d-")]) == 4 * 16


def _holds(task, w):
    if isinstance(task, np.ndarray):
        return task.shape == w.shape and np.array_equal(task, w)
    if isinstance(task, (tuple, list)):
        return any(_holds(t, w) for t in task)
    return False


def test_importing_cconv_does_not_import_dask():
    code = "import sys, cconv; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE)
    assert out.stdout.strip() == "False", out.stderr


def test_bad_arguments(rng):
    w = np.zeros((4, 4, 3, 3), np.float32)
    with pytest.raises(TypeError, match="x must be a dask.array.Array"):
        cdask.conv2d(np.zeros((1, 4, 8, 8), np.float32), w)
    with pytest.raises(ValueError, match="expects 4 input channels"):
        cdask.conv2d(da.zeros((1, 3, 8, 8), chunks=4, dtype=np.float32), w)
    with pytest.raises(TypeError, match="does not match x dtype float64"):
        cdask.conv2d(da.zeros((1, 4, 8, 8), chunks=4), w)
    with pytest.raises(ValueError, match="output would be empty"):
        cdask.conv2d(da.zeros((1, 4, 2, 2), chunks=2, dtype=np.float32), w)


def test_local_cluster_two_worker_processes_and_a_killed_worker(tmp_path):
    """A real dask.distributed LocalCluster (2 worker processes, loopback): the result equals
    the in-memory one (the prepared Conv2d is pickled to the workers); then a worker is killed
    while blocks run, and dask's retries still give the right result."""
    pytest.importorskip("distributed")
    script = tmp_path / "cluster.py"
    script.write_text(textwrap.dedent("""
        import os, signal, threading, time
        import numpy as np, dask.array as da, cconv, cconv.dask as cdask
        from distributed import Client, LocalCluster

        def slow_identity(block):
            time.sleep(0.05)
            return block

        if __name__ == "__main__":
            rng = np.random.default_rng(0)
            x = rng.standard_normal((4, 8, 96, 80)).astype(np.float32)
            w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
            b = rng.standard_normal(16).astype(np.float32)
            expected = cconv.conv2d(x, w, b, padding=1, stride=2, activation="relu")
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None) as cluster, \\
                    Client(cluster) as client:
                dx = da.from_array(x, chunks=(1, 8, 24, 40))
                y = cdask.conv2d(dx, w, b, padding=1, stride=2, activation="relu")
                got = y.compute()
                assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), "cluster result"
                # 2 workers x 1 thread on this host: each block gets half the usable CPUs,
                # although the nanny set OMP_NUM_THREADS=1 in the workers
                from cconv import _threads
                hosts = tuple(sorted(cdask._host_threads().items()))
                n = client.submit(cdask._threads_for_task, hosts, pure=False).result()
                assert n == max(1, _threads.usable_cpus() // 2), n
                # a worker killed mid-computation: its tasks are re-run elsewhere
                slow = da.map_blocks(slow_identity, dx, dtype=dx.dtype)
                y2 = cdask.conv2d(slow, w, b, padding=1, stride=2, activation="relu")
                future = client.compute(y2)
                time.sleep(0.3)
                pids = list(client.run(os.getpid).values())
                os.kill(pids[0], signal.SIGKILL)
                got2 = future.result(timeout=120)
                assert np.allclose(got2, expected, rtol=1e-5, atol=1e-5), "after a kill"
            print("ok")
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=HERE)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


from hypothesis import given, settings, HealthCheck, strategies as st  # noqa: E402


@st.composite
def dask_cases(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple(draw(st.integers(0, 4)) for _ in range(4))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pads[0] - pads[1]), 24))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pads[2] - pads[3]), 24))
    n = draw(st.integers(1, 3))
    chunks = tuple(draw(st.integers(1, s)) for s in (n, c_in, h, w))
    return dict(shape=(n, c_in, h, w), wshape=(c_out, c_in // groups, kh, kw), chunks=chunks,
                stride=(sh, sw), dilation=(dh, dw), groups=groups,
                padding=((pads[0], pads[1]), (pads[2], pads[3])),
                out_channel_chunks=draw(st.sampled_from([None, 1, 2])))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dask_cases(), st.integers(0, 2**32 - 1))
def test_random_shapes_and_chunkings(case, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.pop("shape"))
    w = rng.standard_normal(case.pop("wshape"))
    check(x, w, None, case.pop("chunks"), **case)


def test_halos_travel_as_cut_parts_not_whole_chunks(rng):
    x = da.from_array(rng.standard_normal((1, 4, 64, 64)).astype(np.float32),
                      chunks=(1, 4, 16, 16))
    y = cdask.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32), padding=1)
    graph = dict(y.__dask_graph__())
    cuts = [k for k in graph if str(k[0]).startswith("cconv-halo-")]
    assert cuts, "no halo tasks"
    # a block reads its own chunk whole and only edges of its neighbours: strips at most
    # dilation*(k-1) + stride - 1 = 2 pixels thick
    for key, task in graph.items():
        if str(key[0]).startswith("cconv-halo-"):
            fn, chunk, index = task
            h, w = index[2], index[3]
            assert min(h.stop - h.start, w.stop - w.start) <= 2, (key, index)


def test_output_chunks_follow_the_input_chunks_through_the_stride(rng):
    # "same" convolutions keep the input's chunks (a zarr store chunked like the input can be
    # written block by block without locks); stride 2 halves them
    x = da.zeros((2, 3, 64, 48), chunks=(1, 3, 16, (10, 14, 24)), dtype=np.float32)
    w = np.ones((5, 3, 3, 3), np.float32)
    y = cdask.conv2d(x, w, padding="same")
    assert y.chunks == ((1, 1), (5,), (16,) * 4, (10, 14, 24))
    y2 = cdask.conv2d(x, w, stride=2, padding=1)
    assert y2.chunks == ((1, 1), (5,), (8,) * 4, (5, 7, 12))
    w5 = np.ones((5, 3, 5, 5), np.float32)
    assert cdask.conv2d(x, w5, padding=2, dilation=1).chunks[2:] == ((16,) * 4, (10, 14, 24))


def test_python_m_cconv_dask_runs_and_checks_its_tiles(tmp_path):
    # the main job's dask command at tiny sizes: both parts, the streamed tiles checked
    out = subprocess.run([sys.executable, "-m", "cconv", "dask", "--images", "8", "--size", "32",
                          "--side", "1024", "--chunk", "256", "--repeats", "1",
                          "--store", str(tmp_path), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300, cwd=HERE)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    import json
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["stream"]["tiles_checked"] >= 3 and result["stream"]["rss_below_limit"]
    assert {r.get("workers") for r in result["batch"]["runs"]} == {None, 1, 2}
    assert (tmp_path / "out.zarr").exists()
