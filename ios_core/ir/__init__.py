"""The ground floor: what a schedule is about, in pure Python (no torch).

- :mod:`~ios_core.ir.graph`: the operator DAG (``OpGraph`` / ``OpNode`` / ``TensorSpec``), its
  validation, canonical fingerprint and stage signatures;
- :mod:`~ios_core.ir.merge`: when convolutions that read one tensor may run as one wide conv;
- :mod:`~ios_core.ir.partition`: blocks between cut points and the parts the DP solves;
- :mod:`~ios_core.ir.schedule`: stages and schedules, the ``ios-schedule/1`` file format and its
  validation against a graph;
- :mod:`~ios_core.ir.files`: atomic writes.

Every other package builds on these; nothing here imports from them.
"""

from ios_core.ir.graph import GraphError, OpGraph, OpNode, TensorSpec, stage_signature
from ios_core.ir.schedule import Schedule, ScheduleError, Stage, validate_schedule

__all__ = [
    "GraphError", "OpGraph", "OpNode", "TensorSpec", "stage_signature",
    "Schedule", "ScheduleError", "Stage", "validate_schedule",
]
