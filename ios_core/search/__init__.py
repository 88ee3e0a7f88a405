"""The search: turn an OpGraph and a cost model into a :class:`~ios_core.ir.schedule.Schedule`.

:func:`optimize` is the one entry. Strategies: ``sequential`` (one op per stage,
:mod:`~ios_core.search.sequential`), ``greedy`` (wavefronts of ready ops,
:mod:`~ios_core.search.greedy`), and ``ios-merge`` / ``ios-parallel`` / ``ios-both``: the IOS
dynamic program with merge stages, concurrent stages, or both.

The DP runs part by part (blocks between cut points, cut into parts of at most
``max_part_ops``: :mod:`ios_core.ir.partition`). For one part, :mod:`~ios_core.search.dp` holds
the recurrence and its branch and bound, :mod:`~ios_core.search.endings` the tables that
enumerate every state's endings exactly, and :mod:`~ios_core.search.bitsets` the bitmask loops
they share; :mod:`~ios_core.search.vectorized` runs the same DP on numpy arrays for cost models
with bulk latencies (:mod:`~ios_core.search.batch`: the simulated device), with the same result;
:func:`~ios_core.search.explain.solve_part_with` solves one part with a search's own
:class:`~ios_core.search.config.SearchConfig` (what :func:`optimize` and the app's teaching view
both call). Stage latencies come only through the :class:`~ios_core.cost.base.CostModel`
protocol, memoised per search (:mod:`~ios_core.search.costing`); progress and the teaching
view's steps go to a :class:`~ios_core.search.observer.SearchObserver`, never to print, and so
do the whole search's counts with an ETA, and the request to stop with the best schedule so far
(:mod:`~ios_core.search.progress`).
:func:`~ios_core.search.pricing.price_schedule` re-prices a finished schedule under another
cost model. With ``SearchConfig(lazy=True)`` a part is solved by
:mod:`~ios_core.search.lazy` instead: the vectorised DP on a calibrated model, measuring only
the stages of the plans it picks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel, Groups, StageCost
from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import merge_problem, mergeable_groups
from ios_core.ir.partition import count_downsets, find_blocks
from ios_core.ir.schedule import SEARCH_STRATEGIES, ModelRef, Schedule, SearchInfo, Stage, Target
from ios_core.search.config import SearchConfig
from ios_core.search.costing import StageCostCache
from ios_core.search.dp import MODES, PartResult
from ios_core.search.explain import (
    envelope_for,
    search_parts,
    solve_part_with,
    stage_cost_of,
)
from ios_core.search.greedy import greedy_stages
from ios_core.search.lazy import lazy_model, solve_part_lazy
from ios_core.search.observer import SearchObserver, SearchProgress
from ios_core.search.pricing import price_schedule
from ios_core.search.progress import ProgressTracker, SearchStopped
from ios_core.search.reuse import first_of_each, renamed
from ios_core.search.sequential import sequential_stages
from ios_core.search.vectorized import MAX_OPS

__all__ = [
    "SEARCH_STRATEGIES",
    "SearchConfig",
    "SearchObserver",
    "SearchProgress",
    "merge_problem",
    "mergeable_groups",
    "optimize",
    "price_schedule",
    "search_parts",
    "solve_part_with",
]


def optimize(
    graph: OpGraph,
    strategy: str,
    cost: CostModel,
    config: SearchConfig | None = None,
    observer: SearchObserver | None = None,
    model_name: str | None = None,
    leaf_modules: Sequence[str] = (),
) -> Schedule:
    """Find a schedule of ``graph`` with ``strategy``, costing stages with ``cost``.

    Stage latencies in the result come from ``cost`` (each distinct stage asked once); the
    search statistics (states, transitions, stages costed, cache hits, seconds, per part) are
    in ``schedule.search.stats``. ``model_name`` and ``leaf_modules`` (as the graph was traced
    with: ``TracedModel.leaf_modules``) are recorded so that the graph can be rebuilt.
    """
    config = config or SearchConfig()
    if strategy not in SEARCH_STRATEGIES:
        choices = ", ".join(SEARCH_STRATEGIES)
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {choices}")
    graph.validate()
    start = time.perf_counter()
    if strategy in MODES:
        plan, stats = _search(graph, strategy, cost, config, observer)
    else:
        if strategy == "sequential":
            simple = sequential_stages(graph)
        else:
            simple = greedy_stages(graph, config.stream_cap)
        cache = StageCostCache(graph, cost)
        plan = [(st, groups, cache(st, groups)) for st, groups in simple]
        stats = _stats([], len(find_blocks(graph)))
        stats.update(stages_costed=cache.costed, cache_hits=cache.hits)
    stages = tuple(
        Stage(strategy=st, groups=groups, predicted_ms=c.ms, estimated=c.estimated)
        for st, groups, c in plan
    )
    stats["seconds"] = round(time.perf_counter() - start, 6)
    # knobs SearchInfo has no field for, so that a search can be replayed exactly
    stats.update(max_part_states=config.max_part_states, stream_cap=config.stream_cap,
                 bound_slack=config.bound_slack, merge_concat=config.merge_concat,
                 part_order=config.part_order, envelope_margin=config.envelope_margin,
                 envelope_quantile=config.envelope_quantile, lazy=config.lazy,
                 lazy_optimism=config.lazy_optimism)
    return Schedule(
        model=ModelRef(
            name=model_name or graph.name,
            fingerprint=graph.fingerprint(),
            input_shape=tuple(graph.inputs[0].shape),
            leaf_modules=tuple(leaf_modules),
        ),
        # a profile's schedule records the versions its latencies were measured with
        target=Target(
            device=cost.device,
            batch=graph.batch,
            torch=getattr(cost, "torch", "") or _torch_version(),
            cudnn=getattr(cost, "cudnn", ""),
        ),
        search=SearchInfo(
            strategy=strategy,
            r=config.r,
            s=config.s,
            max_part_ops=config.max_part_ops,
            cost=cost.name,
            stats=stats,
        ),
        stages=stages,
    )


def _search(
    graph: OpGraph,
    strategy: str,
    cost: CostModel,
    config: SearchConfig,
    observer: SearchObserver | None,
) -> tuple[list[tuple[str, Groups, StageCost]], dict[str, Any]]:
    """Run the DP on every part and concatenate the stages.

    Parts share no operator, so no stage recurs across parts: each part memoizes its own
    stage latencies by bitmask, and the cost model is called once per distinct stage. Each part
    is solved by :func:`solve_part_with`, the entry a teaching view calls too; a part that
    repeats an earlier one op for op (NASNet's cells) takes that part's stages, renamed
    (:mod:`~ios_core.search.reuse`).

    When the observer asks to stop (:mod:`~ios_core.search.progress`), the parts solved so far
    keep their DP stages and every op left runs in greedy wavefronts (``stats["stopped"]``).
    """
    parts = search_parts(graph, config)
    observer = observer or SearchObserver()
    first_of = first_of_each(graph, parts)
    # a repeated part is renamed, not solved: its states are no work, for the ETA too
    tracker = ProgressTracker(observer, [
        count_downsets(graph, names, config.max_part_states) if first_of[i] == i else 0
        for i, names in enumerate(parts)])
    envelope = envelope_for(cost, config)  # one for the whole search: it learns as it measures
    model = lazy_model(graph, stage_cost_of(graph, cost)) if config.lazy else None
    plan: list[tuple[str, Groups, StageCost]] = []
    per_part = []
    solved: dict[int, PartResult] = {}
    stopped = None
    for i, names in enumerate(parts):
        first = first_of[i]
        if first != i:
            result = renamed(solved[first], parts[first], names, i, first)
            observer.on_part_start(i, len(parts), len(names))
            tracker.start_part(i)
            tracker.end_part(i, 0, 0)
            observer.on_part_end(i, result.stats)
        else:
            try:
                result = None
                if model is not None:
                    result = _solve_lazily(graph, names, strategy, cost, model, config,
                                           observer, i, len(parts), tracker)
                if result is None:  # not lazy, or a part too wide for the arrays
                    result = solve_part_with(graph, names, strategy, cost, config, observer, i,
                                             len(parts), tracker=tracker, envelope=envelope)
            except SearchStopped:
                stopped = i
                break
            solved[i] = result
        plan.extend(result.stages)
        per_part.append(result.stats)
    stats = _stats(per_part, len(find_blocks(graph)))
    for key in ("states", "transitions", "stages_costed", "cache_hits", "transitions_pruned"):
        stats[key] = sum(p[key] for p in per_part)
    stats["parts_reused"] = sum("reused_from" in p for p in per_part)
    # whether the search used its envelope: only a cost model that measures gets one
    stats["envelope_used"] = envelope is not None
    if envelope is not None:
        stats["envelope_pruned"] = sum(p.get("envelope_pruned", 0) for p in per_part)
        stats["envelope_factor"] = {"concurrent": envelope.factor(False),
                                    "merge": envelope.factor(True)}
    stats["states_total"] = tracker.states_total
    if stopped is not None:
        done = {name for part in parts[:stopped] for name in part}
        cache = StageCostCache(graph, cost)
        rest = greedy_stages(graph, config.stream_cap, skip=done)
        plan.extend((st, groups, cache(st, groups)) for st, groups in rest)
        # "states" counts the finished parts; the part under way had solved some too
        stats.update(stopped=True, parts_solved=stopped, parts_total=len(parts),
                     greedy_stages=len(rest), states_solved=tracker.states_done)
    return plan, stats


def _solve_lazily(graph: OpGraph, names: Sequence[str], strategy: str, cost: CostModel,
                  model: SimulatedCost, config: SearchConfig, observer: SearchObserver,
                  index: int, n_parts: int, tracker: ProgressTracker) -> PartResult | None:
    """One part by :func:`~ios_core.search.lazy.solve_part_lazy`, reported as the DP's are;
    None, before anything is reported, for a part too wide for the arrays (the DP takes it)."""
    if len(names) > MAX_OPS:
        return None
    observer.on_part_start(index, n_parts, len(names))
    tracker.start_part(index)

    def report(done: int, transitions: int, costed: int) -> None:
        if tracker.report(index, done, transitions, costed):
            raise SearchStopped(index)

    result = solve_part_lazy(graph, names, strategy, stage_cost_of(graph, cost), model, config.r,
                             config.s, config.merge_concat, config.lazy_optimism, report)
    if result is None:
        return None
    result.stats = {"part": index, "ops": len(names), **result.stats, "cost_ms": result.cost_ms}
    tracker.end_part(index, result.stats["transitions"], result.stats["stages_costed"])
    observer.on_part_end(index, result.stats)
    return result


def _stats(per_part: list[dict[str, Any]], blocks: int) -> dict[str, Any]:
    return {
        "states": 0,
        "transitions": 0,
        "stages_costed": 0,
        "cache_hits": 0,
        "seconds": 0.0,
        "blocks": blocks,
        "parts": per_part,
    }


def _torch_version() -> str:
    """torch's version when it is already loaded; the schedulers never import it themselves."""
    torch = sys.modules.get("torch")
    return str(getattr(torch, "__version__", "")) if torch is not None else ""
