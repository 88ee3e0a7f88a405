"""A tiny MobileNet-like CNN for the ``--fuse-epilogues`` tests, loaded as
``--model tests._epilogue_models:tiny_mobilenet`` (as ``tests._cli_models``' models are)."""

from __future__ import annotations

import torch
from torch import nn


def jitter_batch_norms(module: nn.Module) -> None:
    """Give every BatchNorm2d running statistics that are not the identity (folding them must
    then change the conv)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)


class TinyMobileNet(nn.Module):
    """conv+BN+hardswish stem; an inverted residual: 1x1 expand + hardswish, 3x3 depthwise + BN +
    hardswish, squeeze-excitation (pool, 1x1+ReLU, 1x1+hardsigmoid, gating multiply), 1x1 project
    + BN, residual add; then a pooled linear head: the elementwise work regions absorb."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                                  nn.Hardswish())
        self.expand = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False),
                                nn.BatchNorm2d(2 * c), nn.Hardswish())
        self.se1, self.se2 = nn.Conv2d(2 * c, 4, 1), nn.Conv2d(4, 2 * c, 1)
        self.project = nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.fc = nn.Linear(c, 10)
        jitter_batch_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.dw(self.expand(x))
        s = nn.functional.hardsigmoid(self.se2(torch.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        x = self.project(y * s) + x
        return self.fc(nn.functional.hardswish(x).mean((2, 3)))


def tiny_mobilenet(seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(seed)
    return TinyMobileNet().eval(), (3, 16, 16)
