"""Price an existing schedule under another cost model (another batch size, device or profile).

IOS's specialisation experiment: a schedule searched for batch 1 is run at batch 16, or one found
for one GPU on another. The stages stay as they are; only their latencies are asked again.
"""

from __future__ import annotations

from dataclasses import replace

from ios_core.cost.base import CostModel
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule, validate_schedule


def price_schedule(schedule: Schedule, graph: OpGraph, cost: CostModel) -> Schedule:
    """``schedule``'s stages with latencies from ``cost`` on ``graph``.

    ``graph`` may be the same model traced at another batch size: the op names match, so the
    fingerprint check is skipped, but every op and dependency is still validated.
    """
    validate_schedule(schedule, graph, check_fingerprint=False)
    stages = []
    for stage in schedule.stages:
        priced = cost.stage_cost(graph, stage.strategy, stage.groups)
        stages.append(replace(stage, predicted_ms=priced.ms, measured_ms=None,
                              estimated=priced.estimated))
    return replace(
        schedule,
        stages=tuple(stages),
        target=replace(schedule.target, device=cost.device, batch=graph.batch),
    )
