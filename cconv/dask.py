"""cconv on Dask: convolutions of arrays larger than one machine, or batches spread over many.

    import cconv.dask
    y = cconv.dask.conv2d(x, weight, bias, stride=1, padding=1)   # x: a dask.array.Array
    y.compute()                                                    # or y.to_zarr(...)

Install with ``pip install "cconv[dask]"``; ``import cconv`` never imports dask.
"""
import itertools
import math

import numpy as np

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _args, _select, _threads
from ._layer import Conv2d

__all__ = ["conv2d"]


def _output_bounds(in_chunks, stride, out_size):
    """Output blocks along one spatial axis, one per input chunk: output o is "anchored" at
    input index o*stride (the centre of its window under "same" padding), and the block of
    input chunk [b, e) holds the outputs anchored in it. With stride 1 the output chunks are
    the input's (as with dask's map_overlap); with stride s, the input's divided by s.
    Returns [(o0, o1)] (empty blocks dropped; the last one runs to out_size, also covering
    outputs anchored past the input, in the bottom padding)."""
    bounds = [0]
    for c in in_chunks:
        bounds.append(bounds[-1] + c)
    out = []
    for i in range(len(in_chunks)):
        o0 = 0 if i == 0 else -(-bounds[i] // stride)
        o1 = out_size if i == len(in_chunks) - 1 else -(-bounds[i + 1] // stride)
        o0, o1 = min(o0, out_size), min(o1, out_size)
        if o1 > o0:
            out.append((o0, o1))
    if not out:
        out = [(0, out_size)]
    return out


def _input_window(o0, o1, pad0, stride, dil, k, size):
    """Input rows [r0, r1) that outputs [o0, o1) read, clipped to the array, and the zero
    padding (before, after) that stands for the rows outside it."""
    first = o0 * stride - pad0
    last = (o1 - 1) * stride - pad0 + dil * (k - 1) + 1   # exclusive
    r0, r1 = max(first, 0), min(last, size)
    if r1 < r0:   # the window lies wholly in the padding
        r0 = r1 = min(max(first, 0), size)
    return r0, r1, r0 - first, last - r1


def _chunk_slices(chunks, lo, hi):
    """(chunk index, local start, local stop) of the chunks of an axis covering [lo, hi); for
    an empty range, one chunk and an empty slice of it."""
    out, b = [], 0
    for i, c in enumerate(chunks):
        s, e = max(lo, b), min(hi, b + c)
        if e > s:
            out.append((i, s - b, e - b))
        b += c
    if not out:   # [lo, lo): where lo falls (the end of the last chunk past the array)
        b = 0
        for i, c in enumerate(chunks):
            if lo < b + c or i == len(chunks) - 1:
                local = min(max(lo - b, 0), c)
                return [(i, local, local)]
            b += c
    return out


def _threads_for_task(host_threads):
    """cconv threads for one block task, so that dask's threads x cconv's threads do not exceed
    the cores: in a distributed worker, usable CPUs // (dask threads of all workers on this
    host); in dask's local threaded scheduler, 1 (it already runs one task per core); else
    (the synchronous scheduler) cconv.get_num_threads()."""
    host_threads = dict(host_threads)
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        # a dask nanny starts its workers with OMP_NUM_THREADS=1 (so that libraries do not
        # oversubscribe it); the sizing here does that job, from the CPUs really usable
        cores = _threads.usable_cpus()
        busy = host_threads.get(worker.address.split("://")[-1].rsplit(":", 1)[0], None)
        if busy is None:
            busy = worker.state.nthreads
        return max(1, cores // max(busy, 1))
    import threading
    if threading.current_thread() is not threading.main_thread():
        return 1
    return _threads.get_num_threads()   # the synchronous scheduler: the caller's setting


def _block(layer, pieces, pads, host_threads):
    """One output block: join the input pieces (the block's window of the input, already cut
    from the chunks) and convolve with the block's zero padding."""
    x = np.ascontiguousarray(_concatenate(pieces))
    with _threads.threads(_threads_for_task(host_threads)):
        return layer._call_with_padding(x, pads)


def _cut(chunk, index):
    """A copy of part of a chunk (a halo): a view would keep the whole chunk alive."""
    return np.array(chunk[index])


def _concatenate(pieces, axis=0):
    """A nested list of chunks (one nesting level per axis) -> one array."""
    if isinstance(pieces, np.ndarray):
        return pieces
    parts = [_concatenate(p, axis + 1) for p in pieces]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)


def _host_threads():
    """dask threads per host of the distributed client in use, if any: {host: threads}."""
    try:
        from distributed import get_client
        client = get_client()
    except (ImportError, ValueError):
        return {}
    counts = {}
    for addr, w in client.scheduler_info()["workers"].items():
        host = addr.split("://")[-1].rsplit(":", 1)[0]
        counts[host] = counts.get(host, 0) + w.get("nthreads", 1)
    return counts


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           activation=None, algorithm="auto", layout="NCHW", out_channel_chunks=None):
    """cconv.conv2d on a dask array, lazily: the result's computed value equals
    ``cconv.conv2d`` on the whole array, for every stride, padding, dilation and groups, and
    whatever the chunking.

    Parameters are those of cconv.conv2d; x is a ``dask.array.Array`` of shape (N, C_in, H, W)
    (or (N, H, W, C_in) with layout="NHWC"). out_channel_chunks: None (all output channels in
    each block) or the number of output channels per block (with groups > 1, whole groups:
    rounded up to a multiple of C_out/groups), which splits the weights instead of the input.

    How the work is cut:
    - along N, the input's chunks are independent;
    - along H and W, each input chunk gives one output block: the outputs anchored in it
      (output o at input o*stride, the centre of its window under "same" padding), so that
      with stride 1 the output has the input's chunks. The block reads that chunk and as
      many rows and columns of its neighbours as its windows reach (halos of the padding
      before and dilation*(k-1) - padding + stride - 1 after, about the window's half on
      each side for "same" convolutions), cut from the neighbouring chunks by small tasks
      of their own (so that only the halo travels between workers); the zero padding is applied only at the array's border. No rechunking is needed:
      chunk boundaries that do not fall on a stride multiple are mapped through the stride,
      so that no output is lost or computed twice;
    - input-channel chunks are joined in each block (every output needs all input channels of
      its group).
    The weights are one key of the graph: a cconv.Conv2d prepared once, on a worker, and sent
    (pickled: weights only, re-prepared on arrival) to the workers that need it. Each block
    task runs cconv with as many threads as leaves dask's own threads x cconv's threads within
    the cores.

    Returns a ``dask.array.Array`` of the output's shape, in the same layout.
    """
    fname = "cconv.dask.conv2d"
    if not isinstance(x, da.Array):
        raise TypeError(f"{fname}: x must be a dask.array.Array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{fname}: x must be 4-D, got shape {x.shape}")
    spec = _args.parse_layer(weight, bias, stride, padding, dilation, groups, layout, fname)
    _args.parse_activation(activation, fname)
    _select.parse_algorithm(algorithm, fname)
    if np.dtype(x.dtype).newbyteorder("=") != spec.dtype:
        raise TypeError(f"{fname}: weight dtype {spec.dtype} does not match x dtype {x.dtype}")
    if any(math.isnan(c) for c in itertools.chain.from_iterable(x.chunks)):
        raise ValueError(f"{fname}: x has unknown chunk sizes; call x.compute_chunk_sizes()")
    nhwc = layout == "NHWC"
    shape4 = (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if nhwc else x.shape
    probe = np.broadcast_to(spec.dtype.type(0), x.shape)
    _, geom, _ = _args.parse_input(probe, spec, fname, "x")
    n, c_in, h, w = shape4
    c_out, c_in_g, kh, kw = spec.weight.shape
    top, bottom, left, right = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    ax_n, ax_c, ax_h, ax_w = (0, 3, 1, 2) if nhwc else (0, 1, 2, 3)

    # output channels: one layer per chunk of output channels (whole groups)
    c_out_g = c_out // spec.groups
    if out_channel_chunks is None:
        step = c_out
    else:
        step = _args._int(out_channel_chunks, "out_channel_chunks", fname, 1)
        if spec.groups > 1:
            step = -(-step // c_out_g) * c_out_g
        step = min(step, c_out)
    token = tokenize(x, spec.weight, spec.bias, spec.stride, spec.padding, spec.dilation,
                     spec.groups, activation, algorithm, layout, step)
    layer_name = f"cconv-layer-{token}"
    dsk = {}
    co_ranges = [(c0, min(c0 + step, c_out)) for c0 in range(0, c_out, step)]
    for i, (c0, c1) in enumerate(co_ranges):
        g0, g1 = c0 // c_out_g, -(-c1 // c_out_g)  # the groups of these output channels
        sub_groups = g1 - g0 if spec.groups > 1 else 1
        bias_part = None if spec.bias is None else spec.bias[c0:c1]
        # the layer is built by a task (on a worker), with the weights in this one key only
        dsk[(layer_name, i)] = (_make_layer, spec.weight[c0:c1], bias_part, spec.stride,
                                spec.dilation, sub_groups, activation, algorithm, layout)

    out_h = _output_bounds(x.chunks[ax_h], sh, geom.h_out)
    out_w = _output_bounds(x.chunks[ax_w], sw, geom.w_out)
    name = f"cconv-conv2d-{token}"
    cut_name = f"cconv-halo-{token}"
    host_threads = tuple(sorted(_host_threads().items()))   # a tuple: dask leaves it alone
    for i_n, (n_chunk) in enumerate(x.chunks[ax_n]):
        for i_h, (o0, o1) in enumerate(out_h):
            r0, r1, pt, pb = _input_window(o0, o1, top, sh, dh, kh, h)
            hs = _chunk_slices(x.chunks[ax_h], r0, r1)
            for i_w, (q0, q1) in enumerate(out_w):
                c0w, c1w, pl, pr = _input_window(q0, q1, left, sw, dw, kw, w)
                ws = _chunk_slices(x.chunks[ax_w], c0w, c1w)
                for i_c, (co0, co1) in enumerate(co_ranges):
                    # the input channels of these output channels' groups
                    if spec.groups > 1:
                        ci0 = (co0 // c_out_g) * c_in_g
                        ci1 = (-(-co1 // c_out_g)) * c_in_g
                    else:
                        ci0, ci1 = 0, c_in
                    cs = _chunk_slices(x.chunks[ax_c], ci0, ci1)
                    pieces = _pieces(dsk, x, cut_name, i_n, hs, ws, cs, nhwc)
                    key = ((name, i_n, i_c, i_h, i_w) if not nhwc
                           else (name, i_n, i_h, i_w, i_c))
                    dsk[key] = (_block, (layer_name, i_c), pieces, ((pt, pb), (pl, pr)),
                                host_threads)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    chunks_c = tuple(c1 - c0 for c0, c1 in co_ranges)
    chunks_h = tuple(o1 - o0 for o0, o1 in out_h)
    chunks_w = tuple(q1 - q0 for q0, q1 in out_w)
    chunks = ((x.chunks[ax_n], chunks_h, chunks_w, chunks_c) if nhwc
              else (x.chunks[ax_n], chunks_c, chunks_h, chunks_w))
    return da.Array(graph, name, chunks, dtype=spec.dtype)


def _pieces(dsk, x, cut_name, i_n, hs, ws, cs, nhwc):
    """The input a block needs, as a nested list (N, C, H, W or N, H, W, C) of keys: whole
    chunks as they are, parts of chunks (halos, channel subsets) as tasks of their own in
    `dsk` that cut them where the chunk lives, so that only the part travels."""
    def piece(ic, ih, iw, c_sl, h_sl, w_sl):
        idx = (i_n, ih, iw, ic) if nhwc else (i_n, ic, ih, iw)
        sls = (c_sl, h_sl, w_sl)
        sizes = (x.chunks[3 if nhwc else 1][ic], x.chunks[1 if nhwc else 2][ih],
                 x.chunks[2 if nhwc else 3][iw])
        if all(a == 0 and b == n for (a, b), n in zip(sls, sizes)):
            return (x.name,) + idx
        key = (cut_name,) + idx + tuple(v for sl in sls for v in sl)
        if key not in dsk:
            c, h, w = (slice(a, b) for a, b in sls)
            index = (slice(None), h, w, c) if nhwc else (slice(None), c, h, w)
            dsk[key] = (_cut, (x.name,) + idx, index)
        return key

    if nhwc:
        return [[[[piece(ic, ih, iw, (c0, c1), (h0, h1), (w0, w1)) for ic, c0, c1 in cs]
                  for iw, w0, w1 in ws] for ih, h0, h1 in hs]]
    return [[[[piece(ic, ih, iw, (c0, c1), (h0, h1), (w0, w1)) for iw, w0, w1 in ws]
              for ih, h0, h1 in hs] for ic, c0, c1 in cs]]


def _make_layer(weight, bias, stride, dilation, groups, activation, algorithm, layout):
    # padding 0 here: each block brings its own (_call_with_padding)
    return Conv2d(weight, bias, stride, 0, dilation, groups, activation=activation,
                  algorithm=algorithm, layout=layout)
