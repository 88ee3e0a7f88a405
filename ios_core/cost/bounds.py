"""Lower bounds on the latency of every schedule of a graph, under the cost model that prices it.

A schedule's predicted latency is the sum of its stages' costs ``c(S)``, each asked of the cost
model. A figure called a lower bound here is below that sum for *every* schedule: any partition of
the operators into stages, concurrent (groups on streams) or merged (one wide convolution, maybe
ending in its concat), that schedule validation accepts, whichever search made it.

**Floors.** Everything rests on two per-operator maps of a cost model on a graph, its
:class:`Floors`:

* work floors ``f`` with a per-stage constant ``L``: every stage ``S`` costs at least
  ``L + sum(f(v) for v in S)``;
* path weights ``g``: every stage ``S`` costs at least ``sum(g(v) for v in C)`` for every chain
  ``C`` (a path of the DAG) inside one of its groups.

**Bounds** (:func:`lower_bounds`), for any schedule of ``k >= 1`` stages:

* *work bound* ``L + sum over all ops of f(v)``: the stages partition the ops, so their costs add
  up to at least ``k L + sum f``;
* *path bound*: the longest path of the DAG weighted by ``g``. A path ``P`` meets a stage in one
  chain inside one group: groups of a stage never read each other, and no op outside the stage
  can lie on ``P`` between two of its ops (it would run both before and after the stage). Summed
  over the stages, ``sum c(S) >= sum g(P n S) = g(P)``.

The *stage bound* of one stage (:meth:`Floors.stage_ms_bound`) is the larger of its own two
floors; its predicted latency over it is the stage's efficiency.

**The simulated device** (:class:`~ios_core.cost.analytic.SimulatedCost`), from its formulas.
Write ``P`` and ``B`` for its achievable FLOP/ms and byte/ms; an op's
``work = busy x share = max(flops / P, bytes / B)`` (the occupancy cancels).

* ``g(v) = op_ms(v)``. A concurrent stage costs ``ideal + (1 - overlap_eff)(serial - ideal) +
  stream terms >= ideal >= longest group`` (``serial`` is at least ``longest`` and
  ``packed + launch``), and a group runs its ops one after another, so it costs at least the
  ``op_ms`` of any chain in it. A merge stage costs ``max(wide busy, slowest member's busy) +
  launch``, at least each member's ``op_ms``, and a chain in it is one convolution, maybe
  followed by the concat. So a concat that can end a merge (a view of the wide output, free)
  weighs ``g = 0``.
* ``L = launch``, ``f(v) = work(v)``. A concurrent stage costs at least
  ``ideal >= sum of work + launch``; one op ``busy + launch >= work + launch``. A merge stage
  costs at least ``max(flops_w / P, bytes_w / B) + launch`` with ``flops_w >= sum flops_i``
  (kernels are only zero-padded up) and ``bytes_w >= sum bytes_i - (n - 1) x input`` (the shared
  input is read once; convs on channel slices subtract nothing). So the convolutions of one
  merge class take ``f = flops / P`` each, or ``(bytes - input) / B`` when that sums higher over
  the class (one choice per class: a max of sums is not a sum of maxes), and a concat that can
  end a merge ``f = 0``. Both are at most
  ``work``, so concurrent stages still hold.

**A measured profile** (:class:`~ios_core.cost.profile_db.ProfileCost`) prices a stage with its
measured latency, a merge ending in its concat as the merge alone when only that was measured,
and anything else with its fallback (the simulated device). Its floors start from the
fallback's, which hold for every stage it estimates, and are lowered wherever a measured stage
``E`` is cheaper: ``c(E)`` is split over ``E``'s ops in proportion to weights ``w`` (an op's
fallback floor, or its own single-op cost if lower), and every op of the graph identical to an op
``u`` of ``E`` (same kind, attributes, output and input shapes: the same single-op stage
signature) gets at most ``u``'s share, ``c(E) w(u) / sum w`` as work floor and
``c(E) w(u) / (heaviest chain of E)`` as path weight. A stage with ``E``'s signature holds ops
identical to ``E``'s position by position (signatures are taken not to collide, as the profile
itself takes them), so its floors add up to at most ``c(E)``, and any chain in it to at most
``c(E)``. A concat that can end a merge keeps ``f = g = 0``, which covers the
merge priced without its concat. A stage whose label does not place it on this graph (another
model's, or traced otherwise) could hold any op whose single-op stage its database holds (any op
at all unless the database's records say it was profiled completely); for such a stage of
``|E|`` ops, ``sum w <= |E| x`` the heaviest such op, which bounds its shares.
:func:`own_measurements` cuts other models' databases out of a merged profile, which keeps the
bounds tight.

A live GPU (``measured``) prices stages nobody has measured yet: nothing bounds them, and
:func:`lower_bounds` raises :class:`NoBoundError` saying so.

:func:`critical_path_ms`, the longest path of isolated op times, is a **reference**, not a bound:
a merged stage costs less than the path of its members measured alone.

>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> from ios_core.cost.analytic import SimulatedCost
>>> g = OpGraph("chain", (TensorSpec("x", (1, 8)),),
...             (OpNode("a", "act", ("x",), (1, 8)), OpNode("b", "act", ("a",), (1, 8))), ("b",))
>>> b = lower_bounds(g, SimulatedCost("h100"))
>>> round(b.path_ms, 4), round(b.work_ms, 5)  # two empty ops: two launches on the path; one
(0.0085, 0.00425)
>>> b.lower_ms == b.path_ms
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ios_core.cost.analytic import ITEMSIZE, SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.cost.profile_db import ProfileCost, ProfileDB, merge_dbs
from ios_core.cost.recording import RecordingCost
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.ir.merge import concat_of_merge, mergeable_groups

__all__ = [
    "Floors",
    "LowerBounds",
    "NoBoundError",
    "critical_path_ms",
    "floors",
    "longest_path_ms",
    "lower_bounds",
    "op_times",
    "own_measurements",
]

Groups = Sequence[Sequence[str]]
# strategies whose profiling asks every op's single-op stage (greedy alone may not)
_ASKS_EVERY_OP = frozenset({"sequential", "ios-merge", "ios-parallel", "ios-both"})


class NoBoundError(ValueError):
    """The cost model gives nothing to prove a lower bound from; the message says why."""


@dataclass(frozen=True)
class Floors:
    """Per-op floors of a cost model on one graph (module docstring): every stage ``S`` costs at
    least ``stage_ms + sum(work[v] for v in S)`` and at least ``sum(path[v])`` over any chain
    inside one of its groups."""

    work: Mapping[str, float]
    path: Mapping[str, float]
    stage_ms: float = 0.0  # L: what every stage costs on top of its ops' work floors
    how: str = ""  # one line: where the floors come from (shown beside the bounds)

    def stage_ms_bound(self, graph: OpGraph, groups: Groups) -> float:
        """The stage bound: no stage of these groups costs less (module docstring)."""
        work = self.stage_ms + sum(self.work[n] for g in groups for n in g)
        return max(work, max((_chain_ms(graph, g, self.path) for g in groups), default=0.0))


@dataclass(frozen=True)
class LowerBounds:
    """The bounds of one graph under one cost model, and the reference figure (not a bound)."""

    path_ms: float  # longest path weighted by the path floors: a bound
    work_ms: float  # L + sum of the work floors: a bound
    reference_ms: float  # longest path of isolated op times: a reference only, schedules beat it
    how: str = ""

    @property
    def lower_ms(self) -> float:
        """The best lower bound: the larger of the two."""
        return max(self.path_ms, self.work_ms)


# ---- the bounds ---------------------------------------------------------------------------------
def lower_bounds(graph: OpGraph, cost: CostModel, known: Floors | None = None) -> LowerBounds:
    """Path and work bounds of ``graph`` under ``cost`` (module docstring), with the reference;
    ``known``: the :func:`floors` of ``cost`` on ``graph`` if they were computed already.

    Raises :class:`NoBoundError` for a cost model with nothing to prove them from (a live GPU).
    """
    fl = known if known is not None else floors(graph, cost)
    return LowerBounds(
        path_ms=longest_path_ms(graph, fl.path),
        work_ms=fl.stage_ms + math.fsum(fl.work.values()) if len(graph) else 0.0,
        reference_ms=critical_path_ms(graph, cost),
        how=fl.how,
    )


def floors(graph: OpGraph, cost: CostModel) -> Floors:
    """The :class:`Floors` of ``cost`` on ``graph``; :class:`NoBoundError` when it has none."""
    if isinstance(cost, RecordingCost):  # answers exactly what the model it wraps answers
        return floors(graph, cost.inner)
    if isinstance(cost, SimulatedCost):
        return _simulated_floors(graph, cost)
    if isinstance(cost, ProfileCost):
        return _profile_floors(graph, cost)
    if getattr(cost, "name", "") == "measured":
        raise NoBoundError("the live GPU measures each stage when a search first asks for it, so "
                           "nothing bounds the stages it has not measured yet; pick a shipped "
                           "profile or a simulated device to see lower bounds")
    raise NoBoundError(f"no lower bound is known for the cost model {getattr(cost, 'name', cost)!r}"
                       ": only the simulated devices and measured profiles have provable floors")


def own_measurements(cost: CostModel, model: str) -> CostModel:
    """``cost`` with a merged profile cut to the databases that measured ``model``; unchanged when
    none did, or when it is not a merged profile.

    Another model's database prices a stage of ``model`` only where the two share an operator
    (no two shipped models do). Its stages cannot be placed on ``model``'s graph without tracing
    that model, so when its record does not prove which operators it holds, the bounds must take
    its cheapest stage as a possible share of every op, which leaves them far from tight. A cost
    model of ``model``'s own measurements (and the fallback) has none of those.
    """
    if not isinstance(cost, ProfileCost) or len(cost.db.parts) < 2:
        return cost
    own = [p for p in cost.db.parts if any(m.get("name") == model for m in p.models)]
    if not own or len(own) == len(cost.db.parts):
        return cost
    db = merge_dbs(own, name=cost.db.name)
    return ProfileCost(db, fallback=cost.fallback, name=cost.name)


def longest_path_ms(graph: OpGraph, weight: Mapping[str, float]) -> float:
    """Longest path through the DAG, each op weighing ``weight[name]`` (ms)."""
    finish: dict[str, float] = {}
    for node in graph.nodes:  # nodes are in topological order
        start = max((finish[p] for p in graph.predecessors(node.name)), default=0.0)
        finish[node.name] = start + weight[node.name]
    return max(finish.values(), default=0.0)


def op_times(graph: OpGraph, cost: CostModel) -> dict[str, float]:
    """Isolated latency of every op (the cost of it alone in a stage), ms."""
    op_ms = getattr(cost, "op_ms", None)
    if callable(op_ms):  # the analytic model has them cached
        return {n.name: float(op_ms(graph, n.name)) for n in graph}
    return {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)).ms for n in graph}


def critical_path_ms(graph: OpGraph, cost: CostModel) -> float:
    """Longest path of isolated op latencies (ms): a **reference**, not a lower bound.

    It is what the path would take if every op ran alone; a merge stage (and, on a real GPU, two
    ops overlapping) runs a path faster than that. Kept for tables that compare against it.
    """
    return longest_path_ms(graph, op_times(graph, cost))


def _chain_ms(graph: OpGraph, group: Sequence[str], weight: Mapping[str, float]) -> float:
    """Heaviest chain of ``group``'s ops (a path of the DAG inside the group) under ``weight``."""
    inside = set(group)
    best: dict[str, float] = {}

    def visit(name: str) -> float:  # depth at most the group's size
        if name not in best:
            before = [visit(p) for p in graph.predecessors(name) if p in inside]
            best[name] = weight[name] + max(before, default=0.0)
        return best[name]

    return max((visit(n) for n in group), default=0.0)


# ---- the simulated device -----------------------------------------------------------------------
def _free_concats(graph: OpGraph) -> set[str]:
    """Concats a merge stage may end in: a view of the wide output, priced at nothing."""
    return {n.name for n in graph if n.kind == "concat" and concat_of_merge(graph, n.name)}


def _simulated_floors(graph: OpGraph, cost: SimulatedCost) -> Floors:
    p = cost.preset
    per_flop = p.peak_tflops * 1e9 * p.compute_eff  # FLOP per ms at full occupancy
    per_byte = p.bandwidth_gbs * 1e6 * p.mem_eff  # bytes per ms at full occupancy
    free = _free_concats(graph)
    work = {n.name: 0.0 if n.name in free else cost.op_work_ms(graph, n.name) for n in graph}
    path = {n.name: 0.0 if n.name in free else cost.op_ms(graph, n.name) for n in graph}
    itemsize = ITEMSIZE.get(graph.inputs[0].dtype if graph.inputs else "float32", 4)
    for members in mergeable_groups(graph):
        nodes = [graph[m] for m in members]
        shared = math.prod(graph.shape_of(nodes[0].inputs[0])) * itemsize
        by_flops = [n.flops / per_flop for n in nodes]
        by_bytes = [(n.bytes - shared) / per_byte for n in nodes]
        # a merge of the class costs at least the larger of its two sums; per op the floor must
        # be one or the other for the whole class (a max of sums is not a sum of maxes)
        use_bytes = min(by_bytes) >= 0 and sum(by_bytes) > sum(by_flops)
        for n, fl, by in zip(nodes, by_flops, by_bytes, strict=True):
            work[n.name] = min(work[n.name], by if use_bytes else fl)
    return Floors(work, path, stage_ms=p.launch_us * 1e-3,
                  how=f"proved from the formulas of the {cost.name} cost model")


# ---- measured profiles --------------------------------------------------------------------------
def _profile_floors(graph: OpGraph, cost: ProfileCost) -> Floors:
    base = floors(graph, cost.fallback)  # every stage the profile lacks is priced by it
    key = {n.name: stage_signature(graph, "concurrent", ((n.name,),)) for n in graph}
    ops_of_key: dict[str, list[str]] = {}
    for name, k in key.items():
        ops_of_key.setdefault(k, []).append(name)
    # weights to split a measured stage by: an op's floor, or its own single-op cost if lower
    alone = {n: _alone_ms(graph, cost, n, key[n]) for n in key}
    w_work = {n: max(min(base.work[n], alone[n]), 0.0) for n in key}
    w_path = {n: max(min(base.path[n], alone[n]), 0.0) for n in key}
    work, path = dict(base.work), dict(base.path)
    placed = unplaced = 0
    for signatures, labels, scope in _sources(cost.db, key):
        loose = math.inf  # least c(E) / |E| of the stages that cannot be placed on this graph
        for sig in signatures:
            ms = cost.db.entries[sig]  # the merged database's number: the one the model uses
            label = labels.get(sig)
            groups = _placed(graph, sig, label)
            if groups is None:
                size = sum(len(g) for g in label[2]) if label else len(graph)
                loose = min(loose, ms / max(size, 1))
                unplaced += 1
                continue
            placed += 1
            ops = [n for g in groups for n in g]
            total = sum(w_work[n] for n in ops)
            chain = max(_chain_ms(graph, g, w_path) for g in groups)
            for n in ops:  # a share of E per position, for every op identical to that position's
                share_work = ms * w_work[n] / total if total > 0 else ms / len(ops)
                share_path = ms * w_path[n] / chain if chain > 0 else ms / len(ops)
                for op in ops_of_key[key[n]]:
                    work[op] = min(work[op], share_work)
                    path[op] = min(path[op], share_path)
        if loose < math.inf:
            _cap_loose(work, path, w_work, w_path, scope, loose)
    how = (f"proved from {placed:,} stages of {cost.name} measured on this model"
           + (f", {unplaced:,} others (of other models or shapes) taken at their cheapest"
              if unplaced else "")
           + f", and from {base.how.removeprefix('proved from ')} for the stages it lacks")
    return Floors(work, path, stage_ms=0.0, how=how)


def _alone_ms(graph: OpGraph, cost: ProfileCost, name: str, sig: str) -> float:
    """What ``cost`` charges for ``name`` alone, read without counting a profile hit or miss."""
    ms = cost.db.entries.get(sig)
    if ms is not None:
        return ms
    return cost.fallback.stage_cost(graph, "concurrent", ((name,),)).ms


def _sources(db: ProfileDB, key: Mapping[str, str],
             ) -> Iterable[tuple[list[str], Mapping[str, Any], list[str]]]:
    """(signatures, their labels, the ops a stage of them could hold) per database merged into
    ``db``, each labelled by its own models; then any entry none of them holds (added later)."""
    parts = db.parts or [db]
    for part in parts:
        yield list(part.entries), part.stages, _scope(part, key)
    covered = set().union(*(p.entries for p in parts))
    extra = [s for s in db.entries if s not in covered]
    if extra:
        yield extra, db.stages, list(key)


def _placed(graph: OpGraph, sig: str, label: Sequence | None) -> Groups | None:
    """The label's stage in ``graph`` when it names this model's ops and its signature checks."""
    if not label:
        return None
    model, strategy, groups = label
    if model != graph.name or any(n not in graph for g in groups for n in g):
        return None
    if stage_signature(graph, strategy, groups) != sig:
        return None  # traced differently (another batch, other leaf modules): not this stage
    return groups


def _scope(part: ProfileDB, key: Mapping[str, str]) -> list[str]:
    """The ops of the graph that a stage of ``part`` could hold.

    A stage with an entry's signature holds ops identical to the entry's. When every model of the
    part was profiled completely by a strategy that asks every op alone, the part holds each such
    op's single-op stage, so only ops whose single-op signature it holds qualify; else any op.
    """
    complete = bool(part.models) and all(
        m.get("complete") and _ASKS_EVERY_OP & set(m.get("strategies") or ()) for m in part.models)
    if not complete or len(part.stages) < len(part.entries):
        return list(key)
    alone = {s for s, (_, _, groups) in part.stages.items()
             if len(groups) == 1 and len(groups[0]) == 1}
    return [n for n, k in key.items() if k in alone]


def _cap_loose(work: dict[str, float], path: dict[str, float], w_work: Mapping[str, float],
               w_path: Mapping[str, float], scope: Sequence[str], per_op: float) -> None:
    """Floors under stages that cannot be placed: such a stage ``E`` gives an op ``v`` of a
    matching stage at most ``c(E) w(v) / sum w`` (0 / 0: an even share), and that stage's
    ``sum w`` is at most ``|E|`` times the heaviest op in ``scope``."""
    if not scope:
        return
    top_work = max(w_work[n] for n in scope)
    top_path = max(w_path[n] for n in scope)
    for n in scope:
        work[n] = min(work[n], per_op * w_work[n] / top_work if top_work > 0 else per_op)
        path[n] = min(path[n], per_op * w_path[n] / top_path if top_path > 0 else per_op)
