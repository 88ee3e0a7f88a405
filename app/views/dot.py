"""DOT text for st.graphviz_chart (rendered in the browser, so no `dot` binary is needed).

Three drawings: the whole operator DAG with blocks as clusters; one block on its own (inputs from
outside drawn as small stubs); and an overview with one node per block, which keeps NASNet and
RandWire readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ios_core.cost.base import StageCost
from ios_core.ir.graph import OpGraph

from .colors import (
    DONE_COLOR,
    HIGHLIGHT_COLOR,
    PENDING_COLOR,
    STRATEGY_COLORS,
    group_color,
    ink,
    kind_color,
)
from .fmt import ms_str, op_summary, shape_str
from .steps import OpState

BIG_GRAPH_OPS = 150  # above this a whole-graph drawing is an unreadable hairball
RUNNING_BLOCK_COLOR = "#c9c9c9"  # the overview's block that runs the selected stage


def q(text: str) -> str:
    """A DOT double-quoted string (JSON's escaping is a subset DOT accepts)."""
    return json.dumps(text, ensure_ascii=False)


def block_of(blocks: Sequence[Sequence[str]]) -> dict[str, int]:
    return {name: bi for bi, block in enumerate(blocks) for name in block}


def op_label(graph: OpGraph, name: str, cost: StageCost | None) -> str:
    node = graph[name]
    lines = [name, op_summary(node), shape_str(node.shape)]
    if cost is not None:
        lines.append(ms_str(cost.ms, cost.estimated))
    return "\n".join(lines)


def _node_style(graph: OpGraph, name: str, state: OpState | None) -> str:
    kind_fill = kind_color(graph[name].kind)
    if state is None:
        return f'shape=box, style="rounded,filled", fillcolor={q(kind_fill)}'
    if state.status == "done":
        return (f'shape=box, style="rounded,filled", fillcolor={q(DONE_COLOR)}, '
                'color="#BBBBBB", fontcolor="#999999"')
    if state.status == "pending":
        return (f'shape=box, style="rounded,filled", fillcolor={q(PENDING_COLOR)}, '
                f'color={q(kind_fill)}, penwidth=2')
    if state.strategy == "merge":  # a square double border as well as a colour: told apart at
        # a glance from the rounded single-border boxes of concurrent stages
        return (f'shape=box, style="filled,bold", peripheries=2, '
                f'fillcolor={q(STRATEGY_COLORS["merge"])}, '
                f'fontcolor={q(ink(STRATEGY_COLORS["merge"]))}, penwidth=2')
    fill = group_color(state.group)
    return (f'shape=box, style="rounded,filled,bold", fillcolor={q(fill)}, '
            f'fontcolor={q(ink(fill))}, penwidth=3')


def model_dot(
    graph: OpGraph,
    blocks: Sequence[Sequence[str]] = (),
    op_costs: Mapping[str, StageCost] | None = None,
    *,
    states: Mapping[str, OpState] | None = None,
    only: Sequence[str] | None = None,
    rankdir: str = "TB",
) -> str:
    """The operator DAG, blocks as clusters; ``only`` restricts it to some ops (one block)."""
    op_costs = op_costs or {}
    states = states or {}
    shown = set(only) if only is not None else {n.name for n in graph.nodes}
    lines = [
        "digraph G {",
        f'  rankdir={rankdir}; nodesep=0.25; ranksep=0.35; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=10]; edge [color="#888888", arrowsize=0.6];',
    ]
    lines += _input_nodes(graph, shown)
    clustered: set[str] = set()
    for bi, block in enumerate(blocks):
        members = [n for n in block if n in shown]
        if not members:
            continue
        lines.append(f"  subgraph cluster_b{bi} {{")
        lines.append(f'    label={q(f"block {bi} ({len(block)} ops)")}; style="rounded,dashed"; '
                     'color="#999999"; fontsize=11;')
        for name in members:
            lines.append(f"    {_node_line(graph, name, op_costs, states)}")
        lines.append("  }")
        clustered.update(members)
    for node in graph.nodes:
        if node.name in shown and node.name not in clustered:
            lines.append(f"  {_node_line(graph, node.name, op_costs, states)}")
    lines += _edges(graph, shown)
    lines.append("}")
    return "\n".join(lines)


def _node_line(graph, name, op_costs, states) -> str:
    label = op_label(graph, name, op_costs.get(name))
    return f"{q(name)} [label={q(label)}, {_node_style(graph, name, states.get(name))}];"


def _input_nodes(graph: OpGraph, shown: set[str]) -> list[str]:
    lines = []
    for spec in graph.inputs:
        if any(spec.name in graph[n].inputs for n in shown):
            label = f"{spec.name}\n{shape_str(spec.shape)}"
            lines.append(f'  {q(spec.name)} [label={q(label)}, shape=ellipse, style=dashed];')
    return lines


def _edges(graph: OpGraph, shown: set[str]) -> list[str]:
    lines, stubs = [], set()
    inputs = set(graph.input_names)
    for node in graph.nodes:
        if node.name not in shown:
            continue
        for src in dict.fromkeys(node.inputs):
            if src not in shown and src not in inputs:
                stub = f"from:{src}"  # an op outside the drawn block: a small stub, not the op
                if stub not in stubs:
                    stubs.add(stub)
                    lines.append(f'  {q(stub)} [label={q(src)}, shape=plaintext, '
                                 'fontcolor="#888888", fontsize=9];')
                src = stub
            lines.append(f"  {q(src)} -> {q(node.name)};")
    return lines


def block_edges(graph: OpGraph, blocks: Sequence[Sequence[str]]) -> set[tuple[int, int]]:
    """(i, j) when an op of block j reads an op of block i."""
    where = block_of(blocks)
    edges = set()
    for node in graph.nodes:
        j = where.get(node.name)
        for src in node.inputs:
            i = where.get(src)
            if i is not None and j is not None and i != j:
                edges.add((i, j))
    return edges


def blocks_overview_dot(
    graph: OpGraph,
    blocks: Sequence[Sequence[str]],
    op_costs: Mapping[str, StageCost] | None = None,
    *,
    states: Mapping[str, OpState] | None = None,
    selected: int | None = None,
    rankdir: str = "LR",
) -> str:
    """One node per block (ops, convs, summed op latency); the selected block is outlined.

    Left to right by default: CNNs are long chains of blocks, so a row fits the page.
    """
    op_costs = op_costs or {}
    states = states or {}
    lines = [
        "digraph Blocks {",
        f'  rankdir={rankdir}; nodesep=0.2; ranksep=0.25; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled"];',
        '  edge [color="#888888", arrowsize=0.6];',
    ]
    for bi, block in enumerate(blocks):
        convs = sum(graph[n].kind == "conv" for n in block)
        label = f"block {bi}\n{len(block)} ops, {convs} conv"
        costs = [op_costs[n] for n in block if n in op_costs]
        if costs:
            label += f"\nΣ {sum(c.ms for c in costs):.3f} ms"
        fill = _block_fill(block, states)
        pen = f", penwidth=3, color={q(HIGHLIGHT_COLOR)}" if bi == selected else ""
        lines.append(f"  b{bi} [label={q(label)}, fillcolor={q(fill)}{pen}];")
    for i, j in sorted(block_edges(graph, blocks)):
        lines.append(f"  b{i} -> b{j};")
    lines.append("}")
    return "\n".join(lines)


def _block_fill(block: Sequence[str], states: Mapping[str, OpState]) -> str:
    if not states:
        return "#E8EEF7"
    found = [states[n] for n in block if n in states]
    current = [s for s in found if s.status == "current"]
    if current:  # running now: no stream's or kind's colour (the block drawing shows those)
        return RUNNING_BLOCK_COLOR
    if found and all(s.status == "done" for s in found):
        return DONE_COLOR
    return PENDING_COLOR
