"""Small graphs and a toy cost model for the scheduler and partition tests (no torch)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from ios_core.cost.base import StageCost
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec

HW = (8, 8)  # every tensor in the toy graphs is 8x8: all convs keep their spatial size


def conv(name: str, src: str, *, k: int = 1, pad: int | None = None, act: str = "relu",
         cin: int = 8, cout: int = 8, stride: int = 1, groups: int = 1,
         hw: tuple[int, int] = HW) -> OpNode:
    """A conv node (centred padding unless ``pad`` is given)."""
    pad = (k - 1) // 2 if pad is None else pad
    attrs = dict(kernel=(k, k), stride=(stride, stride), padding=(pad, pad), dilation=(1, 1),
                 groups=groups, in_channels=cin, out_channels=cout, activation=act)
    return OpNode(name, "conv", (src,), (1, cout, *hw), attrs, flops=2 * cout * cin * k * k)


def graph_of(nodes: Sequence[OpNode], cin: int = 8, name: str = "toy") -> OpGraph:
    """An OpGraph over ``nodes`` reading input ``x``; outputs are the nodes nobody reads."""
    read = {src for n in nodes for src in n.inputs}
    outs = tuple(n.name for n in nodes if n.name not in read)
    g = OpGraph(name, (TensorSpec("x", (1, cin, *HW)),), tuple(nodes), outs)
    g.validate()
    return g


def random_dag(rng: random.Random, n_ops: int, fans: bool = False) -> OpGraph:
    """A random DAG of convs (often sharing inputs, so merges arise), pools, concats and adds.

    ``fans``: also SqueezeNet-like fans, 2 or 3 mergeable convs of one tensor joined by a concat
    (a merge stage can end in it); the graph may then hold a few more than ``n_ops`` ops."""
    channels = {"x": 8}
    nodes: list[OpNode] = []
    for i in range(n_ops):
        name = f"op{i}"
        tensors = list(channels)
        if fans and rng.random() < 0.3:
            src = rng.choice(tensors)
            act = rng.choice(("relu", "none"))
            arms = [conv(f"{name}{a}", src, k=rng.choice((1, 3)), act=act, cin=channels[src],
                         cout=rng.choice((8, 16))) for a in "abc"[: rng.choice((2, 3))]]
            ins = tuple(a.name for a in arms)
            if rng.random() < 0.2:  # sometimes another reader too: then the concat cannot join
                arms.append(conv(f"{name}r", ins[0], cin=arms[0].shape[1]))
            cat = OpNode(name, "concat", ins, (1, sum(a.shape[1] for a in arms[:len(ins)]), *HW),
                         {"dim": 1})
            for node in (*arms, cat):
                channels[node.name] = node.shape[1]
                nodes.append(node)
            continue
        roll = rng.random()
        if roll < 0.55 or len(tensors) < 2:
            early = tensors[: max(1, len(tensors) // 2)]  # favour early tensors: shared inputs
            src = rng.choice(early if rng.random() < 0.5 else tensors)
            k = rng.choice((1, 1, 3, 3, 5))
            cout = rng.choice((8, 16))
            act = "relu" if rng.random() < 0.8 else "none"
            dw = rng.random() < 0.1 and channels[src] == cout
            node = conv(name, src, k=k, act=act, cin=channels[src], cout=cout,
                        groups=cout if dw else 1)
        elif roll < 0.7:
            src = rng.choice(tensors)
            attrs = dict(mode="max", kernel=(3, 3), stride=(1, 1), padding=(1, 1))
            node = OpNode(name, "pool", (src,), (1, channels[src], *HW), attrs)
        else:
            ins = tuple(rng.sample(tensors, min(len(tensors), rng.choice((2, 2, 3)))))
            cout = sum(channels[s] for s in ins)
            node = OpNode(name, "concat", ins, (1, cout, *HW), {"dim": 1})
        channels[name] = node.shape[1]
        nodes.append(node)
    return graph_of(nodes)


@dataclass
class ToyCost:
    """Deterministic stage latencies from per-op weights.

    concurrent: max(group sums) + 0.3 * (total - max) + overhead (overlap hides 70 % of the
    shorter groups); merge: 0.6 * sum + overhead (one wide conv beats its parts).
    """

    weights: dict[str, float]
    overhead: float = 0.05
    name: str = "toy"
    device: str = "toy-device"
    calls: list[tuple[str, tuple[tuple[str, ...], ...]]] = field(default_factory=list)

    @classmethod
    def random(cls, graph: OpGraph, seed: int) -> ToyCost:
        rng = random.Random(seed)
        return cls({n.name: round(rng.uniform(0.1, 1.0), 3) for n in graph.nodes})

    def stage_cost(self, graph: OpGraph, strategy: str, groups) -> StageCost:
        groups = tuple(tuple(g) for g in groups)
        self.calls.append((strategy, groups))
        return StageCost(self.latency(strategy, groups))

    def latency(self, strategy: str, groups: Sequence[Sequence[str]]) -> float:
        sums = [sum(self.weights[n] for n in g) for g in groups]
        if strategy == "merge":
            return 0.6 * sum(sums) + self.overhead
        return max(sums) + 0.3 * (sum(sums) - max(sums)) + self.overhead
