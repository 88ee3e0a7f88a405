"""A cost-model wrapper that remembers every distinct stage a search asks for.

Running the searches with :class:`RecordingCost` around the cheap simulated device yields every
stage the DP can ask for (the endings it enumerates do not depend on the costs): the profiling
tool measures exactly those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ios_core.cost.base import CostModel, StageCost
from ios_core.ir.graph import OpGraph, stage_signature

__all__ = ["Groups", "RecordingCost", "StageRequest"]

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
        self.measures = getattr(inner, "measures", False)
        self.requests: dict[str, StageRequest] = {}

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        frozen = tuple(tuple(g) for g in groups)
        sig = stage_signature(graph, strategy, frozen)
        if sig not in self.requests:
            self.requests[sig] = StageRequest(sig, strategy, frozen)
        return self.inner.stage_cost(graph, strategy, groups)
