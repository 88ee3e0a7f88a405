"""The one engine that runs stages: used by the executor, the measured cost model and benchmarks.

A stage becomes a :class:`StagePlan`: its groups as lists of steps, where a step is one operator
(:class:`OpStep`, calls the node's kernel) or one wide convolution standing for a merge stage
(:class:`MergedStep`, writes each merged op's output as a channel view of the wide output). Steps
read and write an environment ``env: dict[name -> tensor]``.

:func:`run_stage` runs a plan. Without streams (CPU, or a single group) the groups run one after
another on the current stream. With streams (CUDA, several groups) the current stream records a
fork event, group *i* runs on ``streams[i]`` after waiting on it and records its own event, and the
current stream waits on every group's event: the stage ends joined on the current stream, with no
device synchronisation, so the whole thing can be captured in one CUDA graph.

Memory: a tensor may be dropped from ``env`` once the stage holding its last reader has run. Every
stream's work in a later stage is ordered after that join, so the caching allocator may reuse the
block on any stream (also inside a graph capture) without ``record_stream``. For the same reason a
buffer that several streams of a stage write (a concat's, :mod:`levers`) is allocated on the
current stream before the fork, never on one of the side streams.

Optional levers (:class:`~ios_core.runtime.levers.EngineOptions`: fused cuDNN conv+ReLU and
conv+add+ReLU, concats as views or filled in place, stream cap, launch order and priority) change
the steps and the stream lanes of a plan, never what it computes; the defaults are the plain path
above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from ios_core.frontend.kernels import ConvKernel, Kernel
from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import merge_stage_problem, trailing_concat
from ios_core.runtime import levers
from ios_core.runtime.levers import DEFAULT_OPTIONS, Alloc, ConcatLayout, EngineOptions
from ios_core.runtime.merged_conv import MergedConv, MergeError, merge_convs

Env = dict[str, torch.Tensor]
T = TypeVar("T")
WARMUP_RUNS = 3  # eager runs on a side stream before capture (cuDNN plans, allocator): torch docs


class CaptureError(RuntimeError):
    """Work that ran eagerly could not be captured in a CUDA graph (it synchronises, say)."""


@dataclass(frozen=True)
class OpStep:
    """One operator: ``env[name] = kernel(*env[inputs])``."""

    name: str
    kernel: Kernel
    inputs: tuple[str, ...]

    def run(self, env: Env) -> None:
        env[self.name] = self.kernel(*(env[s] for s in self.inputs))


@dataclass(frozen=True)
class MergedStep:
    """A merge stage: one wide conv; each merged op's output is a channel view of it, or, where
    ``packed`` says so, a packed NHWC copy of that view (see ``EngineOptions.pack_slices``)."""

    names: tuple[str, ...]
    input: str
    conv: MergedConv
    packed: tuple[bool, ...] = ()

    def run(self, env: Env) -> None:
        outs = self.conv.split(self.conv(env[self.input]))
        if self.packed:
            outs = [o.contiguous(memory_format=torch.channels_last) if pack and o.dim() == 4
                    else o for o, pack in zip(outs, self.packed, strict=True)]
        env.update(zip(self.names, outs, strict=True))


Step = (OpStep | MergedStep | levers.ConcatStep | levers.SlotStep | levers.ConvAddReluStep)


@dataclass(frozen=True)
class StagePlan:
    """A stage ready to run: groups of steps, and the tensors it reads from outside itself."""

    strategy: str
    groups: tuple[tuple[Step, ...], ...]
    reads: tuple[str, ...]  # names produced before this stage (graph inputs or earlier stages)
    writes: tuple[str, ...]  # names this stage defines
    lanes: tuple[tuple[int, ...], ...] = ()  # group indices per stream; (): one stream a group
    allocs: tuple[Alloc, ...] = ()  # concat buffers to allocate before the fork

    @property
    def width(self) -> int:
        """Streams the stage runs on."""
        return len(self.lanes) if self.lanes else len(self.groups)

    @property
    def concurrent(self) -> bool:
        return self.width > 1

    @property
    def lane_groups(self) -> tuple[tuple[tuple[Step, ...], ...], ...]:
        """The groups each stream runs, in order."""
        if not self.lanes:
            return tuple((g,) for g in self.groups)
        return tuple(tuple(self.groups[i] for i in lane) for lane in self.lanes)


@dataclass(frozen=True)
class StageEvents:
    """The events a multi-group stage records: one fork, one per group."""

    fork: torch.cuda.Event
    done: tuple[torch.cuda.Event, ...]

    @staticmethod
    def for_plan(plan: StagePlan) -> StageEvents | None:
        if not plan.concurrent:
            return None  # a single group (or lane) runs straight on the current stream
        return StageEvents(torch.cuda.Event(), tuple(torch.cuda.Event() for _ in range(plan.width)))


def build_stage(
    graph: OpGraph,
    kernels: Mapping[str, Kernel],
    strategy: str,
    groups: Sequence[Sequence[str]],
    options: EngineOptions | None = None,
    layout: ConcatLayout | None = None,
) -> StagePlan:
    """Turn a stage of ``graph`` into steps over ``kernels`` (already on their device).

    A merge stage precomputes its wide weight here, once. ``options`` pick the levers (kernels
    should have been through :func:`levers.prepare_kernels` with the same options); ``layout``
    (from :func:`levers.plan_concats`) says which concats become views or are filled in place.
    Raises :class:`MergeError` when a merge stage's convolutions cannot be merged, ``KeyError``
    when a kernel is missing.
    """
    opts = options or DEFAULT_OPTIONS
    layout = layout or ConcatLayout()
    groups = [tuple(g) for g in groups]
    if strategy == "merge":
        steps: tuple[tuple[Step, ...], ...] = (_merge_steps(graph, kernels, groups, opts, layout),)
    else:
        steps = tuple(_group_steps(graph, kernels, g, opts, layout) for g in groups)
    writes = tuple(n for g in groups for n in g)
    inside = set(writes)
    reads = tuple(dict.fromkeys(s for n in writes for s in graph[n].inputs if s not in inside))
    lanes = levers.assign_lanes(graph, groups, opts) if strategy != "merge" else ()
    allocs = levers.stage_allocs(graph, layout, writes, reads)
    return StagePlan(strategy, steps, reads, writes, lanes, allocs)


def _group_steps(
    graph: OpGraph, kernels: Mapping[str, Kernel], group: tuple[str, ...],
    opts: EngineOptions, layout: ConcatLayout,
) -> tuple[Step, ...]:
    pairs = levers.conv_add_pairs(graph, kernels, group) if opts.fuse_conv_add_relu else {}
    fused_convs = set(pairs.values())
    steps: list[Step] = []
    for name in group:
        if name in fused_convs:
            continue  # computed by its add's fused step
        if name in pairs:
            steps.append(levers.conv_add_step(graph, kernels, name, pairs[name]))
        elif name in layout.cats:
            steps.append(levers.concat_step(graph, kernels, layout, name))
        elif name in layout.slots:
            steps.append(levers.slot_step(graph, kernels, layout, name))
        else:
            steps.append(_op_step(graph, kernels, name))
    return tuple(steps)


def _op_step(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> OpStep:
    if name not in kernels:
        raise KeyError(f"no kernel for operator {name!r}: the traced model does not cover it")
    return OpStep(name, kernels[name], tuple(graph[name].inputs))


def _merge_steps(
    graph: OpGraph, kernels: Mapping[str, Kernel], groups: Sequence[tuple[str, ...]],
    opts: EngineOptions, layout: ConcatLayout,
) -> tuple[Step, ...]:
    """A merge stage's wide conv, then the concat it ends in, if any: a view of the wide output
    where the layout plans one (its channels are put in the concat's order), else a copy."""
    if len(groups) != 1:
        raise MergeError(f"a merge stage has exactly one group (got {len(groups)})")
    convs, cat = trailing_concat(graph, groups[0])
    if cat is not None and (problem := merge_stage_problem(graph, groups[0])):
        raise MergeError(problem)
    merged = _merged_step(graph, kernels, tuple(convs), opts, layout)
    if cat is None:
        return (merged,)
    return merged, _group_steps(graph, kernels, (cat,), opts, layout)[0]


def _merged_step(
    graph: OpGraph, kernels: Mapping[str, Kernel], names: tuple[str, ...],
    opts: EngineOptions = DEFAULT_OPTIONS, layout: ConcatLayout | None = None,
) -> MergedStep:
    sources = {tuple(graph[n].inputs) for n in names}
    if len(sources) != 1 or len(next(iter(sources))) != 1:
        raise MergeError(f"merged convolutions {list(names)} do not all read the same one tensor")
    if layout is not None and layout.cats:  # channels in a concat's order: it becomes a view
        names = levers.merge_order(graph, layout, names)
    convs = [kernels[n] for n in names]
    for n, k in zip(names, convs, strict=True):
        if not isinstance(k, ConvKernel):
            raise MergeError(f"operator {n!r} is not a convolution kernel and cannot be merged")
    try:
        merged = merge_convs(convs)  # type: ignore[arg-type]
    except MergeError as e:
        raise MergeError(f"cannot merge {list(names)}: {e}") from None
    packed = levers.packed_slices(graph, names, opts)
    return MergedStep(names, next(iter(sources))[0], levers.prepare_merged(merged, opts), packed)


def run_stage(
    plan: StagePlan,
    env: Env,
    streams: Sequence[torch.cuda.Stream] | None = None,
    events: StageEvents | None = None,
) -> None:
    """Run ``plan`` reading and writing ``env``; see the module docstring for the stream protocol.

    ``streams`` (at least ``plan.width``) and ``events`` (from :meth:`StageEvents.for_plan`) are
    needed for a multi-group stage on CUDA; without them the groups run in order (lane by lane).
    """
    levers.allocate(plan.allocs, env)  # on the current stream, before the fork
    lanes = plan.lane_groups
    if streams is None or events is None or len(lanes) < 2:
        for lane in lanes:
            _run_lane(lane, env)
        return
    main = torch.cuda.current_stream()
    events.fork.record(main)
    for lane, stream, done in zip(lanes, streams[: len(lanes)], events.done, strict=True):
        stream.wait_event(events.fork)
        with torch.cuda.stream(stream):  # kernels and their allocations go to this stream
            _run_lane(lane, env)
        done.record(stream)
    for done in events.done:
        main.wait_event(done)


def _run_lane(lane: Sequence[Sequence[Step]], env: Env) -> None:
    for group in lane:
        for step in group:
            step.run(env)


class StreamPool:
    """Side streams reused across stages (a stage needs one per lane); grows on demand.

    The first ``high_priority`` streams are created at high priority (CUDA graphs keep a captured
    kernel's stream priority): a stage's first lane runs on stream 0.
    """

    def __init__(self, device: torch.device, size: int = 0, high_priority: int = 0) -> None:
        self.device = device
        self.high_priority = high_priority
        self._streams: list[torch.cuda.Stream] = []
        self.take(size)

    def take(self, n: int) -> list[torch.cuda.Stream]:
        while len(self._streams) < n:
            priority = -1 if len(self._streams) < self.high_priority else 0  # lower: sooner
            self._streams.append(torch.cuda.Stream(device=self.device, priority=priority))
        return self._streams[:n]

    def __len__(self) -> int:
        return len(self._streams)


def move_kernels(
    kernels: Mapping[str, Kernel], names: Sequence[str], device: torch.device, dtype: torch.dtype
) -> dict[str, Kernel]:
    """Copies of the named kernels with parameters on ``device`` in ``dtype``."""
    missing = [n for n in names if n not in kernels]
    if missing:
        raise KeyError(f"no kernel for operator {missing[0]!r}: the traced model does not cover it")
    return {n: kernels[n].to(device, dtype) for n in names}


def capture(
    run: Callable[[], T], warmup_runs: int = WARMUP_RUNS, pool: tuple[int, int] | None = None
) -> tuple[torch.cuda.CUDAGraph, T]:
    """Capture ``run`` (on the current CUDA device) in one CUDA graph; also return what it returned.

    As torch's docs ask, ``run`` first runs eagerly on a side stream (cuDNN picks its algorithms,
    lazy handles and events get created) so that the capture records only the steady state. The
    capture itself is ``torch.cuda.graph`` without its ``empty_cache()``, which would hand the
    allocator's cache back to the driver on every one of the thousands of stage measurements
    (callers trim the cache themselves, see ``MeasuredCost``). ``pool`` (from
    ``torch.cuda.graph_pool_handle()``) lets graphs that are never replayed concurrently share
    memory; the pool dies with the last graph using it, so a later capture into it fails.
    """
    main = torch.cuda.current_stream()
    side = torch.cuda.Stream()
    side.wait_stream(main)
    with torch.cuda.stream(side):
        for _ in range(warmup_runs):
            run()
    main.wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):  # capture needs a stream other than the legacy default one
        graph.capture_begin(*(() if pool is None else (pool,)))
        try:
            result = run()
        except RuntimeError as e:  # the eager warm-up ran: capture itself is what failed
            _abandon(graph)
            raise CaptureError(str(e)) from e
        graph.capture_end()
    main.wait_stream(side)
    return graph, result


def _abandon(graph: torch.cuda.CUDAGraph) -> None:
    """End a capture that failed half-way, keeping the original error the one reported."""
    try:
        graph.capture_end()
    except RuntimeError:
        pass
