"""Lazy measuring (search/lazy.py): with estimates at most the true latencies it finds the full
DP's optimum while asking for fewer stages; with any estimates its stages carry the measured
latencies and the schedule runs; it is recorded, replayed, refused out of range and stoppable."""

from __future__ import annotations

import random

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace
from ios_core.ir.graph import stage_signature
from ios_core.ir.schedule import validate_schedule
from ios_core.search import SearchConfig, SearchObserver, optimize

from .toy_graphs import random_dag

LAZY = SearchConfig(r=3, s=8, lazy=True, lazy_optimism=0.8)


def sample_graph(name: str):
    loaded = load_model(name)
    return trace(loaded.module, loaded.example_input)


class Asked:
    """A cost model that answers as ``inner`` and counts the distinct stages asked (as a
    measured cost model times each once)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.device, self.measures = inner, inner.name, inner.device, True
        self.seen: set[str] = set()

    def stage_cost(self, graph, strategy, groups):
        self.seen.add(stage_signature(graph, strategy, groups))
        return self.inner.stage_cost(graph, strategy, groups)


@pytest.mark.parametrize("seed", range(6))
def test_admissible_estimates_find_the_optimum(seed: int) -> None:
    """The truth is a simulated device, so the model calibrated to its ops alone prices every
    stage as it does; times 0.8 every estimate is below the truth: LazySP's optimum."""
    graph = random_dag(random.Random(seed), 9, fans=True)
    truth = SimulatedCost("h100")
    full = optimize(graph, "ios-both", truth, SearchConfig(r=3, s=8, bound_slack=None))
    asked = Asked(truth)
    lazy = optimize(graph, "ios-both", asked, LAZY)
    validate_schedule(lazy, graph)
    assert lazy.predicted_ms == pytest.approx(full.predicted_ms, rel=1e-9)


def test_fewer_stages_asked_on_inception() -> None:
    graph = sample_graph("inception_v3")
    truth = SimulatedCost("h100")
    everything, lazy_asked = Asked(truth), Asked(truth)
    full = optimize(graph, "ios-both", everything, SearchConfig(r=3, s=8, bound_slack=None))
    lazy = optimize(graph, "ios-both", lazy_asked, LAZY)
    assert lazy.predicted_ms == pytest.approx(full.predicted_ms, rel=1e-9)
    assert len(lazy_asked.seen) * 4 < len(everything.seen)
    stats = lazy.search.stats
    assert stats["lazy"] is True and stats["lazy_optimism"] == 0.8
    assert all(p["engine"] == "lazy" and p["lazy_rounds"] >= 1 for p in stats["parts"]
               if "reused_from" not in p)
    assert SearchConfig.from_search(lazy.search) == LAZY


def test_inadmissible_estimates_still_give_measured_stages() -> None:
    """Estimates from another device than the truth: the schedule may not be the optimum, but
    every stage's latency is the truth's and the total is their sum."""
    graph = sample_graph("squeezenet")
    truth = SimulatedCost("v100", overlap_eff=0.3, stream_us=9.0)
    lazy = optimize(graph, "ios-both", truth, SearchConfig(lazy=True, lazy_optimism=1.0))
    validate_schedule(lazy, graph)
    for stage in lazy.stages:
        assert stage.predicted_ms == truth.stage_cost(graph, stage.strategy, stage.groups).ms
    assert lazy.predicted_ms == pytest.approx(sum(s.predicted_ms for s in lazy.stages))
    greedy = optimize(graph, "greedy", truth)
    assert lazy.predicted_ms <= greedy.predicted_ms * 1.05


def test_lazy_optimism_out_of_range_is_refused() -> None:
    for bad in (0, 1.5, -0.2):
        with pytest.raises(ValueError, match="lazy_optimism"):
            SearchConfig(lazy=True, lazy_optimism=bad)


def test_a_lazy_search_stops_and_keeps_its_parts() -> None:
    class StopAfterTwoParts(SearchObserver):
        ended = 0

        def on_part_end(self, part, stats):
            self.ended += 1

        def should_stop(self) -> bool:
            return self.ended >= 2

    graph = sample_graph("inception_v3")
    schedule = optimize(graph, "ios-both", SimulatedCost("h100"), LAZY, StopAfterTwoParts())
    validate_schedule(schedule, graph)
    assert schedule.search.stats["stopped"] is True  # greedy stages after the parts it kept
    assert schedule.search.stats["parts_solved"] == 2


def test_solving_again_from_a_layer_equals_solving_anew() -> None:
    """solve_layers(again=(solved, k)) after latencies changed in layers k and up: the same
    tables as a fresh solve (lazy measuring re-solves so after each round)."""
    import numpy as np

    from ios_core.search.batch import concurrent_batch
    from ios_core.search.bitsets import downsets
    from ios_core.search.endings import index_part
    from ios_core.search.vectorized import solve_layers, transitions

    graph = random_dag(random.Random(3), 14)
    names = [n.name for n in graph.nodes]
    ix = index_part(graph, names, 3, 8, merges=False)
    groups = [g for table in ix.groups_by_top for g, _ in table]
    batch = concurrent_batch(SimulatedCost("h100"), graph)(names, groups)
    tr = transitions(ix, downsets(ix.pred), True, False, batch, lambda m: 0.0)
    before = solve_layers(tr)
    k = len(tr.layer_ends) // 2
    rng = np.random.default_rng(0)
    for block in tr.blocks:
        layer = np.searchsorted(tr.layer_ends, block.state, side="right")
        block.latency = np.where(layer >= k, block.latency * rng.uniform(0.5, 2.0, len(block)),
                                 block.latency)
    again, fresh = solve_layers(tr, again=(before, k)), solve_layers(tr)
    assert np.array_equal(again.cost, fresh.cost) and np.array_equal(again.choice, fresh.choice)
    assert not np.array_equal(fresh.cost, before.cost)  # the change did change the answers


def test_optimize_measures_lazily_on_request_and_refuses_a_bad_optimism(tmp_path, capsys
                                                                        ) -> None:
    from ios_core.cli import main as cli
    from ios_core.ir.schedule import Schedule

    out = tmp_path / "lazy.json"
    assert cli.main(["optimize", "--model", "squeezenet", "--lazy", "0.8", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "lazy measuring (optimism 0.8)" in err and "Traceback" not in err
    stats = Schedule.load(str(out)).search.stats
    assert stats["lazy"] is True and stats["lazy_optimism"] == 0.8
    assert cli.main(["optimize", "--model", "squeezenet", "--lazy", "1.5", "--out",
                     str(tmp_path / "no.json")]) == 2
    captured = capsys.readouterr()
    assert "--lazy wants an optimism in (0, 1]" in captured.err + captured.out
    assert not (tmp_path / "no.json").exists()


@pytest.mark.parametrize("strategy", ["ios-merge", "ios-parallel", "ios-both"])
def test_every_dp_strategy_measures_lazily_to_the_optimum(strategy: str) -> None:
    graph = sample_graph("squeezenet")
    truth = SimulatedCost("h100")
    full = optimize(graph, strategy, truth, SearchConfig(bound_slack=None))
    lazy = optimize(graph, strategy, truth, SearchConfig(lazy=True, lazy_optimism=0.8))
    assert lazy.predicted_ms == pytest.approx(full.predicted_ms, rel=1e-9)
    assert {s.strategy for s in lazy.stages} <= {"concurrent", "merge"}


def test_a_part_too_wide_for_the_arrays_is_solved_by_the_dp_and_reported_once(monkeypatch
                                                                            ) -> None:
    """Parts wider than the arrays hold (62 ops; 3 here, so that SqueezeNet has both kinds) go
    to the DP, each part announced once."""
    import ios_core.search as search

    class Starts(SearchObserver):
        def __init__(self) -> None:
            self.started: list[int] = []

        def on_part_start(self, part, n_parts, n_ops):
            self.started.append(part)

    monkeypatch.setattr(search, "MAX_OPS", 3)
    graph = sample_graph("squeezenet")
    seen = Starts()
    schedule = optimize(graph, "ios-both", SimulatedCost("h100"), LAZY, seen)
    validate_schedule(schedule, graph)
    assert sorted(seen.started) == sorted(set(seen.started))  # each part started once
    engines = {p["engine"] for p in schedule.search.stats["parts"] if "engine" in p}
    assert "lazy" in engines and engines - {"lazy"}  # both kinds of part were there
