"""One memo of stage latencies per search, so that each distinct stage is costed once."""

from __future__ import annotations

from collections.abc import Sequence

from ios_core.cost.base import CostModel, Groups, StageCost
from ios_core.ir.graph import OpGraph


class StageCostCache:
    """Asks ``cost`` for each distinct ``(strategy, groups)`` once and counts the repeats.

    ``costed`` is the number of distinct stages measured or estimated, ``hits`` the number of
    requests answered from memory (the DP adds its own, cheaper hits by bitmask).
    """

    def __init__(self, graph: OpGraph, cost: CostModel) -> None:
        self.graph = graph
        self.cost = cost
        self.memo: dict[tuple[str, Groups], StageCost] = {}
        self.hits = 0

    @property
    def costed(self) -> int:
        return len(self.memo)

    def __call__(self, strategy: str, groups: Sequence[Sequence[str]]) -> StageCost:
        key = (strategy, tuple(tuple(g) for g in groups))
        found = self.memo.get(key)
        if found is not None:
            self.hits += 1
            return found
        result = self.cost.stage_cost(self.graph, strategy, key[1])
        if not isinstance(result, StageCost):  # tolerate cost models that return a bare float
            result = StageCost(float(result))
        self.memo[key] = result
        return result
