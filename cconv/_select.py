"""Algorithm selection: which kernel runs a convolution, and why (explain()).

Kernels: "direct" (blocked direct convolution; one-channel-per-group convolutions use its
depthwise kernel) and "winograd" (F(2x2,3x3): 3x3 kernels, stride 1; with dilation d, each
of the d x d interleaved grids of outputs is a dense 3x3 convolution of a strided input view).

algorithm="auto" picks Winograd for eligible layers where the measured crossover says it wins
(bench/crossover.py measures it; its output table is bench/crossover.txt): enough channels per
group for its 16 GEMMs to run at speed, and enough output pixels per call to pay for
transforming the weights, which conv2d does on every call (a prepared Conv2d does it once).
"""
from typing import Sequence

from . import _args, _threads
from ._types import IntPair, Padding

ALGORITHMS = ("auto", "direct", "winograd")

# From bench/crossover.txt (python bench/crossover.py: C_in = C_out from 8 to 512, images from
# 7x7 to 112x112, batch 1 and 8, 1 and 2 threads; 2026-11-29, AMD EPYC, AVX-512). conv2d,
# transforming the weights on every call: Winograd won from 16 channels on once a call had
# about 392 output pixels with >= 64 channels or 784 with fewer; at 196 (14x14) with >= 64
# channels it won at 1 thread and won or lost by up to 10-20% on 2; at 49 (7x7) it lost.
# Prepared weights (Conv2d): at 1 thread it won from 64 channels on even on a 7x7 image (with
# 32, 0.94x on 7x7 and 1.04x on 14x14 once the direct kernel's partial tiles got cheaper);
# on 2 threads a 7x7 image needs >= 128 channels (0.97-1.35x; 0.84-1.01x with 32 and 64),
# 14x14 >= 64 (1.08-1.47x; 0.96x with 32). Re-measured 2026-11-29 (third session).
# Re-measured 2026-11-30 (AMD EPYC, AVX2; two runs, each ratio the median over pairs of
# back-to-back calls, the runs within ~5% of each other at 1 thread): with 16 channels
# Winograd lost at 1 thread on every image up to 56x56 (conv2d 0.67-0.96x, prepared
# 0.69-0.97x; 0.92-1.03x on 112x112) and with conv2d on 2 threads from 28x28 on
# (0.87-1.11x): the minimum went from 16 to 24 channels (24 won from 784 pixels,
# 1.08-1.49x). Elsewhere the choices below were right or within 5%, except where
# Winograd won unchosen by 6-26% (prepared: 24 channels on 14x14; 16 channels on 7x7 and
# 14x14 at 2 threads, 1.07-1.18x; 8 channels on 112x112 at 2 threads, 1.08-1.14x) and
# prepared 32 channels on 8 x 7x7 at 1 thread (chosen, 0.81-0.86x: the 4x4 tiles of a 7x7
# image are 31% padding).
# Re-measured 2026-12-01 on an Intel Xeon with AVX-512 (bench/crossover_intel_avx512.txt,
# three runs; Winograd's panels now NR-wide and short tile rows sharing a vector, the direct
# kernel single-threaded below 1M multiply-adds): the rule unchanged. Winograd won unchosen
# by more than 5% with 8-24 channels on 2 threads (1.06-1.52x, the direct kernel scaling
# worse on few channels), 64 channels on 7x7 prepared on 2 threads (1.21-1.25x: the rows
# sharing a vector need 16 lanes, so not on AVX2, where it lost), 64 on 14x14 with conv2d on
# 2 threads (1.15-1.19x) and 16 channels on 112x112 at 1 thread (1.10-1.15x); chosen, it
# lost on prepared 32 channels on 8 x 7x7 at 1 thread (0.82x), as before.
WINOGRAD_MIN_CHANNELS = 24        # input and output channels per group
WINOGRAD_MIN_PIXELS_WIDE = 350    # N * H_out * W_out, with >= 64 channels per group
WINOGRAD_MIN_PIXELS_WIDE_1T = 150 # the same, on 1 thread
WINOGRAD_MIN_PIXELS_NARROW = 700  # with 24..63
# prepared weights, >= 32 channels per group: 40 pixels with >= 64 channels on 1 thread or
# with >= 128 channels, else 150; fewer channels need 700
WINOGRAD_MIN_PIXELS_PREPARED = 150
WINOGRAD_MIN_PIXELS_PREPARED_FEW = 40
WINOGRAD_PREPARED_WIDE_CHANNELS = 32
WINOGRAD_PREPARED_1T_CHANNELS = 64
WINOGRAD_PREPARED_MANY_CHANNELS = 128
# Dilated 3x3 layers run as dil_h x dil_w Winograd calls on strided views, one per interleaved
# grid of outputs ("phase"); pixels per phase, N * ceil(H_out/dh) * ceil(W_out/dw). Measured
# 2026-11-29 (AMD EPYC, 1 thread, prepared, winograd vs direct): 64 channels won with 196
# (1.07x) and 256 (1.22x) per phase, lost with 144 (0.92x); 128 won with 144 (1.20x) and 256
# (1.71x); 256 won with 49 (1.46x) and lost with 36 (0.86x).
# Re-measured 2026-12-01 (Intel Xeon, AVX-512, prepared, winograd / direct time, dilation 2
# and 4 on 28x28 to 65x65): with 81 pixels per phase 128 channels lost at 1 thread (1.10x)
# and at 2 (1.46x), 256 won at 1 (0.91x) and lost at 2 (1.07x), 512 won at both (0.86x,
# 0.92x); 512 with 49 won at 1 (0.86x), even at 2 (0.99x); 128 with 196 won (0.88x, 0.96x).
# Two threads share out Winograd's small per-phase calls less well than the direct kernel's
# one call (1 -> 2 threads 1.69x against 1.96x on 256 with 81 per phase).
WINOGRAD_MIN_PHASE_PIXELS = 150
WINOGRAD_MIN_PHASE_PIXELS_WIDE = 100    # >= WINOGRAD_PREPARED_MANY_CHANNELS channels
WINOGRAD_MIN_PHASE_PIXELS_MANY = 45     # >= 256 channels on 1 thread, >= 512 on more
WINOGRAD_PHASE_MANY_CHANNELS_1T = 256
WINOGRAD_PHASE_MANY_CHANNELS = 512

# One input channel per group (depthwise; C_in = 1: grey images, spectrograms) runs the
# depthwise kernel, except with many output channels per group: then the direct kernel's GEMM
# (K = the taps) is faster. Measured 2026-11-29 (AMD EPYC, AVX-512, C_in = 1, 3x3 and 5x5,
# planes 14x14 to 160x160, 4 to 64 output channels; GEMM time / depthwise): with >= 16
# channels on planes up to 96x96 the GEMM won 1.1-3.2x at 1 and 2 threads (5x5 on 28x28:
# 2.0-3.2x), lost at most 0.87x (3x3 on 28x28, 16 channels); with 4 or 8 channels it mostly
# lost (0.5-0.8x) above 14x14. Larger planes went to the depthwise kernel until the GEMM wrote
# its output rows as runs (task_row_panels' row groups): 2026-11-30, AMD EPYC, AVX2, GEMM time
# / depthwise, 1 and 2 threads: 32 channels 5x5 on 128x128 0.67x, 16 3x3 on 160x160 0.85x,
# 32 on 224x224 0.79-0.82x, 64 on 256x256 0.76-0.83x, 32 on 4 x 80x300 0.91-0.97x.
GEMM_ONE_CHANNEL_MIN_OUT_CHANNELS = 16   # per group
# Into a channels-last output, C_in = 1 (groups = 1) runs the GEMM from 4 output channels on,
# any plane: the depthwise kernel writes each channel's outputs C apart there. Measured as
# above, prepared, 2 threads: 4 channels on 112x112 1.17x, 8 on 224x224 2.2x, 32 on 28x28 to
# 224x224 3.2-6.3x; 2 channels on 56x56 lost (0.73x).
GEMM_ONE_CHANNEL_NHWC_MIN_OUT_CHANNELS = 4


def one_channel_gemm_possible(c_out, groups):
    """Whether direct_kernel may give a one-channel-per-group layer the GEMM, for some
    input (a prepared Conv2d then packs its weights for it)."""
    return (c_out // groups >= GEMM_ONE_CHANNEL_MIN_OUT_CHANNELS
            or (groups == 1 and c_out >= GEMM_ONE_CHANNEL_NHWC_MIN_OUT_CHANNELS))


def direct_kernel(geom, channels_last=False):
    """"depthwise" or "direct": the kernel that runs the direct algorithm for this geometry
    (channels_last: into a channels-last output)."""
    if geom.c_in // geom.groups != 1:
        return "direct"
    if geom.c_out // geom.groups >= GEMM_ONE_CHANNEL_MIN_OUT_CHANNELS:
        return "direct"
    if (channels_last and geom.groups == 1
            and geom.c_out >= GEMM_ONE_CHANNEL_NHWC_MIN_OUT_CHANNELS):
        return "direct"
    return "depthwise"


def winograd_min_pixels(c_in_g, c_out_g, weights_prepared, threads):
    """Output pixels per call (N * H_out * W_out) from which Winograd beats the direct kernel
    (bench/crossover.txt)."""
    c_min = min(c_in_g, c_out_g)
    if not weights_prepared:
        if c_min < 64:
            return WINOGRAD_MIN_PIXELS_NARROW
        return WINOGRAD_MIN_PIXELS_WIDE_1T if threads == 1 else WINOGRAD_MIN_PIXELS_WIDE
    if c_min < WINOGRAD_PREPARED_WIDE_CHANNELS:
        return WINOGRAD_MIN_PIXELS_NARROW
    if ((threads == 1 and c_min >= WINOGRAD_PREPARED_1T_CHANNELS)
            or c_min >= WINOGRAD_PREPARED_MANY_CHANNELS):
        return WINOGRAD_MIN_PIXELS_PREPARED_FEW
    return WINOGRAD_MIN_PIXELS_PREPARED


def winograd_pixels_needed(geom, weights_prepared, threads):
    """(pixels, need): the output pixels one Winograd call covers (per phase when dilated:
    dil_h x dil_w calls, one per interleaved grid of outputs) and the minimum from which it
    beats the direct kernel. (A prepared Conv2d asks this in every call: no strings here.)"""
    c_in_g, c_out_g = geom.c_in // geom.groups, geom.c_out // geom.groups
    need = winograd_min_pixels(c_in_g, c_out_g, weights_prepared, threads)
    if geom.dil_h * geom.dil_w == 1:
        return geom.n * geom.h_out * geom.w_out, need
    # one Winograd call per phase: each must be big enough on its own
    pixels = geom.n * -(-geom.h_out // geom.dil_h) * -(-geom.w_out // geom.dil_w)
    c_min = min(c_in_g, c_out_g)
    if c_min >= (WINOGRAD_PHASE_MANY_CHANNELS_1T if threads == 1
                 else WINOGRAD_PHASE_MANY_CHANNELS):
        return pixels, max(need, WINOGRAD_MIN_PHASE_PIXELS_MANY)
    if c_min >= WINOGRAD_PREPARED_MANY_CHANNELS:
        return pixels, max(need, WINOGRAD_MIN_PHASE_PIXELS_WIDE)
    return pixels, max(need, WINOGRAD_MIN_PHASE_PIXELS)


def winograd_ineligible(geom):
    """Why Winograd F(2x2,3x3) cannot run this geometry, or None if it can."""
    reasons = []
    if (geom.kh, geom.kw) != (3, 3):
        reasons.append(f"the kernel is {geom.kh}x{geom.kw}, not 3x3")
    if (geom.stride_h, geom.stride_w) != (1, 1):
        reasons.append(f"the stride is {(geom.stride_h, geom.stride_w)}, not 1")
    return "; ".join(reasons) or None


def parse_algorithm(algorithm, fname):
    if not isinstance(algorithm, str):
        raise TypeError(f"{fname}: algorithm must be a str, one of {', '.join(ALGORITHMS)}; "
                        f"got {_args._describe(algorithm)}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{fname}: algorithm must be one of {', '.join(ALGORITHMS)}; "
                         f"got {algorithm!r}")
    return algorithm


def choose(geom, algorithm, fname="conv2d", weights_prepared=False):
    """(kernel, reason) for a validated geometry and a parsed algorithm name.

    weights_prepared: the weights are transformed once ahead (a prepared Conv2d), so Winograd
    does not pay for them per call.
    """
    c_in_g, c_out_g = geom.c_in // geom.groups, geom.c_out // geom.groups
    if algorithm == "direct":
        return "direct", "requested"
    if algorithm == "winograd":
        reason = winograd_ineligible(geom)
        if reason:
            raise ValueError(f"{fname}: algorithm='winograd' needs a 3x3 kernel with stride 1: "
                             f"{reason}")
        return "winograd", "requested"
    reason = winograd_ineligible(geom)
    if reason:
        return "direct", f"Winograd F(2x2,3x3) does not apply: {reason}"
    if c_in_g == 1:
        return "direct", ("one input channel per group (depthwise, or C_in = 1): nothing to "
                          "reduce over channels")
    if min(c_in_g, c_out_g) < WINOGRAD_MIN_CHANNELS:
        return "direct", (f"{c_in_g} input and {c_out_g} output channels per group: below "
                          f"{WINOGRAD_MIN_CHANNELS}, the direct kernel is faster")
    threads = _threads.effective_num_threads()
    pixels, need = winograd_pixels_needed(geom, weights_prepared, threads)
    phases = geom.dil_h * geom.dil_w
    what = (f"{pixels} output pixels per call" if phases == 1 else
            f"dilation {(geom.dil_h, geom.dil_w)}: {phases} dense convolutions of {pixels} "
            "output pixels")
    if pixels < need:
        return "direct", (f"{what} on {threads} thread{'s' if threads > 1 else ''}: below "
                          f"{need}, transforming the input and weights costs more than "
                          "Winograd saves"
                          + ("" if weights_prepared else
                             " (a prepared Conv2d transforms the weights once)"))
    return "winograd", ("3x3, stride 1: Winograd F(2x2,3x3) needs 2.25x fewer multiplications; "
                        f"{c_in_g} input and {c_out_g} output channels per group and {what} "
                        "are enough for it to win")


def explain(input_shape: Sequence[int], weight_shape: Sequence[int], stride: IntPair = 1,
            padding: Padding = 0, dilation: IntPair = 1, groups: int = 1, *,
            algorithm: str = "auto", layout: str = "NCHW") -> dict:
    """The algorithm conv2d would use for these shapes and parameters, and why.

    input_shape is in `layout` ("NCHW", or "NHWC" as conv2d's layout=). Returns a dict:
    algorithm ("direct" or "winograd"), kernel (what runs: "direct", "depthwise" or
    "winograd"), reason, output_shape (in `layout`), flops (direct-convolution FLOP count).

    >>> import cconv
    >>> cconv.explain((1, 256, 56, 56), (256, 256, 3, 3), padding=1)["algorithm"]
    'winograd'
    >>> cconv.explain((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)["algorithm"]
    'direct'
    >>> cconv.explain((1, 28, 28, 64), (128, 64, 1, 1), layout="NHWC")["output_shape"]
    (1, 28, 28, 128)
    """
    fname = "explain"
    shapes = [_args.shape_probe(input_shape, "input_shape", fname),
              _args.shape_probe(weight_shape, "weight_shape", fname)]
    _, _, _, geom, batched = _args.parse_conv2d(shapes[0], shapes[1], None, stride, padding,
                                                dilation, groups, fname, layout)
    algo, reason = choose(geom, parse_algorithm(algorithm, fname), fname)
    kernel = direct_kernel(geom, layout == "NHWC") if algo == "direct" else algo
    out_shape = _args.output_shape(geom, batched, layout)
    return dict(algorithm=algo, kernel=kernel, reason=reason, output_shape=out_shape,
                flops=geom.flops)
