"""Node positions for plotly drawings of the DAG, computed in Python (no `dot` binary).

A layered layout: an op's layer is its longest-path depth from the graph inputs (so every edge
points to a later layer); inside a layer ops are ordered by the mean position of what they read,
which keeps Inception's branches side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ios_core.ir.graph import OpGraph


def layers(graph: OpGraph) -> dict[str, int]:
    """Longest-path depth of every op and graph input (inputs are layer 0)."""
    depth = {spec.name: 0 for spec in graph.inputs}
    for node in graph.nodes:  # nodes are in topological order
        depth[node.name] = 1 + max((depth[s] for s in node.inputs), default=-1)
    return depth


def layered_positions(graph: OpGraph, sweeps: int = 2) -> dict[str, tuple[float, float]]:
    """name -> (x, y): x grows with depth, y spreads the ops of one layer around 0."""
    depth = layers(graph)
    by_layer: dict[int, list[str]] = {}
    for name, d in depth.items():
        by_layer.setdefault(d, []).append(name)
    # what each op reads (graph inputs read nothing), without building a networkx graph: its
    # import alone was 0.1 s of a cold Schedule page
    preds = {n.name: list(dict.fromkeys(n.inputs)) for n in graph.nodes}
    y: dict[str, float] = {}
    for _ in range(max(1, sweeps)):
        for d in sorted(by_layer):
            names = by_layer[d]
            # barycentre of predecessors' slots; ties keep topological order (stable sort)
            names.sort(key=lambda n: _mean([y[p] for p in preds.get(n, ()) if p in y]))
            for i, n in enumerate(names):
                y[n] = i - (len(names) - 1) / 2
    return {n: (float(depth[n]), -y[n]) for n in depth}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def dag_positions(nodes: Sequence[str], edges: Iterable[tuple[str, str]],
                  sweeps: int = 2) -> dict[str, tuple[float, float]]:
    """name -> (depth, y) for any small DAG given as ``nodes`` in topological order and ``edges``
    (a collapsed level of a big model); an edge against that order (a cycle between boxes) does
    not count for depth.

    >>> dag_positions(["a", "b", "c"], [("a", "b"), ("a", "c")])
    {'a': (0.0, 0.0), 'b': (1.0, 0.5), 'c': (1.0, -0.5)}
    """
    rank = {n: i for i, n in enumerate(nodes)}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        if src in rank and dst in rank and rank[src] < rank[dst]:
            preds[dst].append(src)
    depth: dict[str, int] = {}
    for n in nodes:
        depth[n] = 1 + max((depth[p] for p in preds[n]), default=-1)
    by_layer: dict[int, list[str]] = {}
    for n in nodes:
        by_layer.setdefault(depth[n], []).append(n)
    y: dict[str, float] = {}
    for _ in range(max(1, sweeps)):
        for d in sorted(by_layer):
            names = by_layer[d]
            names.sort(key=lambda n: _mean([y[p] for p in preds[n] if p in y]))
            for i, n in enumerate(names):
                y[n] = i - (len(names) - 1) / 2
    return {n: (float(depth[n]), -y[n] + 0.0) for n in nodes}  # + 0.0: no -0.0
