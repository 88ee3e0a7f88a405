"""The app's pure view helpers (app/views): DOT, plotly figures, tables, DP drawing.

They take ios_core objects, so the tests build a small graph by hand and schedule it with the
real schedulers on the simulated H100; no streamlit runtime is involved.
"""

from __future__ import annotations

import pytest

pytest.importorskip("plotly")

from app.views.animation import schedule_animation  # noqa: E402
from app.views.compare import strategies_figure, sweep_figure  # noqa: E402
from app.views.dot import block_edges, blocks_overview_dot, model_dot  # noqa: E402
from app.views.dp import DPRecorder, dp_dot, pruned  # noqa: E402
from app.views.gantt import gantt_figure, trace_bars  # noqa: E402
from app.views.layout import layered_positions, layers  # noqa: E402
from app.views.steps import op_states, stage_title  # noqa: E402
from app.views.tables import operator_rows, schedule_summary, stage_rows  # noqa: E402
from ios_core.cost import make_cost_model  # noqa: E402
from ios_core.export import to_chrome_trace  # noqa: E402
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec  # noqa: E402
from ios_core.ir.partition import find_blocks  # noqa: E402
from ios_core.search import SearchConfig, optimize  # noqa: E402
from ios_core.search.costing import StageCostCache  # noqa: E402
from ios_core.search.dp import solve_part  # noqa: E402

SHAPE = (1, 64, 28, 28)


def conv(name: str, src: str) -> OpNode:
    attrs = {"in_channels": 64, "out_channels": 64, "kernel": (3, 3), "stride": (1, 1),
             "padding": (1, 1), "dilation": (1, 1), "groups": 1, "activation": "relu"}
    return OpNode(name, "conv", (src,), SHAPE, attrs, flops=2 * 64 * 64 * 9 * 28 * 28,
                  bytes=4 * (2 * 64 * 28 * 28 + 64 * 64 * 9))


@pytest.fixture(scope="module")
def graph() -> OpGraph:
    """x → a, b (mergeable) → c after a, d after b → concat → e."""
    nodes = (conv("a", "x"), conv("b", "x"), conv("c", "a"), conv("d", "b"),
             OpNode("cat", "concat", ("c", "d"), (1, 128, 28, 28), {"dim": 1}),
             OpNode("e", "act", ("cat",), (1, 128, 28, 28), {"fn": "relu"}))
    g = OpGraph("demo", (TensorSpec("x", SHAPE),), nodes, ("e",))
    g.validate()
    return g


@pytest.fixture(scope="module")
def cost():
    return make_cost_model("simulated:h100")


@pytest.fixture(scope="module")
def schedule(graph, cost):
    return optimize(graph, "ios-both", cost, SearchConfig())


def test_layers_put_every_edge_forward(graph):
    depth = layers(graph)
    assert depth["x"] == 0 and depth["a"] == 1 and depth["cat"] == 3
    pos = layered_positions(graph)
    for node in graph.nodes:
        for src in node.inputs:
            assert pos[src][0] < pos[node.name][0]


def test_model_dot_clusters_blocks_and_labels_ops(graph, cost):
    blocks = find_blocks(graph)
    costs = {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)) for n in graph.nodes}
    dot = model_dot(graph, blocks, costs)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("subgraph cluster_") == len(blocks)
    assert '"a" -> "c"' in dot and "ms" in dot and "1×64×28×28" in dot
    one = model_dot(graph, blocks, costs, only=["c", "d", "cat"])
    assert '"from:a"' in one and '"e"' not in one  # outside ops are stubs, not nodes


def test_overview_has_one_node_per_block(graph):
    blocks = [["a", "b"], ["c", "d", "cat"], ["e"]]
    dot = blocks_overview_dot(graph, blocks, selected=1)
    assert block_edges(graph, blocks) == {(0, 1), (1, 2)}
    assert "b0 -> b1" in dot and "b1 -> b2" in dot and "penwidth=3" in dot


def test_step_states_and_styles(graph, schedule):
    assert {s.status for s in op_states(schedule, 0).values()} <= {"current", "pending"}
    last = op_states(schedule, len(schedule.stages))
    assert all(s.status == "done" for s in last.values())
    assert stage_title(schedule, len(schedule.stages)).startswith("all")
    merge_steps = [i for i, s in enumerate(schedule.stages) if s.strategy == "merge"]
    assert merge_steps  # a and b read x with equal convs: the DP merges them
    dot = model_dot(graph, states=op_states(schedule, merge_steps[0]))
    assert "peripheries=2" in dot  # the current merge stage: double-bordered, not rounded


def test_animation_has_a_frame_per_stage_and_controls(graph, schedule):
    fig = schedule_animation(graph, schedule, layered_positions(graph))
    assert len(fig.frames) == len(schedule.stages) + 1
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "❚❚ Pause"]
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    small = schedule_animation(graph, schedule, layered_positions(graph), only=["e"])
    assert len(small.frames) == 2  # the stage running e, then "all done"


def test_gantt_reads_the_chrome_trace(graph, schedule, cost):
    bars, bounds = trace_bars(to_chrome_trace(schedule, graph, cost))
    assert {b.name for b in bars} >= {"e", "cat"}
    assert len(bounds) == len(schedule.stages)
    assert bounds[-1] == pytest.approx(schedule.predicted_ms, abs=1e-5)  # trace: whole ns
    fig = gantt_figure(bars, bounds, highlight_stage=0)
    names = {t for trace in fig.data for t in trace.text}
    assert "e" in names


def test_tables(graph, schedule, cost):
    costs = {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)) for n in graph.nodes}
    rows = operator_rows(graph, costs, find_blocks(graph), "simulated:h100")
    assert [r["operator"] for r in rows] == [n.name for n in graph.nodes]
    assert rows[0]["source"] == "simulated" and rows[0]["latency ms"] > 0
    stages = stage_rows(schedule)
    assert len(stages) == len(schedule.stages) and stages[0]["stage"] == 1
    summary = schedule_summary(schedule)
    assert summary["latency ms"] == pytest.approx(schedule.predicted_ms, abs=1e-4)
    fig = strategies_figure([summary], 0.01, 0.005)
    assert fig.data[0].x[0] == "ios-both"
    sweep = sweep_figure([{**summary, "r": 1, "s": 3}, {**summary, "r": 1, "s": 8}],
                         "stages costed")
    assert len(sweep.data) == 1


def test_dp_drawing_shows_chosen_path_and_pruned(graph, cost):
    ops = [n.name for n in graph.nodes]

    def run(r: int, s: int):
        rec = DPRecorder()
        solve_part(graph, ops, "ios-both", StageCostCache(graph, cost), r, s, observer=rec)
        return rec.record

    small, free = run(1, 1), run(6, 6)
    assert set(small.cost) == set(free.cost)  # pruning never changes the states
    removed = pruned(free, small)
    assert removed and all(max(len(g) for g in t.groups) > 1 or len(t.groups) > 1
                           for t in removed if t.strategy == "concurrent")
    path = free.chosen_path(frozenset(ops))
    assert {n for t in path for g in t.groups for n in g} == set(ops)
    dot = dp_dot(small, ops, removed)
    assert "✂" in dot and "#d62728" in dot
