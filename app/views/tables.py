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


NOT_MEASURED = "not measured"


def stage_rows(schedule: Schedule, bounds: Sequence[float] | None = None) -> list[Row]:
    """One row per stage: strategy, groups, ops, predicted and measured time, the stage's own
    lower bound and its efficiency against it (``bounds``: one per stage, under the cost model
    that predicted the times), and where the predicted time came from.

    No cell is None: a stage never run on a GPU says so; without ``bounds`` the two bound columns
    are left out rather than shown empty.
    """
    rows = []
    for i, stage in enumerate(schedule.stages):
        row: Row = {
            "stage": i + 1,
            "strategy": stage.strategy,
            "groups": len(stage.groups),
            "ops": len(stage.ops),
            "operators": " | ".join(", ".join(g) for g in stage.groups),
            "predicted ms": round(stage.predicted_ms, 4),
            "measured ms": (NOT_MEASURED if stage.measured_ms is None
                            else f"{stage.measured_ms:.4f}"),
        }
        if bounds is not None:
            row["stage bound ms"] = round(bounds[i], 4)
            row["efficiency"] = efficiency(bounds[i], stage.predicted_ms)
        row["source"] = source_str(schedule.search.cost, stage.estimated)
        rows.append(row)
    return rows


def efficiency(bound: float, ms: float) -> float:
    """``bound / ms`` in [0, 1]: 1 where the time is the lowest its ops can take.

    >>> efficiency(0.5, 2.0), efficiency(0.0, 0.0)
    (0.25, 1.0)
    """
    if ms <= 0:
        return 1.0
    return round(min(max(bound / ms, 0.0), 1.0), 4)


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


def part_rows(parts: Sequence[Mapping[str, Any]]) -> list[Row]:
    """A search's per-part statistics, a row a part numbered from 1 as the app numbers, with
    the same columns in every row: ``solved`` says how (the DP in Python or on numpy arrays,
    or an earlier part's stages renamed, for a part that repeats it: its counts are then 0);
    a statistic a part lacks reads "–", never None.

    >>> rows = part_rows([{"part": 0, "states": 9, "engine": "numpy"},
    ...                   {"part": 1, "states": 0, "reused_from": 0}])
    >>> [(r["part"], r["solved"], r["states"]) for r in rows]
    [(1, 'by the DP (numpy)', '9'), (2, 'as part 1, renamed', '0')]
    """
    keys = [k for k in dict.fromkeys(k for p in parts for k in p)
            if k not in ("part", "engine", "reused_from")]
    rows = []
    for i, p in enumerate(parts):
        first = p.get("reused_from")
        how = (f"as part {first + 1}, renamed" if first is not None
               else f"by the DP ({p['engine']})" if "engine" in p else "by the DP")
        row: Row = {"part": int(p.get("part", i)) + 1, "solved": how}
        for k in keys:
            v = p.get(k)
            row[k.replace("_", " ")] = ("–" if v is None else f"{v:,}" if isinstance(v, int)
                                        else f"{v:.4g}" if isinstance(v, float) else str(v))
        rows.append(row)
    return rows


# st.dataframe column settings (plain dicts, the form st.column_config builds): efficiencies as
# bars from 0 to 100 %
EFFICIENCY_COLUMN = {"type_config": {"type": "progress", "format": "percent", "min_value": 0,
                                     "max_value": 1}}
SUMMARY_COLUMNS: dict[str, Any] = {"of the lower bound": {
    "label": "of the lower bound", **EFFICIENCY_COLUMN,
    "help": "the model's lower bound over this latency: 100 % is as fast as any schedule can be"}}
STAGE_COLUMNS: dict[str, Any] = {"efficiency": {
    "label": "efficiency", **EFFICIENCY_COLUMN,
    "help": "the stage's own lower bound over its predicted time: 100 % is as fast as any stage "
            "of these ops, so grouped, can be under this cost model"}}

NOT_SEARCHED = "no DP"  # r, s and the branch and bound prune only the IOS dynamic program


def schedule_summary(schedule: Schedule, lower_ms: float | None = None) -> Row:
    """One row comparing schedules side by side (no None cells: what does not apply says so);
    ``lower_ms``: the model's lower bound under the schedule's cost model, if there is one."""
    stats = schedule.search.stats
    merges = sum(s.strategy == "merge" for s in schedule.stages)
    widest = max((len(s.groups) for s in schedule.stages), default=0)
    searched = schedule.search.strategy.startswith("ios-")
    pruned = stats.get("transitions_pruned")
    row: Row = {
        "strategy": schedule.search.strategy,
        "r": str(schedule.search.r) if searched else NOT_SEARCHED,
        "s": str(schedule.search.s) if searched else NOT_SEARCHED,
        "latency ms": round(schedule.predicted_ms, 4),
    }
    if lower_ms is not None:  # left out, not shown empty, when the cost model has no bound
        row["of the lower bound"] = efficiency(lower_ms, schedule.predicted_ms)
    return row | {
        "measured ms": (NOT_MEASURED if schedule.measured_ms is None
                        else f"{schedule.measured_ms:.4f}"),
        "stages": len(schedule.stages),
        "merge stages": merges,
        "widest stage": widest,
        "stages costed": int(stats.get("stages_costed") or 0),
        "transitions skipped by branch and bound": (str(pruned) if searched and pruned is not None
                                                    else NOT_SEARCHED),
        "search seconds": round(float(stats.get("seconds") or 0.0), 3),
        "estimated stages": schedule.estimated_stages,
    }
