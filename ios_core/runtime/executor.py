"""Run a Schedule with torch: what the model computes, in the schedule's stages.

::

    compiled = compile_schedule(traced, schedule, device="cuda")
    y = compiled(x)            # a fresh tensor; equals traced.module(x) up to rounding
    compiled.replay()          # for timing: re-runs on the static input, no copies
    time_ms(compiled)          # ios_core.runtime.timing: median of CUDA-graph replays
    check(traced, schedule, device="cuda")
    # CheckResult(rel_err=4.7e-05, tolerance=0.0005, ok=True, ...)  (Inception V3 on the H100)

On the CPU the stages run in order, each stage's groups one after another (a merge stage as one
wide conv), so every schedule is testable in CI. On CUDA the same stage plans run through
:func:`ios_core.runtime.engine.run_stage`, each group (or lane) of a multi-group stage on its own
stream from a pool reused across stages, joined by events; the whole schedule is captured in ONE
CUDA graph at compile time and replayed. ``compiled(x)`` copies ``x`` into the static input,
replays and returns **clones** of the static outputs (safe to keep across calls);
``compiled.static_outputs`` are the references that the next replay overwrites. With
``use_cuda_graph=False`` the CUDA path runs eagerly.

``options`` pick the engine's speed levers (:mod:`ios_core.runtime.options`: fused cuDNN
conv+ReLU, concats as views, cudnn.benchmark, stream caps, channels_last...). ``options=None``
means DEFAULT_OPTIONS, the levers that paid on the H100; ``options=PLAIN_OPTIONS`` (or
``EngineOptions()``) runs the plain path: one kernel per operator, NCHW, concats copied, one
stream per group in schedule order. ``compiled.lever_report()`` says what the levers did (fused
calls, concat views, ...).

The stages are lowered by :func:`ios_core.runtime.lowering.lower_schedule`, the lowering the
measured cost model times its stages with, and run by the same engine.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule, validate_schedule
from ios_core.runtime.channels_last import to_layout
from ios_core.runtime.engine import (
    CaptureError,
    StageEvents,
    StreamPool,
    capture,
    cudnn_benchmark,
    run_stage,
)
from ios_core.runtime.fused_conv import FusedMergedConv, fuse_states
from ios_core.runtime.lowering import lower_schedule
from ios_core.runtime.options import EngineOptions, resolve_options
from ios_core.runtime.steps import (
    ConcatStep,
    ConvAddReluStep,
    Env,
    MergedStep,
    OpStep,
    SlotStep,
    StagePlan,
    ValueAndMeanStep,
)


class CompiledSchedule:
    """A schedule bound to kernels on one device; call it like the model."""

    def __init__(
        self,
        graph: OpGraph,
        schedule: Schedule,
        plans: Sequence[StagePlan],
        device: torch.device,
        dtype: torch.dtype,
        use_cuda_graph: bool,
        seed: int = 0,
        options: EngineOptions | None = None,
    ) -> None:
        self.graph = graph
        self.schedule = schedule
        self.device = device
        self.dtype = dtype
        self.options = resolve_options(options)
        self._plans = tuple(plans)
        self._release = release_lists(graph, plans)
        cuda = device.type == "cuda"
        max_groups = max((p.width for p in plans if p.concurrent), default=0)
        high = 1 if self.options.stream_priority else 0
        self._pool = StreamPool(device, max_groups, high) if cuda else None
        self._events = [StageEvents.for_plan(p) if cuda else None for p in plans]
        # random, never zeros: zeros hide unwritten outputs and can run faster than real data
        self.static_inputs = [to_layout(x, self.options)
                              for x in random_inputs(graph, seed, device, dtype)]
        self._cuda_graph: torch.cuda.CUDAGraph | None = None
        self.static_outputs: tuple[torch.Tensor, ...] = ()
        if cuda and use_cuda_graph:
            self._capture()
        else:
            self.static_outputs = self._run(self.static_inputs)

    @property
    def uses_cuda_graph(self) -> bool:
        return self._cuda_graph is not None

    @property
    def num_streams(self) -> int:
        """Side streams the schedule uses (0 on CPU or when every stage has one group)."""
        return len(self._pool) if self._pool is not None else 0

    # ---- running ------------------------------------------------------------------------------
    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The model's output(s) for ``inputs``: new tensors, never the static buffers."""
        self._check_inputs(inputs)
        if self._cuda_graph is None:
            outs = self._run([to_layout(x.to(self.device, self.dtype), self.options)
                              for x in inputs])
        else:
            for static, x in zip(self.static_inputs, inputs, strict=True):
                static.copy_(x)  # copy_ also moves the device and casts the dtype
            self._cuda_graph.replay()
            outs = tuple(t.clone() for t in self.static_outputs)
        return outs[0] if len(outs) == 1 else outs

    def replay(self) -> None:
        """Run once on the static inputs, writing ``static_outputs``; what timing measures."""
        if self._cuda_graph is not None:
            self._cuda_graph.replay()
        else:
            self.static_outputs = self._run(self.static_inputs)

    def _run(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        env: Env = dict(zip(self.graph.input_names, inputs, strict=True))
        streams = self._pool.take(len(self._pool)) if self._pool is not None else None
        on_device = torch.cuda.device(self.device) if streams is not None else nullcontext()
        bench = cudnn_benchmark(self.options.cudnn_benchmark)
        with torch.no_grad(), on_device, bench:  # current_stream() below must be this device's
            for plan, events, drop in zip(self._plans, self._events, self._release, strict=True):
                run_stage(plan, env, streams, events)
                for name in drop:  # after the stage's join: safe to reuse on any stream
                    env.pop(name, None)  # a conv fused into its add never had an entry
        return tuple(env[name] for name in self.graph.outputs)

    def lever_report(self) -> dict[str, object]:
        """What the levers did on the last run: fused calls, refusals, concat modes, streams."""
        steps = [step for plan in self._plans for group in plan.groups for step in group]
        report: dict[str, object] = {"options": self.options.label(), "streams": self.num_streams}
        states = [s.conv.state for s in steps if isinstance(s, MergedStep)
                  and isinstance(s.conv, FusedMergedConv)]
        states += fuse_states({s.name: s.kernel for s in steps if isinstance(s, OpStep)})
        adds = [s.state for s in steps if isinstance(s, ConvAddReluStep)]
        for key, group in (("conv_relu", states), ("conv_add_relu", adds)):
            if group:
                report[key] = _count(s.last or "not run" for s in group)
                reasons = sorted({s.reason for s in group if s.reason})
                if reasons:
                    report[f"{key}_refused"] = reasons
        for key, kind in (("concat", ConcatStep), ("slots", SlotStep)):
            modes = [s.last.get("mode", "not run") for s in steps if isinstance(s, kind)]
            if modes:
                report[key] = _count(modes)
        fused_means = sum(isinstance(s, ValueAndMeanStep) for s in steps)
        if fused_means:
            report["fused_means"] = fused_means
        return report

    def _capture(self) -> None:
        # cudnn.benchmark (when asked) stays on through warm-up AND capture: the capture must find
        # the algorithms the warm-up timed, or it would time them itself (and sync) while capturing
        with torch.cuda.device(self.device), cudnn_benchmark(self.options.cudnn_benchmark):
            try:
                graph, outs = capture(lambda: self._run(self.static_inputs))
            except CaptureError as e:
                raise CaptureError(
                    f"the schedule could not be captured in a CUDA graph ({e}); an operator may "
                    "synchronise with the host: compile with use_cuda_graph=False"
                ) from e
        self._cuda_graph, self.static_outputs = graph, outs

    def _check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        specs = self.graph.inputs
        if len(inputs) != len(specs):
            raise ValueError(f"the model takes {len(specs)} input(s), got {len(inputs)}")
        for spec, x in zip(specs, inputs, strict=True):
            if tuple(x.shape) != tuple(spec.shape):
                raise ValueError(
                    f"input {spec.name!r} has shape {tuple(x.shape)}, but the schedule was "
                    f"compiled for {tuple(spec.shape)} (batch size is part of a schedule)"
                )


def compile_schedule(
    traced,  # frontend.TracedModel: .graph (OpGraph) and .kernels (dict name -> Kernel)
    schedule: Schedule,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    use_cuda_graph: bool = True,
    options: EngineOptions | None = None,
) -> CompiledSchedule:
    """Check ``schedule`` against the traced graph, then build a runnable for it on ``device``.

    ``options`` pick the engine's speed levers (:class:`~ios_core.runtime.options.EngineOptions`;
    None: DEFAULT_OPTIONS, see :func:`~ios_core.runtime.options.resolve_options`). Raises
    :class:`~ios_core.ir.schedule.ScheduleError` (before anything runs) when the schedule is not
    a valid plan for the graph, or a merge stage cannot be computed as one wide convolution;
    ``KeyError`` when the traced model has no kernel for one of the graph's operators.
    """
    graph: OpGraph = traced.graph
    validate_schedule(schedule, graph)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} was asked for, but torch sees no CUDA GPU")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    opts = resolve_options(options)
    plans = lower_schedule(graph, traced.kernels, schedule, device, dtype, opts)
    return CompiledSchedule(graph, schedule, plans, device, dtype, use_cuda_graph, options=opts)


def _count(items) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def release_lists(graph: OpGraph, plans: Sequence[StagePlan]) -> list[tuple[str, ...]]:
    """For each stage, the tensors no later stage reads (graph outputs are kept)."""
    last: dict[str, int] = {}
    for i, plan in enumerate(plans):
        for name in (*plan.reads, *plan.writes):
            last[name] = i
    keep = set(graph.outputs)
    drops: list[list[str]] = [[] for _ in plans]
    for name, i in last.items():
        if name not in keep:
            drops[i].append(name)
    return [tuple(d) for d in drops]


def random_inputs(
    graph: OpGraph,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Seeded standard-normal tensors for the graph's inputs (drawn on the CPU: alike anywhere)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(spec.shape, generator=gen).to(device, dtype) for spec in graph.inputs]


# ---- checking against the original model ----------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    rel_err: float  # ‖out − ref‖ / ‖ref‖ over all outputs, ref = the module in float64 on CPU
    tolerance: float  # the device's and dtype's, scaled by the module's own conditioning
    ok: bool
    own_rel_err: float = 0.0  # the module's own float32 forward against the same reference
    note: str = ""  # why the comparison shows nothing (then ``ok`` is False), else ""

    def to_json(self) -> dict[str, float | bool | str]:
        out: dict[str, float | bool | str] = {"rel_err": self.rel_err, "tolerance": self.tolerance,
                                              "ok": self.ok, "own_rel_err": self.own_rel_err}
        return {**out, "note": self.note} if self.note else out


# Relative-error tolerances; the reference is the original module in float64. The sample models
# (random weights) amplify rounding about 800x. Measured on the H100 for Inception V3, the
# module's OWN eager output is off float64 by 5e-5 in fp32 (CPU and CUDA, TF32 off), 4.5e-2 with
# TF32, 8e-2 in fp16 and 3e-1 in bf16; schedules land on the same values. So check() switches
# TF32 off unless asked, and 16-bit checks of the sample models fail by construction: the bounds
# below suit well-conditioned (trained) nets.
TOLERANCES: dict[tuple[str, torch.dtype], float] = {
    ("cpu", torch.float64): 1e-10,
    # fp32: folding BN and merging convs reorder the rounding; the deep random-weight sample
    # models are already ~5e-5 off float64 on their own, while a wrong schedule is off by ~1
    ("cpu", torch.float32): 5e-4,
    ("cuda", torch.float64): 1e-10,
    ("cuda", torch.float32): 5e-3,  # cuDNN convs and matmuls in TF32 (10-bit mantissa)
    ("cuda-no-tf32", torch.float32): 5e-4,  # TF32 off: other cuDNN algorithms than the CPU's
    ("cpu", torch.float16): 2e-2,
    ("cuda", torch.float16): 2e-2,
    ("cpu", torch.bfloat16): 2e-2,  # 8-bit mantissa
    ("cuda", torch.bfloat16): 2e-2,
}
# The tolerances above suit a module whose own float32 forward is about TYPICAL_OWN_ERROR off
# float64 (the sample models). A worse-conditioned one (timm's efficientnetv2_rw_t with random
# weights at 160x160: 4e-4) amplifies every rounding as much, a schedule's reordered rounding
# included, so check() scales the tolerance by how much worse the module's own error is.
TYPICAL_OWN_ERROR = 5e-5
MEANINGFUL_TOLERANCE = 0.1  # a wrong schedule is off by about 1; above this it could pass


def scaled_tolerance(base: float, own_rel_err: float) -> float:
    """``base`` grown by the module's own float32 error, where that exceeds the typical one.

    >>> scaled_tolerance(5e-4, 1e-6), scaled_tolerance(5e-4, 4e-4)
    (0.0005, 0.004)
    """
    return base * max(1.0, own_rel_err / TYPICAL_OWN_ERROR)


def vacuous_reason(ref: Sequence[torch.Tensor], tolerance: float) -> str:
    """Why comparing against ``ref`` would show nothing, or "".

    >>> vacuous_reason([torch.zeros(2)], 5e-4)[:40]
    "the model's own output is all zeros on t"
    >>> vacuous_reason([torch.ones(2)], 5e-4)
    ''
    """
    if all(not bool(r.ne(0).any()) for r in ref):
        return ("the model's own output is all zeros on this input, so matching it shows nothing "
                "(a zero-initialised last layer?): give the model non-zero weights and check again")
    if tolerance > MEANINGFUL_TOLERANCE:
        return (f"the model's own float32 output is far off float64 (the tolerance it needs, "
                f"{tolerance:.1e}, could hide a wrong schedule): check it in float64, or with "
                "trained or smaller weights")
    return ""


def tolerance_for(device: str | torch.device, dtype: torch.dtype) -> float:
    kind = torch.device(device).type
    if kind == "cuda" and dtype == torch.float32 and not _tf32_enabled():
        kind = "cuda-no-tf32"
    if (kind, dtype) not in TOLERANCES:
        raise ValueError(f"no tolerance is defined for {dtype} on {kind}")
    return TOLERANCES[(kind, dtype)]


def _tf32_enabled() -> bool:
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


def check(
    traced,
    schedule: Schedule,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    use_cuda_graph: bool = True,
    tf32: bool | None = False,
    options: EngineOptions | None = None,
) -> CheckResult:
    """Run the original module and the compiled schedule on one seeded random input and compare.

    The reference is ``traced.module`` copied to float64 on the CPU (float32 if the module refuses
    float64), so the error measured is the schedule's own, not the reference's. On CUDA in float32
    the schedule runs with TF32 off (``tf32=False``), so that a wrong schedule cannot hide in
    TF32's rounding; ``tf32=True`` turns it on, ``None`` keeps torch's settings (the tolerance
    follows). ``options`` as for :func:`compile_schedule` (None: DEFAULT_OPTIONS).

    The tolerance is :func:`tolerance_for`'s, scaled by the module's own conditioning: its own
    float32 forward on the CPU is compared with the same reference (``own_rel_err``), and where
    that error exceeds :data:`TYPICAL_OWN_ERROR` the tolerance grows in proportion
    (:func:`scaled_tolerance`). A comparison that cannot fail (an all-zero reference, or a
    tolerance above :data:`MEANINGFUL_TOLERANCE`) is never ``ok``: ``note`` says why.
    """
    with tf32_mode(tf32):
        compiled = compile_schedule(traced, schedule, device, dtype, use_cuda_graph, options)
        inputs = random_inputs(traced.graph, seed)
        out = _flatten(compiled(*inputs))
        base = tolerance_for(compiled.device, dtype)
    ref = _flatten(reference_outputs(traced.module, inputs))
    if len(out) != len(ref):
        raise ValueError(f"the schedule returns {len(out)} tensor(s), the module {len(ref)}")
    own = own_error(traced.module, inputs, ref)
    tol = scaled_tolerance(base, own)
    err = relative_error(out, ref)
    note = vacuous_reason(ref, tol)
    return CheckResult(err, tol, bool(err <= tol) and not note, own, note)  # NaN: never ok


@contextmanager
def tf32_mode(enabled: bool | None) -> Iterator[None]:
    """TF32 on or off for cuDNN convs and cuBLAS matmuls inside the block (None: as it is)."""
    if enabled is None:
        yield
        return
    flags = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            if f.allow_tf32 != enabled:  # set only what changes: the setter rewrites other state
                f.allow_tf32 = enabled
        yield
    finally:
        for f, value in zip(flags, saved, strict=True):
            if f.allow_tf32 != value:
                f.allow_tf32 = value


def reference_outputs(module: torch.nn.Module, inputs: Sequence[torch.Tensor]):
    """The module's outputs on CPU, in float64 where it allows (on a copy; the module is kept)."""
    try:
        return _outputs_in(module, inputs, torch.float64)
    except (RuntimeError, TypeError):
        return _outputs_in(module, inputs, torch.float32)


def own_error(module: torch.nn.Module, inputs: Sequence[torch.Tensor],
              ref: Sequence[torch.Tensor]) -> float:
    """The module's own float32 forward on the CPU against ``ref`` (its float64 outputs): how
    much the model itself amplifies rounding. 0 where ``ref`` is not float64 (the module
    refused it: there is nothing finer to compare with)."""
    if not all(r.dtype == torch.float64 for r in ref):
        return 0.0
    return relative_error(_flatten(_outputs_in(module, inputs, torch.float32)), ref)


def _outputs_in(module: torch.nn.Module, inputs: Sequence[torch.Tensor], dtype: torch.dtype):
    copied = copy.deepcopy(module).to("cpu", dtype).eval()
    with torch.no_grad():
        return copied(*(x.to("cpu", dtype) for x in inputs))


def relative_error(out: Sequence[torch.Tensor], ref: Sequence[torch.Tensor]) -> float:
    """‖out − ref‖ / ‖ref‖ over all tensors together, in float64."""
    pairs = [
        (o.detach().double().cpu(), r.detach().double().cpu())
        for o, r in zip(out, ref, strict=True)
    ]
    num = sum(float((o - r).pow(2).sum()) for o, r in pairs)
    den = sum(float(r.pow(2).sum()) for _, r in pairs)
    return (num / den) ** 0.5 if den > 0 else (0.0 if num == 0 else float("inf"))


def _flatten(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _flatten(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _flatten(v)]
    raise TypeError(f"cannot compare a model output of type {type(obj).__name__}")
