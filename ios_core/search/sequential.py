"""The baseline: every operator alone, one after another, in topological order."""

from __future__ import annotations

from ios_core.cost.base import Groups
from ios_core.ir.graph import OpGraph


def sequential_stages(graph: OpGraph) -> list[tuple[str, Groups]]:
    """One stage per operator: a concurrent stage with one group of one op.

    >>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
    >>> x = TensorSpec("x", (1, 4, 8, 8))
    >>> g = OpGraph("g", (x,), (OpNode("a", "act", ("x",), x.shape),
    ...                          OpNode("b", "act", ("a",), x.shape)), ("b",))
    >>> sequential_stages(g)
    [('concurrent', (('a',),)), ('concurrent', (('b',),))]
    """
    return [("concurrent", ((node.name,),)) for node in graph.nodes]
