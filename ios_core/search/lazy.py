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

A round costs a solve of the part (tens of ms on a NASNet part), a stage measured on the GPU a
few ms, so three things cut rounds: each round also measures the plans one stage off the best
(at each state of the best plan, its second-best last stage and the best plan of what that
leaves); a measured stage also prices its twins in the part (a repeated cell's copy: the same
estimate and the same :func:`~ios_core.ir.graph.stage_signature`), which the cost model would
answer from its cache anyway; and a round solves again only the layers of states at or above the
lowest one a measurement changed. On a CPU stand-in of RandWire (benchmarks/search_lazy.py) the
three took the rounds from 16,699 to 3,188 and the CPU seconds from 78 to 15.

Hand-written: it is a loop around this project's own vectorised DP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import Groups, StageCost
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.search.batch import SimulatedBatch
from ios_core.search.bitsets import downsets
from ios_core.search.dp import MODES, PartResult
from ios_core.search.endings import index_part
from ios_core.search.vectorized import (
    MAX_OPS,
    MERGE_ORDER,
    Block,
    Progress,
    Solved,
    Transitions,
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
    slots = [_Endings(tr, block, optimism) for block in tr.blocks]
    # each block's states and where their transitions start and end (for the deviations)
    heads = []
    for block, start_at in zip(tr.blocks, tr.state_heads, strict=True):
        heads.append((block.state[start_at], start_at, np.r_[start_at[1:], len(block)]))
    # the layer of each transition's state: a change there leaves every lower layer solved
    layer_of = [np.searchsorted(tr.layer_ends, block.state, side="right") for block in tr.blocks]
    measured: dict[tuple[bool, int], StageCost] = {}
    signatures: dict[tuple[bool, int], str] = {}

    def signature(merge: bool, mask: int) -> str:
        key = (merge, mask)
        if key not in signatures:
            kind = "merge" if merge else "concurrent"
            signatures[key] = stage_signature(graph, kind, stage_groups(ix, mask, merge))
        return signatures[key]

    rounds, solved, lowest, twins = 0, None, 0, 0
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
            if (merge, mask) in measured:  # a twin of a stage measured this round
                continue
            found = measure("merge" if merge else "concurrent", stage_groups(ix, mask, merge))
            for j, (block, endings) in enumerate(zip(tr.blocks, slots, strict=True)):
                k = endings.find(mask) if (block.order == MERGE_ORDER) == merge else None
                if k is None:
                    continue
                # the same stage elsewhere in the part (a repeated cell's twin) is the same
                # measurement: its estimate is the same float, and its signature the same
                same = [t for t in endings.same_estimate(k)
                        if t == k or ((merge, endings.mask(t)) not in measured
                                      and signature(merge, endings.mask(t))
                                      == signature(merge, mask))]
                twins += len(same) - 1
                for t in same:
                    measured[(merge, endings.mask(t))] = found
                    hit = endings.transitions(t)
                    block.latency[hit] = found.ms
                    lowest = min(lowest, int(layer_of[j][hit].min()))
        if progress is not None:
            progress(0, len(tr), len(measured))
    stages = []
    for merge, mask, _ in walk_back(solved):
        stages.append(("merge" if merge else "concurrent", stage_groups(ix, mask, merge),
                       measured[(merge, mask)]))
    stats = {"states": len(tr.states), "transitions": len(tr), "stages_costed": len(measured),
             "cache_hits": twins, "transitions_pruned": 0, "engine": "lazy", "lazy_rounds": rounds,
             "seconds": round(time.perf_counter() - start, 6)}
    if progress is not None:
        progress(len(tr.states), len(tr), len(measured))
    return PartResult(stages, float(solved.cost[-1]), stats)


class _Endings:
    """A block's distinct endings: their masks, the transitions ending in each, and the endings
    that share each one's estimate (candidates for the same stage elsewhere in the part). The
    block's latencies become estimates times ``optimism`` here."""

    TWINS_CHECKED = 64  # at most this many same-estimate endings are compared by signature

    def __init__(self, tr: Transitions, block: Block, optimism: float) -> None:
        block.latency = block.latency * optimism
        ending = tr.states[block.state] ^ tr.states[block.rest]
        self.order = np.argsort(ending, kind="stable")
        self.masks, first = np.unique(ending[self.order], return_index=True)
        self.bounds = np.r_[first, len(self.order)]
        estimate = block.latency[self.order[first]]
        _, self.estimate_of = np.unique(estimate, return_inverse=True)
        self.by_estimate = np.argsort(self.estimate_of, kind="stable")
        self.estimate_bounds = np.searchsorted(self.estimate_of[self.by_estimate],
                                               np.arange(self.estimate_of.max(initial=-1) + 2))

    def find(self, mask: int) -> int | None:
        k = int(np.searchsorted(self.masks, mask))
        return k if k < len(self.masks) and self.masks[k] == mask else None

    def mask(self, k: int) -> int:
        return int(self.masks[k])

    def transitions(self, k: int) -> np.ndarray:
        return self.order[self.bounds[k]:self.bounds[k + 1]]

    def same_estimate(self, k: int) -> list[int]:
        g = int(self.estimate_of[k])
        found = self.by_estimate[self.estimate_bounds[g]:self.estimate_bounds[g + 1]]
        return [int(t) for t in found[:self.TWINS_CHECKED]] + ([k] if k not in found[
            :self.TWINS_CHECKED] else [])


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
            out.append((block.order == MERGE_ORDER, int(tr.states[i] ^ tr.states[rest])))
            out += [(merge, mask) for merge, mask, _ in walk_back(solved, rest)]
        i = int(tr.blocks[chosen[0]].rest[chosen[1]])
    return out


def lazy_model(graph: OpGraph, measure: Callable[[str, Groups], StageCost],
               preset: str = "h100") -> SimulatedCost:
    """The simulated device calibrated to every op of ``graph`` measured alone (``measure``
    asks the search's cost model, which times each distinct op once)."""
    op_ms = {n.name: measure("concurrent", ((n.name,),)).ms for n in graph.nodes}
    return SimulatedCost(preset).calibrated_to(graph, op_ms)
