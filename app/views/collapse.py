"""One level of a big model as a plotly DAG: the open group's children as boxes and operators,
the outside world as stubs; pan and zoom are plotly's, a click selects (st.plotly_chart's
``on_select``: every point carries its item id in ``customdata``).

The levels come from ios_core.ir.hierarchy (module paths, with RandWire's random-graph nodes cut
into depth bands); this module only draws them.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import plotly.graph_objects as go

from ios_core.cost.base import StageCost
from ios_core.ir.graph import OpGraph
from ios_core.ir.hierarchy import Hierarchy, Level

from .colors import HIGHLIGHT_COLOR, kind_color
from .fmt import ms_str, op_summary, shape_str
from .layout import dag_positions

GROUP_FILL = "#E8EEF7"  # a box of operators: no op kind's, stream's or merge's colour
STUB_COLOR = "#999999"
LAYER_PX = 80  # vertical room per layer: a marker and two lines of label above or below it
WRAP = 18  # characters per label line where a label has a layer to itself
PLOT_PX = 600  # the figure's width, about: the page's on a narrow screen, less than on a wide
CHAR_PX = 6.5  # width of a character of the 11 px labels


def item_label(hier: Hierarchy, item: str, group: str) -> str:
    """An item's name as seen from the open ``group``: its path below the group.

    >>> from ios_core.ir.hierarchy import Group
    >>> h = Hierarchy({"": Group("", "net", ("cells.3",), ("cells.3.add",), "root")}, {})
    >>> item_label(h, "cells.3.comb0_left", "cells.3"), item_label(h, "cells.3", "")
    ('comb0_left', 'cells.3')
    >>> item_label(h, "stages.1.nodes.4", "stages.1#2")
    'nodes.4'
    """
    label = hier.label(item)
    base = group.split("#")[0]  # a band (``stages.1#2``) lies inside its module's path
    if base and label.startswith(base) and label[len(base):len(base) + 1] in (".", " "):
        return label[len(base) + 1:]
    return label


def _wrap(text: str, width: int = WRAP) -> str:
    """``text`` in lines of about ``width`` characters, broken after dots and underscores.

    >>> _wrap("comb_iter_0_left.separable_1", 12)
    'comb_iter_0_<br>left.<br>separable_1'
    """
    lines, line = [], ""
    for piece in text.replace(".", ".\0").replace("_", "_\0").split("\0"):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    return "<br>".join([*lines, line])


def _label_places(pos: Mapping[str, tuple[float, float]]) -> tuple[dict[str, str], int]:
    """Where each label goes, and the characters per line of labels under their marker.

    A node alone in its layer has the row to itself: its label goes to the right. In a wider
    layer, labels go under their markers, wrapped to the room between neighbours, and when even
    that is too little, every other one goes above its marker, so neighbours never write on top
    of each other.
    """
    xs = [x for x, _ in pos.values()] or [0.0]
    slot_px = PLOT_PX / max(max(xs) - min(xs) + 1.6, 1.0)
    width = max(6, int(slot_px / CHAR_PX))
    rows: dict[float, list[str]] = {}
    for n, (_, y) in pos.items():
        rows.setdefault(y, []).append(n)
    place = {}
    for row in rows.values():
        row.sort(key=lambda n: pos[n][0])
        stagger = len(row) > 1 and width < WRAP
        for i, n in enumerate(row):
            place[n] = ("middle right" if len(row) == 1 else
                        "top center" if stagger and i % 2 else "bottom center")
    return place, width if width >= WRAP else max(6, int(2 * slot_px / CHAR_PX) - 1)


def group_summary(graph: OpGraph, ops: Sequence[str],
                  op_costs: Mapping[str, StageCost] | None = None) -> str:
    """'38 ops: 20 conv, 10 act, 8 add · Σ 0.412 ms' (kinds by count, summed isolated times)."""
    kinds = Counter(graph[n].kind for n in ops).most_common()
    text = f"{len(ops)} ops: " + ", ".join(f"{c} {k}" for k, c in kinds[:4])
    if len(kinds) > 4:
        text += ", …"
    costs = [op_costs[n].ms for n in ops if op_costs and n in op_costs]
    return text + (f" · Σ {sum(costs):.3f} ms" if costs else "")


def _hover(graph: OpGraph, hier: Hierarchy, item: str,
           op_costs: Mapping[str, StageCost] | None) -> str:
    if hier.is_group(item):
        return (f"<b>{html.escape(hier.label(item))}</b><br>"
                f"{html.escape(group_summary(graph, hier.ops(item), op_costs))}<br>"
                "<i>click to open</i>")
    node, cost = graph[item], (op_costs or {}).get(item)
    lat = f"<br>{ms_str(cost.ms, cost.estimated)} alone" if cost else ""
    return (f"<b>{html.escape(item)}</b><br>{html.escape(op_summary(node))}<br>"
            f"{shape_str(node.shape)}{lat}<br><i>click for details</i>")


def level_nodes(level: Level) -> tuple[list[str], list[tuple[str, str]]]:
    """The drawn nodes (stubs ``in:x`` / ``out:x`` around the items) and edges, in order."""
    ins = list(dict.fromkeys(f"in:{src}" for src, _ in level.from_outside))
    outs = list(dict.fromkeys(f"out:{dst}" for _, dst in level.to_outside))
    edges = [(f"in:{s}", d) for s, d in level.from_outside] + list(level.edges)
    edges += [(s, f"out:{d}") for s, d in level.to_outside]
    return [*ins, *level.items, *outs], edges


def level_figure(
    graph: OpGraph,
    hier: Hierarchy,
    level: Level,
    op_costs: Mapping[str, StageCost] | None = None,
    *,
    hits: Collection[str] = (),
    selected: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """The open group top to bottom: boxes (squares, labelled with their op count) open on a
    click, operators (circles in their kind's colour) show their details; items holding a
    search hit (``hits``: op names) are ringed, the one holding ``selected`` ringed thicker."""
    nodes, edges = level_nodes(level)
    depth_y = dag_positions(nodes, edges)
    pos = {n: (-y, -d) for n, (d, y) in depth_y.items()}  # top to bottom, first on the left
    layers = len({d for d, _ in depth_y.values()})
    group = level.group
    place, width = _label_places(pos)

    def text_pos(n: str) -> str:
        return place[n]

    def wrap(text: str, n: str = "") -> str:
        return _wrap(text, WRAP if place.get(n) == "middle right" else width)

    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in edges:
        ex += [pos[a][0], pos[b][0], None]
        ey += [pos[a][1], pos[b][1], None]
    data: list[dict] = [{"type": "scatter", "x": ex, "y": ey, "mode": "lines", "name": "edges",
                         "hoverinfo": "skip", "line": {"color": "#bbbbbb", "width": 1}}]
    stubs = [n for n in nodes if n.startswith(("in:", "out:"))]
    data.append(_points(stubs, pos, "outside", text_pos, customdata=[_stub_target(s)
                                                                    for s in stubs],
                        text=[wrap(_stub_text(hier, s, group), s) for s in stubs],
                        hover=[html.escape(_stub_text(hier, s, group)) for s in stubs],
                        marker={"symbol": "triangle-down", "size": 9, "color": STUB_COLOR},
                        font={"size": 10, "color": STUB_COLOR}))
    boxes = [n for n in level.items if hier.is_group(n)]
    data.append(_points(
        boxes, pos, "boxes (click to open)", text_pos,
        text=[f"<b>{wrap(item_label(hier, b, group), b)}</b> ({len(hier.ops(b))})"
              for b in boxes],
        hover=[_hover(graph, hier, b, op_costs) for b in boxes],
        marker={"symbol": "square", "size": 22, "color": GROUP_FILL,
                "line": {"color": "#555555", "width": 1.5}}))
    ops = [n for n in level.items if not hier.is_group(n)]
    data.append(_points(
        ops, pos, "operators (click for details)", text_pos,
        text=[wrap(item_label(hier, o, group), o) for o in ops],
        hover=[_hover(graph, hier, o, op_costs) for o in ops],
        marker={"symbol": "circle", "size": 15, "color": [kind_color(graph[o].kind) for o in ops],
                "line": {"color": "#555555", "width": 1}}))
    where = level.item_of()
    ringed = list(dict.fromkeys(where[h] for h in hits if h in where))
    data.append(_ring(ringed, pos, f"holds a search hit ({len(hits)} ops in all)", 30, 2))
    chosen = [where[selected]] if selected in where else []
    data.append(_ring(chosen, pos, "selected", 38, 4))
    xs = [p[0] for p in pos.values()] or [0.0]
    # a label on the right of the rightmost node needs room: its row has no one else
    right = 2.2 if any(place[n] == "middle right" and pos[n][0] == max(xs) for n in pos) else 0.8
    layout = {
        "height": height or max(260, min(1000, 90 + LAYER_PX * layers)),
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "plot_bgcolor": "white",
        "xaxis": {"visible": False, "range": [min(xs) - 0.8, max(xs) + right]},
        "yaxis": {"visible": False, "range": [-layers + 0.2, 0.6]},
        "showlegend": False, "dragmode": "pan", "hovermode": "closest",
    }
    return go.Figure(data=data, layout=layout, _validate=False)


def _points(names: list[str], pos, label: str, text_pos, *, text: list[str], hover: list[str],
            marker: dict, customdata: list[str] | None = None, font: dict | None = None) -> dict:
    return {"type": "scatter", "name": label, "mode": "markers+text",
            "x": [pos[n][0] for n in names], "y": [pos[n][1] for n in names],
            "customdata": customdata if customdata is not None else names,
            "text": text, "textposition": [text_pos(n) for n in names],
            "textfont": font or {"size": 11}, "hovertext": hover, "hoverinfo": "text",
            "marker": marker, "cliponaxis": False}


def _ring(items: list[str], pos, label: str, size: int, width: float) -> dict:
    return {"type": "scatter", "name": label, "mode": "markers",
            "x": [pos[n][0] for n in items], "y": [pos[n][1] for n in items],
            "customdata": items, "hoverinfo": "skip",
            "marker": {"symbol": "circle-open", "size": size, "color": HIGHLIGHT_COLOR,
                       "line": {"width": width, "color": HIGHLIGHT_COLOR}}}


def _stub_target(stub: str) -> str:
    return stub.split(":", 1)[1]


def _stub_text(hier: Hierarchy, stub: str, group: str) -> str:
    side, target = stub.split(":", 1)
    if target == "output" and side == "out":
        return "model output"
    name = hier.label(target)
    return f"from {name}" if side == "in" else f"to {name}"


def clicked_item(selection: Mapping | None) -> str | None:
    """The item id of the first clicked point in a st.plotly_chart selection event (None when
    nothing, or an edge, was clicked)."""
    points = (selection or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, str) and data:
            return data
    return None
