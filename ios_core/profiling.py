"""Profiling: find every stage a search can ask for, measure the missing ones into a ProfileDB.

Two cost-model wrappers in :mod:`ios_core.cost` do the bookkeeping, so no scheduler needs to
know about profiling: :class:`~ios_core.cost.recording.RecordingCost` remembers each distinct
stage a search asked for (:func:`collect_stages` runs the searches with it around the cheap
simulated device), and :class:`~ios_core.cost.cached.CachedCost` answers from a
:class:`~ios_core.cost.profile_db.ProfileDB`, measuring only what it lacks.

:func:`profile_model` measures every collected stage on the GPU, saving every few entries so an
interrupted run keeps its work and a rerun resumes. Torch is imported only there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.cost.factory import default_measured
from ios_core.cost.profile_db import ProfileDB, ProfileError, ProfileKey
from ios_core.cost.recording import RecordingCost, StageRequest
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.search import optimize
from ios_core.search.config import SearchConfig


def model_subset(db: ProfileDB, requests: Iterable[StageRequest], model_name: str) -> ProfileDB:
    """The entries of ``db`` that ``requests`` name, labelled with this model's op names: one
    model's file cut out of a database shared by several models (one benchmark run)."""
    out = ProfileDB(db.key, name=model_name, measure=dict(db.measure))
    for req in requests:
        ms = db.get(req.signature)
        if ms is not None:
            out.add(req.signature, ms, (model_name, req.strategy, req.groups))
    return out


# ---- which stages a search asks for -------------------------------------------------------------
def _strategies(strategy: str | Sequence[str]) -> list[str]:
    if isinstance(strategy, str):
        strategy = list(SEARCH_STRATEGIES) if strategy == "all" else [strategy]
    unknown = [s for s in strategy if s not in SEARCH_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {SEARCH_STRATEGIES}")
    return list(strategy)


def collect_stages(graph: OpGraph, config: SearchConfig | None = None,
                   strategy: str | Sequence[str] = "ios-both",
                   cost: CostModel | None = None) -> list[StageRequest]:
    """Every distinct stage that searches with ``strategy`` (a name, a list, or "all") ask for.

    The searches run on ``cost`` (default: the simulated H100), which is fast, without the DP's
    branch and bound (``bound_slack=None``): which stages a bounded search skips depends on the
    latencies, so a complete profile holds every stage any search with these r, s can ask for.
    """
    if cost is None:
        cost = SimulatedCost("h100")
    config = replace(config or SearchConfig(), bound_slack=None)
    recorder = RecordingCost(cost)
    for name in _strategies(strategy):
        optimize(graph, name, recorder, config)
    return list(recorder.requests.values())


# ---- measuring into a database ------------------------------------------------------------------
class ProfileObserver:
    """Callbacks of :func:`profile_model` (override what you need; nothing here prints)."""

    def on_start(self, total: int, done: int) -> None:
        """``total`` stages are needed, ``done`` of them were already in the database."""

    def on_stage(self, done: int, total: int, request: StageRequest, ms: float | None) -> None:
        """One more stage handled; ``ms`` is None when it could not be measured."""

    def on_saved(self, path: str, entries: int) -> None:
        """The database was written (periodically and at the end)."""

    def on_end(self, done: int, total: int, seconds: float) -> None:
        """Profiling finished (or stopped: then ``done < total``)."""


def current_key(graph: OpGraph) -> ProfileKey:
    """The key of measurements taken here, now: this GPU, torch, cuDNN; the graph's dtype, batch."""
    import torch

    if not torch.cuda.is_available():
        raise ProfileError("profiling measures stages on a CUDA GPU, and torch sees none")
    dtype = graph.inputs[0].dtype if graph.inputs else "float32"
    return ProfileKey(device=torch.cuda.get_device_name(), torch=torch.__version__,
                      cudnn=str(torch.backends.cudnn.version()), dtype=dtype, batch=graph.batch)


def measure_settings(cost: Any = None) -> dict[str, Any]:
    """How stages are measured here (stored in ``ProfileDB.measure``): TF32 changes conv speed;
    with a MeasuredCost also its engine levers and whether parameters were measured cold."""
    import torch

    settings: dict[str, Any] = {
        "stat": "median of CUDA-graph replays between CUDA events",
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
    inner = getattr(cost, "inner", cost)  # through a GuardedCost-style wrapper
    if hasattr(inner, "options") and hasattr(inner, "cold"):
        settings.update(engine=inner.options.label(), unroll=inner.unroll,
                        max_unroll=inner.max_unroll, replay_us=inner.replay_us,
                        weights="cold" if inner.cold else "warm", warmup=inner.warmup,
                        iters=inner.iters, quick_iters=getattr(inner, "quick_iters", None),
                        eager_runs=inner.eager_runs,
                        eager_copies=getattr(inner, "eager_copies", None))
    return settings


def open_db(path: str | Path, key: ProfileKey) -> ProfileDB:
    """The database at ``path`` to resume, or a new one; refuse one measured under another key."""
    path = Path(path)
    if not path.exists():
        return ProfileDB(key, name=path.name.removesuffix(".json"), path=str(path))
    db = ProfileDB.load(path)
    if db.key != key:
        raise ProfileError(
            f"{path} holds measurements taken under other conditions ("
            + "; ".join(db.key.differences(key)) + "); write to another file"
        )
    return db


def profile_model(
    traced: Any,  # frontend.TracedModel
    config: SearchConfig | None = None,
    out_path: str | Path = "profile.json",
    observer: ProfileObserver | None = None,
    *,
    model_name: str | None = None,
    strategy: str | Sequence[str] = "all",
    cost: CostModel | None = None,
    save_every: int = 50,
    stages: Sequence[StageRequest] | None = None,
    warmup: int = 2,
    iters: int = 10,
    options: Any = None,
) -> ProfileDB:
    """Measure every stage the searches can ask for that ``out_path`` lacks; return the database.

    ``cost`` defaults to the GPU's :class:`~ios_core.cost.measured.MeasuredCost` (``warmup`` and
    ``iters`` replays per stage). The file is
    saved every ``save_every`` new entries and on the way out, also on Ctrl-C or an error, so a
    rerun with the same arguments resumes where this one stopped. ``options``: the engine's
    levers the GPU's cost measures with (None: the executor's default).
    """
    graph: OpGraph = traced.graph
    config = config or SearchConfig()
    name = model_name or graph.name
    observer = observer or ProfileObserver()
    on_gpu = cost is None
    db = open_db(out_path, current_key(graph) if on_gpu else _key_for(cost, graph))
    if on_gpu:
        cost = default_measured(traced, warmup, iters, options=options)
        db.measure = {**db.measure, **measure_settings(cost), "warmup": warmup, "iters": iters}
    if stages is None:
        stages = collect_stages(graph, config, strategy)
    todo = [st for st in stages if st.signature not in db]
    total, done = len(stages), len(stages) - len(todo)
    db.set_model_info(name, fingerprint=graph.fingerprint(), r=config.r, s=config.s,
                      max_part_ops=config.max_part_ops, strategies=_strategies(strategy),
                      stages=total, complete=False)
    observer.on_start(total, done)
    t0, unsaved = time.perf_counter(), 0
    try:
        for request in todo:
            ms = _measure_one(cost, graph, request, db, name)
            done += 1
            unsaved += ms is not None
            observer.on_stage(done, total, request, ms)
            if unsaved >= save_every:
                _save(db, out_path, observer)
                unsaved = 0
        db.set_model_info(name, complete=all(st.signature in db for st in stages))
    finally:
        _save(db, out_path, observer)  # also on Ctrl-C: keep what was measured
        observer.on_end(done, total, time.perf_counter() - t0)
    return db


def _measure_one(cost: CostModel, graph: OpGraph, request: StageRequest, db: ProfileDB,
                 model_name: str) -> float | None:
    try:
        result = cost.stage_cost(graph, request.strategy, request.groups)
    except (RuntimeError, ValueError):
        return None  # a stage the GPU cannot run stays missing: searches then estimate it
    if result.estimated:
        return None
    db.add(request.signature, result.ms, (model_name, request.strategy, request.groups))
    return result.ms


def _save(db: ProfileDB, path: str | Path, observer: ProfileObserver) -> None:
    db.save(path)
    observer.on_saved(str(path), len(db))


def _key_for(cost: CostModel, graph: OpGraph) -> ProfileKey:
    """Key for a caller-supplied cost model: the real GPU's when CUDA is there, else a stand-in
    naming the cost model (tests profile with fake costs on the CPU)."""
    try:
        return current_key(graph)
    except ProfileError:
        dtype = graph.inputs[0].dtype if graph.inputs else "float32"
        return ProfileKey(cost.device, "", "", dtype, graph.batch)


