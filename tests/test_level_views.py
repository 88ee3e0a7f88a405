"""The views that follow one open level of a big model (app/views/collapse.py, and the ``level=``
of the animation and the Gantt chart), on a NASNet-like graph of cells scheduled by the real
search on the simulated H100; no streamlit runtime is involved."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("plotly")
import plotly.graph_objects as go  # noqa: E402

from app.views.animation import stage_frames  # noqa: E402
from app.views.collapse import clicked_item, item_label, level_figure  # noqa: E402
from app.views.gantt import MAX_BARRIERS, OTHER_COLOR, gantt_figure, trace_bars  # noqa: E402
from ios_core.cost import make_cost_model  # noqa: E402
from ios_core.export import to_chrome_trace  # noqa: E402
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec  # noqa: E402
from ios_core.ir.hierarchy import build_hierarchy  # noqa: E402
from ios_core.search import optimize  # noqa: E402

SHAPE = (1, 32, 14, 14)
CELLS = 24  # about 2 stages a cell: more barriers than MAX_BARRIERS


def conv(name: str, src: str) -> OpNode:
    attrs = {"in_channels": 32, "out_channels": 32, "kernel": (3, 3), "stride": (1, 1),
             "padding": (1, 1), "dilation": (1, 1), "groups": 1, "activation": "relu"}
    return OpNode(name, "conv", (src,), SHAPE, attrs, flops=2 * 32 * 32 * 9 * 14 * 14,
                  bytes=4 * (2 * 32 * 14 * 14 + 32 * 32 * 9))


@pytest.fixture(scope="module")
def graph() -> OpGraph:
    """stem, then cells.k (a two-conv left branch module, a right conv, their sum), each cell
    reading the two before it, then a head."""
    nodes = [conv("stem.conv", "x")]
    prev = cur = "stem.conv"
    for k in range(CELLS):
        p = f"cells.{k}"
        nodes += [conv(f"{p}.left.a", cur), conv(f"{p}.left.b", f"{p}.left.a"),
                  conv(f"{p}.right", prev),
                  OpNode(f"{p}.add", "add", (f"{p}.left.b", f"{p}.right"), SHAPE)]
        prev, cur = cur, f"{p}.add"
    nodes.append(OpNode("head", "act", (cur,), SHAPE, {"fn": "relu"}))
    g = OpGraph("cellnet", (TensorSpec("x", SHAPE),), tuple(nodes), ("head",))
    g.validate()
    return g


@pytest.fixture(scope="module")
def hier(graph):
    return build_hierarchy(graph)


@pytest.fixture(scope="module")
def schedule(graph):
    return optimize(graph, "ios-both", make_cost_model("simulated:h100"), model_name="cellnet")


@pytest.fixture(scope="module")
def bars(graph, schedule):
    return trace_bars(to_chrome_trace(schedule, graph, make_cost_model("simulated:h100")))


def test_level_figure_draws_boxes_ops_stubs_and_rings(graph, hier):
    top = hier.level(graph)
    fig = level_figure(graph, hier, top, hits=["cells.3.left.b", "cells.3.add", "head"],
                       selected="cells.5.right")
    traces = {t.name.split(" (")[0]: t for t in fig.data}
    assert list(traces["boxes"].customdata) == [f"cells.{k}" for k in range(CELLS)]
    assert list(traces["operators"].customdata) == ["stem.conv", "head"]
    assert list(traces["outside"].customdata) == ["x", "output"]
    assert list(traces["holds a search hit"].customdata) == ["cells.3", "head"]  # one ring a box
    assert list(traces["selected"].customdata) == ["cells.5"]
    assert traces["boxes"].text[0].startswith("<b>cells.0</b> (4)")
    cell = hier.level(graph, "cells.4")
    fig = level_figure(graph, hier, cell, selected="cells.4.left.b")
    traces = {t.name.split(" (")[0]: t for t in fig.data}
    assert list(traces["boxes"].customdata) == ["cells.4.left"]
    assert [item_label(hier, b, "cells.4") for b in cell.items] == ["left", "right", "add"]
    assert set(traces["outside"].customdata) == {"cells.3", "cells.2", "cells.5", "cells.6"}
    assert list(traces["selected"].customdata) == ["cells.4.left"]  # the box that holds it


def test_a_click_names_the_item_under_the_pointer():
    assert clicked_item({"points": [{"curve_number": 2, "customdata": "cells.3"}]}) == "cells.3"
    assert clicked_item({"points": [{"customdata": ["cells.3.add"]}]}) == "cells.3.add"
    assert clicked_item({"points": [{"x": 1.0}]}) is None  # an edge: no item
    assert clicked_item({"points": []}) is None and clicked_item(None) is None


def test_animation_follows_the_open_level(graph, hier, schedule):
    top = go.Figure(stage_frames(graph, schedule, {}, level=hier.level(graph)))
    assert len(top.frames) == len(schedule.stages) + 1  # every stage touches the top level
    cell = hier.level(graph, "cells.4")
    fig = go.Figure(stage_frames(graph, schedule, {}, level=cell))
    ops = set(hier.ops("cells.4"))
    touching = [k for k, s in enumerate(schedule.stages) if ops & set(s.ops)]
    assert [f.name for f in fig.frames] == [str(k) for k in touching] + [
        str(len(schedule.stages))]
    # in every frame, each item is in exactly one category; the box is drawn once, not per op
    for frame in fig.frames:
        shown = [n for d in frame.data for n in d.hovertext]
        assert frame.traces == fig.frames[0].traces and len(shown) == len(cell.items)
    first = json.loads(fig.to_json())["layout"]["annotations"]
    assert all("cells.4." not in a["text"] for a in first)  # names relative to the open cell
    labels = [t for t in fig.data if t.name == "boxes"][0]
    assert list(labels.text) == ["left"]


def test_gantt_follows_the_open_level(graph, hier, schedule, bars):
    bar_list, bounds = bars
    plain = gantt_figure(bar_list, bounds)
    barriers = [s for s in plain.layout.shapes if s.type == "line"]
    assert len(bounds) - 1 > MAX_BARRIERS and len(barriers) == len(bounds) - 1  # unchanged
    top = gantt_figure(bar_list, bounds, level=hier.level(graph))
    assert not [s for s in top.layout.shapes if s.type == "line"]  # no grey wall ...
    spans = [a.text for a in top.layout.annotations]
    assert spans[0] == "stem.conv" and {f"cells.{k}" for k in range(CELLS)} <= set(spans)
    cell = gantt_figure(bar_list, bounds, level=hier.level(graph, "cells.4"))
    ops = set(hier.ops("cells.4"))
    stages = sorted({k + 1 for k, s in enumerate(schedule.stages) if ops & set(s.ops)})
    lo, hi = bounds[stages[0] - 2], bounds[stages[-1] - 1]
    x0, x1 = cell.layout.xaxis.range
    assert x0 < lo < x1 and x0 < hi < x1 and (x1 - x0) < (hi - lo) * 1.1
    inner = [s.x0 for s in cell.layout.shapes if s.type == "line"]
    assert inner and all(lo < x < hi for x in inner)
    grey = [t for t in cell.data if t.name == "outside the open level"]
    assert not grey or grey[0].marker.color == OTHER_COLOR
    mine = {b.name for t in cell.data if t.name != "outside the open level" for b in bar_list
            if b.name in set(t.text or ())}
    assert mine and all(set(b.ops) & ops for b in bar_list if b.name in mine)


def test_gantt_outlines_one_op_in_a_window(schedule, bars):
    bar_list, bounds = bars
    op = schedule.stages[5].ops[0]
    fig = gantt_figure(bar_list, bounds, highlight_op=op, window=(bounds[3], bounds[7]))
    outline = [t for t in fig.data if t.name == f"selected: {op}"]
    assert len(outline) == 1 and len(outline[0].x) == 1
    assert fig.layout.xaxis.range[0] < bounds[3] < bounds[7] < fig.layout.xaxis.range[1]
