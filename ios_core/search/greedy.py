"""The greedy wavefront: each stage runs every ready operator at once, one op per stream."""

from __future__ import annotations

from collections.abc import Collection

from ios_core.cost.base import Groups
from ios_core.ir.graph import OpGraph


def greedy_stages(graph: OpGraph, stream_cap: int,
                  skip: Collection[str] = ()) -> list[tuple[str, Groups]]:
    """Stages of all ready operators (their inputs computed), at most ``stream_cap`` each.

    When more ops are ready than the cap, the first ones in topological order run now and the
    rest wait for the next wavefront. Each op is a group of its own in a concurrent stage.
    ``skip``: ops already run (every predecessor of one of them among them too), left out; a
    stopped DP search finishes with the wavefronts of the ops it did not reach.

    >>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
    >>> x = TensorSpec("x", (1, 4, 8, 8))
    >>> ops = [OpNode(n, "act", ("x",), x.shape) for n in "abc"]
    >>> g = OpGraph("g", (x,), (*ops, OpNode("d", "add", ("a", "b", "c"), x.shape)), ("d",))
    >>> greedy_stages(g, stream_cap=2)
    [('concurrent', (('a',), ('b',))), ('concurrent', (('c',),)), ('concurrent', (('d',),))]
    """
    if stream_cap < 1:
        raise ValueError(f"stream_cap must be at least 1 (got {stream_cap})")
    waiting = {node.name: sum(p not in skip for p in graph.predecessors(node.name))
               for node in graph.nodes if node.name not in skip}
    order = {node.name: i for i, node in enumerate(graph.nodes)}
    ready = sorted((name for name, k in waiting.items() if k == 0), key=order.__getitem__)
    stages: list[tuple[str, Groups]] = []
    while ready:
        now, ready = ready[:stream_cap], ready[stream_cap:]
        stages.append(("concurrent", tuple((name,) for name in now)))
        for name in now:
            for user in graph.consumers(name):
                if user not in waiting:
                    continue
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        ready.sort(key=order.__getitem__)
    return stages
