"""An independent float64 conv2d for the tests, written plainly: the padded input, one shifted
and strided view per kernel tap, accumulated with einsum over the group's input channels.
It shares nothing with cconv (neither its argument parsing nor its kernels)."""
import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def normalise_padding(padding, kh, kw, dilation):
    dh, dw = dilation
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if isinstance(padding[0], int):
        return padding[0], padding[0], padding[1], padding[1]
    (t, b), (l, r) = padding
    return t, b, l, r


def conv2d_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups=1,
                     dtype=np.float64):
    """float64 result of torch.nn.functional.conv2d(x, w, b, ...) for 3-D or 4-D x (dtype:
    another precision to compute and return it in, e.g. np.longdouble to judge float64)."""
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pb, pl, pr = normalise_padding(padding, kh, kw, (dh, dw))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), dtype)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    og = o // groups
    out = np.zeros((n, o, ho, wo), dtype)
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                tap = xg[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                         j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", tap, wg[:, :, i, j])
    if b is not None:
        out += np.asarray(b, dtype=dtype)[:, None, None]
    return out[0] if unbatched else out
