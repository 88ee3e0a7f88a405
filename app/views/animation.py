"""A plotly figure that plays a schedule stage by stage over the DAG (play, pause, slider)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from ios_core.ir import OpGraph
from ios_core.schedule import Schedule

from .colors import DONE_COLOR, STRATEGY_COLORS, STRATEGY_SYMBOLS, group_color, kind_color
from .fmt import op_summary, shape_str
from .steps import OpState, op_states, stage_title

Pos = Mapping[str, tuple[float, float]]


def _edge_trace(graph: OpGraph, pos: Pos, keep: set[str] | None = None) -> dict:
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
            "line": {"color": "#CCCCCC", "width": 1}, "showlegend": False, "name": "edges"}


def _look(kind: str, state: OpState | None) -> tuple[str, str, int, str]:
    """(fill colour, symbol, size, outline colour) of one op at one step."""
    if state is None or state.status == "pending":
        return "#FFFFFF", "circle", 9, kind_color(kind)
    if state.status == "done":
        return DONE_COLOR, "circle", 7, "#BBBBBB"
    if state.strategy == "merge":
        return STRATEGY_COLORS["merge"], STRATEGY_SYMBOLS["merge"], 18, "#000000"
    return group_color(state.group), STRATEGY_SYMBOLS["concurrent"], 15, "#000000"


def _node_frame(graph: OpGraph, schedule: Schedule, step: int, names: list[str]) -> dict:
    states = op_states(schedule, step)
    fills, symbols, sizes, lines, texts = [], [], [], [], []
    for node in (graph[n] for n in names):
        fill, symbol, size, line = _look(node.kind, states.get(node.name))
        fills.append(fill)
        symbols.append(symbol)
        sizes.append(size)
        lines.append(line)
        state = states.get(node.name)
        texts.append(node.name if state is not None and state.status == "current" else "")
    return {"marker": {"color": fills, "symbol": symbols, "size": sizes,
                       "line": {"color": lines, "width": 1.5}}, "text": texts}


def _hover(graph: OpGraph, schedule: Schedule, names: list[str]) -> list[str]:
    where = op_states(schedule, -1)
    out = []
    for node in (graph[n] for n in names):
        s = where.get(node.name)
        at = f"stage {s.stage + 1} ({s.strategy}), group {s.group + 1}" if s else "not scheduled"
        out.append(f"<b>{node.name}</b><br>{op_summary(node)}<br>{shape_str(node.shape)}<br>{at}")
    return out


def schedule_animation(graph: OpGraph, schedule: Schedule, pos: Pos, frame_ms: int = 700,
                       only: Sequence[str] | None = None) -> go.Figure:
    """One frame per stage (that stage running, earlier ones done) and a last "all done" frame.

    ``only`` restricts the drawing to some ops (one block of a big graph) and the frames to the
    stages that run them, which keeps the figure small for NASNet and RandWire.
    """
    keep = set(only) if only is not None else None
    names = [n.name for n in graph.nodes if keep is None or n.name in keep]
    steps = [k for k, st in enumerate(schedule.stages) if keep is None or keep & set(st.ops)]
    steps.append(len(schedule.stages))
    nodes = {
        "type": "scatter", "x": [pos[m][0] for m in names], "y": [pos[m][1] for m in names],
        "mode": "markers+text", "textposition": "top center", "textfont": {"size": 10},
        "hovertext": _hover(graph, schedule, names), "hoverinfo": "text", "showlegend": False,
        "name": "operators", **_node_frame(graph, schedule, steps[0], names),
    }
    shown = [s for s in graph.inputs if s.name in pos and keep is None]
    inputs = {
        "type": "scatter", "x": [pos[s.name][0] for s in shown],
        "y": [pos[s.name][1] for s in shown], "mode": "markers",
        "marker": {"symbol": "square", "size": 10, "color": "#888888"},
        "hovertext": [f"input {s.name} {shape_str(s.shape)}" for s in shown],
        "hoverinfo": "text", "showlegend": False, "name": "inputs",
    }
    frames = [
        {"name": str(k), "traces": [1], "layout": {"title": {"text": stage_title(schedule, k)}},
         "data": [{"type": "scatter", **_node_frame(graph, schedule, k, names)}]}
        for k in steps
    ]
    layout = {
        "title": {"text": stage_title(schedule, steps[0]), "x": 0.01}, "height": 560,
        "margin": {"l": 10, "r": 10, "t": 90, "b": 10}, "plot_bgcolor": "white",
        "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "updatemenus": [_buttons(frame_ms)], "sliders": [_slider(steps, len(schedule.stages))],
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
    }
    # plain dicts and no validation: validating ~100 frames of ~100 markers takes seconds
    return go.Figure(data=[_edge_trace(graph, pos, keep), nodes, inputs, *_legend()],
                     layout=layout, frames=frames, _validate=False)


def _buttons(frame_ms: int) -> dict:
    play = {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
             "transition": {"duration": 0}}
    return {"type": "buttons", "direction": "left", "x": 0.0, "y": -0.02, "xanchor": "left",
            "yanchor": "top", "pad": {"r": 10, "t": 10}, "showactive": False,
            "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                        {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]}]}


def _slider(frames: list[int], n: int) -> dict:
    steps = [{"label": str(k + 1) if k < n else "end", "method": "animate",
              "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                  "transition": {"duration": 0}}]}
             for k in frames]
    return {"active": 0, "x": 0.18, "y": -0.02, "len": 0.82, "xanchor": "left", "yanchor": "top",
            "currentvalue": {"prefix": "stage "}, "pad": {"t": 10}, "steps": steps}


def _legend() -> list[dict]:
    """Legend-only markers explaining the encodings (the real traces change per frame)."""
    return [
        {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": label,
         "marker": {"color": color, "symbol": symbol, "size": 11,
                    "line": {"color": "#555555", "width": 1}}}
        for label, color, symbol in (
            ("merge stage (one wide conv)", STRATEGY_COLORS["merge"], "diamond"),
            ("concurrent stage (colour = stream)", group_color(0), "circle"),
            ("finished", DONE_COLOR, "circle"),
            ("not yet run", "#FFFFFF", "circle"),
        )
    ]
