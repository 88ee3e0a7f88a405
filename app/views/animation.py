"""The stages of a schedule drawn over the DAG: one frame per stage (that stage running, earlier
ones done) and an "all done" frame, as plain plotly JSON that the Schedule page shows one frame
at a time (app.views.frame.still_frame) under its one stage control.

Frames move operators between a fixed set of traces (not yet run, finished, merged now, running
now on stream k) instead of restyling one trace per marker. The frames stay plain dicts, never
a plotly Figure's: plotly validates every trace of every frame it is given (80 ms of a cold
Schedule page for Inception V3's 40 frames), and the page needs one of them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ios_core.ir.graph import OpGraph
from ios_core.ir.hierarchy import Level
from ios_core.ir.schedule import Schedule

from .colors import DONE_COLOR, STRATEGY_COLORS, STRATEGY_SYMBOLS, group_color
from .fmt import op_summary, shape_str
from .layout import dag_positions
from .steps import OpState, op_states, stage_title

Pos = Mapping[str, tuple[float, float]]
MAX_STREAMS = 8  # streams drawn apart; more (a wide greedy wavefront) share the last colour
LIST_PX = 230  # right margin holding the "running now" list
LABEL_CHARS = 30  # characters per line of that list (12 px text fits the margin)
MAX_LINES = 12  # lines below the list's title: 13 lines of 12 px text fit beside the plot
SEVERAL_STREAMS = "#555555"  # a box whose running ops are on several streams: no stream's colour


def _categories() -> list[tuple[str, dict]]:
    """(legend name, marker) of each moving trace, in trace order."""
    line = {"color": "#000000", "width": 1.5}
    cats = [
        ("not yet run", {"color": "#ffffff", "size": 9, "symbol": "circle",
                         "line": {"color": "#888888", "width": 1.5}}),
        ("finished", {"color": DONE_COLOR, "size": 7, "symbol": "circle",
                      "line": {"color": "#bbbbbb", "width": 1}}),
        ("merge stage (one wide conv)", {"color": STRATEGY_COLORS["merge"], "size": 20,
                                         "symbol": STRATEGY_SYMBOLS["merge"], "line": line}),
    ]
    cats += [(f"concurrent: stream {g}", {"color": group_color(g), "size": 15,
                                          "symbol": STRATEGY_SYMBOLS["concurrent"], "line": line})
             for g in range(MAX_STREAMS)]
    cats.append(("box running on several streams", {"color": SEVERAL_STREAMS, "size": 15,
                                                    "symbol": "square", "line": line}))
    return cats


def _category(state: OpState | None) -> int:
    if state is None or state.status == "pending":
        return 0
    if state.status == "done":
        return 1
    if state.strategy == "merge":
        return 2
    return 3 + min(state.group, MAX_STREAMS - 1)


def _item_category(states: Mapping[str, OpState], ops: Sequence[str]) -> int:
    """A box of a level: running if any of its ops runs (in the stream's colour when they share
    one), finished when all are, else not yet run."""
    found = [states[o] for o in ops if o in states]
    running = [s for s in found if s.status == "current"]
    if running:
        cats = {_category(s) for s in running}
        return cats.pop() if len(cats) == 1 else len(_categories()) - 1
    return 1 if found and all(s.status == "done" for s in found) else 0


def _frame_data(graph: OpGraph, schedule: Schedule, step: int, names: list[str], pos: Pos,
                hover: dict[str, str],
                item_ops: Mapping[str, Sequence[str]] | None = None) -> list[dict]:
    states = op_states(schedule, step)
    members: list[list[str]] = [[] for _ in _categories()]
    for name in names:
        cat = (_category(states.get(name)) if item_ops is None
               else _item_category(states, item_ops[name]))
        members[cat].append(name)
    return [{"type": "scatter", "x": [pos[n][0] for n in ms], "y": [pos[n][1] for n in ms],
             "hovertext": [hover[n] for n in ms]}
            for ms in members]


def running_lines(schedule: Schedule, step: int, shown: set[str] | None = None,
                  width: int = LABEL_CHARS, strip: str = "") -> list[tuple[str, str]]:
    """(colour, text) per line of the "running now" list beside the graph: one line per stream of
    the stage (a merge: one line), at most ``width`` characters each; ``strip`` (the open level's
    path, ``cells.3.``) is cut from the front of the names.

    The running ops are named here, in a column of fixed-height lines, rather than beside their
    markers, where names of neighbouring ops would overlap.
    """
    if step >= len(schedule.stages):
        return []
    stage = schedule.stages[step]
    lines = []
    for gi, group in enumerate(stage.groups):
        if stage.strategy == "merge":
            head, color, sep = "merge: ", STRATEGY_COLORS["merge"], " + "
        else:
            head, color, sep = f"stream {gi}: ", group_color(gi), " → "
        names = [n.removeprefix(strip) for n in group if shown is None or n in shown]
        hidden = len(group) - len(names)
        lines.append((color, head + _fit(names, sep, width - len(head), hidden)))
    if len(lines) > MAX_LINES:  # streams past the last line's room: counted, not listed
        rest = sum(len(g) for g in stage.groups[MAX_LINES - 1:])
        lines = [*lines[:MAX_LINES - 1], ("#555555", f"+{len(lines) - MAX_LINES + 1} streams, "
                                                     f"{rest} ops")]
    return lines


def _fit(names: list[str], sep: str, width: int, hidden: int = 0) -> str:
    """``names`` joined by ``sep`` in at most ``width`` characters, the rest counted; a name too
    long on its own is cut with an ellipsis.

    >>> _fit(["fire3.expand1x1", "fire3.expand3x3", "fire3.cat"], " + ", 23)
    'fire3.expand1x1 +2 more'
    >>> _fit(["a", "b"], " → ", 20), _fit(["a_very_long_operator_name"], " → ", 12)
    ('a → b', 'a_very_long…')
    """
    text, left = "", len(names) + hidden
    for name in names:
        piece = (sep if text else "") + name
        more = f" +{left - 1} more" if left > 1 else ""
        if len(text) + len(piece) + len(more) > width:
            if not text:  # not even one name fits whole: cut it
                room = width - len(more) - 1
                text, left = name[:max(room, 1)] + "…", left - 1
            break
        text, left = text + piece, left - 1
    if left:
        text = f"{text} +{left} more" if text else f"{left} ops"
    return text[:width]


def _annotations(schedule: Schedule, step: int, shown: set[str] | None,
                 strip: str = "") -> list[dict]:
    """The list as one annotation, its lines joined by ``<br>``: lines of one text never overlap,
    and an animation frame replaces it whole (one annotation per line made plotly validate 13
    per frame: 520 objects and 40 ms of a cold Schedule page for Inception V3)."""
    lines = running_lines(schedule, step, shown, strip=strip)
    title = "running now:" if lines else "nothing running: all done"
    texts = [f"<b>{title}</b>"] + [
        f"<span style='color:{color}'>■</span> {html.escape(text)}" for color, text in lines]
    return [{"xref": "paper", "yref": "paper", "x": 1.02, "y": 1.0, "xanchor": "left",
             "yanchor": "top", "showarrow": False, "align": "left", "text": "<br>".join(texts),
             "font": {"size": 12}}]


def _edge_trace(graph: OpGraph, pos: Pos, keep: set[str] | None) -> dict:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for node in graph.nodes:
        for src in dict.fromkeys(node.inputs):
            if keep is not None and not (src in keep and node.name in keep):
                continue
            if src in pos and node.name in pos:
                xs += [pos[src][0], pos[node.name][0], None]
                ys += [pos[src][1], pos[node.name][1], None]
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
            "line": {"color": "#cccccc", "width": 1}, "showlegend": False, "name": "edges"}


def _hover(graph: OpGraph, schedule: Schedule, names: list[str]) -> dict[str, str]:
    where = op_states(schedule, -1)
    out = {}
    for node in (graph[n] for n in names):
        s = where.get(node.name)
        at = f"stage {s.stage + 1} ({s.strategy}), stream {s.group}" if s else "not scheduled"
        out[node.name] = (f"<b>{node.name}</b><br>{op_summary(node)}<br>"
                          f"{shape_str(node.shape)}<br>{at}")
    return out


def stage_frames(graph: OpGraph, schedule: Schedule, pos: Pos,
                 only: Sequence[str] | None = None, *, level: Level | None = None) -> dict:
    """``{"data", "layout", "frames"}``: the drawing at the first stage it shows and one frame
    per stage it shows, ending with "all done" (frame names: stage indices from 0, and the stage
    count for "all done").

    ``only`` restricts the drawing to some ops (one block of a big graph) and the frames to the
    stages that run them, which keeps the drawing small for NASNet and RandWire. ``level`` (one
    open group of ios_core.ir.hierarchy) draws that group's items instead, a closed box as one
    marker that runs while any of its ops runs, laid out on its own (``pos`` is not used), and
    has frames only for the stages that run the group's ops.
    """
    if level is not None:
        keep = {op for ops in level.item_ops.values() for op in ops}
        names = list(level.items)
        depth_y = dag_positions(names, level.edges)
        pos = {n: (d, y) for n, (d, y) in depth_y.items()}
        hover = _level_hover(graph, schedule, level)
        item_ops: Mapping[str, Sequence[str]] | None = level.item_ops
        base = level.group.split("#")[0]  # a band (``stages.1#2``): its module's path
        strip = f"{base}." if base else ""
    else:
        keep = set(only) if only is not None else None
        names = [n.name for n in graph.nodes if keep is None or n.name in keep]
        hover = _hover(graph, schedule, names)
        item_ops, strip = None, ""
    steps = [k for k, st in enumerate(schedule.stages) if keep is None or keep & set(st.ops)]
    steps.append(len(schedule.stages))
    data = {k: _frame_data(graph, schedule, k, names, pos, hover, item_ops) for k in steps}
    cats = _categories()
    # only the categories some frame fills: each is a trace of every frame
    used = [c for c in range(len(cats)) if any(data[k][c]["x"] for k in steps)] or [0]
    moving = [{**data[steps[0]][c], "mode": "markers", "name": cats[c][0], "marker": cats[c][1],
               "hoverinfo": "text", "showlegend": False} for c in used]
    shown = [s for s in graph.inputs if s.name in pos and keep is None]
    inputs = {
        "type": "scatter", "x": [pos[s.name][0] for s in shown],
        "y": [pos[s.name][1] for s in shown], "mode": "markers",
        "marker": {"symbol": "square", "size": 10, "color": "#888888"},
        "hovertext": [f"input {s.name} {shape_str(s.shape)}" for s in shown],
        "hoverinfo": "text", "showlegend": False, "name": "inputs",
    }
    edges = (_level_edges(level, pos) if level is not None else _edge_trace(graph, pos, keep))
    static = [edges, inputs]
    if level is not None:
        static[1] = _box_labels(level, pos, strip)
    trace_ids = list(range(len(static), len(static) + len(moving)))
    frames = [{"name": str(k), "traces": trace_ids,
               "layout": {"title": {"text": stage_title(schedule, k)},
                          "annotations": _annotations(schedule, k, keep, strip)},
               "data": [data[k][c] for c in used]}
              for k in steps]
    layout = {
        "title": {"text": stage_title(schedule, steps[0]), "x": 0.01}, "height": 640,
        "annotations": _annotations(schedule, steps[0], keep, strip),
        "margin": {"l": 10, "r": LIST_PX, "t": 50, "b": 10}, "plot_bgcolor": "white",
        "xaxis": {"visible": False}, "yaxis": {"visible": False},
        # in the right column below the "running now" list (13 lines of 12 px text at most):
        # above the plot, a legend that wraps on a narrow page would run into the title
        "legend": {"orientation": "v", "y": 0.3, "yanchor": "top", "x": 1.02, "xanchor": "left",
                   "font": {"size": 11}},
    }
    return {"data": [*static, *moving, *_legend(level is not None)], "layout": layout,
            "frames": frames}


def _level_edges(level: Level, pos: Pos) -> dict:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in level.edges:
        xs += [pos[a][0], pos[b][0], None]
        ys += [pos[a][1], pos[b][1], None]
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
            "line": {"color": "#cccccc", "width": 1}, "showlegend": False, "name": "edges"}


def _box_labels(level: Level, pos: Pos, strip: str) -> dict:
    """A grey square behind every closed box, and its name above or below it (alternating, so
    that neighbours in a long chain of cells do not write over each other)."""
    boxes = [n for n in level.items if len(level.item_ops[n]) > 1 or n not in level.item_ops[n]]
    return {"type": "scatter", "x": [pos[n][0] for n in boxes], "y": [pos[n][1] for n in boxes],
            "mode": "markers+text", "hoverinfo": "skip", "showlegend": False, "name": "boxes",
            "text": [n.removeprefix(strip) for n in boxes],
            "textposition": ["top center" if i % 2 else "bottom center"
                             for i in range(len(boxes))],
            "textfont": {"size": 10, "color": "#555555"}, "cliponaxis": False,
            "marker": {"symbol": "square-open", "size": 26, "color": "#999999",
                       "line": {"width": 1.5}}}


def _level_hover(graph: OpGraph, schedule: Schedule, level: Level) -> dict[str, str]:
    where = op_states(schedule, -1)
    out = {}
    for item, ops in level.item_ops.items():
        if ops == (item,):
            out.update(_hover(graph, schedule, [item]))
            continue
        stages = sorted({where[o].stage + 1 for o in ops if o in where})
        span = (f"stages {stages[0]}–{stages[-1]} ({len(stages)} stages)" if len(stages) > 1
                else f"stage {stages[0]}" if stages else "not scheduled")
        out[item] = f"<b>{html.escape(item)}</b><br>{len(ops)} ops<br>{span}"
    return out


def _legend(boxes: bool = False) -> list[dict]:
    """Legend-only entries (one null point each): plotly leaves empty traces out of the legend,
    and most categories are empty in the first frame."""
    cats = _categories()
    entries = [cats[2], ("concurrent stage (colour = stream)", cats[3][1]), cats[1], cats[0]]
    if boxes:
        entries.insert(2, cats[-1])
    return [{"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": label,
             "marker": marker, "hoverinfo": "skip"} for label, marker in entries]
