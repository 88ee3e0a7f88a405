"""``optimize_module``: a model in, an ``nn.Module`` out whose forward runs the IOS schedule.

::

    from ios_core import optimize_module
    fast = optimize_module(model, (x,))          # traced, searched (or loaded), compiled, checked
    y = fast(x)                                  # on CUDA: one multi-stream CUDA graph replay

Each input signature (the shapes and dtypes of the inputs) gets its own :class:`~ios_core.dropin.
plan.Plan`: the example inputs' at once, any other on its first call, searched or loaded from the
cache (``on_new_shape="search"``), or refused with a ValueError (``on_new_shape="error"``). On
CUDA a call copies the inputs into the plan's static buffers, replays the graph and returns
clones of the outputs, which the caller may keep; with ``reuse_outputs=True`` it returns the
graph's own output buffers, which the next call overwrites (saves one copy per output).

The module is for inference: outputs carry no autograd history, the model is switched to eval
mode, and its weights are read when a plan is built (BatchNorms folded into convs, merged convs'
weights concatenated), so later changes to the model's weights are not seen; build a new
optimized module after changing them. It runs on the device of the model's parameters; to move
it, move the model and optimize again (``.to()`` on the optimized module is refused).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ios_core.dropin.cache import ScheduleCache
from ios_core.dropin.plan import Plan, Signature, build_plan, input_signature
from ios_core.dropin.settings import DropinSettings
from ios_core.ir.schedule import Schedule

__all__ = ["OptimizedModule", "optimize_module"]


class OptimizedModule(nn.Module):
    """Runs ``model`` through IOS schedules, one plan per input signature (module docstring)."""

    def __init__(self, model: nn.Module, example_inputs: Sequence[torch.Tensor],
                 settings: DropinSettings, name: str | None = None,
                 schedule: Schedule | str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.original = model  # a submodule: state_dict and printing show the model
        self.settings = settings
        self.name = name or type(model).__name__
        folder = settings.cache_dir()
        self.cache = ScheduleCache(folder) if folder is not None else None
        self.plans: dict[Signature, Plan] = {}
        inputs = _as_inputs(example_inputs)
        sig = input_signature(inputs)
        self.plans[sig] = build_plan(model, inputs, settings, self.cache, self.name, schedule)
        self._last = sig

    @property
    def plan(self) -> Plan:
        """The plan of the most recent call (the example inputs' before any call)."""
        return self.plans[self._last]

    @property
    def schedule(self) -> Schedule:
        return self.plan.schedule

    def forward(self, *inputs: torch.Tensor, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError("an optimized module takes its inputs by position, as its example "
                            f"inputs were given (got keyword arguments {sorted(kwargs)})")
        sig = input_signature(inputs)
        plan = self.plans.get(sig)
        if plan is None:
            plan = self._new_plan(sig, inputs)
        self._last = sig
        return plan.run(inputs, self.settings.reuse_outputs)

    def _new_plan(self, sig: Signature, inputs: tuple[torch.Tensor, ...]) -> Plan:
        if self.settings.on_new_shape == "error":
            known = "; ".join(_describe(s) for s in self.plans)
            raise ValueError(f"no schedule for inputs {_describe(sig)} (this module has schedules "
                             f"for {known}); pass on_new_shape='search' to optimize_module to "
                             "search one for each new input shape")
        plan = build_plan(self.original, tuple(x.detach() for x in inputs), self.settings,
                          self.cache, self.name)
        self.plans[sig] = plan
        return plan

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> OptimizedModule:
        raise RuntimeError("an optimized module is bound to the device, dtype and weights it was "
                           "built with: move or convert the model first, then call "
                           "optimize_module again")

    def extra_repr(self) -> str:
        return "\n".join(f"{_describe(sig)}: {plan.schedule.search.strategy}, "
                         f"{len(plan.schedule.stages)} stages ({plan.source})"
                         for sig, plan in self.plans.items())


def _as_inputs(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if not isinstance(example_inputs, (tuple, list)):
        raise TypeError("example_inputs must be a tensor or a tuple of tensors, one per forward "
                        f"argument (got {type(example_inputs).__name__})")
    inputs = tuple(example_inputs)
    input_signature(inputs)
    return tuple(x.detach() for x in inputs)


def _describe(sig: Signature) -> str:
    """``(1, 3, 224, 224) float32, ...``."""
    return ", ".join(f"{tuple(shape)} {str(dtype).removeprefix('torch.')}" for shape, dtype in sig)


def optimize_module(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    cost: str = "measured",
    strategy: str = "ios-both",
    r: int = 3,
    s: int = 8,
    cache: bool | str | os.PathLike[str] | None = True,
    on_new_shape: str = "search",
    *,
    schedule: Schedule | str | os.PathLike[str] | None = None,
    reuse_outputs: bool = False,
    check: bool = True,
    check_tolerance: float | None = None,
    use_cuda_graph: bool = True,
    engine: Any = None,
    name: str | None = None,
    fuse_epilogues: bool = False,
) -> OptimizedModule:
    """An ``nn.Module`` that computes ``model``'s outputs by its IOS schedule (module docstring).

    ``cost``: ``"measured"`` times the stages on this GPU (on the CPU, where nothing can be
    measured, the simulated H100 prices them instead), ``"simulated:<preset>"`` or
    ``"profile:<name|path>"``. ``strategy``, ``r`` and ``s``: the search
    (:class:`~ios_core.search.config.SearchConfig`). ``cache``: True for the default folder
    (``$IOS_CACHE_DIR`` or ``~/.cache/ios-explorer``), a folder, or False.
    ``schedule``: a :class:`~ios_core.ir.schedule.Schedule` or schedule file (the app's Export
    page, ``python -m ios_core optimize --out``) to run as it is for the example inputs; it must
    have been made for this model at this input shape. ``engine``: the executor's
    :class:`~ios_core.runtime.options.EngineOptions` (None: its defaults). ``name``: how cache
    files and messages name the model (default: its class name). ``fuse_epilogues``: schedule
    fused regions and run each one's elementwise work as one compiled kernel
    (:mod:`ios_core.runtime.fuse_switch`; a given schedule made with it turns it on by itself).
    """
    settings = DropinSettings(strategy=strategy, r=r, s=s, cost=cost, cache=cache,
                              on_new_shape=on_new_shape, reuse_outputs=reuse_outputs,
                              check=check, check_tolerance=check_tolerance,
                              use_cuda_graph=use_cuda_graph, engine=engine,
                              fuse_epilogues=fuse_epilogues)
    return OptimizedModule(model, example_inputs, settings, name=name, schedule=schedule)
