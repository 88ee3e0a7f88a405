"""RandWire-WS (Xie et al., 2019) as used by IOS: C = 154, input 3×224×224, 1000 classes.

Structure (the IOS model ``randwire_large``):

- stem: conv 3×3/2, C/2 = 77 channels, BN (no activation: every node starts with a ReLU);
- four random-graph stages at C, 2C, 4C, 8C channels (56², 28², 14², 7²), built from
  Watts–Strogatz graphs WS(n, k=4, p=0.75) with n = 16 for the first stage and 32 for the others;
- head: ReLU → conv 1×1 to 1280 → BN → ReLU → global average pool → fc 1000.

Inside a stage the undirected WS graph becomes a DAG by orienting every edge from the lower to the
higher node index. A node sums its inputs (chained ``+``; a single input is used as is), then
ReLU → depthwise 3×3 → pointwise 1×1 → BN. Source nodes (no predecessor) read the stage input with
stride 2 on the depthwise conv; the stage output is the *sum* of the sink nodes (as in IOS; the
paper averages, which differs by a constant factor per stage and would cost an extra op).
Not modelled: the paper's learned sigmoid weights on node inputs.

Note on the regime: REFERENCE.md calls this the "small regime", but the IOS model has the
regular-regime layout (one stem conv, four random stages up to 8C); that is what gives the 120
schedulable units in 6 blocks that the IOS paper reports, so it is what is built here.

The graphs depend only on fixed per-stage seeds (``GRAPH_SEEDS``), never on the weight seed, so
every build has the same topology; ``stage_graphs()`` returns the edge lists. 62.4M parameters
(the paper reports 61.5M for C = 154 with its own graphs).

Ops used: Conv2d (bias-free; 3×3/2 stem, depthwise 3×3 with groups = channels, stride 1 or 2,
pointwise 1×1), BatchNorm2d (after the pointwise convs, the stem and the head conv; the depthwise
conv has no BN of its own), ReLU (standalone, after an add or on a stage input; one per node, so
the sources of a stage each apply their own ReLU to the same tensor), add, AdaptiveAvgPool2d(1),
flatten, Linear.
"""

from __future__ import annotations

import networkx as nx
import torch
from torch import nn

from ._common import build_seeded

INPUT_SHAPE = (3, 224, 224)
CHANNELS = 154  # C; the stages use C, 2C, 4C, 8C
STAGE_NODES = (16, 32, 32, 32)  # the first random stage has n/2 nodes
WS_K = 4
WS_P = 0.75
GRAPH_SEEDS = (2, 3, 4, 5)  # fixed: the topology never depends on the weight seed


def ws_dag(n: int, seed: int) -> tuple[tuple[int, int], ...]:
    """Edges (u, v) with u < v of WS(n, 4, 0.75) drawn with ``seed``, sorted.

    >>> edges = ws_dag(16, 2)
    >>> len(edges), all(u < v for u, v in edges)
    (32, True)
    """
    graph = nx.watts_strogatz_graph(n, WS_K, WS_P, seed=seed)
    return tuple(sorted((min(u, v), max(u, v)) for u, v in graph.edges()))


def stage_graphs() -> list[tuple[int, tuple[tuple[int, int], ...]]]:
    """(n, edges) for each random stage, in stage order."""
    return [(n, ws_dag(n, seed)) for n, seed in zip(STAGE_NODES, GRAPH_SEEDS, strict=True)]


class NodeOp(nn.Module):
    """ReLU → depthwise 3×3 (stride 1, or 2 for a source) → pointwise 1×1 → BN."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class RandomStage(nn.Module):
    """One random-graph stage; node i lives at ``nodes[i]``, nodes are evaluated in index order
    (a topological order, since every edge goes from a lower to a higher index)."""

    def __init__(
        self, in_channels: int, channels: int, n: int, edges: tuple[tuple[int, int], ...]
    ) -> None:
        super().__init__()
        self.n = n
        self.edges = edges
        # Plain Python tuples: fx unrolls the loops in forward into a static graph.
        self.preds: tuple[tuple[int, ...], ...] = tuple(
            tuple(u for u, v in edges if v == node) for node in range(n)
        )
        has_succ = {u for u, _ in edges}
        self.sinks: tuple[int, ...] = tuple(i for i in range(n) if i not in has_succ)
        self.nodes = nn.ModuleList(
            NodeOp(in_channels, channels, stride=2)
            if not self.preds[i]
            else NodeOp(channels, channels, stride=1)
            for i in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for i, node in enumerate(self.nodes):
            preds = self.preds[i]
            if not preds:
                outs.append(node(x))
                continue
            agg = outs[preds[0]]
            for p in preds[1:]:
                agg = agg + outs[p]
            outs.append(node(agg))
        result = outs[self.sinks[0]]
        for s in self.sinks[1:]:
            result = result + outs[s]
        return result


class RandWire(nn.Module):
    def __init__(self, channels: int = CHANNELS, num_classes: int = 1000) -> None:
        super().__init__()
        c = channels
        self.stem_conv = nn.Conv2d(3, c // 2, 3, stride=2, padding=1, bias=False)  # → 112²
        self.stem_bn = nn.BatchNorm2d(c // 2)
        stages = []
        in_ch = c // 2
        for i, (n, edges) in enumerate(stage_graphs()):
            out_ch = c * 2**i
            stages.append(RandomStage(in_ch, out_ch, n, edges))  # halves the spatial size
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self.head_relu = nn.ReLU()
        self.head_conv = nn.Conv2d(in_ch, 1280, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(1280)
        self.head_bn_relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_bn(self.stem_conv(x))
        for stage in self.stages:
            x = stage(x)
        x = self.head_bn_relu(self.head_bn(self.head_conv(self.head_relu(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(seed: int = 0) -> nn.Module:
    """RandWire-WS (C = 154) in eval mode; the graphs are fixed, the weights drawn from ``seed``."""
    return build_seeded(RandWire, seed, INPUT_SHAPE)
