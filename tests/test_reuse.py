"""Isomorphic parts solved once (ios_core.search.reuse): a repeated cell takes the first cell's
stages, renamed, and they are exactly what solving it again gives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.tracing import trace_model
from ios_core.ir.graph import OpGraph
from ios_core.search import SearchConfig, optimize, search_parts, solve_part_with
from ios_core.search.estimate import estimate_search
from ios_core.search.observer import SearchObserver
from ios_core.search.reuse import part_key


class Cell(nn.Module):
    """Three branches on one input, joined: one block of a few dozen DP states."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c, c, 1)
        self.b = nn.Sequential(nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))
        self.c = nn.Conv2d(c, c, 3, padding=1)
        self.join = nn.Conv2d(3 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.join(torch.cat([self.a(x), self.b(x), torch.relu(self.c(x))], 1))


def _graph(widths: tuple[int, ...]) -> OpGraph:
    torch.manual_seed(0)
    cells = [nn.Conv2d(3, widths[0], 1)]
    for w_in, w in zip(widths, widths[1:], strict=False):
        cells += [Cell(w_in)] if w_in == w else [nn.Conv2d(w_in, w, 1)]
    model = nn.Sequential(*cells, Cell(widths[-1])).eval()
    return trace_model(model, torch.randn(1, 3, 8, 8)).graph


@pytest.fixture(scope="module")
def graph() -> OpGraph:
    # cells of 8 channels three times, then one of 16: three equal problems and one other
    return _graph((8, 8, 8, 8, 16))


class Parts(SearchObserver):
    def __init__(self) -> None:
        self.ended: list[dict] = []

    def on_part_end(self, part_index: int, stats: dict) -> None:
        self.ended.append(stats)


@pytest.mark.parametrize("strategy", ["ios-both", "ios-parallel", "ios-merge"])
def test_repeated_parts_take_the_stages_solving_them_gives(graph, strategy: str) -> None:
    config = SearchConfig(r=3, s=8)
    cost = SimulatedCost("h100")
    seen = Parts()
    schedule = optimize(graph, strategy, cost, config, observer=seen)
    parts = search_parts(graph, config)
    keys = [part_key(graph, p) for p in parts]
    repeats = len(keys) - len(set(keys))
    assert repeats >= 2 and schedule.search.stats["parts_reused"] == repeats
    assert [s.get("reused_from") is not None for s in seen.ended].count(True) == repeats
    # every part's stages in the schedule are what its own DP gives, reused or not
    stages = [(s.strategy, s.groups) for s in schedule.stages]
    solved = [(st, groups) for i, p in enumerate(parts)
              for st, groups, _ in solve_part_with(graph, p, strategy, cost, config, None, i,
                                                   len(parts)).stages]
    assert stages == solved
    # no work counted for the copies: states are those of the distinct parts
    firsts = {k: i for i, k in reversed(list(enumerate(keys)))}
    per_part = schedule.search.stats["parts"]
    assert all(per_part[i]["states"] == 0 for i, k in enumerate(keys) if firsts[k] != i)
    assert all(per_part[i]["states"] > 0 for i, k in enumerate(keys) if firsts[k] == i)


def test_keys_tell_apart_shapes_and_wiring(graph) -> None:
    parts = [p for p in search_parts(graph, SearchConfig()) if len(p) > 1]
    keys = [part_key(graph, p) for p in parts]
    # the three 8-channel cells are one problem, the 16-channel one (and a join + conv) others
    assert len(set(keys)) == len(parts) - 2
    names = parts[0]
    swapped = [names[1], names[0], *names[2:]]  # the same ops in another order: another problem
    assert part_key(graph, swapped) != part_key(graph, names)


def test_the_estimate_counts_what_the_search_solves(graph) -> None:
    config = SearchConfig(r=3, s=8)
    estimate = estimate_search(graph, "ios-both", config)
    schedule = optimize(graph, "ios-both", SimulatedCost("h100"), config)
    assert estimate.states_total == schedule.search.stats["states"]
    assert estimate.part_states.count(0) == schedule.search.stats["parts_reused"] >= 2


def test_a_measured_search_reuses_parts_and_times_each_stage_once(graph) -> None:
    """With a cost model that measures (the envelope on), repeated parts are renamed too, and
    the schedule's stages are priced as the cost model prices them."""
    from benchmarks.search_envelope import StandInGpu

    cost = StandInGpu([0.8, 0.9, 1.0, 1.1, 1.2])
    schedule = optimize(graph, "ios-both", cost, SearchConfig(r=3, s=8))
    stats = schedule.search.stats
    assert stats["envelope_used"] and stats["parts_reused"] >= 2
    for stage in schedule.stages:
        assert stage.predicted_ms == cost.stage_cost(graph, stage.strategy, stage.groups).ms
    assert {n for st in schedule.stages for n in st.ops} == {n.name for n in graph.nodes}
