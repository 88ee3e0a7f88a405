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


class _Gate(nn.Module):
    """A submodule whose Python control flow depends on a tensor value."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).relu() if x.mean() > 0 else x


class _GatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.gate = _Gate()
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.stem(x))
        return torch.cat([self.left(y), self.right(y)], dim=1)


def needs_leaf() -> tuple[nn.Module, tuple[int, int, int]]:
    """Traces only with its ``gate`` (class ``_Gate``) kept whole as a leaf module."""
    return _GatedNet().eval(), (3, 16, 16)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.c = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(y) + self.c(y)


def two_inputs(batch: int = 1) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """A model with two inputs: (module, (x, y))."""
    gen = torch.Generator().manual_seed(0)
    return _TwoInputs().eval(), (torch.randn(batch, 3, 16, 16, generator=gen),
                                 torch.randn(batch, 3, 16, 16, generator=gen))


def chatty() -> tuple[nn.Module, tuple[int, int, int]]:
    """Prints while it is built and run, as research code does: the trace worker's replies on
    stdout must survive it."""
    print('{"ok": false} a line that looks like a reply')

    class _Chatty(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("forward called")
            return self.conv(x).relu()

    return _Chatty().eval(), (3, 8, 8)
