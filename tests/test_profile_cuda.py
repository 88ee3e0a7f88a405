"""Profiling on the GPU: a measured database replays the measured search exactly (lent H100).

    PYTHONPATH=. python3 -m pytest -m cuda -q tests/test_profile_cuda.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ios_core.cost.cached import CachedCost
from ios_core.cost.profile_db import ProfileCost, ProfileDB
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.profiling import profile_model
from ios_core.search import SearchConfig, optimize

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def traced():
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    loaded = models.load_model("ios_demo")
    return frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)


def test_profile_replays_measured_search(traced, tmp_path: Path) -> None:
    from ios_core.cost.measured import MeasuredCost

    config = SearchConfig()
    path = tmp_path / "gpu-ios_demo-b1.json"
    db = profile_model(traced, config, path, model_name="ios_demo", warmup=2, iters=5)
    assert db.key.device == torch.cuda.get_device_name() and db.model_info("ios_demo")["complete"]
    measured = MeasuredCost(traced, warmup=2, iters=5)
    for strategy in SEARCH_STRATEGIES:
        # the measured search reads the stages profiled above, measuring only what they lack
        on_gpu = optimize(traced.graph, strategy, CachedCost(db, measured), config)
        replay = optimize(traced.graph, strategy, ProfileCost(ProfileDB.load(path)), config)
        assert [(s.strategy, s.groups) for s in replay.stages] == [
            (s.strategy, s.groups) for s in on_gpu.stages], strategy
        assert replay.estimated_stages == 0
    assert measured.measured == 0  # the profile covered every stage the searches asked for
