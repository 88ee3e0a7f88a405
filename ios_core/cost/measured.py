"""Stage latencies measured on the attached CUDA GPU.

A stage is built by the executor's own engine (:func:`ios_core.engine.build_stage` and
:func:`~ios_core.engine.run_stage`: same kernels, same wide convs, same streams and events), its
outside inputs are filled with random data of the right shapes (never zeros), ``unroll`` copies of
it are captured back to back in one CUDA graph, and the graph's replays are timed between CUDA
events by :func:`ios_core.timing.time_samples` after warm-up; the median over the replays divided by
``unroll`` is the stage's latency. Unrolling amortises the graph launch, which the executor pays
once per schedule, not once per stage. Results are cached by :func:`ios_core.ir.stage_signature`,
so identical cells share one measurement.

``options`` (:class:`ios_core.levers.EngineOptions`) measure stages with the executor's levers, so
that a schedule's prediction matches what ``compile_schedule(..., options=)`` runs. A stage is
measured alone: a concat whose producers would have written into its buffer in earlier stages
copies here (a slight over-estimate with ``concat="inplace"``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch

from .. import levers
from ..engine import (
    Env,
    StageEvents,
    StagePlan,
    StreamPool,
    build_stage,
    capture,
    move_kernels,
    run_stage,
)
from ..ir import OpGraph, stage_signature
from ..kernels import Kernel
from ..levers import DEFAULT_OPTIONS, EngineOptions
from ..timing import Timing, time_samples
from .base import StageCost

NO_CUDA_MESSAGE = "--cost measured needs a CUDA GPU; use --cost profile:h100 or simulated:h100"


class CudaUnavailableError(RuntimeError):
    """Measuring was asked for on a machine where torch sees no CUDA GPU."""


class MeasuredCost:
    """CostModel that times stages on the GPU (see the module docstring for the recipe)."""

    name = "measured"

    def __init__(
        self,
        source,  # a frontend.TracedModel, or an OpGraph together with ``kernels``
        kernels: Mapping[str, Kernel] | None = None,
        *,
        device: str | torch.device = "cuda",
        dtype: torch.dtype = torch.float32,
        warmup: int = 5,  # graph replays before timing (clocks up, caches warm)
        iters: int = 30,  # timed replays; the median is kept
        unroll: int = 5,  # stage copies per graph: amortises the ~µs graph launch
        seed: int = 0,
        cache_limit_bytes: int | None = None,  # default: a quarter of the GPU's memory
        options: EngineOptions | None = None,  # the executor's levers, measured as it runs them
    ) -> None:
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
        self.warmup, self.iters, self.unroll = warmup, iters, unroll
        self._gen = torch.Generator().manual_seed(seed)
        self.options = options or DEFAULT_OPTIONS
        self._pool = StreamPool(self.torch_device, high_priority=int(self.options.stream_priority))
        self._layout = levers.plan_concats(self.graph, self._kernels, self.options)
        self._on_device: dict[str, Kernel] = {}
        self.timings: dict[str, Timing] = {}  # stage signature -> its timing (per graph replay)
        self.hits = 0  # answers served from the cache
        self.seconds = 0.0  # wall time spent measuring
        total = torch.cuda.get_device_properties(self.torch_device).total_memory
        self.cache_limit_bytes = cache_limit_bytes or total // 4

    @property
    def measured(self) -> int:
        """Distinct stages measured so far."""
        return len(self.timings)

    def stage_cost(
        self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
    ) -> StageCost:
        key = stage_signature(graph, strategy, groups)
        if key in self.timings:
            self.hits += 1
        else:
            t0 = time.perf_counter()
            self.timings[key] = self.measure(graph, strategy, groups)
            self.seconds += time.perf_counter() - t0
        return StageCost(self.timings[key].median_ms / self.unroll, estimated=False)

    def measure(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]) -> Timing:
        """Time one stage, uncached; samples are per replay of ``unroll`` stage copies."""
        names = [n for g in groups for n in g]
        plan = build_stage(graph, self._kernels_for(names), strategy, groups, self.options,
                           self._layout if graph is self.graph else None)
        inputs = self._random_inputs(graph, plan)
        streams = self._pool.take(plan.width) if plan.concurrent else None
        events = [StageEvents.for_plan(plan) for _ in range(self.unroll)]

        def run_copies() -> None:
            for ev in events:
                env: Env = dict(inputs)  # outputs die with env: the next copy may reuse them
                run_stage(plan, env, streams, ev)

        bench = levers.cudnn_benchmark(self.options.cudnn_benchmark)
        with torch.cuda.device(self.torch_device), torch.no_grad(), bench:
            # each graph gets its own private pool: a pool handle shared by graphs that are then
            # freed one by one trips an allocator assert in torch 2.11 (seen on the H100)
            cuda_graph, _ = capture(run_copies, warmup_runs=2)
            timing = time_samples(cuda_graph, self.warmup, self.iters, self.torch_device)
        del cuda_graph
        self._trim_cache()
        return timing

    def _trim_cache(self) -> None:
        """Give dead stage graphs' memory back once the cache passes ``cache_limit_bytes``.

        A destroyed graph's private pool stays reserved until ``empty_cache()``; the allocator's
        own out-of-memory fallback cannot release it while a capture is underway, so thousands of
        stage graphs fill the GPU (seen on the H100: out of memory, 76 GiB held in dead pools,
        about a minute into measuring Inception V3's ios-both stages).
        """
        if torch.cuda.memory_reserved(self.torch_device) > self.cache_limit_bytes:
            torch.cuda.empty_cache()

    def _kernels_for(self, names: Sequence[str]) -> dict[str, Kernel]:
        todo = [n for n in names if n not in self._on_device]
        moved = move_kernels(self._kernels, todo, self.torch_device, self.dtype)
        self._on_device.update(levers.prepare_kernels(moved, self.options))
        return {n: self._on_device[n] for n in names}

    def _random_inputs(self, graph: OpGraph, plan: StagePlan) -> Env:
        # random, never zeros: zeros can run faster than real data
        return {
            name: levers.to_layout(torch.randn(graph.shape_of(name), generator=self._gen).to(
                self.torch_device, self.dtype
            ), self.options)
            for name in plan.reads
        }

