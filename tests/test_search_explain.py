"""The teaching entry solves a part as the search did: same knobs, same stages."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from ios_core.ir.graph import OpNode
from ios_core.search import SearchConfig, SearchObserver, optimize, search_parts, solve_part_with
from ios_core.search.dp import solve_part

from .toy_graphs import ToyCost, conv, graph_of, random_dag


class Steps(SearchObserver):
    """Wants every step (the DP's teaching path), keeps the transitions it is told of."""

    def __init__(self) -> None:
        self.transitions: list[tuple[str, tuple[tuple[str, ...], ...]]] = []

    def on_transition(self, part_index, remaining, strategy, groups, stage_ms, total_ms):
        self.transitions.append((strategy, groups))


class MergeCost(ToyCost):
    """ToyCost whose merges take at least their slowest op alone (the DP's bound holds)."""

    def latency(self, strategy, groups):
        if strategy != "merge":
            return super().latency(strategy, groups)
        ops = [self.weights[n] for g in groups for n in g]
        return max(ops) + 0.2 * (sum(ops) - max(ops)) + self.overhead


def fan():
    """x → a, b (mergeable) → cat: a merge stage may end in the concat that joins a and b."""
    cat = OpNode("cat", "concat", ("b", "a"), (1, 16, 8, 8), {"dim": 1})
    return graph_of([conv("a", "x"), conv("b", "x", k=3), cat])


def stages(result):
    return [(strategy, groups) for strategy, groups, _ in result.stages]


def test_teaching_part_is_the_search_with_its_merge_ending_in_the_concat():
    graph = fan()
    cost = MergeCost({"a": 1.0, "b": 1.0, "cat": 1.0})
    config = SearchConfig()
    searched = optimize(graph, "ios-both", cost, config)
    [part] = search_parts(graph, config)
    steps = Steps()
    shown = solve_part_with(graph, part, "ios-both", cost, config, steps)
    own = [(st.strategy, st.groups) for st in searched.stages]
    assert stages(shown) == own == [("merge", (("a", "b", "cat"),))]
    assert ("merge", (("a", "b", "cat"),)) in steps.transitions
    # what the app's DP page ran before: r and s alone, so merge_concat=False
    bare = solve_part(graph, part, "ios-both", lambda st, g: cost.stage_cost(graph, st, g),
                      config.r, config.s)
    assert stages(bare) != own


@pytest.mark.parametrize("config", [
    SearchConfig(),
    SearchConfig(r=1, s=2, bound_slack=None, merge_concat=False),
    SearchConfig(max_part_ops=4, max_part_states=16, part_order="topo"),
], ids=["defaults", "no-bound-no-concat", "small-parts"])
def test_every_part_of_a_search_replays_with_its_config(config):
    """The search's stages are the teaching entry's, part by part, with or without every step."""
    for seed in range(12):
        rng = random.Random(seed)
        graph = random_dag(rng, rng.choice((4, 5, 6)), fans=True)
        if len(graph) > 12:
            continue  # the teaching path reports every transition: keep the graphs small
        for strategy in ("ios-merge", "ios-parallel", "ios-both"):
            cost = ToyCost.random(graph, seed)
            searched = optimize(graph, strategy, cost, config)
            parts = search_parts(graph, config)
            got = [stage for i, part in enumerate(parts) for stage in stages(
                solve_part_with(graph, part, strategy, cost, config, Steps(), i, len(parts)))]
            assert got == [(st.strategy, st.groups) for st in searched.stages], (seed, strategy)


def test_a_view_with_other_knobs_says_so_through_its_own_config():
    graph = fan()
    cost = MergeCost({"a": 1.0, "b": 1.0, "cat": 1.0})
    config = SearchConfig()
    [part] = search_parts(graph, config)
    one = solve_part_with(graph, part, "ios-parallel", cost, replace(config, r=1, s=1))
    assert all(len(groups) == 1 and len(groups[0]) == 1 for _, groups in stages(one))
    with pytest.raises(ValueError, match="unknown DP strategy"):
        solve_part_with(graph, part, "greedy", cost, config)
