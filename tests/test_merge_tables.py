"""Joining IOS-table runs, and the ios-both ratio table (pure functions, no GPU)."""

from __future__ import annotations

import pytest

from benchmarks.ios_table import ratio_table, runs_from
from benchmarks.merge_tables import merge


def _table(rows, **header):
    base = {"device": "GPU", "slug": "gpu", "torch": "2.11", "cudnn": "9", "date": "d",
            "settings": {}, "config": {"r": 3, "s": 8, "warmup": 1, "iters": 1}}
    return {**base, **header, "rows": rows}


def _row(model, method, ms, batch=1):
    return {"model": model, "batch": batch, "method": method, "ms": ms}


def test_merge_keeps_rows_of_both_runs_and_lists_runs() -> None:
    a = _table([_row("a", "ios-both", 1.0)], date="2026-01-01")
    b = _table([_row("b", "ios-both", 2.0)], date="2026-01-02")
    m = merge([a, b])
    assert [r["model"] for r in m["rows"]] == ["a", "b"]
    assert m["date"] == "2026-01-02" and [r["runs"] for r in m["runs"]] == [["a b1"], ["b b1"]]


def test_merge_refuses_other_setups_and_repeated_runs() -> None:
    a = _table([_row("a", "ios-both", 1.0)])
    with pytest.raises(ValueError, match="torch"):
        merge([a, _table([_row("b", "ios-both", 1.0)], torch="2.13")])
    with pytest.raises(ValueError, match="a at batch 1"):
        merge([a, _table([_row("a", "eager", 3.0)])])


def test_ratio_table_speedups_bound_and_geomean() -> None:
    rows = [_row("a", "ios-both", 1.0), _row("a", "cudagraph", 2.0), _row("a", "bound", 0.5),
            _row("b", "ios-both", 2.0), _row("b", "cudagraph", 8.0),
            _row("c", "ios-both", 1.0, batch=16), _row("c", "cudagraph", 100.0, batch=16)]
    lines = ratio_table(rows)
    a = next(line for line in lines if line.startswith("| a |"))
    assert "| 2.00 |" in a and a.endswith("| 2.00 |")  # 2x cudagraph; 1.0 / 0.5 of the bound
    geo = lines[-1]
    assert "2.83 (2)" in geo  # sqrt(2 * 4); the batch-16 run is left out


def test_runs_option_parses_model_at_batch() -> None:
    class Args:
        runs = ["squeezenet@1", "inception_v3@16"]

    assert runs_from(Args()) == [("squeezenet", 1), ("inception_v3", 16)]
