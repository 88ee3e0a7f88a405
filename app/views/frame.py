"""One still frame of the stage animation (app.views.animation), for a page whose own stage
control drives every view: the figure of the chosen stage, without plotly's play buttons and
slider (a second control the page could not read back)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

__all__ = ["frame_names", "still_frame"]


def frame_names(fig: go.Figure) -> list[str]:
    """The animation's frame names: stage indices from 0, ``str(len(stages))`` for "all done"."""
    return [f.name for f in fig.frames]


def still_frame(fig: go.Figure, step: int) -> go.Figure:
    """``fig`` as it shows stage ``step`` (0-based; the stage count for "all done"); a stage with
    no frame (not in the block drawn) shows the nearest frame before it."""
    frames = {int(f.name): f for f in fig.frames}
    if not frames:
        return fig
    shown = max((k for k in frames if k <= step), default=min(frames))
    frame = frames[shown]
    data: list[dict[str, Any]] = [t.to_plotly_json() for t in fig.data]
    for index, update in zip(frame.traces, frame.data, strict=True):
        data[index] = {**data[index], **_json(update)}
    layout = fig.layout.to_plotly_json()
    for key in ("sliders", "updatemenus"):
        layout.pop(key, None)
    frame_layout = _json(frame.layout)
    layout.update({k: v for k, v in frame_layout.items() if k in ("title", "annotations")})
    layout["margin"] = {**layout.get("margin", {}), "b": 10}  # the controls' room, no longer used
    return go.Figure(data=data, layout=layout, _validate=False)


def _json(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_plotly_json()
