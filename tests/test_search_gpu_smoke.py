"""benchmarks.search_gpu's CPU smoke path: the rows a measured-search run writes."""

from __future__ import annotations

import json

import pytest

from benchmarks import search_gpu


def test_search_gpu_smoke_writes_a_row_per_search(tmp_path) -> None:
    argv = ["--smoke", "--models", "ios_demo", "squeezenet", "--compare-r", "1",
            "--out-dir", str(tmp_path)]
    assert search_gpu.main(argv) == 0
    data = json.loads((tmp_path / "cpu-search.json").read_text())
    rows = data["rows"]
    assert [(r["model"], r["r"]) for r in rows] == [
        ("ios_demo", 3), ("ios_demo", 1), ("squeezenet", 3), ("squeezenet", 1)]
    for row in rows:
        assert row["states"] > 0 and row["predicted_ms"] > 0 and row["ms"] > 0
        assert row["rel_err"] < 1e-4  # every schedule still computes its model
        assert row.get("warm_cache", False) == (row["r"] == 1)
    assert "| squeezenet | 3 |" in (tmp_path / "cpu-search.md").read_text()


def test_search_gpu_smoke_measures_lazily_on_request(tmp_path) -> None:
    argv = ["--smoke", "--models", "squeezenet", "--lazy", "0.8", "--out-dir", str(tmp_path)]
    assert search_gpu.main(argv) == 0
    (row,) = json.loads((tmp_path / "cpu-search.json").read_text())["rows"]
    assert row["lazy"] == 0.8 and row["rel_err"] < 1e-4 and row["predicted_ms"] > 0
    assert "| squeezenet | 3 (lazy 0.8) |" in (tmp_path / "cpu-search.md").read_text()


def test_search_envelope_stand_in_counts_stages_per_quantile() -> None:
    import pytest

    from benchmarks import search_envelope
    from benchmarks.search_cost import load

    ratios = json.loads(search_envelope.RATIOS.read_text())["models"]["randwire"]["quantiles"]
    graph = load("inception_v3")
    rows = [search_envelope.row_for("inception_v3", graph, ratios, q) for q in (0.0, 0.05)]
    lowest, quantile = rows
    assert 0 < quantile["stages_timed"] <= lowest["stages_timed"]
    assert lowest["factor"] < quantile["factor"]  # the 5 % quantile of a spread, above its lowest
    gpu = search_envelope.StandInGpu(ratios)
    draws = [gpu._ratio(f"stage {i}") for i in range(500)]
    assert min(ratios) <= min(draws) and max(draws) <= max(ratios)
    assert gpu._ratio("stage 1") == draws[1]  # one answer per stage, every time
    with pytest.raises(SystemExit):  # a model without H200 ratios: said, not a traceback
        search_envelope.main(["--models", "squeezenet"])


def test_search_lazy_counts_stages_against_the_envelope_dp(tmp_path) -> None:
    from benchmarks import search_lazy

    argv = ["--models", "squeezenet", "--optimism", "0.8", "--out-dir", str(tmp_path)]
    assert search_lazy.main(argv) == 0
    dp, lazy = json.loads((tmp_path / "search-lazy.json").read_text())["rows"]
    assert (dp["search"], lazy["search"]) == ("envelope DP", "lazy 0.8")
    assert 0 < lazy["stages_asked"] < dp["stages_asked"] and lazy["rounds"] > 0
    assert lazy["schedule_ms"] == pytest.approx(dp["schedule_ms"], rel=0.02)


def test_stand_in_chains_sum_their_ops() -> None:
    from benchmarks import search_envelope
    from benchmarks.search_cost import load

    graph = load("squeezenet")
    gpu = search_envelope.StandInGpu([0.8, 1.0, 1.2], chains="sum")
    a, b = next((n.inputs[0], n.name) for n in graph.nodes
                if n.inputs and n.inputs[0] in graph and graph.consumers(n.inputs[0]) == (n.name,))
    ops = sum(gpu.stage_cost(graph, "concurrent", ((x,),)).ms for x in (a, b))
    chain = gpu.stage_cost(graph, "concurrent", ((a, b),)).ms
    assert 0.99 * ops <= chain <= 1.09 * ops
    with pytest.raises(ValueError, match="chains"):
        search_envelope.StandInGpu([1.0], chains="guess")
