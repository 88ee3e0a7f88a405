"""Models referenced as package.module:callable by the app tests (never imported by the app)."""

from __future__ import annotations

import torch
from torch import nn


class _DataDependent(nn.Module):
    """Python control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.sum() > 0:
            return y.relu()
        return y


def untraceable() -> tuple[nn.Module, tuple[int, int, int]]:
    return _DataDependent().eval(), (3, 16, 16)


def out_of_memory() -> tuple[nn.Module, tuple[int, int, int]]:
    """Stands for a model too big for the device at the chosen batch."""
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
