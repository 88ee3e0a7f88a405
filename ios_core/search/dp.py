"""The IOS dynamic program over one part of a graph.

A *state* ``S`` is the set of the part's operators that still have to run before the stages
already chosen (a bitmask over the part's ops in topological order; bit ``i`` is op ``i``). It is
always a downset: closed under predecessors inside the part. ``cost(0) = 0`` and

    cost(S) = min over endings S' of S:  cost(S - S') + latency(S')

where an *ending* is a non-empty ``S' ⊆ S`` closed under successors inside ``S`` (no edge leads
from ``S'`` back to ``S - S'``): the stage that runs last among ``S``.

Endings are enumerated exactly, without duplicates (tables in :mod:`ios_core.search.endings`):

* **concurrent**: the groups of an ending are the weakly connected components of the sub-DAG it
  induces. A component is itself connected and closed under successors in ``S``; conversely, any
  disjoint such sets have no edge between them (an edge would leave one's closure). So the
  concurrent endings are exactly the collections of at most ``s`` pairwise disjoint *valid groups*
  (connected, successor-closed in ``S``, at most ``r`` ops). Connected op sets of at most ``r``
  ops are listed once per part, filed under their last op (which must be a sink of ``S``); a state
  filters those of its sinks and combines disjoint ones in index order. This includes groups with
  several roots (a→c, b→c taken as {a, b, c}), which IOS's chain-based enumeration missed.
* **merge**: two or more sinks of ``S`` whose :func:`~ios_core.ir.merge.merge_key` agree; and, with
  ``merge_concat``, a sink concat of ``S`` together with the convolutions it joins, when those
  merge and nothing else in ``S`` reads them (:func:`~ios_core.ir.merge.concat_of_merge`): the
  concat is then a view of the wide convolution's output.

Stage latencies are memoized per part by bitmask; parts share no op, so each distinct stage of
a search is costed exactly once. States are generated op by op in an order that lists every
subset before its supersets, so the DP is one loop, with no recursion.

Two engines solve a part, with the same result. The plain DP here (:class:`_Search`) asks the
cost model for one stage at a time, and its branch and bound asks for as few as it can: what a
measured or profiled cost model needs. A cost model with bulk latencies (the simulated device:
:func:`~ios_core.search.batch.concurrent_batch`) is solved on arrays instead
(:mod:`~ios_core.search.vectorized`), 30-50x faster on RandWire and NASNet; the plain DP still
takes parts under :data:`ARRAYS_FROM` states, parts too wide for int64 masks, and observers that
want every step.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ios_core.cost.base import Groups, StageCost, calibrated
from ios_core.ir.graph import OpGraph
from ios_core.search.batch import BatchFactory
from ios_core.search.bitsets import bits, bits_masks, downsets
from ios_core.search.endings import PartIndex, index_part
from ios_core.search.envelope import Envelope
from ios_core.search.observer import SearchObserver
from ios_core.search.progress import ProgressTracker, SearchStopped
from ios_core.search.vectorized import MAX_OPS, solve_vectorized

MODES = {  # search strategy -> (concurrent endings beyond single ops?, merge endings?)
    "ios-merge": (False, True),
    "ios-parallel": (True, False),
    "ios-both": (True, True),
}
# parts with fewer states are solved by the plain DP even with a batch: numpy's fixed costs
# per part (~0.3 ms) outweigh its speed below ~32 states (Inception V3's small parts)
ARRAYS_FROM = 32
REPORT_SECONDS = 0.2  # at most this often a progress report (and a stop check), plus at the end


@dataclass
class PartResult:
    """The best stages of one part, in run order, and how the search went."""

    stages: list[tuple[str, Groups, StageCost]]  # (strategy, groups, latency) in run order
    cost_ms: float
    stats: dict[str, Any] = field(default_factory=dict)


def solve_part(
    graph: OpGraph,
    names: Sequence[str],
    strategy: str,
    stage_cost: Callable[[str, Groups], StageCost],
    r: int,
    s: int,
    observer: SearchObserver | None = None,
    part_index: int = 0,
    n_parts: int = 1,
    bound_slack: float | None = None,
    merge_concat: bool = False,
    *,
    batch: BatchFactory | None = None,
    tracker: ProgressTracker | None = None,
    envelope: Envelope | None = None,
    prior: Callable[[str, Groups], float] | None = None,
) -> PartResult:
    """Run the IOS DP over one part; ``names`` are the part's ops in topological order.

    ``bound_slack``: cost a stage of several groups (or a merge) only when it could still win,
    taking ``bound_slack`` times its slowest group alone as its lower bound (see ``_Search``);
    None costs every stage. ``merge_concat``: merge stages may end in the concat of their convs.
    ``batch``: concurrent-stage latencies in bulk (:func:`~ios_core.search.batch.concurrent_batch`);
    with it, and no observer that wants every step, the part is solved on arrays
    (:mod:`~ios_core.search.vectorized`), with the same result. ``tracker`` gathers the
    progress of a whole search; the observer's ``should_stop`` raises :class:`SearchStopped`.
    ``envelope`` with ``prior`` (a cheap stage estimate, ms): with ``bound_slack`` set, also skip
    endings below the envelope fitted to this search's measurements
    (:mod:`~ios_core.search.envelope`); one envelope is shared by all parts of a search.
    """
    if (envelope is None) != (prior is None):
        raise ValueError("an envelope needs a prior to calibrate, and a prior an envelope")
    if strategy not in MODES:
        raise ValueError(f"unknown DP strategy {strategy!r}; expected one of {sorted(MODES)}")
    if r < 1 or s < 1:
        raise ValueError(f"r and s must be at least 1 (got r={r}, s={s})")
    start = time.perf_counter()
    observer = observer or SearchObserver()
    concurrent, merges = MODES[strategy]
    ix = index_part(graph, names, r if concurrent else 1, s if concurrent else 1, merges,
                    merge_concat)
    states = downsets(ix.pred)
    total = len(states)
    observer.on_part_start(part_index, n_parts, ix.n)
    if tracker is not None:
        tracker.start_part(part_index)

    def report(done: int, transitions: int, costed: int) -> None:
        observer.on_progress(done, total, part_index, n_parts)
        stop = (tracker.report(part_index, done, transitions, costed) if tracker is not None
                else observer.should_stop())
        if stop:
            raise SearchStopped(part_index)

    steps = observer.wants_steps()
    fast = None
    if batch is not None and not steps and ix.n <= MAX_OPS and total >= ARRAYS_FROM:
        fast = solve_vectorized(ix, states, concurrent, merges, batch, stage_cost, bound_slack,
                                report)
    if fast is not None:
        stages, cost_ms, stats = fast
    else:
        search = _Search(ix, stage_cost, concurrent, merges, bound_slack, envelope, prior)
        last = time.perf_counter()
        for done, (state, sinks) in enumerate(states.items(), 1):
            if state:
                search.solve(state, sinks)
                if steps:
                    _report_state(ix, search, state, sinks, observer, part_index)
            # a measured search may spend seconds on one state: look at the clock after each
            # (tens of ns, next to microseconds per state), so that a stop is heard at once
            if time.perf_counter() - last >= REPORT_SECONDS:
                last = time.perf_counter()
                report(done, search.transitions, search.costed)
        full = (1 << ix.n) - 1
        stages, cost_ms = search.walk_back(full), search.cost[full]
        stats = {
            "states": total,
            "transitions": search.transitions,
            "stages_costed": search.costed,
            "cache_hits": search.hits,
            "transitions_pruned": search.pruned,
            "engine": "python",
        }
        if envelope is not None:
            stats["envelope_pruned"] = search.envelope_pruned
    report(total, stats["transitions"], stats["stages_costed"])
    stats = {"part": part_index, "ops": ix.n, **stats,
             "seconds": round(time.perf_counter() - start, 6), "cost_ms": cost_ms}
    if tracker is not None:
        tracker.end_part(part_index, stats["transitions"], stats["stages_costed"])
    observer.on_part_end(part_index, stats)
    return PartResult(stages, cost_ms, stats)


class _Search:
    """The DP tables of one part: best cost and last stage per state, stage latencies by mask.

    With ``slack`` set, endings are costed lazily (branch and bound). A stage of several groups,
    or a merge of several ops, is assumed to take at least ``slack`` times its slowest group (or
    op) alone: running more work at once does not make the slowest part faster. Each part alone
    is itself an ending of the same state, costed first. The other endings are then costed in
    order of ``cost(rest) + bound`` and only while that bound does not exceed the best total
    found, so an ending left uncosted could not have won or tied: where the bound holds, the
    result is the full DP's, with fewer stages to measure.

    With an ``envelope`` (and its ``prior``), an ending's bound is also the envelope of its
    calibrated prior (:mod:`~ios_core.search.envelope`), an estimate fitted to the stages measured
    so far rather than a proof: the result is then the full DP's wherever the envelope too holds.
    """

    def __init__(self, ix: PartIndex, stage_cost: Callable, concurrent: bool, merges: bool,
                 slack: float | None = None, envelope: Envelope | None = None,
                 prior: Callable[[str, Groups], float] | None = None):
        self.ix = ix
        self.slack = slack
        self.envelope, self.prior = envelope, prior
        self._calibrated: dict[tuple[bool, int], float] = {}  # (is merge, ending) -> its prior
        self._prior_alone: dict[int, float] = {}  # a part's prior alone, by mask
        self.pruned = 0  # endings whose bound ruled them out (counted per state)
        self.envelope_pruned = 0  # of those, endings only the envelope ruled out
        self._groups: set[int] | None = None  # every valid group's mask
        self._conc_parts: dict[int, list[int]] = {}
        self._merge_parts: dict[int, list[int]] = {}
        # the slowest part alone of each ending (the bound before sub-stages), memoized: parts
        # alone are costed once and never change
        self._conc_alone: dict[int, float] = {}
        self._merge_alone: dict[int, float] = {}
        self.stage_cost = stage_cost
        self.concurrent = concurrent
        self.merges = merges
        self.cost: dict[int, float] = {0: 0.0}
        self.choice: dict[int, int] = {}
        self.merged: set[int] = set()  # states whose best last stage is a merge
        self.lat: dict[int, float] = {}  # concurrent stage latency by mask
        self.merge_lat: dict[int, float] = {}
        # latencies the teaching path costs only to show endings the bound skipped
        self.shown: dict[int, float] = {}
        self.shown_merge: dict[int, float] = {}
        self.estimated: set[tuple[bool, int]] = set()  # (is merge, mask) the model estimated
        self.comp_names: dict[int, tuple[str, ...]] = {}  # a group's op names by mask
        self.transitions = self.costed = self.hits = 0

    def endings(self, state: int, sinks: int) -> tuple[list[int], list[int]]:
        """(concurrent endings, merge endings) of ``state``."""
        ix = self.ix
        conc = ix.concurrent_endings(state, sinks) if self.concurrent else list(bits_masks(sinks))
        return conc, (ix.merge_endings(state, sinks) if self.merges else [])

    def groups(self, mask: int, merge: bool) -> Groups:
        """The stage of an ending as groups of op names (memoized per group mask)."""
        if merge:
            return (tuple(self.ix.names[i] for i in bits(mask)),)
        found = self.comp_names
        out = []
        for comp in self.ix.ending_groups(mask):
            names = found.get(comp)
            if names is None:
                names = found[comp] = tuple(self.ix.names[i] for i in bits(comp))
            out.append(names)
        return tuple(out)

    def _fill(self, masks: list[int], table: dict[int, float], merge: bool) -> None:
        """Cost the masks not in ``table`` yet; count memo hits and newly costed stages."""
        missing = [m for m in masks if m not in table]
        self.hits += len(masks) - len(missing)
        self.costed += len(missing)
        strategy = "merge" if merge else "concurrent"
        for m in missing:
            result = self.stage_cost(strategy, self.groups(m, merge))
            table[m] = result.ms
            if result.estimated:
                self.estimated.add((merge, m))

    def solve(self, state: int, sinks: int) -> None:
        """Best cost and last stage of ``state``; all smaller states are solved already."""
        conc, merge = self.endings(state, sinks)
        self.transitions += len(conc) + len(merge)
        if self.slack is not None:
            self._solve_bounded(state, conc, merge)
            return
        cost, lat = self.cost, self.lat
        self._fill(conc, lat, False)
        totals = [cost[state ^ m] + lat[m] for m in conc]
        best_cost = min(totals)
        best = conc[totals.index(best_cost)]  # the first minimum: deterministic ties
        if merge:
            mlat = self.merge_lat
            self._fill(merge, mlat, True)
            totals = [cost[state ^ m] + mlat[m] for m in merge]
            mcost = min(totals)
            if mcost < best_cost:  # ties go to the concurrent stage
                best, best_cost = merge[totals.index(mcost)], mcost
                self.merged.add(state)
        cost[state] = best_cost
        self.choice[state] = best

    def _latency(self, m: int, merge: bool) -> float:
        """One ending's latency, costed on first use."""
        table = self.merge_lat if merge else self.lat
        ms = table.get(m)
        if ms is None:
            self._fill([m], table, merge)
            return table[m]
        self.hits += 1
        return ms

    def _solve_bounded(self, state: int, conc: list[int], merge: list[int]) -> None:
        """``solve`` with endings costed lazily, by bound (see the class docstring)."""
        cost = self.cost
        slack = self.slack
        assert slack is not None
        if self._groups is None:
            self._groups = {g for table in self.ix.groups_by_top for g, _ in table}
        groups, latency = self._groups, self._latency
        single = {m: latency(m, False) for m in conc if m in groups}
        best = min((cost[state ^ m] + ms for m, ms in single.items()), default=float("inf"))
        # (bound on the total, position, is merge, mask, cost of the rest): first bounds from
        # the parts alone; sub-stages tighten an ending's bound when it is popped. Positions are
        # unique, so the tuples never compare further than them.
        heap = []
        beyond = 0  # endings whose first bound is already above best: never popped
        for is_merge, masks, alone in ((False, conc, self._conc_alone),
                                       (True, merge, self._merge_alone)):
            for i, m in enumerate(masks):
                if not is_merge and m in single:
                    continue
                slowest = alone.get(m)
                if slowest is None:
                    slowest = alone[m] = max(self._alone(self._parts(m, is_merge)))
                rest = cost[state ^ m]
                first = rest + slack * slowest
                if first > best:  # best only falls: this one would stay in the heap
                    beyond += 1
                else:
                    heap.append((first, i, is_merge, m, rest))
        heapq.heapify(heap)
        exact: dict[tuple[bool, int], float] = {}
        envelope = self.envelope
        while heap and heap[0][0] <= best:
            bound, i, is_merge, m, rest, *_ = heapq.heappop(heap)
            tighter = plain = rest + self._bound(m, is_merge)
            if envelope is not None:
                tighter = max(plain, rest + envelope.lower(is_merge,
                                                           self._calibrated_of(m, is_merge)))
            if tighter > bound:  # sub-stages costed since: re-queue under the better bound
                # with its bound without the envelope (last field): an ending left in the heap
                # whose plain bound does not exceed best was ruled out by the envelope alone
                heapq.heappush(heap, (tighter, i, is_merge, m, rest, plain))
                continue
            fresh = m not in (self.merge_lat if is_merge else self.lat)
            ms = latency(m, is_merge)
            if envelope is not None and fresh:
                envelope.observe(is_merge, self._calibrated_of(m, is_merge), ms)
            total = rest + ms
            exact[(is_merge, i)] = total
            if total < best:
                best = total
        self.pruned += len(heap) + beyond
        if envelope is not None:
            # an ending never re-queued kept a first bound above best, and _bound only grows
            self.envelope_pruned += sum(1 for entry in heap if len(entry) > 5 and entry[5] <= best)
        # the full DP's choice among what was costed: the first minimum, concurrent before merge
        pick, pick_cost = (False, 0), float("inf")
        for i, m in enumerate(conc):
            total = cost[state ^ m] + single[m] if m in single else exact.get((False, i))
            if total is not None and total < pick_cost:
                pick, pick_cost = (False, m), total
        for i, m in enumerate(merge):
            total = exact.get((True, i))
            if total is not None and total < pick_cost:
                pick, pick_cost = (True, m), total
        if pick[0]:
            self.merged.add(state)
        cost[state] = pick_cost
        self.choice[state] = pick[1]

    def _parts(self, m: int, merge: bool) -> list[int]:
        """An ending's groups (concurrent) or merged convolutions (merge: a concat it ends in is
        a view, no work), memoized by mask."""
        memo = self._merge_parts if merge else self._conc_parts
        found = memo.get(m)
        if found is None:
            found = memo[m] = ([1 << b for b in bits(m & ~self.ix.cat_mask)] if merge
                               else self.ix.ending_groups(m))
        return found

    def _bound(self, m: int, merge: bool) -> float:
        """A lower bound on ending ``m``'s latency: ``slack`` times the slowest of its parts
        alone, or of its already-costed sub-stages one part smaller (adding work to a stage
        does not make it faster)."""
        known = (self._merge_alone if merge else self._conc_alone)[m]
        table = self.merge_lat if merge else self.lat
        for g in self._parts(m, merge):
            sub = m ^ g
            ms = table.get(sub)
            if ms is not None and ms > known and (not merge or sub & (sub - 1)):
                known = ms
        assert self.slack is not None
        return self.slack * known

    def _calibrated_of(self, m: int, merge: bool) -> float:
        """Ending ``m``'s prior, calibrated by its parts' measured times alone (memoized)."""
        key = (merge, m)
        found = self._calibrated.get(key)
        if found is None:
            assert self.prior is not None
            parts = self._parts(m, merge)
            alone = self._prior_alone
            for g in parts:
                if g not in alone:
                    alone[g] = self.prior("concurrent", self.groups(g, False))
            stage = self.prior("merge" if merge else "concurrent", self.groups(m, merge))
            found = self._calibrated[key] = calibrated(stage, self._alone(parts),
                                                       [alone[g] for g in parts])
        return found

    def _alone(self, parts: list[int]) -> list[float]:
        """Latencies of an ending's parts, each alone: every part alone is an ending of the same
        state or, for the convs a concat joins, of the state less the concat (solved before it),
        so they are costed already; the lookup costs one only if that ever fails to hold."""
        lat = self.lat
        return [lat[g] if g in lat else self._latency(g, False) for g in parts]

    def stage(self, state: int) -> tuple[str, Groups, StageCost]:
        """The best last stage of a solved state: (strategy, groups, its latency)."""
        m = self.choice[state]
        merge = state in self.merged
        ms = (self.merge_lat if merge else self.lat)[m]
        cost = StageCost(ms, estimated=(merge, m) in self.estimated)
        return ("merge" if merge else "concurrent"), self.groups(m, merge), cost

    def walk_back(self, full: int) -> list[tuple[str, Groups, StageCost]]:
        """Follow the argmins from the full part down to the empty set; stages in run order."""
        stages = []
        state = full
        while state:
            stages.append(self.stage(state))
            state ^= self.choice[state]
        return stages[::-1]


def _report_state(
    ix: PartIndex,
    search: _Search,
    state: int,
    sinks: int,
    observer: SearchObserver,
    part_index: int,
) -> None:
    """Teaching path: tell the observer every transition of ``state`` and its result (slow).

    Endings a bounded search left uncosted are costed here, after the choice, to be shown."""
    remaining = tuple(ix.names[i] for i in bits(state))
    conc, merge = search.endings(state, sinks)
    for strategy, masks, table in (
        ("concurrent", conc, search.lat),
        ("merge", merge, search.merge_lat),
    ):
        for m in masks:
            merge = strategy == "merge"
            if m not in table:
                # skipped by the bound: costed only to be shown, and kept out of the DP's own
                # tables so that the later choices stay exactly those of a plain search
                shown = search.shown_merge if merge else search.shown
                if m not in shown:
                    shown[m] = search.stage_cost(strategy, search.groups(m, merge)).ms
                ms = shown[m]
            else:
                ms = table[m]
            total = search.cost[state ^ m] + ms
            observer.on_transition(part_index, remaining, strategy, search.groups(m, merge), ms,
                                   total)
    strategy, groups, _ = search.stage(state)
    observer.on_state(part_index, remaining, search.cost[state], (strategy, groups))
