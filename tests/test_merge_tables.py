"""Joining IOS-table runs, and the ios-both ratio table (pure functions, no GPU)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_merge_replace_takes_every_row_of_a_model_from_its_latest_run() -> None:
    a = _table([_row("a", "ios-both", 1.0), _row("a", "eager", 9.0), _row("z", "eager", 5.0)])
    b = _table([_row("a", "ios-both", 0.8)])
    m = merge([a, b], replace=True)
    assert [(r["model"], r["ms"]) for r in m["rows"]] == [("z", 5.0), ("a", 0.8)]
    assert [r["runs"] for r in m["runs"]] == [["z b1"], ["a b1"]]


def test_ratio_table_speedups_critical_path_and_geomean() -> None:
    rows = [_row("squeezenet", "ios-both", 1.0), _row("squeezenet", "cudagraph", 2.0),
            _row("squeezenet", "critical-path", 0.5),
            _row("nasnet", "ios-both", 2.0), _row("nasnet", "cudagraph", 8.0),
            _row("ios_demo", "ios-both", 1.0), _row("ios_demo", "cudagraph", 50.0),
            _row("nasnet", "ios-both", 1.0, batch=16), _row("nasnet", "cudagraph", 100.0, batch=16)]
    lines = ratio_table(rows)
    a = next(line for line in lines if line.startswith("| squeezenet |"))
    assert "| 2.00 |" in a and a.endswith("| 2.00 |")  # 2x cudagraph; 1.0 / 0.5 of the path
    legacy = [{**r, "method": "bound"} if r["method"] == "critical-path" else r for r in rows]
    assert ratio_table(legacy) == lines  # results before 2026-12-03 named the reference "bound"
    geo = lines[-1]
    assert "2.83 (2)" in geo  # sqrt(2 * 4): the batch-16 run and the teaching net are left out


def test_runs_option_parses_model_at_batch() -> None:
    class Args:
        runs = ["squeezenet@1", "inception_v3@16"]

    assert runs_from(Args()) == [("squeezenet", 1), ("inception_v3", 16)]


def test_runs_and_ablation_sections_name_each_run() -> None:
    from benchmarks.merge_tables import ablation_section, runs_section

    runs = merge([_table([_row("a", "ios-both", 1.0)], config={"r": 3, "s": 8, "warmup": 1,
                                                                "iters": 1, "engine": "nhwc"})])
    text = runs_section(runs["runs"])
    assert "| 1 | d | a b1 | nhwc |" in text
    abl = {"date": "d", "cost": "profile:h100", "batch": 1,
           "rows": [{"model": "a", "config": "baseline", "ms": 2.0, "speedup": 1.0},
                    {"model": "a", "config": "fast", "ms": 1.0, "speedup": 2.0}]}
    section = ablation_section([("ablation.json", abl)])
    assert "| fast | 1.000 |" in section and "| fast | 2.000 | 1 |" in section


def test_stage_probe_markdown_shows_ratio_and_seconds_per_stage() -> None:
    from benchmarks.stage_probe import markdown

    cell = {"predicted_ms": 0.9, "ratio": 0.9, "s_per_stage": 0.012}
    row = {"model": "m", "strategy": "ios-both", "options": "default", "measured_ms": 1.0,
           "cold u5 i20": cell}
    text = markdown([row], {"device": "GPU", "torch": "t", "cudnn": "c", "date": "d"})
    assert "| m | ios-both | default | 1.000 | 0.900 (12.0) |" in text


def test_report_rewrites_json_and_markdown_after_every_row(tmp_path) -> None:
    from benchmarks.report import Report, latency_cell, pivot

    def render(data):
        return "\n".join(pivot(data["rows"], ("model",), "config", latency_cell)) + "\n"

    report = Report(tmp_path / "out", "t", {"device": "GPU"}, render, extra={"profiles": []})
    report.add({"model": "a", "config": "x", "ms": 1.0})
    report.add({"model": "a", "config": "y", "ms": None, "error": "skipped: budget"})
    report.add({"model": "b", "config": "x", "ms": 2.0, "ok": False})
    data = json.loads((tmp_path / "out" / "t.json").read_text())
    assert data["device"] == "GPU" and len(data["rows"]) == 3 and data["profiles"] == []
    assert (tmp_path / "out" / "t.md").read_text().splitlines() == [
        "| model | x | y |", "|---|---|---|", "| a | 1.000 | skipped |", "| b | 2.000 (!) |  |"]


def test_no_benchmark_edits_sys_path() -> None:
    """Scripts run as ``python -m benchmarks.<name>`` from the repository root."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert "sys.path" not in text and "E402" not in text, path.name
