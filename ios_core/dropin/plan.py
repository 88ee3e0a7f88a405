"""One model at one input signature, made runnable: trace, find the schedule (given, cached or
searched), compile it with the executor, and check it against the model's own forward.

:func:`build_plan` is the one path both the optimized module and the ``ios`` Dynamo backend take.
Where the schedule comes from is recorded in :attr:`Plan.source`: ``"file"`` (given by the
caller), ``"cache"`` (the schedule cache held it) or ``"search"``; a search with the measured
cost answers from the cache's stage profile and measures only the stages it lacks.

The check: the compiled schedule's first output against ``module(*inputs)`` on the same device,
relative error over all outputs. The tolerance is the executor's for the device and dtype
(:func:`ios_core.runtime.executor.tolerance_for`), but at least 0.1 where either side rounds to
10 bits or fewer (TF32 on, 16-bit dtypes): the random-weight sample nets amplify that rounding to
about 5e-2 (Inception V3 with TF32 on the H200, ``benchmarks/results/h200.md``), while a wrong
schedule is off by about 1. Where the output differs by more, a second look measures how much the
model itself amplifies float32 rounding (:func:`conditioned_tolerance`) before calling it a bug.

>>> tolerance("cpu", torch.float32, tf32=False)
0.0005
>>> tolerance("cuda", torch.float16, tf32=False)
0.1
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.cost.cached import CachedCost
from ios_core.cost.factory import default_measured, make_cost_model
from ios_core.dropin.cache import ScheduleCache, schedule_key
from ios_core.dropin.settings import DropinSettings, DropinWarning
from ios_core.frontend import TracedModel, trace_model
from ios_core.ir.schedule import Schedule, ScheduleError, validate_schedule
from ios_core.profiling import current_key, measure_settings
from ios_core.runtime.executor import (
    TYPICAL_OWN_ERROR,
    CompiledSchedule,
    compile_schedule,
    own_error,
    reference_outputs,
    relative_error,
    scaled_tolerance,
)
from ios_core.runtime.executor import tolerance_for as executor_tolerance
from ios_core.runtime.fuse_switch import (
    engine_options,
    fitting_switch,
    record_switch,
    recorded_switch,
    with_regions,
)
from ios_core.search import optimize

__all__ = ["DropinError", "Plan", "build_plan", "input_signature", "tolerance"]

Signature = tuple[tuple[tuple[int, ...], torch.dtype], ...]


class DropinError(RuntimeError):
    """The drop-in cannot run a model as asked; the message says why and what to do."""


@dataclass
class Plan:
    """A compiled schedule for one input signature, and how it was obtained."""

    traced: TracedModel
    schedule: Schedule
    compiled: CompiledSchedule
    out_spec: Any  # pytree spec of the model's output (a tensor, tuple, dict...)
    source: str  # "file" | "cache" | "search"
    seconds: float  # trace + find + compile + check
    rel_err: float | None  # against the model's forward (None: not checked)
    cache_path: str | None = None  # the cached schedule file, when there is one

    def run(self, inputs: tuple[torch.Tensor, ...], reuse_outputs: bool = False) -> Any:
        """The model's output for ``inputs`` (of this plan's signature), structured as its own."""
        compiled = self.compiled
        if reuse_outputs and compiled.uses_cuda_graph:
            for static, x in zip(compiled.static_inputs, inputs, strict=True):
                static.copy_(x)
            compiled.replay()
            outs = compiled.static_outputs
        else:
            outs = compiled(*inputs)  # fresh tensors
            outs = outs if isinstance(outs, tuple) else (outs,)
        return pytree.tree_unflatten(list(outs), self.out_spec)


def input_signature(inputs: tuple[Any, ...]) -> Signature:
    """Shapes and dtypes of ``inputs``; a clear TypeError for anything but tensors.

    >>> input_signature((torch.zeros(1, 3),))
    (((1, 3), torch.float32),)
    """
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input {i} is a {type(x).__name__}; an optimized module takes "
                            "tensors only (bind other arguments with functools.partial or a "
                            "wrapper module)")
    return tuple((tuple(x.shape), x.dtype) for x in inputs)


def tolerance(device: str | torch.device, dtype: torch.dtype, tf32: bool) -> float:
    """The check's relative-error tolerance (module docstring)."""
    coarse = dtype in (torch.float16, torch.bfloat16) or (
        tf32 and torch.device(device).type == "cuda" and dtype == torch.float32)
    try:
        tol = executor_tolerance(device, dtype)
    except ValueError:  # a dtype the executor names no tolerance for
        tol = 0.0
    return max(tol, 0.1) if coarse else tol


def _tf32_on() -> bool:
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


def model_device(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.device:
    """Where the model runs: its parameters' device (inputs are copied there); else the inputs'."""
    devices = {p.device for p in module.parameters()} | {b.device for b in module.buffers()}
    if len(devices) > 1:
        where = ", ".join(sorted(map(str, devices)))
        raise DropinError(f"the model's tensors lie on several devices ({where}); move it to one "
                          "device first")
    if devices:
        return devices.pop()
    return inputs[0].device if inputs else torch.device("cpu")


def build_plan(module: nn.Module, inputs: tuple[torch.Tensor, ...], settings: DropinSettings,
               cache: ScheduleCache | None, name: str = "model",
               schedule: Schedule | str | os.PathLike[str] | None = None) -> Plan:
    """Trace ``module`` on ``inputs``, get its schedule, compile and check it (module docstring).

    Raises :class:`~ios_core.frontend.TraceError` for a model our frontend cannot trace,
    :class:`~ios_core.ir.schedule.ScheduleError` for a given schedule that does not fit it, and
    :class:`DropinError` when the compiled schedule does not reproduce the model's output.
    """
    t0 = time.perf_counter()
    input_signature(inputs)
    if not inputs:
        raise DropinError("the model needs at least one tensor input to be scheduled")
    device = model_device(module, inputs)
    dtype = inputs[0].dtype
    inputs = tuple(x.to(device) for x in inputs)
    traced = trace_model(module, inputs if len(inputs) > 1 else inputs[0], name=name)
    given = None if schedule is None else _load_given(schedule)
    # fused regions when asked, or when the given schedule was searched on them (it records so)
    on = settings.fuse_epilogues or (given is not None and recorded_switch(given))
    plain, traced = traced, with_regions(traced, on)
    options = engine_options(settings.engine, on)
    cost_spec = settings.resolved_cost(device)
    key = _key(traced, inputs, device, settings, cost_spec)
    source, path = "file", None
    if given is not None:
        found = _given(given, traced, plain, on)
    else:
        found = cache.load_schedule(key, traced.graph, name) if cache is not None else None
        source = "cache"
        if found is None:
            source = "search"
            if cost_spec != settings.cost.strip():
                warnings.warn(f"cost='measured' times stages on a CUDA GPU, and this model runs "
                              f"on {device}: its schedule is searched with {cost_spec} instead "
                              f"(pass cost='{cost_spec}' to choose it and silence this)",
                              DropinWarning, stacklevel=4)
            found = _search(traced, settings, cost_spec, cache, device, name)
            found = replace(found, target=replace(found.target, cudnn=key["cudnn"]))
            found = record_switch(found, on)
            if cache is not None:
                written = cache.save_schedule(key, found, name)
                path = str(written) if written else None
        elif cache is not None:
            path = str(cache.schedule_path(key, name))
    compiled = compile_schedule(traced, found, device, dtype, settings.use_cuda_graph, options)
    out_spec, rel_err = _check(module, traced, compiled, inputs, settings)
    return Plan(traced, found, compiled, out_spec, source, time.perf_counter() - t0, rel_err, path)


def _key(traced: TracedModel, inputs: tuple[torch.Tensor, ...], device: torch.device,
         settings: DropinSettings, cost_spec: str) -> dict[str, Any]:
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else device.type
    cudnn = str(torch.backends.cudnn.version()) if cuda else ""
    sig = [(list(x.shape), str(x.dtype).removeprefix("torch.")) for x in inputs]
    return schedule_key(traced.graph, sig, name, torch.__version__, cudnn, settings.strategy,
                        settings.config, cost_spec, settings.engine_options.label(),
                        cuda and _tf32_on())


def _load_given(schedule: Schedule | str | os.PathLike[str]) -> Schedule:
    return schedule if isinstance(schedule, Schedule) else Schedule.load(schedule)


def _given(found: Schedule, traced: TracedModel, plain: TracedModel, on: bool) -> Schedule:
    """A schedule the caller passed, checked against the traced graph (``plain``: the same
    without fused regions, to say when ``fuse_epilogues`` is why it does not fit)."""
    try:
        validate_schedule(found, traced.graph)
    except ScheduleError as e:
        fits = fitting_switch(found, plain)
        if fits is True and not on:
            raise ScheduleError(
                "the given schedule was made with fused regions (fuse_epilogues, `optimize "
                "--fuse-epilogues`) and does not record it; pass fuse_epilogues=True") from None
        if fits is False and on:
            raise ScheduleError("the given schedule was made without fused regions; drop "
                                "fuse_epilogues=True") from None
        raise ScheduleError(f"the given schedule does not fit this model and input: {e}") from None
    return found


def _search(traced: TracedModel, settings: DropinSettings, cost_spec: str,
            cache: ScheduleCache | None, device: torch.device, name: str) -> Schedule:
    """Search with ``cost_spec``; a measured search keeps its stage latencies in the cache."""
    graph = traced.graph
    if cost_spec.lower() != "measured":
        cost = make_cost_model(cost_spec, traced=traced)
        return optimize(graph, settings.strategy, cost, settings.config, model_name=name,
                        leaf_modules=traced.leaf_modules)
    with torch.cuda.device(device):
        inner = default_measured(traced, options=settings.engine_options)
        key = current_key(graph)
        measure = _measure_settings(inner)
        db = cache.load_profile(key, measure) if cache is not None else None
        cost: CostModel = inner
        if db is not None:  # a stage that fails to measure is estimated, never stored
            cost = CachedCost(db, inner, name, fallback=SimulatedCost("h100"))
        found = optimize(graph, settings.strategy, cost, settings.config, model_name=name,
                         leaf_modules=traced.leaf_modules)
    if cache is not None and db is not None:
        db.set_model_info(name, fingerprint=graph.fingerprint(), r=settings.r, s=settings.s,
                          strategies=[settings.strategy])
        cache.save_profile(db, measure)
    return found


def _measure_settings(cost: Any) -> dict[str, Any]:
    """What makes stage latencies comparable: TF32 and the engine's levers (not the counts)."""
    full = measure_settings(cost)
    return {k: full[k] for k in ("tf32_cudnn", "tf32_matmul", "engine", "weights") if k in full}


def _check(module: nn.Module, traced: TracedModel, compiled: CompiledSchedule,
           inputs: tuple[torch.Tensor, ...], settings: DropinSettings) -> tuple[Any, float | None]:
    """The output's pytree spec, and the compiled schedule's error against the model's forward."""
    with torch.no_grad():
        ref = module(*inputs)
    leaves, spec = pytree.tree_flatten(ref)
    if not all(isinstance(t, torch.Tensor) for t in leaves):
        raise DropinError("the model returns something other than tensors; return tensors only")
    if len(leaves) != len(traced.graph.outputs):
        raise DropinError(f"the schedule returns {len(traced.graph.outputs)} tensor(s), the "
                          f"model {len(leaves)}")
    if not settings.check:
        return spec, None
    out = compiled(*inputs)
    out = list(out) if isinstance(out, tuple) else [out]
    err = relative_error(out, leaves)
    tol = settings.check_tolerance
    if tol is None:
        tol = tolerance(compiled.device, compiled.dtype, _tf32_on())
        if not err <= tol:  # a second look, at the model's own conditioning
            tol = conditioned_tolerance(module, inputs, tol)
    if not err <= tol:  # NaN fails too
        raise DropinError(
            f"the compiled schedule's output differs from the model's by {err:.2e} (relative; "
            f"tolerance {tol:.1e}, the model's own rounding taken into account); this is a "
            "bug: please report it with the model. Pass check_tolerance= to accept it, or "
            "check=False to skip the check")
    return spec, err


def conditioned_tolerance(module: nn.Module, inputs: tuple[torch.Tensor, ...],
                          tol: float) -> float:
    """``tol`` widened by how much the model amplifies float32 rounding: its own float32 forward
    against float64, both on the CPU (:func:`~ios_core.runtime.executor.scaled_tolerance`, as
    ``check`` does). Looked at only where the first comparison fails: it costs a float64 copy of
    the model. Both sides of the drop-in's comparison round, so twice the scaled tolerance."""
    try:
        ref = pytree.tree_leaves(reference_outputs(module, inputs))
        own = own_error(module, inputs, ref)
    except (RuntimeError, TypeError):  # the model runs on its device only: no second look
        return tol
    return 2 * scaled_tolerance(tol, own) if own > TYPICAL_OWN_ERROR else tol
