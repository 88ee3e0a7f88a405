"""A plotly Gantt chart of streams against time, read from ios_core's Chrome trace.

ios_core.export.to_chrome_trace already lays every op out on its stream (its slice of the stage's
time); the chart draws exactly those events, so the app and Perfetto show the same timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from .colors import HIGHLIGHT_COLOR, STRATEGY_COLORS, group_color


@dataclass(frozen=True)
class Bar:
    row: str  # "stream 0", ...
    start_ms: float
    dur_ms: float
    name: str  # op name, or merge(a+b+c)
    stage: int  # numbered from 1, as the trace numbers it
    strategy: str
    group: int


def trace_bars(trace: Mapping[str, Any]) -> tuple[list[Bar], list[float]]:
    """(op bars, stage boundaries in ms) from a Chrome trace dict."""
    rows = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
            if e.get("ph") == "M" and e.get("name") == "thread_name"}
    bars, bounds = [], []
    for e in trace["traceEvents"]:
        if e.get("ph") != "X":
            continue
        start, dur = e["ts"] / 1e3, e["dur"] / 1e3
        if e.get("cat") == "stage":
            bounds.append(start + dur)
            continue
        args = e.get("args", {})
        bars.append(Bar(rows.get(e["tid"], f"row {e['tid']}"), start, dur, e["name"],
                        int(args.get("stage", -1)), str(args.get("strategy", "concurrent")),
                        int(args.get("group", 0))))
    return bars, sorted(bounds)


def gantt_figure(bars: list[Bar], stage_bounds: list[float], title: str = "",
                 highlight_stage: int | None = None) -> go.Figure:
    """Streams (rows) against time; merge stages hatched in the merge colour, stage barriers as
    dotted lines; ``highlight_stage`` is shaded."""
    merge = [b for b in bars if b.strategy == "merge"]
    conc = [b for b in bars if b.strategy != "merge"]
    data = []
    if conc:
        data.append(_bars_trace(conc, "concurrent stage (colour = stream)",
                                [group_color(b.group) for b in conc], ""))
    if merge:
        data.append(_bars_trace(merge, "merge stage (one wide conv)",
                                STRATEGY_COLORS["merge"], "/"))
    rows = sorted({b.row for b in bars}, key=_row_key)
    # shapes in one list: fig.add_vline per barrier re-validates the layout each time (seconds)
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
               "line": {"color": "#777777", "width": 1, "dash": "dot"}}
              for x in stage_bounds[:-1]]
    if highlight_stage is not None and 0 <= highlight_stage < len(stage_bounds):
        x0 = stage_bounds[highlight_stage - 1] if highlight_stage > 0 else 0.0
        # an outline and a faint neutral shade: no stream's, kind's or merge's colour
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": x0,
                       "x1": stage_bounds[highlight_stage], "y0": 0, "y1": 1, "layer": "below",
                       "fillcolor": HIGHLIGHT_COLOR, "opacity": 0.08, "line": {"width": 0}})
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": x0,
                       "x1": stage_bounds[highlight_stage], "y0": 0, "y1": 1, "layer": "above",
                       "fillcolor": "rgba(0,0,0,0)",
                       "line": {"color": HIGHLIGHT_COLOR, "width": 2, "dash": "dash"}})
    layout = {
        "title": {"text": title}, "barmode": "overlay", "height": 140 + 34 * len(rows),
        "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 40}, "shapes": shapes,
        "xaxis": {"title": {"text": "time (ms)"}, "rangemode": "tozero"},
        "yaxis": {"categoryorder": "array", "categoryarray": rows, "autorange": "reversed"},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "plot_bgcolor": "white",
        "uniformtext": {"minsize": 8, "mode": "hide"},  # names where they fit; hover tells all
    }
    return go.Figure(data=data, layout=layout, _validate=False)


def _row_key(row: str) -> tuple[int, str]:
    tail = row.rsplit(" ", 1)[-1]
    return (int(tail), row) if tail.isdigit() else (-1, row)


def _bars_trace(bars: list[Bar], name: str, color: Any, pattern: str) -> dict:
    return {
        "type": "bar", "name": name, "orientation": "h", "y": [b.row for b in bars],
        "x": [b.dur_ms for b in bars], "base": [b.start_ms for b in bars],
        "text": [b.name for b in bars], "textposition": "inside", "insidetextanchor": "middle",
        "textangle": 0, "textfont": {"size": 10}, "cliponaxis": False,
        "marker": {"color": color, "line": {"color": "#333333", "width": 0.5},
                   "pattern": {"shape": pattern, "fgcolor": "#ffffff", "fillmode": "overlay",
                               "size": 6,
                               "solidity": 0.3}},
        "customdata": [[b.stage, b.strategy, b.start_ms, b.dur_ms] for b in bars],
        "hovertemplate": ("<b>%{text}</b><br>stage %{customdata[0]} (%{customdata[1]})<br>"
                          "start %{customdata[2]:.4f} ms, %{customdata[3]:.4f} ms<extra></extra>"),
    }
