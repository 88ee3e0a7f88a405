"""Isomorphic parts solved once: a repeated cell's DP answer, renamed.

NASNet stacks copies of its normal cell, and 13 of its 45 DP parts (48k of its 152k states)
repeat an earlier part op for op; the DP solved each again. Two parts are the same problem when
:func:`part_key` agrees: their ops, in order, have the same kind, attributes and output shape,
read the same positions inside the part or outside tensors of the same shapes in the same
pattern (which op reads which outside tensor, graph inputs apart), and are read from outside the
part equally (how many readers, whether a graph output). Every table the DP builds for a part
(:func:`~ios_core.search.endings.index_part`: edges, merge classes, concats of merges) and every
stage signature the cost models key their latencies on (:func:`~ios_core.ir.graph.stage_signature`)
is then equal up to names, so the first part's stages, renamed op by op, are what solving the
copy would give: the same latencies from the same cost model, the same choices. (A measured
search's envelope learns as it goes, so solving the copy later might have timed a stage that the
first part's search skipped; the copy keeps the first part's answer.)

>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> relu = lambda name, src: OpNode(name, "relu", (src,), (1, 4, 8, 8), {})
>>> g = OpGraph("m", (TensorSpec("x", (1, 4, 8, 8)),),
...             (relu("a", "x"), relu("b", "a"), relu("c", "b"), relu("d", "c")), ("d",))
>>> part_key(g, ["b"]) == part_key(g, ["c"])   # each reads an op's output, read by one op
True
>>> part_key(g, ["a"]) == part_key(g, ["b"])   # a reads the graph's input
False
>>> part_key(g, ["b", "c"]) == part_key(g, ["c", "d"])   # d is the graph's output
False
"""

from __future__ import annotations

from collections.abc import Sequence

from ios_core.ir.graph import OpGraph
from ios_core.search.dp import PartResult

__all__ = ["first_of_each", "part_key", "renamed"]


def part_key(graph: OpGraph, names: Sequence[str]) -> tuple:
    """What the DP of the part ``names`` (ops in topological order) depends on, without names
    (module docstring). Graph inputs are told from operators' outputs: a concat of graph inputs
    never merges."""
    position = {name: i for i, name in enumerate(names)}
    outside: dict[str, int] = {}  # an outside tensor -> its number, by first read
    outputs = set(graph.outputs)
    ops = []
    for name in names:
        reads = []
        for src in graph[name].inputs:
            if src in position:
                reads.append(f"@{position[src]}")
            else:
                number = outside.setdefault(src, len(outside))
                origin = "op" if src in graph else "input"
                reads.append(f"{origin}{number}:{graph.shape_text(src)}")
        readers_outside = sum(1 for r in graph.consumers(name) if r not in position)
        ops.append((graph.describe(name), tuple(reads), readers_outside, name in outputs))
    return tuple(ops)


def first_of_each(graph: OpGraph, parts: Sequence[Sequence[str]]) -> list[int]:
    """For each part, the index of the first part that poses the same problem (its own index
    when none before it does): the parts a search solves are those where the two agree."""
    first: dict[tuple, int] = {}
    return [first.setdefault(part_key(graph, names), i) for i, names in enumerate(parts)]


def renamed(result: PartResult, names: Sequence[str], into: Sequence[str],
            part_index: int, reused_from: int) -> PartResult:
    """``result`` (the DP's answer for the part ``names``) for the isomorphic part ``into``: each
    op renamed by position. Its stats count no work: nothing was solved again."""
    name_of = dict(zip(names, into, strict=True))
    stages = [(strategy, tuple(tuple(name_of[op] for op in group) for group in groups), cost)
              for strategy, groups, cost in result.stages]
    stats = {"part": part_index, "ops": len(into), "reused_from": reused_from, "states": 0,
             "transitions": 0, "stages_costed": 0, "cache_hits": 0, "transitions_pruned": 0,
             "seconds": 0.0, "cost_ms": result.cost_ms}
    return PartResult(stages, result.cost_ms, stats)
