"""A model whose search is long but whose trace is quick, for the tests that stop a search.

``tests._search_models:parallel_chains`` (a ``--model`` reference): ``chains`` parallel chains of
``length`` 1x1 convolutions on a tiny input, joined by a concat. Its one block has
``(length + 1) ** chains`` DP states, so the search cuts it into many parts of
``max_part_states`` states and needs seconds, while tracing takes well under one.
"""

from __future__ import annotations

import torch
from torch import nn


class ParallelChains(nn.Module):
    def __init__(self, chains: int, length: int, channels: int = 4) -> None:
        super().__init__()
        self.chains = nn.ModuleList(
            nn.Sequential(*(nn.Conv2d(channels, channels, 1) for _ in range(length)))
            for _ in range(chains))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([chain(x) for chain in self.chains], dim=1)


def parallel_chains(seed: int = 0, chains: int = 6, length: int = 6
                    ) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(seed)
    return ParallelChains(chains, length).eval(), (4, 4, 4)


def small_chains(seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    """Four chains of four: one part of 625 states (a search of a fraction of a second)."""
    return parallel_chains(seed, chains=4, length=4)
