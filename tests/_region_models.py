"""A small CNN with every kind of elementwise work a fused region absorbs (tests of regions)."""

from __future__ import annotations

import torch
from torch import nn

from ios_core.frontend.tracing import TracedModel, trace_model


class RegionNet(nn.Module):
    """conv+BN+hardswish; squeeze-excitation (pool, conv+ReLU, conv+hardsigmoid, gating mul);
    a residual add without ReLU; a resnet-style downsample whose conv shares its input with a
    1x1 conv (they may merge) and an add+ReLU; a concat read by a lone BN+ReLU (densenet)."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c),
                                  nn.Hardswish())
        self.se_fc1 = nn.Conv2d(c, 4, 1)
        self.se_fc2 = nn.Conv2d(4, c, 1)
        self.proj = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.a1 = nn.Conv2d(c, 2 * c, 1)
        self.a2 = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c))
        self.down = nn.Conv2d(c, 2 * c, 1)
        self.side = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.bn = nn.BatchNorm2d(4 * c)
        self.head = nn.Conv2d(4 * c, c, 1)
        for m in self.modules():  # running statistics that are not the identity
            if isinstance(m, nn.BatchNorm2d):
                with torch.no_grad():
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        s = x.mean((2, 3), keepdim=True)
        s = nn.functional.hardsigmoid(self.se_fc2(torch.relu(self.se_fc1(s))))
        x = x * s
        x = self.proj(x) + x
        y = torch.relu(self.a2(torch.relu(self.a1(x))) + self.down(x))
        z = torch.cat([y, self.side(x)], 1)
        return self.head(torch.relu(self.bn(z)))


def region_traced(batch: int = 1, hw: int = 8, seed: int = 0) -> TracedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RegionNet().eval()
        x = torch.randn(batch, 3, hw, hw)
    return trace_model(model, x, name="regionnet")
