"""The one interface every scheduler asks for stage latencies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ios_core.ir.graph import OpGraph

Groups = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class StageCost:
    ms: float
    estimated: bool = False  # True when a simulated model stood in for a measurement


class CostModel(Protocol):
    """Gives the latency of a stage: ``strategy`` ("concurrent" | "merge") over ``groups``.

    The batch size and dtype are those of ``graph`` (it was traced at that batch).
    """

    name: str  # the cost source as users write it: "simulated:h100", "measured", "profile:h100"
    device: str  # device name recorded in schedules
    # optional ``measures: bool``: True when a new stage is timed on the GPU (tens of ms), which a
    # search then asks for more sparingly (ios_core.search.envelope); absent means False

    def stage_cost(
        self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
    ) -> StageCost:
        ...


def calibrated(prior_stage: float, parts_measured: list[float], parts_prior: list[float]) -> float:
    """``prior_stage`` scaled by how the stage's parts measured against their prior: the
    estimate a measured search calibrates (``MeasuredCost.estimate_ms``, the search's envelope).

    >>> calibrated(10.0, [2.0, 4.0], [3.0, 3.0])
    10.0
    >>> calibrated(10.0, [1.0], [0.0])   # no prior for the parts: the prior as it is
    10.0
    """
    prior_sum = sum(parts_prior)
    if prior_sum <= 0:
        return prior_stage
    return prior_stage * sum(parts_measured) / prior_sum
