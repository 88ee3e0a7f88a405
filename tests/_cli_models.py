"""Small models for the CLI tests, loaded as ``--model tests._cli_models:<callable>``."""

from __future__ import annotations

import torch
from torch import nn


class TwoOutputs(nn.Module):
    """A feature map and a pooled vector: a model that returns a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.relu(self.a(x)), self.b(x).mean((2, 3))


class TwoInputs(nn.Module):
    """Two images, one conv each, summed: a model with several inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x) + self.b(y))


def two_outputs(seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(seed)
    return TwoOutputs(), (3, 16, 16)


def two_inputs(batch: int = 1, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    return TwoInputs(), (torch.randn(batch, 3, 16, 16, generator=g),
                         torch.randn(batch, 3, 16, 16, generator=g))


class Silent(nn.Module):
    """A conv whose weights are all zero: its output is zeros whatever the input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


def silent() -> tuple[nn.Module, tuple[int, int, int]]:
    return Silent(), (3, 8, 8)


class IllConditioned(nn.Module):
    """A conv output lifted to 1e4 and back: float32 loses about 5e-4 of it, float64 nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv(x) + 1e4) - 1e4


def ill_conditioned(seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(seed)
    return IllConditioned(), (3, 8, 8)
