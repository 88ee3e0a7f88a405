"""Exports: Chrome trace (Perfetto), DOT, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

import pytest

from ios_core.cost import SimulatedCost
from ios_core.export import (
    CSV_COLUMNS,
    KIND_COLORS,
    STRATEGY_COLORS,
    graph_to_dot,
    to_chrome_trace,
    to_csv,
    to_dot,
)
from ios_core.ir.graph import OP_KINDS
from ios_core.ir.schedule import Stage

from ._graphs_cost import Builder, inception_block, inception_schedule, make_schedule

EPS = 1e-6  # µs


def x_events(trace: dict, cat: str | None = None) -> list[dict]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X" and cat in (None, e["cat"])]


def thread_names(trace: dict) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


# ---- Chrome trace -----------------------------------------------------------------------------
@pytest.mark.parametrize("with_graph", [False, True])
def test_trace_structure(with_graph: bool) -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    trace = json.loads(json.dumps(to_chrome_trace(schedule, graph if with_graph else None)))
    assert trace["displayTimeUnit"] == "ms"
    process = [e for e in trace["traceEvents"] if e["name"] == "process_name"]
    assert process[0]["args"]["name"] == "inception_block"
    for e in x_events(trace):
        assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float))
        assert e["ts"] >= 0 and e["dur"] >= 0
        assert e["tid"] in thread_names(trace)  # every row is named
    seen = [e["name"] for e in x_events(trace, "op")]
    for e in x_events(trace, "merge"):
        assert e["name"] == "merge(a+b1+c1)" and e["tid"] == 1
        seen += e["args"]["ops"]
    assert sorted(seen) == sorted(n.name for n in graph)  # every op exactly once


def test_trace_stage_row_and_streams() -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    trace = to_chrome_trace(schedule, graph)
    names = thread_names(trace)
    assert names[0] == "Stages" and [names[t] for t in (1, 2, 3)] == [
        "stream 0", "stream 1", "stream 2"]
    stages = x_events(trace, "stage")
    assert [e["tid"] for e in stages] == [0] * len(schedule.stages)
    for e, st in zip(stages, schedule.stages, strict=True):
        assert e["args"]["strategy"] == st.strategy and e["args"]["estimated"] == st.estimated
        assert e["dur"] == pytest.approx(st.predicted_ms * 1e3)
        assert e["args"]["ms"] == st.predicted_ms
    ends = [e["ts"] + e["dur"] for e in stages]
    assert [e["ts"] for e in stages[1:]] == pytest.approx(ends[:-1])
    assert trace["otherData"]["total_ms"] == pytest.approx(schedule.predicted_ms)


def test_trace_ops_fit_their_stage_without_overlap() -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    trace = to_chrome_trace(schedule, graph, cost=SimulatedCost())
    stages = x_events(trace, "stage")
    rows: dict[int, list[dict]] = defaultdict(list)
    for e in x_events(trace, "op") + x_events(trace, "merge"):
        rows[e["tid"]].append(e)
        stage = stages[e["args"]["stage"] - 1]  # numbered from 1
        assert stage["ts"] - EPS <= e["ts"]
        assert e["ts"] + e["dur"] <= stage["ts"] + stage["dur"] + EPS
    for events in rows.values():
        events.sort(key=lambda e: e["ts"])
        for prev, nxt in zip(events, events[1:], strict=False):
            assert prev["ts"] + prev["dur"] <= nxt["ts"] + EPS


def test_trace_apportions_by_cost_and_flops() -> None:
    graph, cost = inception_block(), SimulatedCost()
    schedule = inception_schedule(graph)
    ops = {e["name"]: e for e in x_events(to_chrome_trace(schedule, graph, cost=cost), "op")}
    ratio = ops["c3"]["dur"] / ops["c2"]["dur"]
    assert ratio == pytest.approx(cost.op_ms(graph, "c3") / cost.op_ms(graph, "c2"), rel=1e-3)
    flops = {e["name"]: e for e in x_events(to_chrome_trace(schedule, graph), "op")}
    assert flops["c3"]["dur"] / flops["c2"]["dur"] == pytest.approx(
        graph["c3"].flops / graph["c2"].flops, rel=1e-3)
    equal = {e["name"]: e for e in x_events(to_chrome_trace(schedule), "op")}
    assert equal["c2"]["dur"] == pytest.approx(equal["c3"]["dur"], abs=1e-3)
    groups = schedule.stages[1].groups
    heaviest = max(groups, key=lambda g: sum(cost.op_ms(graph, n) for n in g))
    end = max(ops[n]["ts"] + ops[n]["dur"] for n in heaviest)
    assert end == pytest.approx(10 + 30, abs=1e-3)  # the heaviest group spans the stage
    for g in groups:  # and no group runs past it
        assert max(ops[n]["ts"] + ops[n]["dur"] for n in g) <= 40 + 1e-3


def test_trace_measured_timing() -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    stages = x_events(to_chrome_trace(schedule, graph, timing="measured"), "stage")
    assert [e["dur"] for e in stages] == pytest.approx([10, 28, 4])  # falls back to predicted
    with pytest.raises(ValueError, match="timing"):
        to_chrome_trace(schedule, timing="wall")


# ---- DOT --------------------------------------------------------------------------------------
def check_dot(dot: str) -> None:
    """Quoted strings close and braces balance outside them (a lexer-level DOT check)."""
    depth, quoted, escaped = 0, False, False
    for ch in dot:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            assert depth >= 0, "closing brace without an opening one"
    assert not quoted and depth == 0
    assert dot.lstrip().startswith("digraph")
    graphviz = pytest.importorskip("graphviz")
    assert graphviz.Source(dot).source == dot


def test_schedule_dot() -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    dot = to_dot(schedule, graph)
    check_dot(dot)
    for n in graph:
        assert f'"{n.name}" [label=' in dot
    assert dot.count("subgraph cluster_stage_") == 3 + 3  # 3 stages, 3 streams in the 2nd
    assert "dashed" in dot and STRATEGY_COLORS["merge"] in dot
    assert dot.count(" -> ") == sum(len(set(n.inputs)) for n in graph)


def test_dot_escapes_awkward_names() -> None:
    b = Builder('mod"el', (1, 8, 8, 8))
    names = ['conv "1"', "back\\slash", "brace{}", "new\nline", "node", "trail\\"]
    for name in names:
        b.conv(name, "x", 8)
    graph = b.build(names)
    schedule = make_schedule(graph, [Stage("concurrent", tuple((n,) for n in names), 0.01)])
    for dot in (to_dot(schedule, graph), graph_to_dot(graph)):
        check_dot(dot)
        assert '"conv \\"1\\""' in dot and '"back\\\\slash"' in dot and '"trail\\\\"' in dot
        assert "new\nline" not in dot


def test_graph_dot_blocks_and_colors() -> None:
    graph = inception_block()
    blocks = [["a", "b1", "b2"], ["c1", "c2", "c3", "p", "pc", "cat"]]
    dot = graph_to_dot(graph, blocks, op_ms={"a": 0.005})
    check_dot(dot)
    assert dot.count("subgraph cluster_block_") == 2
    assert KIND_COLORS["conv"] in dot and KIND_COLORS["pool"] in dot and "5.0 µs" in dot
    assert all(n.name in dot for n in graph)
    assert set(OP_KINDS) | {"input"} <= set(KIND_COLORS)
    assert len(set(KIND_COLORS.values())) == len(KIND_COLORS)  # kinds told apart


# ---- CSV --------------------------------------------------------------------------------------
def test_csv() -> None:
    graph = inception_block()
    schedule = inception_schedule(graph)
    rows = list(csv.reader(io.StringIO(to_csv(schedule))))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert sorted(r["op"] for r in body) == sorted(n.name for n in graph)  # one row per op
    c3 = next(r for r in body if r["op"] == "c3")
    where = (c3["stage"], c3["strategy"], c3["group"], c3["position"])
    assert where == ("2", "concurrent", "1", "1")  # stages numbered from 1, as in the app
    assert float(c3["stage_predicted_ms"]) == 0.030 and float(c3["stage_measured_ms"]) == 0.028
    cat = next(r for r in body if r["op"] == "cat")
    assert cat["stage_measured_ms"] == "" and cat["estimated"] == "True"
