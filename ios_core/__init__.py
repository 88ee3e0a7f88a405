"""IOS Explorer's library: trace a CNN, search its inter-operator schedule, run and export it.

The names a user needs::

    from ios_core import trace_model, optimize, SearchConfig, make_cost_model, check
    traced = trace_model(model, example_input)
    schedule = optimize(traced.graph, "ios-both", make_cost_model("simulated:h100"), SearchConfig())
    print(check(traced, schedule))

and in one's own inference code (:mod:`ios_core.dropin`)::

    fast = optimize_module(model, (x,))                     # or:
    fast = torch.compile(model, backend="ios")              # after `import ios_core.dropin`

Heavy modules (torch) load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from ios_core.ir.graph import GraphError, OpGraph, OpNode, TensorSpec
from ios_core.ir.schedule import Schedule, ScheduleError, Stage, validate_schedule
from ios_core.search.config import SearchConfig

_LAZY = {
    "trace": "frontend",
    "trace_model": "frontend",
    "TracedModel": "frontend",
    "TraceError": "frontend",
    "load_model": "frontend.models",
    "optimize": "search",
    "make_cost_model": "cost",
    "SimulatedCost": "cost.analytic",
    "compile_schedule": "runtime.executor",
    "check": "runtime.executor",
    "optimize_module": "dropin",  # importing ios_core.dropin registers backend="ios" too
    "OptimizedModule": "dropin",
}

__all__ = [
    "GraphError", "OpGraph", "OpNode", "TensorSpec", "Schedule", "ScheduleError", "Stage",
    "validate_schedule", "SearchConfig", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ios_core' has no attribute {name!r}")
