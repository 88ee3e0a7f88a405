"""The ``fuse_epilogues`` switch as users turn it on: the CLI's ``--fuse-epilogues``, the drop-in's
``fuse_epilogues=True``. One name for two things that only pay together:

1. the graph: :func:`~ios_core.frontend.regions.fuse_regions` right after tracing, so that the
   DP schedules fused regions (a conv, linear, pool or elementwise head with its single-reader
   elementwise chain) as its operators;
2. the engine: the ``fuse_epilogues`` lever (:mod:`ios_core.runtime.epilogue`), which runs each
   region's elementwise work as one compiled pointwise kernel.

A schedule searched on the region graph fits only that graph (its operators are regions, its
fingerprint is the region graph's), so a schedule made with the switch records it in
``search.stats["fuse_epilogues"]`` (``true``, written only when on, like the other knobs
``SearchInfo`` has no field for), and whoever rebuilds its model (``run``, ``export``, the
drop-in's ``schedule=``) turns the switch on for it. A schedule whose record is missing (saved
by the library's ``optimize`` on a region graph) fails the fingerprint check when loaded with the
wrong switch; :func:`fitting_switch` says which setting of the switch it fits, so that the message
can say what to pass.

>>> engine_options(None, False) is resolve_options(None), engine_options(None, True).fuse_epilogues
(True, True)
>>> engine_options(EngineOptions(), True).label()
'epi'
"""

from __future__ import annotations

from dataclasses import replace

from ios_core.frontend.regions import fuse_regions
from ios_core.frontend.tracing import TracedModel
from ios_core.ir.schedule import Schedule
from ios_core.runtime.options import EngineOptions, resolve_options

__all__ = ["FUSE_EPILOGUES", "engine_options", "fitting_switch", "record_switch",
           "recorded_switch", "with_regions"]

FUSE_EPILOGUES = "fuse_epilogues"  # the switch's one name, and its key in search.stats


def with_regions(traced: TracedModel, on: bool) -> TracedModel:
    """``traced`` with its elementwise chains fused into regions when ``on``, else itself."""
    return fuse_regions(traced) if on else traced


def engine_options(options: EngineOptions | None, on: bool) -> EngineOptions:
    """``options`` (None: DEFAULT_OPTIONS) with the ``fuse_epilogues`` lever added when ``on``;
    never taken away when off (a caller's own ``+epi`` label stays)."""
    resolved = resolve_options(options)
    return replace(resolved, fuse_epilogues=True) if on else resolved


def recorded_switch(schedule: Schedule) -> bool:
    """Whether ``schedule`` was searched with the switch on (its ``search.stats`` say so).

    >>> from ios_core.ir.schedule import ModelRef, SearchInfo, Target
    >>> s = Schedule(ModelRef("m", "f", (1,)), Target("cpu", 1), SearchInfo("greedy", 1, 1, 1,
    ...              "simulated:h100"), ())
    >>> recorded_switch(s), recorded_switch(record_switch(s, True))
    (False, True)
    """
    return schedule.search.stats.get(FUSE_EPILOGUES) is True


def record_switch(schedule: Schedule, on: bool) -> Schedule:
    """``schedule`` with the switch recorded in its ``search.stats`` when ``on``; else as it is."""
    if not on:
        return schedule
    stats = {**schedule.search.stats, FUSE_EPILOGUES: True}
    return replace(schedule, search=replace(schedule.search, stats=stats))


def fitting_switch(schedule: Schedule, traced: TracedModel) -> bool | None:
    """Which setting of the switch ``schedule`` fits, by fingerprint: ``True`` (made on the region
    graph of ``traced``), ``False`` (made on ``traced``'s own graph), or None (neither: another
    model or batch). ``traced`` is the model as traced, without regions."""
    want = schedule.model.fingerprint
    if want == traced.graph.fingerprint():
        return False
    if want == fuse_regions(traced).graph.fingerprint():
        return True
    return None
