"""Small models for tests/test_capture.py, loadable as ``tests._real_models:<callable>``.

* :func:`same_padding`: TF-style "same" padding computed from the input size (``math.ceil`` on
  ``x.size(-1)``), as timm's ``Conv2dSame`` does: symbolic tracing fails, tracing with the
  example input's values does not;
* :func:`two_untraceable`: two submodules that no tracing gets through (Python control flow on
  tensor *values*), of two classes: ``gate`` (``Gate``) and ``repeat`` (``Repeat``);
* :func:`two_in_two_out`: two inputs (one tensor, one shape) and two outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SamePadConv(nn.Conv2d):
    """A conv with TF "same" padding worked out from the input's size at every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads = [total // 2, total - total // 2, *pads]  # F.pad: last dim first
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)


class SamePadded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = SamePadConv(3, 8, 3, stride=2)
        self.body = SamePadConv(8, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        if y.shape[-1] % 2:  # a size-dependent branch: settled by the example input
            y = y + 1
        return self.body(y).relu()


def same_padding() -> tuple[nn.Module, tuple[int, int, int]]:
    """TF "same" padding and a branch on the size, at an odd input size (asymmetric pads)."""
    return _seeded(0, SamePadded), (3, 15, 15)


class Gate(nn.Module):
    """Control flow on a tensor's value: no tracer can capture it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.conv(x).relu()
        return x


class Repeat(nn.Module):
    """A loop whose trip count is a tensor's value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(int(x.abs().amax()) % 3 + 1):
            x = x * 0.5
        return x


class TwoUntraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = SamePadConv(3, 8, 3, stride=2)  # size-dependent too: that part is fine
        self.gate = Gate()
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 8, 3, padding=1)
        self.repeat = Repeat()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.stem(x))
        return torch.cat([self.left(y), self.repeat(self.right(y))], dim=1)


def two_untraceable() -> tuple[nn.Module, tuple[int, int, int]]:
    """Traces only with ``gate`` and ``repeat`` (or classes Gate and Repeat) kept whole."""
    return _seeded(0, TwoUntraceable), (3, 15, 15)


class TwoInTwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(4, 8, 1)
        self.c = nn.Conv2d(4, 8, 3, padding=1)
        self.d = nn.Conv2d(8, 6, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.a(x) + self.b(y)
        return torch.cat([z, self.c(y)], dim=1), self.d(z).relu()


def two_in_two_out(batch: int = 1, seed: int = 0) -> tuple[nn.Module, tuple]:
    """Two inputs, given as a tensor (batch 3, repeated or cut to ``batch``) and a shape."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 3, 12, 12, generator=generator)
    return _seeded(seed, TwoInTwoOut), (x, (4, 12, 12))


def _seeded(seed: int, cls: type[nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
        torch.manual_seed(seed)
        return cls().eval()
