"""Whole networks built from cconv.Conv2d (bench/networks.py: batch norm folded, ReLU/ReLU6 and
residual adds fused) give torch's logits."""
import os
import sys

import numpy as np
import pytest

from conftest import torch

pytestmark = pytest.mark.skipif(torch is None, reason="torch not installed")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_logits_match_torch(name, threads, layout):
    import cconv
    import networks
    make_torch, make_cconv = networks.NETWORKS[name]
    tm = make_torch(seed=3, num_classes=100)
    net = make_cconv(tm, layout=layout)
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 112), dtype=np.float32)
    with torch.inference_mode():
        ref = tm(torch.from_numpy(x)).numpy()
    with cconv.threads(threads):
        got = net(x)
    scale = np.abs(ref).max()
    assert got.shape == ref.shape
    # float32 through ~20 layers, batch norm folded: agreement to ~1e-5 of the logits' scale
    assert np.abs(got - ref).max() <= 2e-4 * scale, (np.abs(got - ref).max(), scale)
    assert (got.argmax(axis=1) == ref.argmax(axis=1)).all()
