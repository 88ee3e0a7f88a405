"""Table rows (lists of dicts, ready for st.dataframe) built from ios_core objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ios_core.cost.base import StageCost
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule

from .dot import block_of
from .fmt import op_summary, shape_str, source_str

Row = dict[str, Any]


def operator_rows(
    graph: OpGraph,
    op_costs: Mapping[str, StageCost],
    blocks: Sequence[Sequence[str]] = (),
    cost_spec: str = "",
) -> list[Row]:
    """One row per operator: what it is, its size and its isolated latency."""
    where = block_of(blocks)
    rows = []
    for node in graph.nodes:
        cost = op_costs.get(node.name)
        rows.append({
            "operator": node.name,
            "block": where.get(node.name),
            "kind": node.kind,
            "what": op_summary(node),
            "output shape": shape_str(node.shape),
            "MFLOPs": round(node.flops / 1e6, 3),
            "latency ms": None if cost is None else round(cost.ms, 4),
            "source": "" if cost is None else source_str(cost_spec, cost.estimated),
            "module": node.source,
        })
    return rows


def stage_rows(schedule: Schedule) -> list[Row]:
    """One row per stage: strategy, groups, ops, time and where the time came from."""
    rows = []
    for i, stage in enumerate(schedule.stages):
        rows.append({
            "stage": i + 1,
            "strategy": stage.strategy,
            "groups": len(stage.groups),
            "ops": len(stage.ops),
            "operators": " | ".join(", ".join(g) for g in stage.groups),
            "predicted ms": round(stage.predicted_ms, 4),
            "measured ms": None if stage.measured_ms is None else round(stage.measured_ms, 4),
            "source": source_str(schedule.search.cost, stage.estimated),
        })
    return rows


def search_stat_rows(stats: Mapping[str, Any]) -> list[Row]:
    """The scheduler's statistics as (statistic, value) rows; per-part lists are summarised."""
    rows = []
    for key, value in stats.items():
        if isinstance(value, (list, tuple)):
            value = f"{len(value)} entries"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, float):
            value = round(value, 4)
        rows.append({"statistic": key.replace("_", " "), "value": str(value)})
    return rows


def schedule_summary(schedule: Schedule) -> Row:
    """One row comparing schedules side by side."""
    stats = schedule.search.stats
    merges = sum(s.strategy == "merge" for s in schedule.stages)
    widest = max((len(s.groups) for s in schedule.stages), default=0)
    searched = schedule.search.strategy.startswith("ios-")  # r and s prune only the DP
    return {
        "strategy": schedule.search.strategy,
        "r": schedule.search.r if searched else None,
        "s": schedule.search.s if searched else None,
        "latency ms": round(schedule.predicted_ms, 4),
        "stages": len(schedule.stages),
        "merge stages": merges,
        "widest stage": widest,
        "stages costed": stats.get("stages_costed"),
        "transitions pruned by bound": stats.get("transitions_pruned"),
        "search seconds": None if "seconds" not in stats else round(float(stats["seconds"]), 3),
        "estimated stages": schedule.estimated_stages,
    }
