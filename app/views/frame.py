"""One still frame of the stage animation (app.views.animation), for a page whose own stage
control drives every view: the figure of the chosen stage, without plotly's play buttons and
slider (a second control the page could not read back)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

__all__ = ["frame_names", "still_frame"]

PENDING, FINISHED = "not yet run", "finished"  # the animation's two trace names of ops at rest


def frame_names(fig: go.Figure) -> list[str]:
    """The animation's frame names: stage indices from 0, ``str(len(stages))`` for "all done"."""
    return [f.name for f in fig.frames]


def still_frame(fig: go.Figure, step: int, *, idle_title: str | None = None) -> go.Figure:
    """``fig`` as it shows stage ``step`` (0-based; the stage count for "all done"); a stage with
    no frame (not in the block drawn) shows the nearest frame before it.

    ``idle_title`` (a level open that the stage does not touch): a stage with no frame shows
    the drawing at rest instead, under that title: the ops of the frame before it finished, or
    all not yet run when no frame comes before it; nothing running.
    """
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
    if idle_title is not None and step not in frames:
        _settle(data, frame.traces, FINISHED if shown <= step else PENDING)
        layout["title"] = {**layout.get("title", {}), "text": idle_title}
        notes = layout.get("annotations") or []
        # as many annotations as a frame has, blank but the first: the list's place
        layout["annotations"] = [{**a, "text": "<b>nothing running here</b>" if i == 0 else ""}
                                 for i, a in enumerate(notes)]
    layout["margin"] = {**layout.get("margin", {}), "b": 10}  # the controls' room, no longer used
    return go.Figure(data=data, layout=layout, _validate=False)


def _settle(data: list[dict[str, Any]], moving: Any, into: str) -> None:
    """Every op of the moving traces ``moving`` put into the trace named ``into`` (in place)."""
    target = next((i for i in moving if data[i].get("name") == into), None)
    if target is None:
        return
    for i in moving:
        if i == target or (into == FINISHED and data[i].get("name") == PENDING):
            continue  # at rest after a stage, what had not run yet still has not
        for key in ("x", "y", "hovertext"):
            data[target][key] = [*(data[target].get(key) or ()), *(data[i].get(key) or ())]
            data[i][key] = []


def _json(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_plotly_json()
