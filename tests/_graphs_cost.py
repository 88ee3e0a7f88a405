"""Small OpGraphs built by hand for the cost-model, bounds and export tests (no torch)."""

from __future__ import annotations

import math

from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
from ios_core.ir.schedule import ModelRef, Schedule, SearchInfo, Stage, Target

F32 = 4  # bytes per element


class Builder:
    """Adds nodes with consistent shapes, FLOPs and bytes (NCHW, float32)."""

    def __init__(self, name: str = "toy", shape: tuple[int, ...] = (1, 64, 28, 28)) -> None:
        self.name = name
        self.inputs = (TensorSpec("x", shape),)
        self.nodes: list[OpNode] = []
        self.shapes: dict[str, tuple[int, ...]] = {"x": shape}

    def _add(self, node: OpNode) -> str:
        self.nodes.append(node)
        self.shapes[node.name] = node.shape
        return node.name

    def conv(self, name: str, src: str, cout: int, k: int = 1, stride: int = 1,
             groups: int = 1, act: str = "relu") -> str:
        n, cin, h, w = self.shapes[src]
        pad = k // 2  # "same"-centred padding
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        out = (n, cout, ho, wo)
        weights = cout * (cin // groups) * k * k + cout
        attrs = dict(in_channels=cin, out_channels=cout, kernel=(k, k), stride=(stride, stride),
                     padding=(pad, pad), dilation=(1, 1), groups=groups, activation=act)
        flops = 2 * math.prod(out) * (cin // groups) * k * k
        nbytes = F32 * (math.prod(self.shapes[src]) + weights + math.prod(out))
        return self._add(OpNode(name, "conv", (src,), out, attrs, flops, nbytes))

    def pool(self, name: str, src: str, k: int = 3, stride: int = 1, mode: str = "max") -> str:
        n, c, h, w = self.shapes[src]
        pad = k // 2
        out = (n, c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
        attrs = dict(mode=mode, kernel=(k, k), stride=(stride, stride), padding=(pad, pad))
        nbytes = F32 * (math.prod(self.shapes[src]) + math.prod(out))
        return self._add(OpNode(name, "pool", (src,), out, attrs, math.prod(out) * k * k, nbytes))

    def concat(self, name: str, srcs: list[str]) -> str:
        n, _, h, w = self.shapes[srcs[0]]
        out = (n, sum(self.shapes[s][1] for s in srcs), h, w)
        return self._add(OpNode(name, "concat", tuple(srcs), out, {"dim": 1}, 0,
                                2 * F32 * math.prod(out)))

    def add(self, name: str, srcs: list[str]) -> str:
        out = self.shapes[srcs[0]]
        nbytes = F32 * (len(srcs) + 1) * math.prod(out)
        return self._add(OpNode(name, "add", tuple(srcs), out, {"activation": "none"},
                                (len(srcs) - 1) * math.prod(out), nbytes))

    def build(self, outputs: list[str] | None = None) -> OpGraph:
        graph = OpGraph(self.name, self.inputs, tuple(self.nodes),
                        tuple(outputs or [self.nodes[-1].name]))
        graph.validate()
        return graph


def inception_block(shape: tuple[int, ...] = (1, 192, 17, 17)) -> OpGraph:
    """An Inception-style block: four branches from x, joined by a concat.

    a (1x1) | b1 (1x1) -> b2 (3x3) | c1 (1x1) -> c2 (3x3) -> c3 (3x3) | p (pool) -> pc (1x1)
    """
    b = Builder("inception_block", shape)
    b.conv("a", "x", 64)
    b.conv("b1", "x", 48)
    b.conv("b2", "b1", 64, k=3)
    b.conv("c1", "x", 64)
    b.conv("c2", "c1", 96, k=3)
    b.conv("c3", "c2", 96, k=3)
    b.pool("p", "x", mode="avg")
    b.conv("pc", "p", 32)
    b.concat("cat", ["a", "b2", "c3", "pc"])
    return b.build()


def make_schedule(graph: OpGraph, stages: list[Stage], strategy: str = "ios-both") -> Schedule:
    return Schedule(
        model=ModelRef(graph.name, graph.fingerprint(), graph.inputs[0].shape[1:]),
        target=Target("simulated:h100", graph.batch),
        search=SearchInfo(strategy, 3, 8, 50, "simulated:h100"),
        stages=tuple(stages),
    )


def inception_schedule(graph: OpGraph) -> Schedule:
    """Merge the three 1x1 convs on x, run the branches concurrently, then the concat."""
    return make_schedule(graph, [
        Stage("merge", (("a", "b1", "c1"),), predicted_ms=0.010),
        Stage("concurrent", (("b2",), ("c2", "c3"), ("p", "pc")), predicted_ms=0.030,
              measured_ms=0.028),
        Stage("concurrent", (("cat",),), predicted_ms=0.004, estimated=True),
    ])
