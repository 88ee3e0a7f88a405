"""Figures of the Compare page: strategies side by side, and the r/s pruning sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from .colors import STRATEGY_COLORS

Row = dict[str, Any]


def strategies_figure(rows: Sequence[Row], critical_ms: float, work_ms: float) -> go.Figure:
    """Latency per strategy as bars, the two lower bounds as dashed lines."""
    fig = go.Figure(go.Bar(
        x=[r["strategy"] for r in rows], y=[r["latency ms"] for r in rows],
        marker_color=[STRATEGY_COLORS.get(r["strategy"], "#bab0ac") for r in rows],
        text=[f"{r['latency ms']:.3f}" for r in rows], textposition="outside",
        hovertemplate="%{x}: %{y:.4f} ms<extra></extra>",
    ))
    for y, label in ((critical_ms, "critical-path bound"), (work_ms, "work bound")):
        fig.add_hline(y=y, line={"dash": "dash", "color": "#555555"}, annotation_text=label,
                      annotation_position="top left")
    fig.update_layout(height=360, yaxis_title="latency (ms)", margin={"t": 30, "b": 10},
                      plot_bgcolor="white")
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
