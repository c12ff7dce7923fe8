"""The activations of the output pass, in NumPy: the definitions the kernels implement
(cc_epilogue.h), used where no kernel runs (C_in == 0) and as documentation."""
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def apply_activation(v, act, alpha):
    """act(v) for the codes of _args.ACTIVATIONS, in v's dtype."""
    if act == 0:
        return v
    with np.errstate(over="ignore", invalid="ignore"):
        if act == 1:
            return np.where(v < 0, 0, v).astype(v.dtype)
        if act == 2:
            return np.where(v > 6, 6, np.where(v < 0, 0, v)).astype(v.dtype)
        if act == 3:
            return np.where(v > 0, v, v * alpha).astype(v.dtype)
        if act == 4:
            return (v / (1 + np.exp(-v))).astype(v.dtype)
        if act == 5:
            return (1 / (1 + np.exp(-v))).astype(v.dtype)
        if act == 6:
            return (v * np.clip(v + 3, 0, 6) / 6).astype(v.dtype)
        if act == 7:
            return (0.5 * v * (1 + _erf(v / math.sqrt(2)))).astype(v.dtype)
    raise ValueError(f"unknown activation code {act}")
