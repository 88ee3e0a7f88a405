"""Cost models: where stage latencies come from.

``make_cost_model("simulated:h100")`` builds one from the spec users write in the CLI and the app.
"""

from __future__ import annotations

from .analytic import PRESETS, DevicePreset, SimulatedCost
from .base import CostModel, StageCost
from .bounds import critical_path_ms, work_bound_ms

__all__ = [
    "PRESETS",
    "CostModel",
    "DevicePreset",
    "SimulatedCost",
    "StageCost",
    "critical_path_ms",
    "make_cost_model",
    "work_bound_ms",
]


def make_cost_model(spec: str) -> CostModel:
    """Parse a cost-source spec: ``"simulated:<preset>"`` (presets: h100, a100, v100; a bare
    ``"simulated"`` means h100).

    ``"measured"`` (live GPU) and ``"profile:<name|path>"`` (shipped H100 profiles) are named here
    so that their error is clear; they come in a later release.

    >>> make_cost_model("simulated:v100").device
    'simulated:v100'
    """
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "simulated":
        preset = arg.strip().lower() or "h100"
        if preset not in PRESETS:
            raise ValueError(
                f"unknown simulated device {arg!r}; choose one of: "
                + ", ".join(f"simulated:{p}" for p in PRESETS)
            )
        return SimulatedCost(preset)
    if kind in ("measured", "profile"):
        raise ValueError(
            f"cost source {spec!r} is not available yet (measured and profile cost models come in "
            "a later release); use one of: " + ", ".join(f"simulated:{p}" for p in PRESETS)
        )
    raise ValueError(
        f"unknown cost source {spec!r}; expected simulated:<preset> ("
        + ", ".join(PRESETS)
        + "), measured, or profile:<name|path>"
    )
