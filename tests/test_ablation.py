"""benchmarks.ablation runs end to end on the CPU and survives a failing configuration."""

from __future__ import annotations

import json

import pytest

import benchmarks.ablation


@pytest.fixture(scope="module")
def ablation():
    return benchmarks.ablation


def test_ablation_smoke(ablation, tmp_path, monkeypatch) -> None:
    real = ablation.ModelRun.run_config

    def flaky(self, cfg):
        if cfg.name == "cap2":
            raise RuntimeError("a lever that breaks")
        return real(self, cfg)

    monkeypatch.setattr(ablation.ModelRun, "run_config", flaky)
    argv = ["--models", "ios_demo", "--configs", "+fused,+concat-inplace,cap2,sequential+all",
            "--iters", "2", "--warmup", "0", "--device", "cpu", "--out-dir", str(tmp_path)]
    assert ablation.main(argv) == 0
    data = json.loads((tmp_path / "ablation.json").read_text())
    rows = {r["config"]: r for r in data["rows"]}
    assert list(rows) == ["baseline", "+fused", "+concat-inplace", "cap2", "sequential+all"]
    assert "a lever that breaks" in rows["cap2"]["error"] and rows["cap2"]["ms"] is None
    for name in ("baseline", "+fused", "+concat-inplace", "sequential+all"):
        assert rows[name]["ms"] > 0 and rows[name]["ok"], rows[name]
    assert data["device"] == "cpu" and data["torch"]
    assert "| +fused |" in (tmp_path / "ablation.md").read_text()
