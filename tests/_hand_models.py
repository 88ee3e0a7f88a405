"""A hand-built traced model for executor tests: an nn.Module, its OpGraph and its kernels.

``HandNet`` is a small Inception-style net whose five convolutions on ``x`` (1x1, 3x3, 5x5, 1x3,
3x1, "same" padding, ReLU, with and without bias) can merge; the rest exercises concurrent
groups, a slice of a merged output read by a later conv, pooling, add and concat, and two outputs.
``hand_traced`` builds what ``frontend.trace_model`` would (no frontend needed).

    x ─┬ a 1x1 ──────────────┐
       ├ b 3x3 ─ b2 3x3 ─────┤
       ├ c 5x5 (no bias) ────┼ cat ─ (output 1)
       ├ d 1x3 ─ d2 3x1 ─────┤
       ├ e 3x1 ──────────────┤
       └ p maxpool ─ pc 1x1 ─ s = a + pc ┘        c is output 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
from ios_core.ir.schedule import ModelRef, Schedule, SearchInfo, Stage, Target

CIN = 8
# name: (source, out channels, kernel (kh, kw), bias)
CONVS: dict[str, tuple[str, int, tuple[int, int], bool]] = {
    "a": ("x", 6, (1, 1), True),
    "b": ("x", 5, (3, 3), True),
    "c": ("x", 4, (5, 5), False),
    "d": ("x", 3, (1, 3), True),
    "e": ("x", 7, (3, 1), True),
    "b2": ("b", 6, (3, 3), True),
    "d2": ("d", 5, (3, 1), True),
    "pc": ("p", 6, (1, 1), True),
}


@dataclass
class HandTraced:
    """Stand-in for frontend.TracedModel (the executor only reads these four fields)."""

    graph: OpGraph
    kernels: dict[str, Kernel]
    module: nn.Module
    example_input: torch.Tensor


class HandNet(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleDict()
        cin = {"x": CIN, "b": 5, "d": 3, "p": CIN}
        for name, (src, cout, (kh, kw), bias) in CONVS.items():
            conv = nn.Conv2d(cin[src], cout, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.3)
                if bias:
                    conv.bias.copy_(torch.randn(cout, generator=gen) * 0.3)
            self.convs[name] = conv

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t: dict[str, torch.Tensor] = {"x": x, "p": F.max_pool2d(x, 3, 1, 1)}
        for name, (src, *_rest) in CONVS.items():
            t[name] = F.relu(self.convs[name](t[src]))
        s = t["a"] + t["pc"]
        return torch.cat([s, t["b2"], t["c"], t["d2"], t["e"]], 1), t["c"]


def _conv_node(name: str, src_shape: tuple[int, ...]) -> OpNode:
    src, cout, (kh, kw), _ = CONVS[name]
    n, cin, h, w = src_shape
    attrs = dict(in_channels=cin, out_channels=cout, kernel=(kh, kw), stride=(1, 1),
                 padding=(kh // 2, kw // 2), dilation=(1, 1), groups=1, activation="relu")
    shape = (n, cout, h, w)
    return OpNode(name, "conv", (src,), shape, attrs, 2 * math.prod(shape) * cin * kh * kw)


def hand_graph(batch: int = 2, hw: int = 12) -> OpGraph:
    x = (batch, CIN, hw, hw)
    shapes: dict[str, tuple[int, ...]] = {"x": x, "p": x}
    nodes = []
    for name in ("a", "b", "c", "d", "e"):
        nodes.append(_conv_node(name, x))
    nodes.append(OpNode("p", "pool", ("x",), x, dict(mode="max", kernel=(3, 3), stride=(1, 1),
                                                       padding=(1, 1))))
    for node in nodes:
        shapes[node.name] = node.shape
    for name in ("b2", "d2", "pc"):
        nodes.append(_conv_node(name, shapes[CONVS[name][0]]))
        shapes[name] = nodes[-1].shape
    nodes.append(OpNode("s", "add", ("a", "pc"), shapes["a"], {"activation": "none"}))
    shapes["s"] = shapes["a"]
    parts = ("s", "b2", "c", "d2", "e")
    cat_shape = (batch, sum(shapes[p][1] for p in parts), hw, hw)
    nodes.append(OpNode("cat", "concat", parts, cat_shape, {"dim": 1}))
    graph = OpGraph("handnet", (TensorSpec("x", x),), tuple(nodes), ("cat", "c"))
    graph.validate()
    return graph


def hand_traced(batch: int = 2, hw: int = 12, seed: int = 0) -> HandTraced:
    module = HandNet(seed).eval()
    graph = hand_graph(batch, hw)
    kernels: dict[str, Kernel] = {}
    for name in CONVS:
        conv = module.convs[name]
        bias = None if conv.bias is None else conv.bias.detach().clone()
        kernels[name] = ConvKernel(conv.weight.detach().clone(), bias, (1, 1),
                                   tuple(conv.padding), (1, 1), 1, "relu")
    kernels["p"] = FnKernel(lambda x: F.max_pool2d(x, 3, 1, 1), {})
    kernels["s"] = FnKernel(torch.add, {})
    kernels["cat"] = FnKernel(lambda *xs: torch.cat(xs, 1), {})
    return HandTraced(graph, kernels, module, torch.randn(graph.inputs[0].shape))


def make_schedule(graph: OpGraph, stages: list[tuple[str, list[list[str]]]]) -> Schedule:
    """A schedule for ``graph`` from ``[(strategy, groups), ...]``."""
    return Schedule(
        model=ModelRef(graph.name, graph.fingerprint(), graph.inputs[0].shape[1:]),
        target=Target("cpu", graph.batch),
        search=SearchInfo("ios-both", 3, 8, 50, "hand"),
        stages=tuple(Stage(st, tuple(tuple(g) for g in groups)) for st, groups in stages),
    )


def sequential(graph: OpGraph) -> Schedule:
    return make_schedule(graph, [("concurrent", [[n.name]]) for n in graph.nodes])


# Schedules covering every stage kind; each maps a name to [(strategy, groups), ...].
SCHEDULES: dict[str, list[tuple[str, list[list[str]]]]] = {
    "merge_all_five": [
        ("merge", [["a", "b", "c", "d", "e"]]),
        ("concurrent", [["b2"], ["d2"], ["p", "pc"]]),
        ("concurrent", [["s"]]),
        ("concurrent", [["cat"]]),
    ],
    "merge_then_chains": [
        ("concurrent", [["p"]]),
        ("merge", [["e", "b", "d"]]),  # output order differs from graph order
        ("concurrent", [["b2"], ["d2"], ["a"], ["c"], ["pc"]]),
        ("concurrent", [["s", "cat"]]),
    ],
    "two_merges_and_groups": [
        ("merge", [["c", "a"]]),
        ("concurrent", [["b", "b2"], ["d", "d2"], ["e"], ["p", "pc", "s"]]),
        ("concurrent", [["cat"]]),
    ],
    "wide_concurrent": [
        ("concurrent", [["a"], ["b", "b2"], ["c"], ["d", "d2"], ["e"], ["p", "pc"]]),
        ("concurrent", [["s", "cat"]]),
    ],
}


def run_in_order(traced: Any, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The reference the schedules must match: every kernel once, in graph order."""
    env = {"x": x}
    for node in traced.graph.nodes:
        env[node.name] = traced.kernels[node.name](*(env[s] for s in node.inputs))
    return tuple(env[o] for o in traced.graph.outputs)
