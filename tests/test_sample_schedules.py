"""Every sample model, scheduled by sequential, greedy and ios-both, computes what the model
computes (CPU, float32: relative error against the model in float64 within the executor's fp32
tolerance, 5e-4)."""

from __future__ import annotations

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace_model
from ios_core.runtime.executor import check, tolerance_for
from ios_core.search import SearchConfig, optimize
from sample_models import REGISTRY

torch = pytest.importorskip("torch")

# a small DP state cap keeps the big models' searches to seconds on a CPU; the executor does not
# care how a schedule was found, only that it has merge and concurrent stages to run
CONFIG = SearchConfig(r=3, s=8, max_part_states=256)
BIG = {"randwire", "nasnet"}


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=[pytest.mark.slow] if name in BIG else []) for name in REGISTRY])
def traced(request):
    loaded = load_model(request.param)
    return trace_model(loaded.module, loaded.example_input, name=loaded.name)


@pytest.mark.parametrize("strategy", ["sequential", "greedy", "ios-both"])
def test_schedule_matches_the_model(traced, strategy: str) -> None:
    schedule = optimize(traced.graph, strategy, SimulatedCost("h100"), CONFIG)
    result = check(traced, schedule, seed=1)
    assert result.tolerance == tolerance_for("cpu", torch.float32) == 5e-4
    assert result.ok, f"{traced.graph.name} {strategy}: relative error {result.rel_err:.2e}"
    if strategy == "ios-both" and traced.graph.name in ("inception_v3", "ios_demo"):
        assert any(s.strategy == "merge" for s in schedule.stages)  # merges really ran
