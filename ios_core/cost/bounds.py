"""Lower bounds on any schedule's latency, shown next to every schedule in the app.

* :func:`critical_path_ms`: the longest input-to-output path of isolated op times. Every schedule
  runs the ops of a path one after another, and none runs faster than alone (in the analytic model
  no stage, concurrent or merge, is shorter than its longest group or slowest op).
* :func:`work_bound_ms`: the total work over the device's capacity: sum over ops of their full-GPU
  time, ``op time x occupancy share``. Ops that together more than fill the GPU cannot overlap.

Both bound every schedule of concurrent stages under the analytic model; a merge stage of
memory-bound convs can dip a little under the work bound, because it reads its shared input once.

>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> from ios_core.cost.analytic import SimulatedCost
>>> g = OpGraph("chain", (TensorSpec("x", (1, 8)),),
...             (OpNode("a", "act", ("x",), (1, 8)), OpNode("b", "act", ("a",), (1, 8))), ("b",))
>>> cost = SimulatedCost("h100")
>>> round(critical_path_ms(g, cost), 4)  # two empty ops: two launches of ~4.25 us
0.0085
>>> work_bound_ms(g, cost)
0.0
"""

from __future__ import annotations

from collections.abc import Callable

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.ir.graph import OpGraph

ShareFn = Callable[[OpGraph, str], float]


def op_times(graph: OpGraph, cost: CostModel) -> dict[str, float]:
    """Isolated latency of every op (the cost of it alone in a stage), ms."""
    op_ms = getattr(cost, "op_ms", None)
    if callable(op_ms):  # the analytic model has them cached
        return {n.name: float(op_ms(graph, n.name)) for n in graph}
    return {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)).ms for n in graph}


def critical_path_ms(graph: OpGraph, cost: CostModel) -> float:
    """Longest path through the DAG, weighting each op by its isolated latency (ms)."""
    times = op_times(graph, cost)
    finish: dict[str, float] = {}
    for node in graph.nodes:  # nodes are in topological order
        start = max((finish[p] for p in graph.predecessors(node.name)), default=0.0)
        finish[node.name] = start + times[node.name]
    return max(finish.values(), default=0.0)


def work_bound_ms(graph: OpGraph, cost: CostModel, share: ShareFn | None = None) -> float:
    """Total work over capacity: ``sum(op time x share)`` (ms).

    With the analytic model (it has ``op_work_ms``) an op's work is its roofline busy time times
    its occupancy share, launch overhead excluded (launches of different streams overlap).

    For any other cost model (measured, profile) the op time is its isolated latency and
    ``share(graph, name)`` gives the fraction of the GPU it fills; without one, the occupancy
    estimate of the cost model's own ``op_share`` is used if it has one, else that of the
    simulated H100 (it depends only on the op's shape and the SM count), which is a heuristic,
    not a guaranteed bound for measured latencies.
    """
    if share is None:
        op_work = getattr(cost, "op_work_ms", None)
        if callable(op_work):
            return float(sum(op_work(graph, n.name) for n in graph))
        share = getattr(cost, "op_share", None) or _default_share()
    times = op_times(graph, cost)
    return float(sum(times[n.name] * share(graph, n.name) for n in graph))


def _default_share() -> ShareFn:
    return SimulatedCost("h100").op_share
