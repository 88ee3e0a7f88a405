"""Lazy measuring: the DP on a calibrated model, measuring only the stages of the plan it picks.

A measured search's DP (:mod:`ios_core.search.dp`) times every ending that could still win.
On NASNet-class graphs that is hundreds of thousands of stages even with the envelope
(``benchmarks/results/h200-search.md``). The DP is a shortest path over the part's states
(an ending is an edge, its stage latency the edge's weight), and this module solves it the way
lazy shortest-path planners do (*LazySP*, Dellin and Srinivasa, ICAPS 2016): every edge starts
with an *estimate*; the shortest path under the current weights is found, its edges not yet
measured are measured, and the search repeats until the path it finds is measured throughout.
When every estimate is at most the edge's measured weight, that path is the one the full
measured DP finds, after measuring only edges that lay on some candidate path.

The estimate of a stage is ``optimism`` times the simulated device calibrated to the part's ops
measured alone (:meth:`~ios_core.cost.analytic.SimulatedCost.calibrated_to`). That is no proven
lower bound (measured concurrent stages lay 0.57-1.2 of such calibrated estimates on the H200,
``ios_core/search/envelope.py``), so the result is a heuristic's: a stage whose estimate is too
high may never be measured although it would have won. Each round solves the part on arrays
(:mod:`~ios_core.search.vectorized`: every transition's latency is one array entry, so a
measured stage replaces its estimate in every transition that ends in it); the part's stages,
in the schedule, carry the measured latencies.

Hand-written: it is a loop around this project's own vectorised DP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import Groups, StageCost
from ios_core.ir.graph import OpGraph
from ios_core.search.batch import SimulatedBatch
from ios_core.search.bitsets import downsets
from ios_core.search.dp import MODES, PartResult
from ios_core.search.endings import index_part
from ios_core.search.vectorized import (
    _MERGE,
    MAX_OPS,
    Progress,
    Solved,
    solve_layers,
    stage_groups,
    transitions,
    walk_back,
)

__all__ = ["DEFAULT_OPTIMISM", "lazy_model", "solve_part_lazy"]

# estimates are the calibrated model times this: below 1, stages a little dearer than their
# estimate still get measured (explored) before a plan is settled
DEFAULT_OPTIMISM = 0.9


def solve_part_lazy(graph: OpGraph, names: Sequence[str], strategy: str,
                    measure: Callable[[str, Groups], StageCost], model: SimulatedCost,
                    r: int, s: int, merge_concat: bool = False,
                    optimism: float = DEFAULT_OPTIMISM,
                    progress: Progress | None = None,
                    deviations: bool = True) -> PartResult | None:
    """Solve one part (``names`` in topological order) by the module docstring's recipe;
    ``measure`` times a stage (the search's cost model), ``model`` estimates every stage.
    None when the part has more than :data:`~ios_core.search.vectorized.MAX_OPS` ops (the
    caller runs the plain DP)."""
    if strategy not in MODES:
        raise ValueError(f"unknown DP strategy {strategy!r}; expected one of {sorted(MODES)}")
    start = time.perf_counter()
    concurrent, merges = MODES[strategy]
    ix = index_part(graph, names, r if concurrent else 1, s if concurrent else 1, merges,
                    merge_concat)
    if ix.n > MAX_OPS:
        return None
    states = downsets(ix.pred)
    groups = [g for table in ix.groups_by_top for g, _ in table]
    batch = SimulatedBatch(model, graph, ix.names, groups)

    def merge_estimate(mask: int) -> float:
        return model.stage_cost(graph, "merge", stage_groups(ix, mask, True)).ms

    tr = transitions(ix, states, concurrent, merges, batch, merge_estimate)
    # every transition's ending, and the transitions of each distinct ending, per block
    slots: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for block in tr.blocks:
        block.latency = block.latency * optimism
        ending = tr.states[block.state] ^ tr.states[block.rest]
        order = np.argsort(ending, kind="stable")
        uniq, first = np.unique(ending[order], return_index=True)
        slots.append((uniq, order, np.r_[first, len(order)]))
    # each block's states and where their transitions start and end (for the deviations)
    heads = []
    for block, start_at in zip(tr.blocks, tr.state_heads, strict=True):
        heads.append((block.state[start_at], start_at, np.r_[start_at[1:], len(block)]))
    # the layer of each transition's state: a change there leaves every lower layer solved
    layer_of = [np.searchsorted(tr.layer_ends, block.state, side="right") for block in tr.blocks]
    measured: dict[tuple[bool, int], StageCost] = {}
    rounds, solved, lowest = 0, None, 0
    while True:
        rounds += 1
        solved = solve_layers(tr, again=None if solved is None else (solved, lowest))
        new = [(merge, mask) for merge, mask, _ in walk_back(solved)
               if (merge, mask) not in measured]
        if not new:
            break
        if deviations:  # and the plans one stage off it: fewer rounds, a few more stages
            new = list(dict.fromkeys(new + [d for d in _deviations(solved, heads)
                                            if d not in measured]))
        lowest = len(tr.layer_ends)
        for merge, mask in new:
            found = measure("merge" if merge else "concurrent", stage_groups(ix, mask, merge))
            measured[(merge, mask)] = found
            for j, (block, (uniq, order, bounds)) in enumerate(zip(tr.blocks, slots,
                                                                   strict=True)):
                if (block.order == _MERGE) != merge:
                    continue
                k = int(np.searchsorted(uniq, mask))
                if k < len(uniq) and uniq[k] == mask:
                    hit = order[bounds[k]:bounds[k + 1]]
                    block.latency[hit] = found.ms
                    lowest = min(lowest, int(layer_of[j][hit].min()))
        if progress is not None:
            progress(0, len(tr), len(measured))
    stages = []
    for merge, mask, _ in walk_back(solved):
        stages.append(("merge" if merge else "concurrent", stage_groups(ix, mask, merge),
                       measured[(merge, mask)]))
    stats = {"states": len(tr.states), "transitions": len(tr), "stages_costed": len(measured),
             "cache_hits": 0, "transitions_pruned": 0, "engine": "lazy", "lazy_rounds": rounds,
             "seconds": round(time.perf_counter() - start, 6)}
    if progress is not None:
        progress(len(tr.states), len(tr), len(measured))
    return PartResult(stages, float(solved.cost[-1]), stats)


def _deviations(solved: Solved, heads: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                ) -> list[tuple[bool, int]]:
    """The stages of the plans one stage off the best: at each state of the best plan, its
    second-best last stage, then the best plan of what that leaves."""
    tr, out = solved.tr, []
    i = len(tr.states) - 1
    while i > 0:
        chosen = (int(solved.choice[i, 0]), int(solved.choice[i, 1]))
        best = None
        for j, (block, (st, lo, hi)) in enumerate(zip(tr.blocks, heads, strict=True)):
            p = int(np.searchsorted(st, i))
            if p == len(st) or st[p] != i:
                continue
            idx = np.arange(lo[p], hi[p])
            total = solved.cost[block.rest[idx]] + block.latency[idx]
            if chosen[0] == j:
                total[idx == chosen[1]] = np.inf
            k = int(np.argmin(total))
            if np.isfinite(total[k]) and (best is None or total[k] < best[0]):
                best = (float(total[k]), j, int(idx[k]))
        if best is not None:
            _, j, t = best
            block = tr.blocks[j]
            rest = int(block.rest[t])
            out.append((block.order == _MERGE, int(tr.states[i] ^ tr.states[rest])))
            out += [(merge, mask) for merge, mask, _ in walk_back(solved, rest)]
        i = int(tr.blocks[chosen[0]].rest[chosen[1]])
    return out


def lazy_model(graph: OpGraph, measure: Callable[[str, Groups], StageCost],
               preset: str = "h100") -> SimulatedCost:
    """The simulated device calibrated to every op of ``graph`` measured alone (``measure``
    asks the search's cost model, which times each distinct op once)."""
    op_ms = {n.name: measure("concurrent", ((n.name,),)).ms for n in graph.nodes}
    return SimulatedCost(preset).calibrated_to(graph, op_ms)
