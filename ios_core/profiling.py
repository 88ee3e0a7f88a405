"""Profiling: find every stage a search can ask for, measure the missing ones into a ProfileDB.

Two cost-model wrappers do the bookkeeping, so no scheduler needs to know about profiling:

* :class:`RecordingCost` remembers each distinct stage (by signature) that a search asked for;
  :func:`collect_stages` runs the searches with it around the cheap simulated device, which yields
  the stages the DP can ask for (the set of endings it enumerates does not depend on the costs).
* :class:`CachedCost` answers from a :class:`~ios_core.cost.profile_db.ProfileDB` and measures
  (through an inner cost model) only what the database lacks, adding it. One database shared
  across strategies and models is the signature cache that makes each stage measured once.

:func:`profile_model` measures every collected stage on the GPU, saving every few entries so an
interrupted run keeps its work and a rerun resumes. Torch is imported only there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ios_core.cost.base import CostModel, StageCost
from ios_core.cost.profile_db import ProfileDB, ProfileError, ProfileKey
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.search.config import SearchConfig

Groups = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class StageRequest:
    """One distinct stage a search asked for (the first place it was met)."""

    signature: str
    strategy: str  # "concurrent" | "merge"
    groups: Groups


class RecordingCost:
    """Passes every question to ``inner`` and remembers each distinct stage asked, in order."""

    def __init__(self, inner: CostModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.device = inner.device
        self.requests: dict[str, StageRequest] = {}

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        frozen = tuple(tuple(g) for g in groups)
        sig = stage_signature(graph, strategy, frozen)
        if sig not in self.requests:
            self.requests[sig] = StageRequest(sig, strategy, frozen)
        return self.inner.stage_cost(graph, strategy, groups)


class CachedCost:
    """Answers from ``db``; measures a missing stage with ``inner`` and stores it.

    ``measure_s`` keeps the seconds each measurement took, so a caller can tell what a search
    would have cost from a cold cache even though the cache was warm (benchmarks report that).
    If ``inner`` fails on a stage, or ``deadline`` has passed, ``fallback`` (when given) answers
    it as *estimated* and nothing is stored, so a later reader of the database (a ProfileCost
    with the same fallback) estimates it the same way.
    """

    def __init__(self, db: ProfileDB, inner: CostModel, model_name: str = "",
                 fallback: CostModel | None = None, *, deadline: float | None = None,
                 measure_s: dict[str, float] | None = None) -> None:
        self.db = db
        self.inner = inner
        self.fallback = fallback
        self.model_name = model_name
        self.deadline = deadline  # time.perf_counter() after which new stages are estimated
        self.name = inner.name
        self.device = inner.device
        # share one dict between wrappers of one database to keep cold-cache accounting global
        self.measure_s: dict[str, float] = {} if measure_s is None else measure_s
        self.failures: dict[str, str] = {}  # signature -> error text
        self.asked: dict[str, StageRequest] = {}  # signatures asked through this wrapper
        self.estimated: set[str] = set()  # signatures answered by the fallback

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        sig = stage_signature(graph, strategy, groups)
        if sig not in self.asked:
            self.asked[sig] = StageRequest(sig, strategy, tuple(tuple(g) for g in groups))
        ms = self.db.get(sig)
        if ms is not None:
            return StageCost(ms)
        late = self.deadline is not None and time.perf_counter() > self.deadline
        if self.fallback is not None and (late or sig in self.failures):
            return self._estimate(sig, graph, strategy, groups)
        t0 = time.perf_counter()
        try:
            cost = self.inner.stage_cost(graph, strategy, groups)
        except Exception as e:  # noqa: BLE001 - one unmeasurable stage must not end a search
            if self.fallback is None:
                raise
            self.failures[sig] = f"{type(e).__name__}: {e}"
            return self._estimate(sig, graph, strategy, groups)
        self.measure_s[sig] = time.perf_counter() - t0
        if cost.estimated:
            return cost  # an estimate is never stored as a measurement
        label = (self.model_name, strategy, tuple(tuple(g) for g in groups))
        self.db.add(sig, cost.ms, label)
        return cost

    def _estimate(self, sig: str, graph: OpGraph, strategy: str,
                  groups: Sequence[Sequence[str]]) -> StageCost:
        assert self.fallback is not None
        self.estimated.add(sig)
        return StageCost(self.fallback.stage_cost(graph, strategy, groups).ms, estimated=True)

    def cold_seconds(self, signatures: Iterable[str]) -> float:
        """Seconds the measurements of ``signatures`` took (those measured through this wrapper)."""
        return sum(self.measure_s.get(s, 0.0) for s in signatures)


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
    from ios_core.search import optimize  # local: schedulers import this package's cost modules

    if cost is None:
        from ios_core.cost.analytic import SimulatedCost

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
                        iters=inner.iters, eager_runs=inner.eager_runs)
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
) -> ProfileDB:
    """Measure every stage the searches can ask for that ``out_path`` lacks; return the database.

    ``cost`` defaults to the GPU's :class:`~ios_core.cost.measured.MeasuredCost` (``warmup`` and
    ``iters`` replays per stage). The file is
    saved every ``save_every`` new entries and on the way out, also on Ctrl-C or an error, so a
    rerun with the same arguments resumes where this one stopped.
    """
    graph: OpGraph = traced.graph
    config = config or SearchConfig()
    name = model_name or graph.name
    observer = observer or ProfileObserver()
    on_gpu = cost is None
    db = open_db(out_path, current_key(graph) if on_gpu else _key_for(cost, graph))
    if on_gpu:
        cost = default_measured(traced, warmup, iters)
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


def default_measured(traced: Any, warmup: int = 2, iters: int = 10, eager_runs: int = 1,
                     options: Any = None) -> CostModel:
    """The GPU's measured cost model for ``traced``, with few replays per stage: profiling
    thousands of stages must stay fast, and on the H100 10 replays of 5 unrolled copies (more for
    short stages since the H200 runs, see :class:`MeasuredCost`) after one eager run predicted
    Inception V3's schedules as well as 20 replays after two
    (``benchmarks/results/stage_probe-cheap.md``); ``options``: the executor's levers
    (:class:`~ios_core.runtime.levers.EngineOptions`, default theirs)."""
    from ios_core.cost.measured import MeasuredCost

    return _construct(MeasuredCost, traced, warmup=warmup, iters=iters, eager_runs=eager_runs,
                      options=options)


def _construct(cls: Callable[..., CostModel], traced: Any, **options: Any) -> CostModel:
    """Call ``cls(traced, **options)`` passing only the options its signature accepts."""
    import inspect

    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return cls(traced, **options)
