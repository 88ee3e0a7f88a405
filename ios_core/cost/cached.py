"""A cost model that answers from a profile database and measures only what it lacks.

One database shared across strategies and models is the signature cache that makes each stage
measured once; no scheduler needs to know about it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from ios_core.cost.base import CostModel, StageCost
from ios_core.cost.profile_db import ProfileDB
from ios_core.cost.recording import StageRequest
from ios_core.ir.graph import OpGraph, stage_signature

__all__ = ["CachedCost"]


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
        # a search prunes harder when the stages it asks for may be timed on the GPU
        self.measures = getattr(inner, "measures", False)
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
