"""Schedulers: turn an OpGraph and a cost model into a :class:`~ios_core.schedule.Schedule`.

Strategies: ``sequential`` (one op per stage), ``greedy`` (wavefronts of ready ops),
``ios-merge`` / ``ios-parallel`` / ``ios-both`` (the IOS dynamic program with merge stages,
concurrent stages, or both), run part by part (see :mod:`ios_core.partition`).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..cost.base import CostModel, Groups
from ..ir import OpGraph
from ..partition import find_blocks, split_parts
from ..schedule import SEARCH_STRATEGIES, ModelRef, Schedule, SearchInfo, Stage, Target
from .config import SearchConfig
from .costing import StageCostCache
from .dp import MODES, solve_part
from .greedy import greedy_stages
from .merge import merge_problem, mergeable_groups
from .observer import SearchObserver
from .sequential import sequential_stages

__all__ = [
    "SEARCH_STRATEGIES",
    "SearchConfig",
    "SearchObserver",
    "merge_problem",
    "mergeable_groups",
    "optimize",
]


def optimize(
    graph: OpGraph,
    strategy: str,
    cost: CostModel,
    config: SearchConfig | None = None,
    observer: SearchObserver | None = None,
    model_name: str | None = None,
) -> Schedule:
    """Find a schedule of ``graph`` with ``strategy``, costing stages with ``cost``.

    Stage latencies in the result come from ``cost`` (each distinct stage asked once); the
    search statistics (states, transitions, stages costed, cache hits, seconds, per part) are
    in ``schedule.search.stats``.
    """
    config = config or SearchConfig()
    if strategy not in SEARCH_STRATEGIES:
        choices = ", ".join(SEARCH_STRATEGIES)
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {choices}")
    graph.validate()
    start = time.perf_counter()
    cache = StageCostCache(graph, cost)
    if strategy == "sequential":
        plan, stats = sequential_stages(graph), _stats([], 0)
    elif strategy == "greedy":
        plan, stats = greedy_stages(graph, config.stream_cap), _stats([], 0)
    else:
        plan, stats = _search(graph, strategy, cache, config, observer)
    search_hits = cache.hits  # the final look-ups below are not search work
    stages = tuple(_costed(cache, st, groups) for st, groups in plan)
    stats.update(
        stages_costed=cache.costed,
        cache_hits=stats["cache_hits"] + search_hits,
        seconds=round(time.perf_counter() - start, 6),
    )
    return Schedule(
        model=ModelRef(
            name=model_name or graph.name,
            fingerprint=graph.fingerprint(),
            input_shape=tuple(graph.inputs[0].shape),
        ),
        target=Target(device=cost.device, batch=graph.batch, torch=_torch_version()),
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
    cache: StageCostCache,
    config: SearchConfig,
    observer: SearchObserver | None,
) -> tuple[list[tuple[str, Groups]], dict[str, Any]]:
    """Run the DP on every part and concatenate the stages."""
    assert strategy in MODES
    parts = split_parts(graph, config.max_part_ops)
    plan: list[tuple[str, Groups]] = []
    per_part = []
    for i, names in enumerate(parts):
        result = solve_part(
            graph, names, strategy, cache, config.r, config.s, observer, i, len(parts)
        )
        plan.extend(result.stages)
        per_part.append(result.stats)
    stats = _stats(per_part, len(find_blocks(graph)))
    stats["states"] = sum(p["states"] for p in per_part)
    stats["transitions"] = sum(p["transitions"] for p in per_part)
    stats["cache_hits"] = sum(p["cache_hits"] for p in per_part)
    return plan, stats


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


def _costed(cache: StageCostCache, strategy: str, groups: Groups) -> Stage:
    """A Stage with its latency from the search's memo (or the cost model)."""
    c = cache(strategy, groups)
    return Stage(strategy=strategy, groups=groups, predicted_ms=c.ms, estimated=c.estimated)


def _torch_version() -> str:
    """torch's version when it is already loaded; the schedulers never import it themselves."""
    torch = sys.modules.get("torch")
    return str(getattr(torch, "__version__", "")) if torch is not None else ""
