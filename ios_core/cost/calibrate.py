"""Fit the simulated device's few parameters to measured stage latencies, and report its error.

Pure numpy: the samples are stages of traced graphs with their measured latencies (from a
:class:`~ios_core.cost.profile_db.ProfileDB`); the fit changes only the "achievable" factors of a
:class:`~ios_core.cost.analytic.DevicePreset` (efficiencies, overheads, tile size), never its
datasheet figures (SMs, peak FLOP/s, bandwidth).

Loss: the mean squared log ratio ``log(simulated / measured)``, so a stage 2x too slow and one 2x
too fast weigh the same, whatever their size. Search: coordinate descent over a shrinking grid of
multiplicative steps; a few hundred evaluations, deterministic, no scipy needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ios_core.cost.analytic import PRESETS, SimulatedCost
from ios_core.cost.profile_db import ProfileDB
from ios_core.ir.graph import OpGraph, stage_signature

# parameter -> (lower bound, upper bound, typical size: the step base when the value is 0)
FIT_BOUNDS: dict[str, tuple[float, float, float]] = {
    "compute_eff": (0.01, 1.0, 0.3),
    "mem_eff": (0.05, 1.0, 0.5),
    "launch_us": (0.0, 50.0, 2.0),
    "stream_us": (0.0, 50.0, 1.0),
    "overlap_eff": (0.0, 1.0, 0.5),
    "tile_elems": (128, 131072, 4096),
}
INT_PARAMS = {"tile_elems", "tile_bytes", "sms"}
MIN_MS = 1e-6  # keeps log() finite for a stage the model calls free


@dataclass(frozen=True)
class Sample:
    """One measured stage of a graph."""

    graph: OpGraph
    model: str
    strategy: str
    groups: tuple[tuple[str, ...], ...]
    measured_ms: float

    @property
    def kind(self) -> str:
        """single | merge | chain (one group of several ops) | concurrent (several groups)."""
        if sum(len(g) for g in self.groups) == 1:
            return "single"
        if self.strategy == "merge":
            return "merge"
        return "concurrent" if len(self.groups) > 1 else "chain"


@dataclass
class FitResult:
    base: str  # the preset fitted from
    params: dict[str, float]  # fitted values of the fitted parameters
    start: dict[str, float]  # their values before
    loss_before: float
    loss_after: float
    evals: int
    history: list[tuple[str, float, float]] = field(default_factory=list)  # (param, value, loss)

    def cost(self) -> SimulatedCost:
        return SimulatedCost(self.base, **self.params)


def samples_from_db(db: ProfileDB, graphs: Mapping[str, OpGraph]) -> tuple[list[Sample], int]:
    """The database's entries that can be rebuilt from their stored stage labels and ``graphs``
    (model name -> graph traced at the database's batch); also the number skipped (no label, no
    graph, or a signature that no longer matches: the frontend changed since measuring)."""
    samples, skipped = [], 0
    for sig, ms in db.entries.items():
        label = db.stages.get(sig)
        graph = graphs.get(label[0]) if label else None
        if label is None or graph is None or any(n not in graph for g in label[2] for n in g):
            skipped += 1
            continue
        _, strategy, groups = label
        if stage_signature(graph, strategy, groups) != sig:
            skipped += 1
            continue
        samples.append(Sample(graph, label[0], strategy, groups, ms))
    return samples, skipped


def relative_errors(samples: Sequence[Sample], cost: Any) -> np.ndarray:
    """Signed per-stage error ``(predicted - measured) / measured``."""
    pred = predictions(samples, cost)
    meas = np.array([s.measured_ms for s in samples])
    return (pred - meas) / meas


def predictions(samples: Sequence[Sample], cost: Any) -> np.ndarray:
    return np.array([cost.stage_cost(s.graph, s.strategy, s.groups).ms for s in samples])


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """Median and 90th percentile of the absolute relative error, plus the median signed error
    (its bias: > 0 means the model is too slow)."""
    if len(errors) == 0:
        return {"n": 0, "median": float("nan"), "p90": float("nan"), "bias": float("nan")}
    a = np.abs(errors)
    return {"n": int(len(errors)), "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90)), "bias": float(np.median(errors))}


def breakdown(samples: Sequence[Sample], errors: np.ndarray,
              by: str = "kind") -> dict[str, dict[str, float]]:
    """:func:`error_summary` per stage kind (``by="kind"``) or per model (``by="model"``)."""
    keys = [getattr(s, by) for s in samples]
    return {k: error_summary(errors[[i for i, x in enumerate(keys) if x == k]])
            for k in sorted(set(keys))}


def log_loss(samples: Sequence[Sample], cost: Any) -> float:
    pred = np.maximum(predictions(samples, cost), MIN_MS)
    meas = np.array([s.measured_ms for s in samples])
    return float(np.mean(np.log(pred / meas) ** 2))


def fit_preset(samples: Sequence[Sample], base: str = "h100",
               params: Iterable[str] = ("compute_eff", "mem_eff", "launch_us", "stream_us",
                                        "overlap_eff", "tile_elems"),
               rounds: int = 4) -> FitResult:
    """Coordinate descent on ``params`` of preset ``base``; each round tries multiplicative steps
    (x1/4 .. x4 first, then ever finer) of one parameter at a time, keeping the best."""
    if not samples:
        raise ValueError("no samples to fit: the profile has no stages of the given graphs")
    names = list(params)
    unknown = [p for p in names if p not in FIT_BOUNDS]
    if unknown:
        raise ValueError(f"cannot fit {unknown}; fittable: {sorted(FIT_BOUNDS)}")
    start = {p: float(getattr(PRESETS[base], p)) for p in names}
    current = dict(start)
    best = loss0 = log_loss(samples, SimulatedCost(base))
    evals, history = 1, []
    for r in range(rounds):
        steps = [4.0 ** (0.5 ** r * k / 2) for k in (-2, -1, 1, 2)]  # x1/4, x1/2, x2, x4 in round 0
        for name in names:
            for value in _candidates(name, current[name], steps):
                trial = {**current, name: value}
                loss = log_loss(samples, SimulatedCost(base, **_typed(trial)))
                evals += 1
                if loss < best - 1e-12:
                    best, current = loss, trial
                    history.append((name, value, loss))
    return FitResult(base, _typed(current), _typed(start), loss0, best, evals, history)


def _candidates(name: str, value: float, steps: Sequence[float]) -> list[float]:
    lo, hi, typical = FIT_BOUNDS[name]
    basis = value if value > 0 else typical * steps[0]
    out = {min(max(basis * f, lo), hi) for f in steps}
    if lo == 0:
        out.add(0.0)  # an overhead may truly be nil
    out.discard(value)
    return sorted(out)


def _typed(values: Mapping[str, float]) -> dict[str, float]:
    return {k: (int(round(v)) if k in INT_PARAMS else round(float(v), 6))
            for k, v in values.items()}
