"""A plain float64 conv2d used by `python -m cconv` to check results: an explicit im2col of the
padded input (NumPy stride tricks) and one matrix product per group. It shares no code with the
kernels, so a bug in one is not mirrored in the other. Slow and memory-hungry by design."""
import numpy as np


def conv2d_im2col_float64(x, w, bias, geom):
    """x (N, C_in, H, W), w (C_out, C_in/g, kH, kW) -> float64 (N, C_out, H_out, W_out)."""
    g = geom
    xp = np.zeros((g.n, g.c_in, g.h + g.pad_top + g.pad_bottom, g.w + g.pad_left + g.pad_right))
    xp[:, :, g.pad_top:g.pad_top + g.h, g.pad_left:g.pad_left + g.w] = x
    sn, sc, sh, sw = xp.strides
    # cols[n, c, i, j, oh, ow] = xp[n, c, oh*stride + i*dil, ow*stride + j*dil]
    cols = np.lib.stride_tricks.as_strided(
        xp, (g.n, g.c_in, g.kh, g.kw, g.h_out, g.w_out),
        (sn, sc, sh * g.dil_h, sw * g.dil_w, sh * g.stride_h, sw * g.stride_w), writeable=False)
    cin_g, cout_g = g.c_in // g.groups, g.c_out // g.groups
    out = np.empty((g.n, g.c_out, g.h_out, g.w_out))
    for grp in range(g.groups):
        a = cols[:, grp * cin_g:(grp + 1) * cin_g].reshape(g.n, cin_g * g.kh * g.kw, -1)
        wm = np.asarray(w[grp * cout_g:(grp + 1) * cout_g], np.float64).reshape(cout_g, -1)
        out[:, grp * cout_g:(grp + 1) * cout_g] = (wm @ a).reshape(g.n, cout_g, g.h_out, g.w_out)
    if bias is not None:
        out += np.asarray(bias, np.float64)[:, None, None]
    return out
