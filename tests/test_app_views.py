"""The app's pure view helpers (app/views): DOT, plotly figures, tables, DP drawing.

They take ios_core objects, so the tests build a small graph by hand and schedule it with the
real schedulers on the simulated H100; no streamlit runtime is involved.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("plotly")
import plotly.graph_objects as go  # noqa: E402

from app.views.animation import MAX_LINES, running_lines, stage_frames  # noqa: E402
from app.views.colors import HIGHLIGHT_COLOR, KIND_COLORS, STRATEGY_COLORS, STREAM_COLORS  # noqa: E402,E501
from app.views.compare import strategies_figure, sweep_figure  # noqa: E402
from app.views.dot import block_edges, blocks_overview_dot, model_dot  # noqa: E402
from app.views.dp import DPRecorder, dp_dot, knobs_text, pruned, view_differences  # noqa: E402
from app.views.frame import still_frame  # noqa: E402
from app.views.gantt import Bar, gantt_figure, trace_bars  # noqa: E402
from app.views.layout import layered_positions, layers  # noqa: E402
from app.views.steps import op_states, stage_title  # noqa: E402
from app.views.tables import operator_rows, part_rows, schedule_summary, stage_rows  # noqa: E402
from ios_core.cost import make_cost_model  # noqa: E402
from ios_core.cost.analytic import SimulatedCost  # noqa: E402
from ios_core.cost.bounds import floors, lower_bounds  # noqa: E402
from ios_core.export import to_chrome_trace, to_csv  # noqa: E402
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec  # noqa: E402
from ios_core.ir.partition import find_blocks  # noqa: E402
from ios_core.search import SearchConfig, optimize, search_parts, solve_part_with  # noqa: E402

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


def drawn(*args, **kwargs) -> go.Figure:
    """The stage drawing as a plotly figure, which validates all of it: the app never does."""
    return go.Figure(stage_frames(*args, **kwargs))


def test_the_stage_drawing_has_a_frame_per_stage(graph, schedule):
    fig = drawn(graph, schedule, layered_positions(graph))
    assert len(fig.frames) == len(schedule.stages) + 1
    spec = stage_frames(graph, schedule, layered_positions(graph))
    for frame in fig.frames:  # the still figure of a stage is its frame over the first drawing
        still = still_frame(spec, int(frame.name))
        assert still.layout.title.text == frame.layout.title.text
        for index, update in zip(frame.traces, frame.data, strict=True):
            assert list(still.data[index].x) == list(update.x)
    assert not still.layout.updatemenus and not still.layout.sliders  # the page's control only
    assert stage_frames(graph, schedule, layered_positions(graph)) == spec  # left unchanged
    moving = fig.frames[0].traces
    for frame in fig.frames:  # every op in exactly one trace of every frame
        assert frame.traces == moving
        assert sum(len(t.x) for t in frame.data) == len(graph)
    # no trace that every frame leaves empty (each one costs validation in every frame)
    assert all(any(len(f.data[i].x) for f in fig.frames) for i in range(len(moving)))
    small = drawn(graph, schedule, layered_positions(graph), only=["e"])
    assert len(small.frames) == 2  # the stage running e, then "all done"


def test_animation_labels_never_overlap(graph, schedule):
    """No names beside markers (neighbours' names overlapped); the running ops are listed in one
    text beside the plot, a line per stream, each cut to fit the margin."""
    fig = drawn(graph, schedule, layered_positions(graph))
    for frame in fig.frames:
        for trace in frame.data:
            assert "text" not in (trace.mode or "") and not any(trace.text or ())
        (listed,) = frame.layout.annotations  # one text: its lines cannot overlap
        assert listed.text.count("<br>") <= MAX_LINES
    assert all("text" not in (t.mode or "") for t in fig.data if t.mode)
    long = replace(schedule, stages=(replace(schedule.stages[0], strategy="concurrent",
                                             groups=tuple((f"op_with_a_long_name_{i}",) * 3
                                                          for i in range(20))),))
    lines = running_lines(long, 0)
    assert len(lines) <= 12 and all(len(text) <= 30 for _, text in lines)
    assert lines[-1][1].startswith("+")  # streams past the room are counted


def _lab(color: str) -> tuple[float, float, float]:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _seen_as(color: str, matrix: tuple[tuple[float, ...], ...] | None) -> str:
    """``color`` as a dichromat sees it (Machado et al. 2009, severity 1)."""
    if matrix is None:
        return color

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def enc(c: float) -> float:
        c = min(max(c, 0.0), 1.0)
        return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055

    rgb = [lin(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5)]
    out = [enc(sum(m * c for m, c in zip(row, rgb, strict=True))) for row in matrix]
    return "#" + "".join(f"{round(c * 255):02x}" for c in out)


DEUTERANOPIA = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                (-0.011820, 0.042940, 0.968881))
PROTANOPIA = ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
              (-0.003882, -0.048116, 1.051998))


@pytest.mark.parametrize("vision", [None, DEUTERANOPIA, PROTANOPIA],
                         ids=["normal", "deuteranopia", "protanopia"])
def test_stream_and_kind_palettes_never_collide(vision):
    """Streams (and merges) against op kinds, and the highlight against both: far apart in CIELAB
    (a difference of 10 is plain to see), for colour-blind eyes too."""
    from ios_core.ir.graph import OP_KINDS

    assert set(OP_KINDS) | {"input"} <= set(KIND_COLORS)
    kinds = list(KIND_COLORS.values())
    streams = [*STREAM_COLORS, STRATEGY_COLORS["merge"]]
    assert not set(kinds) & set(streams) and HIGHLIGHT_COLOR not in kinds + streams

    def far(a: str, b: str) -> float:
        la, lb = _lab(_seen_as(a, vision)), _lab(_seen_as(b, vision))
        return sum((x - y) ** 2 for x, y in zip(la, lb, strict=True)) ** 0.5

    assert min(far(k, s) for k in kinds for s in streams) > 12
    assert min(far(HIGHLIGHT_COLOR, c) for c in kinds + streams) > 20
    assert min(far(a, b) for i, a in enumerate(streams) for b in streams[i + 1:]) > 12
    assert min(_lab(k)[0] for k in kinds) > max(_lab(s)[0] for s in streams)  # pale vs deep


def test_gantt_highlight_is_apart_from_streams(graph, schedule, cost):
    bars, bounds = trace_bars(to_chrome_trace(schedule, graph, cost))
    fig = gantt_figure(bars, bounds, highlight_stage=1)
    marks = [s for s in fig.layout.shapes if s.type == "rect"]
    assert marks and {s.fillcolor for s in marks} <= {HIGHLIGHT_COLOR, "rgba(0,0,0,0)"}
    assert {b.stage for b in bars} == set(range(1, len(schedule.stages) + 1))  # from 1


def test_csv_numbers_stages_as_the_app_does(schedule):
    rows = stage_rows(schedule)
    csv_rows = [line.split(",") for line in to_csv(schedule).splitlines()[1:]]
    assert sorted({int(r[0]) for r in csv_rows}) == [r["stage"] for r in rows]
    for row in rows:
        ops = {r[4] for r in csv_rows if int(r[0]) == row["stage"]}
        assert ops == {n for g in row["operators"].split(" | ") for n in g.split(", ")}


def test_gantt_reads_the_chrome_trace(graph, schedule, cost):
    bars, bounds = trace_bars(to_chrome_trace(schedule, graph, cost))
    assert {b.name for b in bars} >= {"e", "cat"}
    assert len(bounds) == len(schedule.stages)
    assert bounds[-1] == pytest.approx(schedule.predicted_ms, abs=1e-5)  # trace: whole ns
    fig = gantt_figure(bars, bounds, highlight_stage=0)
    named = {n for trace in fig.data for n in trace.hovertext}
    assert named == {b.name for b in bars}  # every bar names its op on hover


def test_gantt_names_inside_only_bars_wide_enough():
    """A bar's name is drawn inside it only where it could fit at the chart's full width; the
    browser would measure every text to hide the rest (130 ms on Inception V3's Gantt)."""
    wide = Bar(row="stream 0", name="wide_op", start_ms=0.0, dur_ms=0.9, stage=1,
               strategy="concurrent", group=0, ops=("wide_op",))
    thin = Bar(row="stream 1", name="a_rather_long_operator_name", start_ms=0.0, dur_ms=0.01,
               stage=1, strategy="concurrent", group=1, ops=("a_rather_long_operator_name",))
    fig = gantt_figure([wide, thin], [1.0])
    assert list(fig.data[0].text) == ["wide_op", ""]
    assert list(fig.data[0].hovertext) == ["wide_op", "a_rather_long_operator_name"]


def test_tables(graph, schedule, cost):
    costs = {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)) for n in graph.nodes}
    rows = operator_rows(graph, costs, find_blocks(graph), "simulated:h100")
    assert [r["operator"] for r in rows] == [n.name for n in graph.nodes]
    assert rows[0]["source"] == "simulated" and rows[0]["latency ms"] > 0
    stages = stage_rows(schedule)
    assert len(stages) == len(schedule.stages) and stages[0]["stage"] == 1
    assert "efficiency" not in stages[0] and stages[0]["measured ms"] == "not measured"
    fl = floors(graph, cost)
    bounded = stage_rows(schedule, [fl.stage_ms_bound(graph, t.groups) for t in schedule.stages])
    for row in bounded:
        assert 0 < row["efficiency"] <= 1 and row["stage bound ms"] <= row["predicted ms"]
        assert None not in row.values()
    summary = schedule_summary(schedule)
    assert summary["latency ms"] == pytest.approx(schedule.predicted_ms, abs=1e-4)
    bounds = lower_bounds(graph, cost)
    fig = strategies_figure([summary], bounds)
    assert fig.data[0].x[0] == "ios-both"
    labels = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("path bound") for t in labels)
    assert any(t.startswith("isolated-op path (reference)") for t in labels)
    assert "of the lower bound" not in schedule_summary(schedule)  # no bound: left out
    assert 0 < schedule_summary(schedule, bounds.lower_ms)["of the lower bound"] <= 1
    assert None not in summary.values()
    sweep = sweep_figure([{**summary, "r": 1, "s": 3}, {**summary, "r": 1, "s": 8}],
                         "stages costed")
    assert len(sweep.data) == 1


def test_dp_drawing_shows_chosen_path_and_pruned(graph, cost):
    ops = [n.name for n in graph.nodes]

    def run(r: int, s: int):
        rec = DPRecorder()
        solve_part_with(graph, ops, "ios-both", cost, replace(SearchConfig(), r=r, s=s), rec)
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


# ---- the DP page shows the search's own DP -------------------------------------------------------
@pytest.fixture(scope="module")
def fan() -> OpGraph:
    """x → a, b (mergeable) → cat: the best stage merges a and b and ends in their concat."""
    nodes = (conv("a", "x"), conv("b", "x"),
             OpNode("cat", "concat", ("a", "b"), (1, 128, 28, 28), {"dim": 1}))
    g = OpGraph("fan", (TensorSpec("x", SHAPE),), nodes, ("cat",))
    g.validate()
    return g


def test_dp_page_record_is_the_search_with_its_merge_ending_in_the_concat(fan, cost):
    """What the DP page records (DPRecorder through solve_part_with, the search's config) chooses
    the schedule's own stages; the view the page showed before (merge_concat off) did not."""
    searched = optimize(fan, "ios-both", cost, SearchConfig())
    config = SearchConfig.from_search(searched.search)  # what the page replays
    assert config == SearchConfig()
    [part] = search_parts(fan, config)
    own = [(st.strategy, st.groups) for st in searched.stages]
    assert own == [("merge", (("a", "b", "cat"),))]

    def chosen(config: SearchConfig) -> list:
        rec = DPRecorder()
        solve_part_with(fan, part, "ios-both", cost, config, rec)
        assert rec.record.stats["states"] == len(rec.record.cost) + 1
        return [(t.strategy, t.groups) for t in rec.record.chosen_path(frozenset(part))]

    assert chosen(config) == own
    assert chosen(replace(config, merge_concat=False)) != own
    # and the page says so when a knob differs
    notes = view_differences("ios-both", config, "ios-both", replace(config, merge_concat=False),
                             part, [part])
    assert notes == ["merges ending in their concat = off here (the search: on)"]


def test_view_differences_name_every_change_and_nothing_else():
    searched = SearchConfig()
    ops = ("a", "b", "c")
    assert view_differences("ios-both", searched, "ios-both", searched, ops, [list(ops)]) == []
    notes = view_differences("greedy", searched, "ios-both", replace(searched, r=1, s=2), ops,
                             [["a", "b"], ["c", "d"]])
    assert notes[0].startswith("the search is greedy, which runs no DP")
    assert "r = 1 here (the search: 3)" in notes and "s = 2 here (the search: 8)" in notes
    assert notes[-1].startswith("the search solved these 3 ops in 2 parts of 2, 2 ops")
    assert view_differences("ios-merge", searched, "ios-both", searched, ops, [list(ops)]) == [
        "ios-both here, ios-merge in the search"]
    assert knobs_text("ios-both", searched) == (
        "ios-both, r = 3, s = 8, merges may end in their concat, branch and bound at slack 0.9")
    assert "merge" not in knobs_text("ios-parallel", replace(searched, bound_slack=None))


# ---- one door ------------------------------------------------------------------------------------
APP = Path(__file__).resolve().parents[1] / "app"
DISPLAY_HELPERS = {"views/colors.py": {"kind_color"},
                   "views/fmt.py": {"flops_text", "op_caption", "shape_text"}}


def test_backend_is_the_apps_only_door_to_ios_core():
    """The rule in app/backend's docstring: elsewhere, ios_core gives only classes used as
    types and UPPER_CASE constants (plus the views' display helpers); nothing calls into it."""
    broken = []
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP).as_posix()
        if rel.startswith("backend/"):
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        classes: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                broken += [f"{rel}:{node.lineno} imports {a.name}" for a in node.names
                           if a.name.split(".")[0] == "ios_core"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ios_core"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    found = getattr(module, alias.name)
                    if isinstance(found, type):
                        classes.add(alias.asname or alias.name)
                    elif not (alias.name.isupper()
                              or alias.name in DISPLAY_HELPERS.get(rel, ())):
                        broken.append(f"{rel}:{node.lineno} imports {alias.name}")
        for node in ast.walk(tree):  # a class is a type here: never called, nor its classmethods
            if isinstance(node, ast.Call):
                func = node.func.value if isinstance(node.func, ast.Attribute) else node.func
                if isinstance(func, ast.Name) and func.id in classes:
                    broken.append(f"{rel}:{node.lineno} calls {ast.unparse(node.func)}")
    assert not broken, broken


def test_per_part_rows_have_one_shape_and_no_none():
    """The Optimize page's per-part table: a part that repeats an earlier one says which, and no
    cell is None although solved and repeated parts carry different statistics."""
    from tests.test_reuse import _graph

    graph = _graph((8, 8, 8, 16))
    stats = optimize(graph, "ios-both", SimulatedCost("h100")).search.stats
    rows = part_rows(stats["parts"])
    assert len(rows) == len(stats["parts"]) and len({tuple(r) for r in rows}) == 1
    assert all(v is not None for r in rows for v in r.values())
    assert sum(r["solved"].startswith("as part") for r in rows) == stats["parts_reused"] >= 1
    assert [r["part"] for r in rows] == list(range(1, len(rows) + 1))
