"""benchmarks.zoo's CPU smoke path: a row per method asked for, each schedule checked against
its model; the GPU-only methods (the module's CUDA graph, torch.compile) are left out there."""

from __future__ import annotations

import json

from benchmarks import zoo


def test_zoo_smoke_writes_a_row_per_method(tmp_path) -> None:
    methods = ["eager", "compile-max-autotune", "greedy", "ios-both",
               "ios-both+epi+gapmv+layouts+gapfuse"]
    argv = ["--smoke", "--models", "squeezenet1_1", "--methods", *methods,
            "--out-dir", str(tmp_path)]
    assert zoo.main(argv) == 0
    data = json.loads((tmp_path / "cpu-zoo.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["eager", "greedy", "ios-both", "ios-both+epi+gapmv+layouts+gapfuse"]
    for row in rows.values():
        assert row["ms"] > 0 and row["rel_err"] < 1e-4  # every schedule computes its model
    assert rows["greedy"]["stages"] > 0 and rows["greedy"]["options"] == rows["ios-both"]["options"]
    fused = rows["ios-both+epi+gapmv+layouts+gapfuse"]
    assert fused["nchw_convs"] == 0  # timed on CUDA only
    assert fused["fused_means"] == 1  # the classifier conv + ReLU computes the one pool
    assert "| squeezenet1_1 | 1 | greedy |" in (tmp_path / "cpu-zoo.md").read_text()
