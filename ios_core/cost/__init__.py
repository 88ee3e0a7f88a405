"""Cost models: where stage latencies come from.

Every scheduler asks one question through the :class:`~ios_core.cost.base.CostModel` protocol:
how long does this stage (its ops, strategy and groups) take? The answers come from

- :mod:`~ios_core.cost.analytic`: a simulated device (roofline per op, occupancy shares for
  overlap), deterministic and fast: the teaching demo and the tests run on it;
  :mod:`~ios_core.cost.calibrate` fits its few parameters to measured profiles;
- :mod:`~ios_core.cost.profile_db`: stage latencies measured on a GPU and stored as JSON, keyed by
  device, versions, dtype, batch and stage signature, readable with no GPU;
- :mod:`~ios_core.cost.measured`: the attached CUDA GPU, timing stages built by the runtime's own
  lowering (so a prediction measures what the executor runs);
- :mod:`~ios_core.cost.cached` and :mod:`~ios_core.cost.recording`: wrappers that answer from a
  profile database or remember what a search asked, so no scheduler knows about profiling;
- :mod:`~ios_core.cost.bounds`: lower bounds on every schedule's latency under a cost model,
  proved from its formulas or its measurements (merges included).

``make_cost_model("simulated:h100")`` (:mod:`~ios_core.cost.factory`) builds one from the spec
users write in the CLI and the app.
"""

from __future__ import annotations

from ios_core.cost.analytic import PRESETS, DevicePreset, SimulatedCost
from ios_core.cost.base import CostModel, StageCost
from ios_core.cost.bounds import LowerBounds, NoBoundError, critical_path_ms, lower_bounds
from ios_core.cost.factory import SPECS, make_cost_model

__all__ = [
    "PRESETS",
    "SPECS",
    "CostModel",
    "DevicePreset",
    "LowerBounds",
    "NoBoundError",
    "SimulatedCost",
    "StageCost",
    "critical_path_ms",
    "lower_bounds",
    "make_cost_model",
]
