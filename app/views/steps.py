"""Where each operator stands at one step of a schedule's animation."""

from __future__ import annotations

from dataclasses import dataclass

from ios_core.ir.schedule import Schedule


@dataclass(frozen=True)
class OpState:
    status: str  # "done" | "current" | "pending"
    stage: int  # index of the stage that runs the op
    group: int  # index of its group inside that stage
    strategy: str  # the stage's strategy: "concurrent" | "merge"


def stage_of(schedule: Schedule) -> dict[str, tuple[int, int]]:
    """op name -> (stage index, group index)."""
    return {
        name: (si, gi)
        for si, stage in enumerate(schedule.stages)
        for gi, group in enumerate(stage.groups)
        for name in group
    }


def op_states(schedule: Schedule, step: int) -> dict[str, OpState]:
    """States of all scheduled ops when stage ``step`` runs (``step == len(stages)``: all done)."""
    states = {}
    for name, (si, gi) in stage_of(schedule).items():
        status = "done" if si < step else "current" if si == step else "pending"
        states[name] = OpState(status, si, gi, schedule.stages[si].strategy)
    return states


def stage_title(schedule: Schedule, step: int) -> str:
    """'stage 3/41: concurrent, 3 groups, 5 ops, 0.052 ms' (or a closing line past the end)."""
    n = len(schedule.stages)
    if step >= n:
        return f"all {n} stages done: {schedule.predicted_ms:.3f} ms"
    st = schedule.stages[step]
    ms = st.measured_ms if st.measured_ms is not None else st.predicted_ms
    groups = "" if st.strategy == "merge" else f", {len(st.groups)} group(s)"
    est = " (estimated)" if st.estimated else ""
    return f"stage {step + 1}/{n}: {st.strategy}{groups}, {len(st.ops)} ops, {ms:.3f} ms{est}"
