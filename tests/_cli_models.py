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
    """conv + batch norm minus a second conv that computes nearly the same (its weights the
    folded ones times 1 + 1e-4): the difference keeps 1e-4 of each term, so float32's rounding
    of either is amplified 1e4 times, in the module and in a schedule, whose folded batch norm
    rounds otherwise than the module's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.twin = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
            scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            self.twin.weight.copy_(self.conv.weight * scale.view(-1, 1, 1, 1) * (1 + 1e-4))
            shift = self.bn.bias + (self.conv.bias - self.bn.running_mean) * scale
            self.twin.bias.copy_(shift * (1 + 1e-4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) - self.twin(x)


def ill_conditioned(seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(seed)
    return IllConditioned().eval(), (3, 8, 8)
