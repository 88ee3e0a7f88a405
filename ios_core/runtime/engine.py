"""The one engine that runs stage plans, for the executor, the measured cost model and benchmarks.

:func:`run_stage` runs a :class:`~ios_core.runtime.steps.StagePlan` (built by
:mod:`ios_core.runtime.lowering`). Without streams (CPU, or a single group) the groups run one
after another on the current stream. With streams (CUDA, several groups) the current stream
records a fork event, lane *i* runs on ``streams[i]`` after waiting on it and records its own
event, and the current stream waits on every lane's event: the stage ends joined on the current
stream, with no device synchronisation, so the whole thing can be captured in one CUDA graph
(:func:`capture`).

Memory: a tensor may be dropped from ``env`` once the stage holding its last reader has run. Every
stream's work in a later stage is ordered after that join, so the caching allocator may reuse the
block on any stream (also inside a graph capture) without ``record_stream``. For the same reason a
buffer that several streams of a stage write (a concat's, :mod:`ios_core.runtime.concat_views`) is
allocated on the current stream before the fork, never on one of the side streams.

The levers (:mod:`ios_core.runtime.options`) reach the engine only through the plan (its steps,
lanes and buffers), :class:`StreamPool`'s priorities and :func:`cudnn_benchmark`: they change how
a stage runs, never what it computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch

from ios_core.runtime.concat_views import allocate
from ios_core.runtime.steps import Env, StagePlan, Step

__all__ = [
    "WARMUP_RUNS",
    "CaptureError",
    "StageEvents",
    "StreamPool",
    "capture",
    "cudnn_benchmark",
    "eager_warm_up",
    "run_stage",
]

T = TypeVar("T")
WARMUP_RUNS = 3  # eager runs on a side stream before capture (cuDNN plans, allocator): torch docs


class CaptureError(RuntimeError):
    """Work that ran eagerly could not be captured in a CUDA graph (it synchronises, say)."""


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

    def create(self) -> None:
        """Record each event once on the current stream: torch creates an event when it is
        first recorded, and a capture should record only events that exist already."""
        for event in (self.fork, *self.done):
            event.record()


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
    allocate(plan.allocs, env)  # on the current stream, before the fork
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
    eager_warm_up(run, warmup_runs)
    main = torch.cuda.current_stream()
    side = torch.cuda.Stream()
    side.wait_stream(main)
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


def eager_warm_up(run: Callable[[], object], runs: int) -> None:
    """Run ``run`` ``runs`` times on a side stream, then wait for the device: what a capture
    needs first (cuDNN plans, lazy handles and events), kept apart so that a caller can warm up
    less than it captures (``MeasuredCost`` warms one stage copy and captures many)."""
    if runs < 1:
        return
    main = torch.cuda.current_stream()
    side = torch.cuda.Stream()
    side.wait_stream(main)
    with torch.cuda.stream(side):
        for _ in range(runs):
            run()
    main.wait_stream(side)
    torch.cuda.synchronize()


def _abandon(graph: torch.cuda.CUDAGraph) -> None:
    """End a capture that failed half-way, keeping the original error the one reported."""
    try:
        graph.capture_end()
    except RuntimeError:
        pass


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on inside the block when ``enabled`` (restored after).

    The ``cudnn_benchmark`` lever: on through the eager warm-up runs AND the capture, so that cuDNN
    times its algorithms per shape before the graph fixes them, and the capture finds them timed.
    """
    if not enabled:
        yield
        return
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
