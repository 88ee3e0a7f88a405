"""Fitting the simulated device to measured stages (CPU, synthetic measurements)."""

from __future__ import annotations

import numpy as np
import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.calibrate import (
    Sample,
    breakdown,
    error_summary,
    fit_preset,
    relative_errors,
    samples_from_db,
)
from ios_core.cost.profile_db import ProfileDB
from ios_core.ir.graph import stage_signature
from ios_core.profiling import collect_stages
from ios_core.search import SearchConfig
from tests.test_profile_db import KEY, two_cells

TRUE = {"launch_us": 6.0, "compute_eff": 0.15, "overlap_eff": 0.7}  # a "device" unlike the preset


def measured_db(truth: SimulatedCost) -> tuple[ProfileDB, dict]:
    graphs = {"a": two_cells(c=32, hw=16), "b": two_cells(c=64, hw=8)}
    db = ProfileDB(KEY)
    for name, graph in graphs.items():
        for st in collect_stages(graph, SearchConfig(r=2, s=4), "ios-both"):
            ms = truth.stage_cost(graph, st.strategy, st.groups).ms
            db.add(st.signature, ms, (name, st.strategy, st.groups))
    return db, graphs


def test_samples_rebuild_stages_and_skip_strangers() -> None:
    db, graphs = measured_db(SimulatedCost("h100"))
    db.add("unknown-signature", 1.0)  # no label: cannot be rebuilt
    samples, skipped = samples_from_db(db, {"a": graphs["a"]})  # model "b" not traced
    assert skipped == 1 + sum(1 for lab in db.stages.values() if lab[0] == "b")
    assert all(stage_signature(s.graph, s.strategy, s.groups) in db for s in samples)
    assert {s.kind for s in samples} >= {"single", "concurrent", "merge"}


def test_fit_recovers_a_synthetic_device() -> None:
    db, graphs = measured_db(SimulatedCost("h100", **TRUE))
    samples, _ = samples_from_db(db, graphs)
    before = error_summary(relative_errors(samples, SimulatedCost("h100")))
    fit = fit_preset(samples, "h100", ["launch_us", "compute_eff", "overlap_eff"], rounds=6)
    after = error_summary(relative_errors(samples, fit.cost()))
    assert fit.loss_after < fit.loss_before / 20
    assert after["median"] < 0.03 and after["p90"] < 0.1 < before["median"]
    assert fit.params["launch_us"] == pytest.approx(TRUE["launch_us"], rel=0.25)


def test_error_summary_and_breakdown() -> None:
    errs = np.array([0.1, -0.2, 0.3, -0.4, 0.5])
    s = error_summary(errs)
    assert s["median"] == pytest.approx(0.3) and s["n"] == 5 and s["bias"] == pytest.approx(0.1)
    graph = two_cells()
    samples = [Sample(graph, m, "concurrent", (("c0_a",),), 1.0) for m in "xxyyy"]
    by = breakdown(samples, errs, "model")
    assert by["x"]["n"] == 2 and by["y"]["n"] == 3
    assert np.isnan(error_summary(np.array([]))["median"])


def test_fit_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        fit_preset([], "h100")
    graph = two_cells()
    with pytest.raises(ValueError, match="cannot fit"):
        fit_preset([Sample(graph, "m", "concurrent", (("c0_a",),), 1.0)], "h100", ["sms"])
