"""Build a cost model from the spec users write: simulated:<preset>, profile:<name|path>, measured.

>>> make_cost_model("simulated:h100").name
'simulated:h100'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ios_core.cost.analytic import PRESETS, SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.cost.profile_db import ProfileCost, resolve_profile

__all__ = ["SPECS", "default_measured", "make_cost_model"]

SPECS = ("simulated:<" + "|".join(PRESETS) + ">", "profile:<name|path>", "measured")


def make_cost_model(spec: str, traced: Any = None, *, batch: int | None = None,
                    fallback: CostModel | None = None, options: Any = None) -> CostModel:
    """The cost model ``spec`` names.

    ``traced`` (a ``frontend.TracedModel``) is needed by ``measured`` (it runs the model's
    kernels) and gives ``profile:`` its batch size; without it pass ``batch``. ``fallback``
    estimates the stages a profile lacks (default: the simulated H100). ``options``: the
    executor's levers ``measured`` times its stages with (None: the executor's default; a
    region graph wants ``fuse_epilogues``, :func:`ios_core.runtime.fuse_switch.engine_options`).
    """
    kind, _, arg = spec.strip().partition(":")
    kind, arg = kind.lower(), arg.strip()
    if kind == "simulated":
        preset = arg.lower() or "h100"
        if preset not in PRESETS:
            raise ValueError(f"unknown simulated device {arg!r}; choose one of: "
                             + ", ".join(f"simulated:{p}" for p in PRESETS))
        return SimulatedCost(preset)
    if kind == "profile":
        if not arg:
            raise ValueError("profile: needs a name or a file, e.g. profile:h100")
        if batch is None and traced is not None:
            batch = traced.graph.batch
        return ProfileCost(resolve_profile(arg, batch), fallback=fallback, name=f"profile:{arg}")
    if kind == "measured":
        return _measured(traced, options)
    raise ValueError(f"unknown cost source {spec!r}; expected one of: {', '.join(SPECS)}")


def _measured(traced: Any, options: Any = None) -> CostModel:
    if traced is None:
        raise ValueError("the measured cost model runs the model's own kernels: pass traced=")
    try:  # measured as the shipped profiles were, so that both find the same schedules
        return default_measured(traced, options=options)
    except RuntimeError as e:  # CudaUnavailableError: say it as a plain-words ValueError
        raise ValueError(str(e)) from None


def default_measured(traced: Any, warmup: int = 1, iters: int = 10, quick_iters: int = 5,
                     eager_runs: int = 1, options: Any = None) -> CostModel:
    """The GPU's measured cost model for ``traced``, with few replays per stage: profiling
    thousands of stages must stay fast, and on the H100 10 replays of 5 unrolled copies (more for
    short stages since the H200 runs, see :class:`MeasuredCost`) after one eager run predicted
    Inception V3's schedules as well as 20 replays after two
    (``benchmarks/results/stage_probe-cheap.md``); on the H200 5 replays after one predicted the
    shipped RandWire, NASNet and SqueezeNet schedules as well as 10 after two
    (``benchmarks/results/h200-stage-probe-cheap.md``), so 5 are timed and 5 more only for a
    stage whose 5 spread. ``options``: the executor's levers
    (:class:`~ios_core.runtime.options.EngineOptions`; None: the executor's default)."""
    from ios_core.cost.measured import MeasuredCost  # local: imports torch, needs CUDA

    return _construct(MeasuredCost, traced, warmup=warmup, iters=iters,
                      quick_iters=min(quick_iters, iters),
                      eager_runs=eager_runs, options=options)


def _construct(cls: Callable[..., CostModel], traced: Any, **options: Any) -> CostModel:
    """Call ``cls(traced, **options)`` passing only the options its signature accepts."""
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return cls(traced, **options)
