"""Figures of the Compare page: strategies side by side, and the r/s pruning sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ios_core.cost.bounds import LowerBounds

from .colors import STRATEGY_COLORS

Row = dict[str, Any]


def bound_lines(bounds: LowerBounds | None) -> list[tuple[float, str, str]]:
    """(ms, label, dash) of the horizontal lines drawn against the schedules: the two lower
    bounds, and the isolated-op critical path, named as the reference it is (schedules with
    merges beat it)."""
    if bounds is None:
        return []
    return [(bounds.path_ms, "path bound", "solid"),
            (bounds.work_ms, "work bound", "solid"),
            (bounds.reference_ms, "isolated-op path (reference)", "dot")]


def strategies_figure(rows: Sequence[Row], bounds: LowerBounds | None) -> go.Figure:
    """Latency per strategy as bars, the lower bounds (and the reference) as lines."""
    fig = go.Figure(go.Bar(
        x=[r["strategy"] for r in rows], y=[r["latency ms"] for r in rows],
        marker_color=[STRATEGY_COLORS.get(r["strategy"], "#b3b3b3") for r in rows],
        text=[f"{r['latency ms']:.3f}" for r in rows], textposition="inside",
        insidetextanchor="end",  # inside the bar: the bound lines never cross a value
        hovertemplate="%{x}: %{y:.4f} ms<extra></extra>",
    ))
    # labels on the right, stacked by value: two close lines never print over each other
    shapes, notes = [], []
    lines = sorted(bound_lines(bounds))
    for i, (y, label, dash) in enumerate(lines):
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                       "layer": "below",  # behind the bars and their values
                       "y0": y, "y1": y, "line": {"color": "#333333", "dash": dash, "width": 1.5}})
        notes.append({"xref": "paper", "x": 1.0, "xanchor": "left", "yref": "y", "y": y,
                      "yanchor": "middle", "showarrow": False, "align": "left",
                      "text": f"{label} {y:.3f}", "font": {"size": 11},
                      "yshift": 14 * (i - (len(lines) - 1) / 2)})
    fig.update_layout(height=380, yaxis_title="latency (ms)", plot_bgcolor="white",
                      margin={"t": 30, "b": 10, "r": 210 if lines else 10},
                      shapes=shapes, annotations=notes)
    return fig


def sweep_figure(rows: Sequence[Row], x_key: str) -> go.Figure:
    """Latency against search cost, one point per (r, s), one line per r (IOS Figure 9 style)."""
    fig = go.Figure()
    for r in sorted({row["r"] for row in rows}):
        pts = sorted((row for row in rows if row["r"] == r), key=lambda row: row["s"])
        fig.add_trace(go.Scatter(
            x=[p[x_key] for p in pts], y=[p["latency ms"] for p in pts], mode="lines+markers+text",
            name=f"r = {r}", text=[f"({p['r']},{p['s']})" for p in pts],
            textposition="top center", marker={"size": 10},
            hovertemplate="r=%{customdata[0]}, s=%{customdata[1]}<br>%{y:.4f} ms<br>"
                          f"{x_key}: " + "%{x}<extra></extra>",
            customdata=[[p["r"], p["s"]] for p in pts],
        ))
    fig.update_layout(height=380, xaxis_title=x_key, yaxis_title="latency (ms)",
                      margin={"t": 30, "b": 10}, plot_bgcolor="white",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig
