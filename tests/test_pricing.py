"""price_schedule: a schedule's stages priced again under another cost model or batch size."""

from __future__ import annotations

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.ir.schedule import ScheduleError
from ios_core.search import SearchConfig, optimize, price_schedule
from tests._graphs_cost import Builder


def block(batch: int):
    b = Builder("block", (batch, 64, 17, 17))
    b.conv("a", "x", 64, k=1)
    b.conv("b", "x", 64, k=1)
    b.conv("c", "a", 64, k=3)
    return b.build(["b", "c"])


def test_same_cost_model_gives_the_same_latencies() -> None:
    graph, cost = block(1), SimulatedCost("h100")
    schedule = optimize(graph, "ios-both", cost, SearchConfig())
    again = price_schedule(schedule, graph, cost)
    assert [s.predicted_ms for s in again.stages] == [s.predicted_ms for s in schedule.stages]
    assert again.stages == schedule.stages


def test_a_schedule_is_best_at_the_batch_it_was_searched_for() -> None:
    cost = SimulatedCost("h100")
    small, big = block(1), block(16)
    found_small = optimize(small, "ios-both", cost, SearchConfig())
    found_big = optimize(big, "ios-both", cost, SearchConfig())
    moved = price_schedule(found_small, big, cost)
    assert moved.target.batch == 16 and moved.ops == found_small.ops
    assert found_big.predicted_ms <= moved.predicted_ms + 1e-12  # the DP is optimal at batch 16


def test_a_schedule_for_another_graph_is_refused() -> None:
    cost = SimulatedCost("h100")
    schedule = optimize(block(1), "sequential", cost, SearchConfig())
    other = Builder("other", (1, 64, 17, 17))
    other.conv("a", "x", 64, k=1)
    with pytest.raises(ScheduleError, match="does not have"):
        price_schedule(schedule, other.build(["a"]), cost)
