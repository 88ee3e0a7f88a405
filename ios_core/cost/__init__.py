"""Cost models: where stage latencies come from.

``make_cost_model("simulated:h100")`` builds one from the spec users write in the CLI and the app.
"""

from __future__ import annotations

from ios_core.cost.analytic import PRESETS, DevicePreset, SimulatedCost
from ios_core.cost.base import CostModel, StageCost
from ios_core.cost.bounds import critical_path_ms, work_bound_ms
from ios_core.cost.factory import SPECS, make_cost_model

__all__ = [
    "PRESETS",
    "SPECS",
    "CostModel",
    "DevicePreset",
    "SimulatedCost",
    "StageCost",
    "critical_path_ms",
    "make_cost_model",
    "work_bound_ms",
]
