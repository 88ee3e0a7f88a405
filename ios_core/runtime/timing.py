"""The project's one timing recipe: warm up, time each run, keep the samples, report the median.

On CUDA each run sits between two CUDA events on the current stream and the host synchronises once
after the last run (never in between, so the launch queue stays full); what runs is normally a CUDA
graph replay (``CompiledSchedule.replay`` or a captured stage), so launch overhead is not what is
measured. On the CPU the host clock times each run. Nothing here prints.

The same static inputs are used on every run: at batch 1 they sit in L2, as they would when the
producing op has just written them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    samples_ms: tuple[float, ...]  # one per timed run, in run order
    warmup: int
    device: str

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile (0..100), nearest rank."""
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]

    @property
    def spread(self) -> float:
        """(p90 − p10) / median: how noisy the runs were."""
        return (self.percentile_ms(90) - self.percentile_ms(10)) / self.median_ms

    def to_json(self) -> dict[str, object]:
        return {
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "p10_ms": self.percentile_ms(10),
            "p90_ms": self.percentile_ms(90),
            "iters": len(self.samples_ms),
            "warmup": self.warmup,
            "device": self.device,
        }


def time_ms(
    target: object,
    warmup: int = 10,
    iters: int = 100,
    device: str | torch.device | None = None,
) -> float:
    """Median milliseconds of ``target`` by the recipe of :func:`time_samples`."""
    return time_samples(target, warmup, iters, device).median_ms


def time_samples(
    target: object,
    warmup: int = 10,
    iters: int = 100,
    device: str | torch.device | None = None,
    between: Callable[[], object] | None = None,
) -> Timing:
    """Time ``target`` (an object with ``replay()``, such as a CompiledSchedule, or a callable).

    ``device`` defaults to ``target.device`` where it has one, else CUDA when available.
    ``between`` runs before every run (warm-ups too), outside the timed span: e.g. an L2 flush.
    """
    if iters < 1:
        raise ValueError("iters must be at least 1")
    run: Callable[[], object] = getattr(target, "replay", None) or target  # type: ignore[assignment]
    dev = torch.device(device if device is not None else _default_device(target))
    if dev.type == "cuda":
        samples = _cuda_samples(run, warmup, iters, dev, between)
        name = torch.cuda.get_device_name(dev)
    else:
        samples = _host_samples(run, warmup, iters, between)
        name = str(dev)
    return Timing(tuple(samples), warmup, name)


def _default_device(target: object) -> torch.device | str:
    dev = getattr(target, "device", None)
    if isinstance(dev, torch.device):
        return dev
    return "cuda" if torch.cuda.is_available() else "cpu"


def _cuda_samples(run: Callable[[], object], warmup: int, iters: int, dev: torch.device,
                  between: Callable[[], object] | None) -> list:
    before = between or _nothing
    with torch.cuda.device(dev):
        for _ in range(warmup):
            before()
            run()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        torch.cuda.synchronize()
        for start, end in zip(starts, ends, strict=True):
            before()
            start.record()
            run()
            end.record()
        torch.cuda.synchronize()
        return [s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)]


def _host_samples(run: Callable[[], object], warmup: int, iters: int,
                  between: Callable[[], object] | None) -> list:
    before = between or _nothing
    for _ in range(warmup):
        before()
        run()
    samples = []
    for _ in range(iters):
        before()
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def _nothing() -> None:
    return None
