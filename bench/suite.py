"""The benchmark suite: real layers of ResNet-50, VGG-16, MobileNetV2 and torch's documentation.

A guide, not a target: `--layers` and the classification below work for any layer.
"""
from typing import NamedTuple


class Layer(NamedTuple):
    name: str
    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    k: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    @property
    def input_shape(self):
        return (self.n, self.c_in, self.h, self.w)

    @property
    def weight_shape(self):
        return (self.c_out, self.c_in // self.groups, self.k, self.k)

    @property
    def out_hw(self):
        size = lambda s: (s + 2 * self.padding - self.dilation * (self.k - 1) - 1) // self.stride + 1
        return size(self.h), size(self.w)

    @property
    def flops(self):
        ho, wo = self.out_hw
        return 2 * self.n * self.c_out * (self.c_in // self.groups) * self.k * self.k * ho * wo

    @property
    def kind(self):
        """depthwise | 3x3s1 (3x3 stride 1, >= 32 channels per group: Winograd's) | 1x1 | direct"""
        if self.groups > 1 and self.groups == self.c_in:
            return "depthwise"
        if (self.k == 3 and self.stride == 1 and self.dilation == 1
                and self.c_in // self.groups >= 32 and self.c_out // self.groups >= 32):
            return "3x3s1"
        if self.k == 1:
            return "1x1"
        return "direct"


SUITE = [
    Layer("seed-rgb-3x3", 1, 3, 224, 224, 64, 3, 1, 1),
    Layer("seed-resnet-s2", 4, 64, 112, 112, 128, 3, 2, 1),
    Layer("seed-dilated", 1, 128, 32, 32, 128, 3, 1, 2, 2),
    Layer("seed-depthwise", 32, 64, 28, 28, 64, 3, 1, 1, 1, 64),
    Layer("seed-s2-8x128", 8, 128, 16, 16, 256, 3, 2, 1),
    Layer("r50-conv1", 1, 3, 224, 224, 64, 7, 2, 3),
    Layer("r50-l1-1x1a", 1, 64, 56, 56, 64, 1),
    Layer("r50-l1-3x3", 1, 64, 56, 56, 64, 3, 1, 1),
    Layer("r50-l1-1x1b", 1, 64, 56, 56, 256, 1),
    Layer("r50-l1-1x1c", 1, 256, 56, 56, 64, 1),
    Layer("r50-l2-3x3s2", 1, 128, 56, 56, 128, 3, 2, 1),
    Layer("r50-l2-3x3", 1, 128, 28, 28, 128, 3, 1, 1),
    Layer("r50-l2-1x1", 1, 512, 28, 28, 128, 1),
    Layer("r50-l3-3x3", 1, 256, 14, 14, 256, 3, 1, 1),
    Layer("r50-l3-1x1", 1, 1024, 14, 14, 256, 1),
    Layer("r50-l4-3x3", 1, 512, 7, 7, 512, 3, 1, 1),
    Layer("r50-l4-1x1", 1, 512, 7, 7, 2048, 1),
    Layer("vgg-c1-2", 1, 64, 224, 224, 64, 3, 1, 1),
    Layer("vgg-c2-2", 1, 128, 112, 112, 128, 3, 1, 1),
    Layer("vgg-c3-2", 1, 256, 56, 56, 256, 3, 1, 1),
    Layer("vgg-c4-2", 1, 512, 28, 28, 512, 3, 1, 1),
    Layer("vgg-c5-2", 1, 512, 14, 14, 512, 3, 1, 1),
    Layer("mv2-dw-112", 1, 32, 112, 112, 32, 3, 1, 1, 1, 32),
    Layer("mv2-dw-s2", 1, 96, 112, 112, 96, 3, 2, 1, 1, 96),
    Layer("mv2-dw-28", 1, 192, 28, 28, 192, 3, 1, 1, 1, 192),
    Layer("mv2-pw-28", 1, 192, 28, 28, 32, 1),
    Layer("mv2-pw-14", 1, 64, 14, 14, 384, 1),
    Layer("r50-l2-3x3-b8", 8, 128, 28, 28, 128, 3, 1, 1),
]

# Layers that are in no issue's table: odd sizes, asymmetric use, grouped, dilated, few channels.
# `--layers unseen` runs them to check that speed is not tuned to the suite.
UNSEEN = [
    Layer("odd-3x3-57", 1, 48, 57, 57, 80, 3, 1, 1),
    Layer("odd-5x5-s2", 2, 24, 45, 37, 40, 5, 2, 2),
    Layer("grouped-g4", 1, 128, 28, 28, 128, 3, 1, 1, 1, 4),
    Layer("resnext-g32", 1, 256, 28, 28, 256, 3, 1, 1, 1, 32),
    Layer("dilated-4", 1, 64, 48, 48, 64, 3, 1, 4, 4),
    Layer("grey-5x5", 1, 1, 128, 128, 32, 5, 1, 2),
    Layer("spectrogram-c1", 4, 1, 80, 300, 32, 3, 1, 1),
    Layer("dw-mult2-5x5", 1, 32, 56, 56, 64, 5, 1, 2, 1, 32),
    Layer("pw-odd-13", 1, 96, 13, 13, 200, 1),
    Layer("k11-stem", 1, 3, 227, 227, 96, 11, 4, 2),
    Layer("b32-3x3", 32, 64, 14, 14, 64, 3, 1, 1),
    Layer("dw-small-14", 1, 576, 14, 14, 576, 3, 1, 1, 1, 576),
    Layer("dw-small-7", 1, 960, 7, 7, 960, 3, 1, 1, 1, 960),
    Layer("dw-s2-small", 1, 576, 14, 14, 576, 3, 2, 1, 1, 576),
    # large depthwise kernels: ConvNeXt's 7x7 (first and last stage), EfficientNet's 5x5 at
    # stride 2
    Layer("convnext-dw7-56", 1, 96, 56, 56, 96, 7, 1, 3, 1, 96),
    Layer("convnext-dw7-7", 1, 768, 7, 7, 768, 7, 1, 3, 1, 768),
    Layer("effnet-dw5-s2", 1, 144, 56, 56, 144, 5, 2, 2, 1, 144),
]

ALL = {layer.name: layer for layer in SUITE + UNSEEN}
