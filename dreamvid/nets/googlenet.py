"""GoogLeNet (Inception v1), written out rather than imported from torchvision.

Importing torchvision's models pulls in its detection ops and, through them, torch's compiler stack:
about 2 s before the first step on a 2-core machine (docs/BENCHMARKS.md, "CPU"), for one network of
about 60 lines. Module names and shapes are torchvision's (`conv1.conv`, `inception4c.branch2.1.bn`...),
so its ImageNet weights load as they are; as there, the "5x5" branch convolves 3x3 (the weights were
trained that way), and the classifier's auxiliary heads are left out (dreaming never reads them).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection) per Inception module, from the paper.
INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
# the pooling that comes before each of these modules (3x3 stride 2, or 2x2 before the last stage)
POOL_BEFORE = {"inception3a": "maxpool2", "inception4a": "maxpool3", "inception5a": "maxpool4"}


class BasicConv2d(nn.Module):
    """Convolution, BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, cin: int, ch1: int, reduce3: int, ch3: int, reduce5: int, ch5: int, pool: int):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, reduce3, 1), BasicConv2d(reduce3, ch3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, reduce5, 1), BasicConv2d(reduce5, ch5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pool, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """The ImageNet classifier, fed images normalised to [-1, 1] (torchvision's transform_input off)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        for name, channels in INCEPTIONS.items():
            self.add_module(name, Inception(*channels))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.conv3(self.conv2(x))
        for name in INCEPTIONS:
            if name in POOL_BEFORE:
                x = getattr(self, POOL_BEFORE[name])(x)
            x = getattr(self, name)(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
