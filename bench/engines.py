"""Adapters that run one conv2d layer on each engine: cconv, torch, onnxruntime, ncnn.

make(name, layer, x, w, b, threads) -> a zero-argument callable returning the output as a NumPy
array, or raises EngineUnavailable (the engine is not installed or cannot run that layer).
Everything an engine can prepare ahead (sessions, packed weights) is prepared here, outside the
timed call, as its users would: the timed call is the per-inference work.
"""
import os
import threading
import time

import numpy as np


class EngineUnavailable(Exception):
    pass


def _others_running(task_dir, me):
    """Whether a thread of this process other than `me` is in state R (running or runnable)."""
    for tid in os.listdir(task_dir):
        if tid == me:
            continue
        try:
            with open(f"{task_dir}/{tid}/stat") as f:
                # the state follows the command name, which is in parentheses
                if f.read().rsplit(")", 1)[1].split()[0] == "R":
                    return True
        except (OSError, IndexError):
            continue
    return False


def wait_for_quiet_threads(pause, max_wait=1.0, poll=0.005):
    """Sleep `pause` seconds, then until no other thread of this process runs (Linux:
    /proc/self/task/*/stat, two polls in a row; elsewhere the pause alone), at most max_wait.

    Between two engines' bursts: a peer's idle workers spin before they sleep, on the core the
    next engine's worker needs. Measured here after a burst of 2-thread calls: libgomp's
    workers (torch, ncnn, cconv) spin for ~10-17 ms, ONNX Runtime's for ~70-100 ms, longer
    than the 50 ms pause: ONNX Runtime's worker was seen running during the next engine's
    burst while that engine's threads waited on the run queue (/proc/self/task/*/schedstat)."""
    time.sleep(pause)
    task_dir = "/proc/self/task"
    if not os.path.isdir(task_dir):
        return
    me = str(threading.get_native_id())
    deadline = time.perf_counter() + max_wait
    quiet = 0
    while quiet < 2 and time.perf_counter() < deadline:
        quiet = 0 if _others_running(task_dir, me) else quiet + 1
        if quiet < 2:
            time.sleep(poll)


def _cconv(layer, x, w, b, threads, dtype=None, prepared=True, **options):
    """A prepared cconv.Conv2d (weights packed once, as a service holds them and as the peers'
    sessions and nets hold theirs), or, prepared=False, cconv.conv2d packing them every call."""
    import cconv
    cconv.set_num_threads(threads)
    if dtype is not None:
        x, w = x.astype(dtype), w.astype(dtype)
        b = None if b is None else b.astype(dtype)
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
              groups=layer.groups, **options)
    if prepared:
        conv = cconv.Conv2d(w, b, **kw)
        return lambda: conv(x)
    return lambda: cconv.conv2d(x, w, b, **kw)


def _cconv_call(layer, x, w, b, threads):
    return _cconv(layer, x, w, b, threads, prepared=False)


def _torch(layer, x, w, b, threads):
    try:
        import torch
    except ImportError:
        raise EngineUnavailable("torch is not installed (pip install torch==2.13.0)")
    torch.set_num_threads(threads)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    tb = None if b is None else torch.from_numpy(b)
    F = torch.nn.functional

    def run():
        with torch.inference_mode():
            return F.conv2d(tx, tw, tb, layer.stride, layer.padding, layer.dilation,
                            layer.groups).numpy()
    return run


def _onnxruntime(layer, x, w, b, threads):
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise EngineUnavailable("onnxruntime/onnx are not installed (pip install '.[bench]')")
    p = layer.padding
    inputs = ["x", "w"] + (["b"] if b is not None else [])
    node = helper.make_node("Conv", inputs, ["y"], kernel_shape=[layer.k, layer.k],
                            strides=[layer.stride] * 2, pads=[p, p, p, p],
                            dilations=[layer.dilation] * 2, group=layer.groups)
    inits = [numpy_helper.from_array(w, "w")]
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
    ho, wo = layer.out_hw
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [layer.n, layer.c_out, ho, wo])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    feed = {"x": x}
    return lambda: sess.run(None, feed)[0]


def _ncnn(layer, x, w, b, threads, winograd23_only=False):
    try:
        import ncnn
    except ImportError:
        raise EngineUnavailable("ncnn is not installed (pip install '.[bench]')")
    g, p = layer.groups, layer.padding
    kind = "ConvolutionDepthWise" if g > 1 else "Convolution"
    params = (f"0={layer.c_out} 1={layer.k} 11={layer.k} 2={layer.dilation} "
              f"12={layer.dilation} 3={layer.stride} 13={layer.stride} 4={p} 14={p} 15={p} "
              f"16={p} 5={int(b is not None)} 6={w.size}" + (f" 7={g}" if g > 1 else ""))
    param = (f"7767517\n2 2\nInput data 0 1 data 0={layer.w} 1={layer.h} 2={layer.c_in}\n"
             f"{kind} conv 1 1 data out {params}\n")
    # ncnn's model bin: a 4-byte type tag (0 = raw float32) before the weights, bias raw
    blob = np.zeros(1, np.uint32).tobytes() + np.ascontiguousarray(w, np.float32).tobytes()
    if b is not None:
        blob += np.ascontiguousarray(b, np.float32).tobytes()
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.use_int8_inference = False
    if winograd23_only:
        net.opt.use_winograd43_convolution = False
        net.opt.use_winograd63_convolution = False
    net.load_param_mem(param)
    net.load_model_mem(blob)
    images = [ncnn.Mat(np.ascontiguousarray(x[i])) for i in range(layer.n)]
    keep = (net, blob)

    def run():
        outs = []
        for m in images:
            ex = keep[0].create_extractor()
            ex.input("data", m)
            _, out = ex.extract("out")
            outs.append(np.array(out))
        return np.stack(outs)
    return run


def _ncnn_w23(layer, x, w, b, threads):
    """ncnn restricted to its Winograd F(2x2,3x3) (its F(4x4)/F(6x6) switched off): the same
    algorithm as cconv's Winograd path."""
    return _ncnn(layer, x, w, b, threads, winograd23_only=True)


ENGINES = {
    "cconv": _cconv,
    "cconv-call": _cconv_call,
    "torch": _torch,
    "onnxruntime": _onnxruntime,
    "ncnn": _ncnn,
    "ncnn-w23": _ncnn_w23,
}


def make(name, layer, x, w, b, threads):
    return ENGINES[name](layer, x, w, b, threads)
