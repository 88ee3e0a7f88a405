"""Stage latencies measured on the attached CUDA GPU.

A stage is lowered and run as the executor lowers and runs it (one
:class:`ios_core.runtime.lowering.Lowering` for the model, then
:func:`~ios_core.runtime.engine.run_stage`: same kernels, same wide convs, same streams and
events), its outside inputs are filled with random data of the right shapes (never zeros), several
copies of it are captured back to back in one CUDA graph, and the graph's replays are timed between
CUDA events by :func:`ios_core.runtime.timing.time_samples` after warm-up; the median over the
replays divided by the copies is the stage's latency. Unrolling amortises the graph launch, which
the executor pays once per schedule, not once per stage. A replay carries a fixed cost of a few µs
(on the H200, 2026-12-01: about 3 µs with cold parameters and 6-7 µs warm, from replays of 5 and 20
copies), so a short stage gets more copies: enough for about ``replay_us`` of work by an estimate
(the simulated H100's, calibrated by the stage's parts measured so far: :meth:`estimate_ms`),
between ``unroll`` and ``max_unroll``. With 5 copies throughout, schedules of many short stages
were predicted up to 20 % high (SqueezeNet ios-merge, NASNet sequential); with 20, nineteen of the
twenty shipped schedules of the four IOS models came within 10 % (SqueezeNet sequential -10.1 %),
but long stages, which need no more copies, took twice as long to measure
(``benchmarks/results/stage_probe-h200-unroll.md``).

What a measurement costs (issue 14: a big model's search times tens of thousands of stages): the
first copy alone runs eagerly before the capture (``eager_runs`` times; ``eager_copies``), since
cuDNN's algorithm choice and lazy initialisation are per kernel and shape and shared by every
copy: warming all copies only repeated the Python dispatch the capture pays again (on the shipped
RandWire, NASNet and SqueezeNet schedules, H200, 2026-12-04: eager phase 1.9 to 0.7 ms a stage,
same predictions, ``benchmarks/results/h200-stage-probe-cheap.md``). With ``quick_iters``, that
many replays are timed first and the rest of ``iters`` only when they spread more than
``quick_spread``. Every stage graph is captured into one memory pool (:meth:`_shared_pool`).
Results are cached by :func:`ios_core.ir.graph.stage_signature`, so identical cells share one
measurement.

``weights`` says whether a stage's parameters are in the L2 cache when it runs. In a whole schedule
replayed again and again they are only if all the model's parameters fit in L2 (SqueezeNet's
6 MB); Inception V3's 91 MB do not fit the H100's 50 MB, so each conv reads its weights from HBM,
which a stage replayed alone would hide. ``"cold"`` gives every unrolled copy its own copy of
the parameters and evicts L2 before each replay (outside the timed span), then touches the stage's
inputs, which in a schedule were just written; ``"auto"`` (the default) picks cold when the
model's parameters are larger than L2.

``options`` (:class:`ios_core.runtime.options.EngineOptions`; None: DEFAULT_OPTIONS, as for the
executor) measure stages with the executor's levers, so that a schedule's prediction matches what
``compile_schedule(..., options=)`` runs. A stage is measured alone: a concat whose producers
would have written into its buffer in earlier stages copies here (a slight over-estimate with
``concat="inplace"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch

from ios_core.cost.base import CostModel, Groups, StageCost, calibrated
from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.runtime.channels_last import to_layout
from ios_core.runtime.engine import (
    StageEvents,
    StreamPool,
    capture,
    cudnn_benchmark,
    eager_warm_up,
    run_stage,
)
from ios_core.runtime.lowering import Lowering
from ios_core.runtime.options import EngineOptions, resolve_options
from ios_core.runtime.steps import Env, StagePlan
from ios_core.runtime.timing import Timing, time_samples

NO_CUDA_MESSAGE = "--cost measured needs a CUDA GPU; use --cost profile:h100 or simulated:h100"
WEIGHT_MODES = ("auto", "warm", "cold")
SIGNATURES_KEPT = 200_000  # remembered stage signatures (tens of MB), then all forgotten at once


class CudaUnavailableError(RuntimeError):
    """Measuring was asked for on a machine where torch sees no CUDA GPU."""


class MeasuredCost:
    """CostModel that times stages on the GPU (see the module docstring for the recipe)."""

    name = "measured"
    measures = True  # each new stage costs GPU time: searches skip more (search/envelope.py)

    def __init__(
        self,
        source,  # a frontend.TracedModel, or an OpGraph together with ``kernels``
        kernels: Mapping[str, Kernel] | None = None,
        *,
        device: str | torch.device = "cuda",
        dtype: torch.dtype = torch.float32,
        warmup: int = 5,  # graph replays before timing (clocks up, caches warm)
        iters: int = 30,  # timed replays at most; the median is kept
        quick_iters: int | None = None,  # timed first; the rest only if these spread (docstring)
        quick_spread: float = 0.05,  # (p90 - p10) / median of the quick replays that suffices
        unroll: int = 5,  # fewest stage copies per graph: amortises the ~µs graph launch
        max_unroll: int = 20,  # most copies, for the shortest stages
        replay_us: float = 100.0,  # copies enough for about this much work per replay
        prior: CostModel | None = None,  # estimates a stage to pick its copies; simulated H100
        seed: int = 0,
        cache_limit_bytes: int | None = None,  # default: a quarter of the GPU's memory
        options: EngineOptions | None = None,  # the executor's levers, measured as it runs them
        weights: str = "auto",  # "warm" | "cold" | "auto": parameters in L2 or not (docstring)
        eager_runs: int = 2,  # eager runs before the capture (cuDNN picks algorithms, lazy init)
        eager_copies: int | None = 1,  # stage copies those runs run (None: all; docstring)
    ) -> None:
        if weights not in WEIGHT_MODES:
            raise ValueError(f"weights must be one of {WEIGHT_MODES} (got {weights!r})")
        if not 1 <= unroll <= max_unroll:
            raise ValueError(f"need 1 <= unroll <= max_unroll (got {unroll} and {max_unroll})")
        if quick_iters is not None and not 1 <= quick_iters <= iters:
            raise ValueError(f"need 1 <= quick_iters <= iters (got {quick_iters} and {iters})")
        if not torch.cuda.is_available():
            raise CudaUnavailableError(NO_CUDA_MESSAGE)
        self.graph: OpGraph = source if isinstance(source, OpGraph) else source.graph
        self._kernels = kernels if kernels is not None else source.kernels
        dev = torch.device(device)
        self.torch_device = dev if dev.index is not None else torch.device("cuda", 0)
        if self.torch_device.type != "cuda":
            raise CudaUnavailableError(NO_CUDA_MESSAGE)
        self.device = torch.cuda.get_device_name(self.torch_device)
        self.dtype = dtype
        self.warmup, self.iters = warmup, iters
        self.quick_iters, self.quick_spread = quick_iters, quick_spread
        self.unroll, self.max_unroll, self.replay_us = unroll, max_unroll, replay_us
        if prior is None:
            from ios_core.cost.analytic import (
                SimulatedCost,  # the analytic model needs no GPU: cheap to ask
            )

            prior = SimulatedCost("h100")
        self.prior = prior
        self.eager_runs, self.eager_copies = eager_runs, eager_copies
        # inputs are drawn on the GPU: drawn on the host and copied, they were most of the build
        # phase, 205 of the 400 s a RandWire search spent measuring (H200, 2026-12-03,
        # benchmarks/results/h200-search.md); the device draws them in microseconds
        self._gen = torch.Generator(device=self.torch_device).manual_seed(seed)
        self.options = resolve_options(options)
        self._pool = StreamPool(self.torch_device, high_priority=int(self.options.stream_priority))
        # the executor's lowering, kernels moved and prepared as stages first need them
        self._lowering = Lowering(self.graph, self._kernels, self.torch_device, dtype,
                                  self.options, lazy=True)
        self.timings: dict[str, Timing] = {}  # stage signature -> its timing (per stage copy)
        self.copies: dict[str, int] = {}  # stage signature -> copies per replay it was timed with
        self.hits = 0  # answers served from the cache
        self.seconds = 0.0  # wall time spent measuring
        props = torch.cuda.get_device_properties(self.torch_device)
        self.cache_limit_bytes = cache_limit_bytes or props.total_memory // 4
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 50 * 2**20)
        self.param_bytes = parameter_bytes(self._kernels, dtype)
        self.cold = weights == "cold" or (weights == "auto" and self.param_bytes > self.l2_bytes)
        self._scrub: torch.Tensor | None = None  # written over to evict L2 (cold mode)
        self._copies: dict[tuple[str, int], Kernel] = {}  # (kernel, unrolled copy) -> its copy
        self._graph_pool: tuple[int, int] | None = None  # every stage graph's memory (_shared_pool)
        self._anchor: torch.cuda.CUDAGraph | None = None  # keeps that pool alive
        self._signatures: dict[tuple, str] = {}  # (strategy, groups) -> signature (_signature)
        # where measuring time goes: stage plans and inputs, eager warm-up, capture (with the
        # graph's instantiation), timed replays, the graph's release
        self.phase_s = dict.fromkeys(("build", "eager", "capture", "replay", "release"), 0.0)

    @property
    def measured(self) -> int:
        """Distinct stages measured so far."""
        return len(self.timings)

    def stage_cost(
        self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
    ) -> StageCost:
        key = self._signature(graph, strategy, groups)
        if key in self.timings:
            self.hits += 1
        else:
            t0 = time.perf_counter()
            copies = self.copies[key] = self.copies_for(graph, strategy, groups)
            self.timings[key] = self.measure(graph, strategy, groups, copies)
            self.seconds += time.perf_counter() - t0
        return StageCost(self.latency_ms(self.timings[key]), estimated=False)

    def latency_ms(self, timing: Timing) -> float:
        """One stage copy's latency: the median of its per-copy samples.

        Taking a separately measured replay overhead off instead was tried (H100, 2026-11-25): a
        graph of one tiny kernel replayed alone measured 10-17 µs, but in cold mode the L2 flush
        queued just before each replay hides most of that launch, and predictions fell to
        0.67-0.81 of measured (``benchmarks/results/runs/h100-run-c-overhead.md``). Subtracting
        the fitted fixed cost (the slope between 5 and 20 copies) under-predicted SqueezeNet's
        sequential schedule by 16 % on the H200; more copies for short stages is what held."""
        return timing.median_ms

    def copies_for(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]) -> int:
        """Stage copies per replay: enough for ``replay_us`` of work by :meth:`estimate_ms`."""
        estimate_us = self.estimate_ms(graph, strategy, groups) * 1e3
        return copies_for_estimate(estimate_us, self.unroll, self.max_unroll, self.replay_us)

    def estimate_ms(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]) -> float:
        """The prior's price of a stage, scaled by how its parts measured here so far (each
        group alone; each member of a merge alone) compare with the prior's price of them.

        A search times a stage's parts before the stage itself, so this is usually calibrated
        by the GPU at hand rather than the simulated device alone, which priced the shipped
        profiles' stages at 0.25 to 2.3 times their measured time (:mod:`ios_core.search.envelope`):
        a stage it priced too low got more copies than it needed, each one more to capture and
        replay (``benchmarks/results/h200-search.md`` measures the change)."""
        prior = self.prior.stage_cost(graph, strategy, groups).ms
        if strategy == "concurrent":
            parts = [(tuple(g),) for g in groups] if len(groups) > 1 else []
        else:
            parts = [((n,),) for g in groups for n in g if graph[n].kind != "concat"]
        measured, priced = [], []
        for part in parts:
            timing = self.timings.get(self._signature(graph, "concurrent", part))
            if timing is not None:
                measured.append(self.latency_ms(timing))
                priced.append(self.prior.stage_cost(graph, "concurrent", part).ms)
        return calibrated(prior, measured, priced)

    def _signature(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]) -> str:
        """:func:`stage_signature`, remembered for this model's graph: a search asks for each
        group alone again and again (as an ending, and as a part in :meth:`estimate_ms`)."""
        if graph is not self.graph:
            return stage_signature(graph, strategy, groups)
        key = (strategy, tuple(tuple(g) for g in groups))
        found = self._signatures.get(key)
        if found is None:
            if len(self._signatures) >= SIGNATURES_KEPT:
                self._signatures.clear()
            found = self._signatures[key] = stage_signature(graph, strategy, groups)
        return found

    def measure(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]],
                copies: int | None = None) -> Timing:
        """Time one stage, uncached, with ``copies`` (default ``unroll``) back to back per replay;
        the samples are per copy (a replay's time over ``copies``)."""
        copies = copies or self.unroll
        t0 = time.perf_counter()
        names = list(dict.fromkeys(n for g in groups for n in g))
        plans = [self._lowering.stage_plan(strategy, groups, graph=graph)]
        for i in range(1, copies):
            if self.cold:  # each copy reads its own parameters, as a schedule does
                own = {n: self._copy(n, i) for n in names}
                plans.append(self._lowering.stage_plan(strategy, groups, graph=graph, kernels=own))
            else:
                plans.append(plans[0])
        inputs = self._random_inputs(graph, plans[0])
        streams = self._pool.take(plans[0].width) if plans[0].concurrent else None
        events = [StageEvents.for_plan(p) for p in plans]

        def run_copies(upto: int | None = None) -> None:
            for p, ev in zip(plans[:upto], events[:upto], strict=True):
                env: Env = dict(inputs)  # outputs die with env: the next copy may reuse them
                run_stage(p, env, streams, ev)

        def evict() -> None:
            assert self._scrub is not None
            self._scrub.zero_()
            for x in inputs.values():
                x.mul_(1)  # back into L2: in a schedule the producer has just written it

        bench = cudnn_benchmark(self.options.cudnn_benchmark)
        with torch.cuda.device(self.torch_device), torch.no_grad(), bench:
            if self.cold and self._scrub is None:
                self._scrub = torch.empty(2 * self.l2_bytes, dtype=torch.uint8,
                                          device=self.torch_device)
            t1 = time.perf_counter()
            eager_warm_up(lambda: run_copies(self.eager_copies), self.eager_runs)
            for ev in events:  # copies not warmed up still record existing events when captured
                if ev is not None:
                    ev.create()
            t2 = time.perf_counter()
            cuda_graph, _ = capture(run_copies, warmup_runs=0, pool=self._shared_pool())
            t3 = time.perf_counter()
            between = evict if self.cold else None
            timing = time_samples(cuda_graph, self.warmup, self.quick_iters or self.iters,
                                  self.torch_device, between=between)
            rest = self.iters - (self.quick_iters or self.iters)
            if rest and timing.spread > self.quick_spread:  # noisy: the replays not yet taken
                more = time_samples(cuda_graph, 0, rest, self.torch_device, between=between)
                timing = replace(timing, samples_ms=timing.samples_ms + more.samples_ms)
            t4 = time.perf_counter()
        del cuda_graph
        if len(self.timings) % 64 == 0:  # the allocator's statistics cost ~0.1 ms to read
            self._trim_cache()
        t5 = time.perf_counter()
        self._count_phases(t0, t1, t2, t3, t4, t5)
        return replace(timing, samples_ms=tuple(t / copies for t in timing.samples_ms))

    def measure_together(self, graph: OpGraph, stages: Sequence[tuple[str, Groups]],
                         copies: int | None = 1, slope: bool = False
                         ) -> list[tuple[Timing, int]]:
        """Time several stages in ONE captured CUDA graph, each between two timing events
        recorded inside the graph, ``copies`` of each back to back (None: as many as
        :meth:`copies_for` gives it); per stage, its timing (samples per copy) and the copies
        of it that a replay runs.

        Issue 14's "more stages per capture": the graph's launch is paid once a replay, outside
        every stage's events, which is what the unrolled copies of :meth:`measure` amortise, so
        a stage needs fewer copies (fewer kernels to capture) and a replay serves many stages.
        But the events add to what they bracket: on the H200 (2026-12-04, the shipped schedules
        of SqueezeNet, RandWire and NASNet, ``benchmarks/results/h200-stage-probe-together*``)
        one copy a bracket priced schedules 1.34-1.62 times their measured time, 2-3 µs too much
        a one-lane stage and 3-4.6 µs a concurrent one. ``slope`` brackets one copy, then two
        others, and keeps the difference, in which a bracket's fixed cost cancels: 0.84-1.11 of
        measured (the per-stage way, :meth:`measure`: 0.90-1.06), for 1.2-1.5 ms of measuring a
        stage against 3.2-3.6. Not what searches use: one-lane stages come out low (the
        sequential schedules 0.83-0.94). Today's 5-20 copies a bracket were no cheaper and priced
        the ios-both schedules 1.26-1.33 times their measured time. The host reads the events
        after each replay (a replay records them anew). Cold weights: L2 is evicted once before
        each replay and every stage's inputs touched; each copy reads its own parameters.
        """
        t0 = time.perf_counter()
        runs = [(1, 2) if slope else (copies or self.copies_for(graph, *stage),)
                for stage in stages]  # per stage: copies in each of its brackets
        built = []
        for (strategy, groups), per_bracket in zip(stages, runs, strict=True):
            names = list(dict.fromkeys(n for g in groups for n in g))
            plans = [self._lowering.stage_plan(strategy, groups, graph=graph)]
            for i in range(1, sum(per_bracket)):
                kernels = {n: self._copy(n, i) for n in names} if self.cold else None
                plans.append(self._lowering.stage_plan(strategy, groups, graph=graph,
                                                       kernels=kernels))
            streams = self._pool.take(plans[0].width) if plans[0].concurrent else None
            built.append((plans, self._random_inputs(graph, plans[0]), streams,
                          [StageEvents.for_plan(p) for p in plans]))
        marks = [[(torch.cuda.Event(enable_timing=True, external=True),
                   torch.cuda.Event(enable_timing=True, external=True)) for _ in per_bracket]
                 for per_bracket in runs]

        def run_all() -> None:  # what the graph holds: every stage's brackets, in order
            for (plans, inputs, streams, events), brackets, per_bracket in zip(
                    built, marks, runs, strict=True):
                done = 0
                for n, (start, end) in zip(per_bracket, brackets, strict=True):
                    start.record()
                    for p, ev in zip(plans[done:done + n], events[done:done + n], strict=True):
                        run_stage(p, dict(inputs), streams, ev)
                    done += n
                    end.record()

        def warm_first_copies() -> None:
            for plans, inputs, streams, events in built:
                run_stage(plans[0], dict(inputs), streams, events[0])

        def evict() -> None:
            assert self._scrub is not None
            self._scrub.zero_()
            for _, inputs, _, _ in built:
                for x in inputs.values():
                    x.mul_(1)

        bench = cudnn_benchmark(self.options.cudnn_benchmark)
        samples: list[list[float]] = [[] for _ in built]
        with torch.cuda.device(self.torch_device), torch.no_grad(), bench:
            if self.cold and self._scrub is None:
                self._scrub = torch.empty(2 * self.l2_bytes, dtype=torch.uint8,
                                          device=self.torch_device)
            t1 = time.perf_counter()
            eager_warm_up(warm_first_copies, self.eager_runs)
            for _, _, _, events in built:
                for ev in events:
                    if ev is not None:
                        ev.create()
            for brackets in marks:  # created before the capture, as the stages' events are
                for start, end in brackets:
                    start.record()
                    end.record()
            t2 = time.perf_counter()
            cuda_graph, _ = capture(run_all, warmup_runs=0, pool=self._shared_pool())
            t3 = time.perf_counter()
            for i in range(self.warmup + (self.quick_iters or self.iters)):
                if self.cold:
                    evict()
                cuda_graph.replay()
                torch.cuda.synchronize()
                if i < self.warmup:
                    continue
                for k, brackets in enumerate(marks):
                    ms = [start.elapsed_time(end) for start, end in brackets]
                    samples[k].append(ms[1] - ms[0] if slope else ms[0] / runs[k][0])
            t4 = time.perf_counter()
        del cuda_graph
        self._trim_cache()
        t5 = time.perf_counter()
        self._count_phases(t0, t1, t2, t3, t4, t5)
        name = torch.cuda.get_device_name(self.torch_device)
        return [(Timing(tuple(s), self.warmup, name), sum(per_bracket))
                for s, per_bracket in zip(samples, runs, strict=True)]

    def prefetch(self, graph: OpGraph, stages: Sequence[tuple[str, Groups]],
                 together: int = 16, copies: int | None = 1, slope: bool = False) -> None:
        """Measure the stages not yet in the cache, ``together`` per graph
        (:meth:`measure_together`); :meth:`stage_cost` then answers them from the cache."""
        todo: dict[str, tuple[str, Groups]] = {}
        for strategy, groups in stages:
            key = self._signature(graph, strategy, groups)
            if key not in self.timings:
                todo.setdefault(key, (strategy, groups))
        keys = list(todo)
        t0 = time.perf_counter()
        for lo in range(0, len(keys), together):
            chunk = keys[lo:lo + together]
            timed = self.measure_together(graph, [todo[k] for k in chunk], copies, slope)
            for key, (timing, runs) in zip(chunk, timed, strict=True):
                self.timings[key], self.copies[key] = timing, runs
        self.seconds += time.perf_counter() - t0

    def _count_phases(self, *clock: float) -> None:
        """Add the seconds between consecutive ``clock`` readings to the phases, in order."""
        for phase, start, end in zip(self.phase_s, clock, clock[1:], strict=False):
            self.phase_s[phase] += end - start

    def _copy(self, name: str, i: int) -> Kernel:
        """Kernel ``name`` over its ``i``-th own copy of its tensors, made once and kept: L2 is
        evicted before every replay, so copies reused across stages are still cold."""
        found = self._copies.get((name, i))
        if found is None:
            found = self._copies[(name, i)] = fresh_copy(self._lowering.kernels[name])
        return found

    def _shared_pool(self) -> tuple[int, int]:
        """The memory pool every stage graph is captured into, kept alive by a one-kernel graph.

        With a new private pool per graph, every tensor a capture allocated came from a fresh
        ``cudaMalloc``, and dead pools piled up until ``empty_cache()``: under cProfile a conv
        took 160 µs of host time and a relu 46 µs in NASNet's stage captures (H200,
        2026-12-04). In one pool, a capture reuses the blocks the previous stage's graph had;
        that is safe because a stage graph is never replayed once the next one is captured.
        RandWire's search then captured a stage in 1.8 ms instead of 3.8 and released it in 0.1
        instead of 0.7 (``benchmarks/results/h200-search.md``). The anchor graph keeps the pool
        from dying with the last stage graph (a pool whose graphs are all gone cannot be
        captured into again: torch 2.11 asserts, seen on the H100)."""
        if self._graph_pool is None:
            pool = torch.cuda.graph_pool_handle()
            flag = torch.zeros(1, device=self.torch_device)
            self._anchor, _ = capture(lambda: flag.add_(1), warmup_runs=1, pool=pool)
            self._graph_pool = pool
        return self._graph_pool

    def _trim_cache(self) -> None:
        """Give dead stage graphs' memory back once the cache passes ``cache_limit_bytes``.

        The stage graphs share one pool (:meth:`_shared_pool`), but eager warm-ups and inputs
        fill the ordinary cache. Before the pool was shared, each destroyed graph's private pool
        stayed reserved until ``empty_cache()`` and thousands of them filled the GPU (seen on the
        H100: out of memory, 76 GiB held in dead pools, about a minute into measuring Inception
        V3's ios-both stages); the allocator's own fallback cannot release them mid-capture.
        """
        if torch.cuda.memory_reserved(self.torch_device) > self.cache_limit_bytes:
            torch.cuda.empty_cache()

    def _random_inputs(self, graph: OpGraph, plan: StagePlan) -> Env:
        # random, never zeros: zeros can run faster than real data
        # each in the layout its producer writes (conv_layouts: some write NCHW)
        lowering = self._lowering if graph is self.graph else None
        return {
            name: _laid_out(torch.randn(graph.shape_of(name), generator=self._gen,
                                        device=self.torch_device, dtype=self.dtype),
                            name, lowering, self.options)
            for name in plan.reads
        }


def _laid_out(x: torch.Tensor, name: str, lowering: Lowering | None,
              options: EngineOptions) -> torch.Tensor:
    return lowering.to_layout(name, x) if lowering is not None else to_layout(x, options)


def copies_for_estimate(estimate_us: float, fewest: int, most: int, replay_us: float) -> int:
    """Copies of a stage estimated at ``estimate_us`` for about ``replay_us`` of work per replay,
    between ``fewest`` and ``most``.

    >>> copies_for_estimate(3.0, 5, 20, 100.0), copies_for_estimate(12.5, 5, 20, 100.0)
    (20, 8)
    >>> copies_for_estimate(40.0, 5, 20, 100.0), copies_for_estimate(0.0, 5, 20, 100.0)
    (5, 20)
    """
    wanted = math.ceil(replay_us / estimate_us) if estimate_us > 0 else most
    return max(fewest, min(most, wanted))


def parameter_bytes(kernels: Mapping[str, Kernel], dtype: torch.dtype) -> int:
    """Bytes of every kernel's parameters in ``dtype``: the weights one inference reads."""
    size = torch.empty((), dtype=dtype).element_size()
    numel = 0
    for k in kernels.values():
        if isinstance(k, ConvKernel):
            numel += k.weight.numel() + (k.bias.numel() if k.bias is not None else 0)
        elif isinstance(k, FnKernel):
            numel += sum(t.numel() for t in k.tensors.values())
        elif hasattr(k, "parameter_numel"):  # fused regions (frontend.regions, runtime.epilogue)
            numel += k.parameter_numel()
    return numel * size


def fresh_copy(k: Kernel) -> Kernel:
    """The same kernel over its own copies of its tensors (elsewhere in memory, not in L2)."""
    if hasattr(k, "fresh"):  # a compiled region (runtime.epilogue) copies its own
        return k.fresh()
    if isinstance(k, ConvKernel):  # FusedConvKernel too: replace() re-runs its __post_init__
        bias = None if k.bias is None else k.bias.clone()
        return replace(k, weight=k.weight.clone(), bias=bias)
    if isinstance(k, FnKernel):
        return replace(k, tensors={n: t.clone() for n, t in k.tensors.items()})
    return k
