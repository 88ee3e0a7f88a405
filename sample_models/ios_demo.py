"""The four-convolution teaching network (after the example in the IOS paper and README).

Input: a 64×28×28 feature map — the kind of tensor found in the middle of a CNN. There is no
stem, so the network is exactly four convolutions (each conv 3×3, stride 1, padding 1, 64
channels, → BN → ReLU) and one concat::

            x (64×28×28)
           /            \\
       conv_a          conv_b        a and b read the same tensor with the same kernel,
         |               |           stride, padding and activation: they can be MERGED into
       conv_c          conv_d        one 128-channel conv.
           \\            /
        concat (128×28×28)           the chains a→c and b→d share nothing after x: they can
                                     run CONCURRENTLY (two groups of one stage).

c and d cannot be merged (they read different tensors). The schedules worth comparing:
sequential (a, b, c, d: four stages), merge {a, b} then concurrent {c} ‖ {d}, and one
concurrent stage {a → c} ‖ {b → d}. At batch 1 every conv is far too small to fill a GPU, which
is exactly when inter-operator parallelism pays off.

Ops used: Conv2d (bias-free 3×3), BatchNorm2d, ReLU (directly after each BN), torch.cat.
Output: 1×128×28×28 at batch 1 (no classifier: the point is the schedule, not the labels).
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import ConvBNReLU, build_seeded

INPUT_SHAPE = (64, 28, 28)
WIDTH = 64


class IOSDemo(nn.Module):
    def __init__(self, channels: int = WIDTH) -> None:
        super().__init__()
        c = channels
        self.conv_a = ConvBNReLU(c, c, 3, padding=1)
        self.conv_b = ConvBNReLU(c, c, 3, padding=1)
        self.conv_c = ConvBNReLU(c, c, 3, padding=1)
        self.conv_d = ConvBNReLU(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv_a(x)
        b = self.conv_b(x)
        return torch.cat([self.conv_c(a), self.conv_d(b)], 1)


def build(seed: int = 0) -> nn.Module:
    """The teaching network in eval mode, weights and BN statistics drawn from ``seed``."""
    return build_seeded(IOSDemo, seed, INPUT_SHAPE)
