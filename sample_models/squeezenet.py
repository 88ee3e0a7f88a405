"""SqueezeNet 1.0 (Iandola et al., 2016) with residual bypasses, as used by IOS; input 3×224×224.

Layout (SqueezeNet 1.0): conv1 7×7/2 (96) → maxpool → fire2..fire4 → maxpool → fire5..fire8
→ maxpool → fire9 → dropout → conv10 1×1 (1000) → ReLU → global average pool.

A fire module is squeeze 1×1 (ReLU) → [expand 1×1 (ReLU) ‖ expand 3×3 (ReLU)] → concat. Every fire
module has a bypass (the paper's "complex bypass" variant applied everywhere): the module input is
added to the fire output unchanged where the channel counts match (fire3, 5, 7, 9: "simple
bypass") and through a 1×1 convolution (with bias, no activation) where they differ (fire2, 4, 6,
8). The bypass gives the scheduler independent work (the bypass conv runs beside the squeeze and
expands) and the twin expand convs are the textbook merge candidates (same input, same stride;
1×1 and "same"-padded 3×3).

Like the original there is no BatchNorm: every convolution has a bias and is followed directly by
a ReLU (except the bypass convs). The max pools use ``ceil_mode=True`` (54 → 27 needs it).
About 1.59M parameters.

Ops used: Conv2d (with bias; 7×7/2, 1×1, 3×3 pad 1), ReLU, MaxPool2d(3, 2, ceil_mode=True),
torch.cat, add (``+``), Dropout, AdaptiveAvgPool2d(1), flatten.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import build_seeded

INPUT_SHAPE = (3, 224, 224)


class Fire(nn.Module):
    """squeeze 1×1 → (expand 1×1 ‖ expand 3×3) → concat, plus a bypass added to the result."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        out_channels = expand1x1 + expand3x3
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_relu = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_relu = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_relu = nn.ReLU()
        # Simple bypass where the shapes match, a 1×1 projection where they do not; fixed at
        # build time, so fx traces it without a data-dependent branch.
        self.bypass: nn.Conv2d | None = (
            None if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_relu(self.squeeze(x))
        e1 = self.expand1x1_relu(self.expand1x1(s))
        e3 = self.expand3x3_relu(self.expand3x3(s))
        shortcut = x if self.bypass is None else self.bypass(x)
        return torch.cat([e1, e3], 1) + shortcut


class SqueezeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 7, stride=2)  # 224 → 109
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # → 54
        self.fire2 = Fire(96, 16, 64, 64)
        self.fire3 = Fire(128, 16, 64, 64)
        self.fire4 = Fire(128, 32, 128, 128)
        self.pool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # → 27
        self.fire5 = Fire(256, 32, 128, 128)
        self.fire6 = Fire(256, 48, 192, 192)
        self.fire7 = Fire(384, 48, 192, 192)
        self.fire8 = Fire(384, 64, 256, 256)
        self.pool8 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # → 13
        self.fire9 = Fire(512, 64, 256, 256)
        self.dropout = nn.Dropout(dropout)
        self.conv10 = nn.Conv2d(512, num_classes, 1)
        self.relu10 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool4(self.fire4(self.fire3(self.fire2(x))))
        x = self.fire8(self.fire7(self.fire6(self.fire5(x))))
        x = self.fire9(self.pool8(x))
        x = self.relu10(self.conv10(self.dropout(x)))
        return torch.flatten(self.avgpool(x), 1)


def build(seed: int = 0) -> nn.Module:
    """SqueezeNet with bypasses in eval mode, weights drawn from ``seed``."""
    return build_seeded(SqueezeNet, seed, INPUT_SHAPE)
