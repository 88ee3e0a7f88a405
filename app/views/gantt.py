"""A plotly Gantt chart of streams against time, read from ios_core's Chrome trace.

ios_core.export.to_chrome_trace already lays every op out on its stream (its slice of the stage's
time); the chart draws exactly those events, so the app and Perfetto show the same timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from ios_core.ir.hierarchy import Level

from .colors import HIGHLIGHT_COLOR, STRATEGY_COLORS, group_color

MAX_BARRIERS = 40  # more stage barriers than this in view are a grey wall: the boxes' spans instead
OTHER_COLOR = "#dddddd"  # ops outside the open level, drawn for context
SPAN_FILLS = ("#f3f3f3", "#e6e6e6")  # alternate shades behind the boxes of the open level
MIN_LABEL_SHARE = 0.012  # a box's span narrower than this share of the time gets no name on top
# a bar is named inside only where its name could fit at this many pixels for the whole view, at
# about 6 pixels a character: plotly measures every bar's text in the browser
# (getBoundingClientRect) to hide those that do not fit: 130 ms of Inception V3's Gantt
LABEL_PX, CHAR_PX = 1400, 6


@dataclass(frozen=True)
class Bar:
    row: str  # "stream 0", ...
    start_ms: float
    dur_ms: float
    name: str  # op name, or merge(a+b+c)
    stage: int  # numbered from 1, as the trace numbers it
    strategy: str
    group: int
    ops: tuple[str, ...] = ()  # the ops the bar draws (a merge bar: all its convs)


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
                        int(args.get("group", 0)), tuple(args.get("ops", (e["name"],)))))
    return bars, sorted(bounds)


def gantt_figure(bars: list[Bar], stage_bounds: list[float], title: str = "",
                 highlight_stage: int | None = None, *, level: Level | None = None,
                 highlight_op: str | None = None,
                 window: tuple[float, float] | None = None) -> go.Figure:
    """Streams (rows) against time; merge stages hatched in the merge colour, stage barriers as
    dotted lines; ``highlight_stage`` is shaded.

    ``level`` (an open group of ios_core.ir.hierarchy) follows that group: the view opens on the
    stages that run its ops, other ops are grey, and where more than ``MAX_BARRIERS`` barriers
    would show (NASNet's top level: 251), shaded spans name the group's boxes instead.
    ``highlight_op`` outlines one op's bar; ``window`` (ms, ms) sets the opening view.
    """
    inside = {o for ops in level.item_ops.values() for o in ops} if level is not None else None
    mine = [b for b in bars if inside is None or inside & set(b.ops)]
    other = [b for b in bars if inside is not None and not inside & set(b.ops)]
    merge = [b for b in mine if b.strategy == "merge"]
    conc = [b for b in mine if b.strategy != "merge"]
    data = []
    rows = sorted({b.row for b in bars}, key=_row_key)
    if window is None and level is not None and mine:
        window = _stage_window(mine, stage_bounds)
    lo, hi = window if window is not None else (0.0, stage_bounds[-1] if stage_bounds else 0.0)
    ms_per_char = (hi - lo) * CHAR_PX / LABEL_PX
    if conc:
        data.append(_bars_trace(conc, "concurrent stage (colour = stream)",
                                [group_color(b.group) for b in conc], "", ms_per_char))
    if merge:
        data.append(_bars_trace(merge, "merge stage (one wide conv)",
                                STRATEGY_COLORS["merge"], "/", ms_per_char))
    if other:
        data.append(_bars_trace(other, "outside the open level", OTHER_COLOR, "", ms_per_char))
    if highlight_op is not None:
        data += [_outline_trace([b for b in bars if highlight_op in b.ops], highlight_op)]
    inner = [x for x in stage_bounds[:-1] if lo < x < hi]
    # shapes in one list: fig.add_vline per barrier re-validates the layout each time (seconds)
    shapes: list[dict] = []
    annotations: list[dict] = []
    if level is None or len(inner) <= MAX_BARRIERS:  # no level: every barrier, as always
        shapes += [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0,
                    "y1": 1, "line": {"color": "#777777", "width": 1, "dash": "dot"}}
                   for x in inner]
    elif level is not None:
        spans = _item_spans(mine, level)
        shapes += _span_shapes(spans)
        annotations += _span_labels(spans, level.group)
    if highlight_stage is not None and 0 <= highlight_stage < len(stage_bounds):
        x0 = stage_bounds[highlight_stage - 1] if highlight_stage > 0 else 0.0
        # a dashed outline in no stream's, kind's or merge's colour; no shade under it: plotly
        # 7 drew a filled rect over the bars it should lie under, hiding the selected stage's ops
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": x0,
                       "x1": stage_bounds[highlight_stage], "y0": 0, "y1": 1, "layer": "above",
                       "fillcolor": "rgba(0,0,0,0)",
                       "line": {"color": HIGHLIGHT_COLOR, "width": 2, "dash": "dash"}})
    xaxis: dict[str, Any] = {"title": {"text": "time (ms)"}, "rangemode": "tozero"}
    if window is not None:
        pad = (hi - lo) * 0.01
        xaxis["range"] = [lo - pad, hi + pad]
    top = 40 if title else 10
    layout = {
        "title": {"text": title}, "barmode": "overlay", "height": 140 + 34 * len(rows),
        "margin": {"l": 10, "r": 10, "t": top + (36 if annotations else 0), "b": 40},
        "shapes": shapes, "annotations": annotations, "xaxis": xaxis,
        "yaxis": {"categoryorder": "array", "categoryarray": rows, "autorange": "reversed"},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "plot_bgcolor": "white",
        "uniformtext": {"minsize": 8, "mode": "hide"},  # names where they fit; hover tells all
    }
    if annotations:  # the span names take the legend's place above the plot
        layout["legend"] = {"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0}
    return go.Figure(data=data, layout=layout, _validate=False)


def _stage_window(bars: Sequence[Bar], stage_bounds: Sequence[float]) -> tuple[float, float]:
    """(start, end) ms of the stages that run ``bars``."""
    stages = [b.stage for b in bars if 1 <= b.stage <= len(stage_bounds)]
    if not stages:
        return (min(b.start_ms for b in bars), max(b.start_ms + b.dur_ms for b in bars))
    first, last = min(stages), max(stages)
    return (stage_bounds[first - 2] if first > 1 else 0.0, stage_bounds[last - 1])


def _item_spans(bars: Sequence[Bar], level: Level) -> list[tuple[str, float, float]]:
    """(item, first start, last end) of each item of the level with bars, in time order."""
    where = level.item_of()
    spans: dict[str, list[float]] = {}
    for b in bars:
        for item in {where[o] for o in b.ops if o in where}:
            span = spans.setdefault(item, [b.start_ms, b.start_ms + b.dur_ms])
            span[0], span[1] = min(span[0], b.start_ms), max(span[1], b.start_ms + b.dur_ms)
    return sorted(((i, s[0], s[1]) for i, s in spans.items()), key=lambda t: t[1])


def _span_shapes(spans: Sequence[tuple[str, float, float]]) -> list[dict]:
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": 0, "y1": 1,
             "layer": "below", "fillcolor": SPAN_FILLS[i % 2], "line": {"width": 0}}
            for i, (_, x0, x1) in enumerate(spans)]


def _span_labels(spans: Sequence[tuple[str, float, float]], group: str) -> list[dict]:
    """The boxes' names above the plot, on two alternating rows so that neighbours can be read."""
    base = group.split("#")[0]  # a band (``stages.1#2``): its module's path
    strip = f"{base}." if base else ""
    total = max((x1 for _, _, x1 in spans), default=0.0) - min((x0 for _, x0, _ in spans),
                                                              default=0.0)
    named = [s for s in spans if s[2] - s[1] >= total * MIN_LABEL_SHARE]  # the rest: bar hovers
    return [{"xref": "x", "yref": "paper", "x": (x0 + x1) / 2, "y": 1.0 + (0.02 if i % 2 else 0.1),
             "yanchor": "bottom", "showarrow": False, "text": item.removeprefix(strip),
             "font": {"size": 10, "color": "#555555"}}
            for i, (item, x0, x1) in enumerate(named)]


def _outline_trace(bars: Sequence[Bar], op: str) -> dict:
    """A thick outline over the bar(s) that run ``op`` (a merge bar: the whole wide conv)."""
    return {"type": "bar", "name": f"selected: {op}", "orientation": "h",
            "y": [b.row for b in bars], "x": [b.dur_ms for b in bars],
            "base": [b.start_ms for b in bars], "hoverinfo": "skip",
            "marker": {"color": "rgba(0,0,0,0)", "line": {"color": HIGHLIGHT_COLOR, "width": 3}}}


def _row_key(row: str) -> tuple[int, str]:
    tail = row.rsplit(" ", 1)[-1]
    return (int(tail), row) if tail.isdigit() else (-1, row)


def _bars_trace(bars: list[Bar], name: str, color: Any, pattern: str,
                ms_per_char: float = 0.0) -> dict:
    """One trace of bars; a bar shows its name inside only where ``len(name) * ms_per_char`` ms
    fit in it (the hover always names it)."""
    return {
        "type": "bar", "name": name, "orientation": "h", "y": [b.row for b in bars],
        "x": [b.dur_ms for b in bars], "base": [b.start_ms for b in bars],
        "text": [b.name if len(b.name) * ms_per_char <= b.dur_ms else "" for b in bars],
        "hovertext": [b.name for b in bars],
        "textposition": "inside", "insidetextanchor": "middle",
        "textangle": 0, "textfont": {"size": 10}, "cliponaxis": False,
        "marker": {"color": color, "line": {"color": "#333333", "width": 0.5},
                   "pattern": {"shape": pattern, "fgcolor": "#ffffff", "fillmode": "overlay",
                               "size": 6,
                               "solidity": 0.3}},
        "customdata": [[b.stage, b.strategy, b.start_ms, b.dur_ms] for b in bars],
        "hovertemplate": ("<b>%{hovertext}</b><br>stage %{customdata[0]} (%{customdata[1]})<br>"
                          "start %{customdata[2]:.4f} ms, %{customdata[3]:.4f} ms<extra></extra>"),
    }
