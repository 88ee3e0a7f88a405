"""Running the benchmark scripts: the results header, time limits, model runs, one row at a time.

:func:`environment` starts every results header (device, versions of torch, CUDA, cuDNN and
Python, date). :data:`ALARM` stops a search or a ``torch.compile`` call with :class:`TimeLimit`
after its share of the budget, never inside a stage measurement (:class:`GuardedCost`).
:class:`ModelRun` loads a sample model, traces it, draws its seeded inputs and keeps its float64
reference output; :func:`attempt` measures one row and records a failure in it instead. The
results files themselves are :mod:`benchmarks.report`'s.
"""

from __future__ import annotations

import argparse
import gc
import platform
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from benchmarks.report import Report, Row, add_out_dir, timestamp
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend
from ios_core.runtime import executor
from ios_core.runtime.timing import Timing


# ---- header -------------------------------------------------------------------------------------
def environment(device: str | torch.device = "cuda") -> dict[str, Any]:
    """Device name, versions of torch, CUDA, cuDNN and Python, and the date: every results
    header starts with these (``device`` is ``"cpu"`` and ``cudnn`` empty off the GPU)."""
    dev = torch.device(device)
    cuda = dev.type == "cuda" and torch.cuda.is_available()
    return {"device": torch.cuda.get_device_name(dev) if cuda else dev.type,
            "torch": torch.__version__, "cuda": torch.version.cuda or "",
            "cudnn": str(torch.backends.cudnn.version()) if cuda else "",
            "python": platform.python_version(), "date": timestamp()}


def device_stem(header: dict[str, Any]) -> str:
    """The device of a results header as a file-name stem.

    >>> device_stem({"device": "NVIDIA H200"})
    'nvidia-h200'
    """
    return re.sub(r"[^a-z0-9]+", "-", str(header["device"]).lower()).strip("-")


def add_gpu_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a script that times on the GPU or, with ``--smoke``, checks its path on
    the CPU: replays, the smoke switch, a tag for the file names, the results folder."""
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--smoke", action="store_true",
                        help="CPU, simulated cost: a check, no figures")
    parser.add_argument("--tag", default="", help="appended to the results' file names")
    add_out_dir(parser)


def gpu_run_environment(parser: argparse.ArgumentParser, args: argparse.Namespace,
                        what: str) -> dict[str, Any]:
    """The results header of a run with :func:`add_gpu_run_options`: a smoke run on the CPU
    times twice after one warm-up; otherwise the parser stops with an error where torch sees no
    GPU (``what`` names the script's work)."""
    if args.smoke:
        args.warmup, args.iters = 1, 2
    elif not torch.cuda.is_available():
        parser.error(f"{what} runs on a CUDA GPU (or pass --smoke for the CPU check)")
    return environment("cpu" if args.smoke else "cuda")


def require_cuda(what: str) -> bool:
    """Whether torch sees a CUDA GPU; says so on stderr when it does not."""
    if torch.cuda.is_available():
        return True
    print(f"error: {what} runs on a CUDA GPU, and torch sees none", file=sys.stderr)
    return False


# ---- time limits --------------------------------------------------------------------------------
class TimeLimit(BaseException):
    """A search or compile ran past its time. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way (a failed stage measurement falls back) swallows it."""


class Alarm:
    """SIGALRM time limits that never fire inside a GPU stage measurement.

    An exception in the middle of a CUDA-graph capture would leave the stream capturing; so inside
    :meth:`deferred` (:class:`GuardedCost` wraps each measurement in it) the alarm is only noted,
    and raised right after the measurement ends.
    """

    def __init__(self) -> None:
        self.busy = False
        self.pending: str | None = None

    @contextmanager
    def limit(self, seconds: float | None, what: str) -> Iterator[None]:
        """Raise :class:`TimeLimit` in the block after ``seconds`` (at least one); no limit for
        ``None`` or 0, nor where the platform has no SIGALRM."""
        if not seconds or seconds < 0 or not hasattr(signal, "SIGALRM"):
            yield
            return
        message = f"{what} stopped at its time limit ({seconds:.0f} s of the budget)"

        def expire(signum: int, frame: Any) -> None:
            if self.busy:
                self.pending = message
            else:
                raise TimeLimit(message)

        old = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1.0))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            self.pending = None

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """No :class:`TimeLimit` inside the block; one that came due meanwhile is raised after."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
            if self.pending:
                message, self.pending = self.pending, None
                raise TimeLimit(message)


ALARM = Alarm()


class GuardedCost:
    """A cost model whose stage measurements :data:`ALARM` waits for (``inner``: the model)."""

    def __init__(self, inner: Any, alarm: Alarm = ALARM) -> None:
        self.inner, self.alarm = inner, alarm
        self.name = inner.name
        self.device = inner.device
        self.measures = getattr(inner, "measures", False)

    def stage_cost(self, graph: Any, strategy: str, groups: Any) -> Any:
        with self.alarm.deferred():
            return self.inner.stage_cost(graph, strategy, groups)


# ---- model runs ---------------------------------------------------------------------------------
class ModelRun:
    """One sample model at one batch size: the module, its trace (``traced``, ``graph``), seeded
    CPU inputs (as ``executor.check`` draws them) and the module's float64 output on the CPU
    (``reference``); ``trace_s`` and ``reference_s`` say how long those took."""

    def __init__(self, name: str, batch: int) -> None:
        self.name, self.batch = name, batch
        t0 = time.perf_counter()
        loaded = models.load_model(name, batch=batch, seed=0)
        self.module = loaded.module
        self.traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
        self.graph = self.traced.graph
        self.trace_s = time.perf_counter() - t0
        self.inputs = executor.random_inputs(self.graph, seed=0)
        t0 = time.perf_counter()
        self.reference = flatten(executor.reference_outputs(loaded.module, self.inputs))
        self.reference_s = time.perf_counter() - t0

    def rel_err(self, out: Any) -> float:
        """‖out − reference‖ / ‖reference‖ over all output tensors."""
        return executor.relative_error(flatten(out), self.reference)


def flatten(obj: Any, cpu: bool = False) -> list[torch.Tensor]:
    """The tensors of a model output (a tensor, or lists, tuples and dicts of them) in order;
    ``cpu``: detached copies on the CPU (outlive a CUDA graph's output buffers)."""
    if isinstance(obj, torch.Tensor):
        return [obj.detach().cpu()] if cpu else [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    return [t for v in obj for t in flatten(v, cpu)]


PROBE_UNROLL = 20  # calls of one op per CUDA graph in the probes (a replay's fixed cost shared)


def unrolled_call_us(fn: Callable[[torch.Tensor], Any], x: torch.Tensor,
                     unroll: int = PROBE_UNROLL) -> float:
    """Microseconds per call of ``fn(x)``: ``unroll`` calls captured in one CUDA graph, the
    median of 50 replays (after 10) divided by ``unroll`` (the probes of single ops)."""
    from ios_core.runtime.engine import capture
    from ios_core.runtime.timing import time_samples

    graph, _ = capture(lambda: [fn(x) for _ in range(unroll)])
    return time_samples(graph, 10, 50).median_ms * 1e3 / unroll


def layout_variants(variants: dict[str, tuple[Callable[[torch.Tensor], Any], bool]],
                    x: torch.Tensor, want: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per variant ``name -> (fn, takes NHWC)``: µs per call on ``x`` (NHWC where asked) and the
    largest absolute difference from ``want``."""
    cells = {}
    for label, (fn, nhwc) in variants.items():
        xin = x.contiguous(memory_format=torch.channels_last) if nhwc else x
        with torch.no_grad():
            err = (fn(xin) - want).abs().max().item()
            cells[label] = {"us": unrolled_call_us(fn, xin), "max_abs_err": err}
    return cells


def timing_fields(t: Timing) -> dict[str, float]:
    """A row's ``ms`` (median), ``p10_ms`` and ``p90_ms``."""
    return {"ms": t.median_ms, "p10_ms": t.percentile_ms(10), "p90_ms": t.percentile_ms(90)}


def free() -> None:
    """Collect garbage, drop cuBLAS's workspaces and empty CUDA's cache; synchronizes first, so an
    asynchronous CUDA error surfaces here rather than in a later row.

    cuBLAS keeps one workspace per stream it ran on, allocated from torch's caching allocator and
    never given back: after a measured search of mobilenet_v3_large 396 MB stayed allocated in
    24 blocks with no tensor alive (H200, 2026-12-04), which the next row's peak memory counted
    and which compile-ro's CUDA graph trees released mid-row (negative peaks)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
        if clear is not None:
            clear()
        torch.cuda.empty_cache()


def attempt(report: Report, fn: Callable[[], Row], **key: Any) -> Row:
    """Measure one row with ``fn``; when it fails (or runs past a time limit), add a row of the
    ``key`` fields with the error instead, and go on: one failure must not end a run."""
    try:
        row = fn()
    except (Exception, TimeLimit) as e:  # noqa: BLE001 - one failing row must not end the run
        traceback.print_exc(file=sys.stderr)
        row = {**key, "ms": None, "error": f"{type(e).__name__}: {e}"}
        try:
            free()
        except Exception:  # noqa: BLE001 - a sticky CUDA error: later rows will say so
            pass
    report.add(row)
    return row
