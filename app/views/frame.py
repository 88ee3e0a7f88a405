"""One still frame of a schedule's stage drawing (app.views.animation.stage_frames), for a page
whose own stage control drives every view: a plotly figure of the chosen stage."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

__all__ = ["still_frame"]

PENDING, FINISHED = "not yet run", "finished"  # the drawing's two trace names of ops at rest


def still_frame(spec: dict[str, Any], step: int, *, idle_title: str | None = None) -> go.Figure:
    """The drawing ``spec`` as it shows stage ``step`` (0-based; the stage count for "all
    done"); a stage with no frame (not in the block drawn) shows the nearest frame before it.
    ``spec`` is left as it is (the app caches it).

    ``idle_title`` (a level open that the stage does not touch): a stage with no frame shows
    the drawing at rest instead, under that title: the ops of the frame before it finished, or
    all not yet run when no frame comes before it; nothing running.
    """
    frames = {int(f["name"]): f for f in spec["frames"]}  # never empty: "all done" is one
    shown = max((k for k in frames if k <= step), default=min(frames))
    frame = frames[shown]
    data: list[dict[str, Any]] = [dict(t) for t in spec["data"]]
    for index, update in zip(frame["traces"], frame["data"], strict=True):
        data[index] = {**data[index], **update}
    layout = {**spec["layout"], **frame["layout"]}
    if idle_title is not None and step not in frames:
        _settle(data, frame["traces"], FINISHED if shown <= step else PENDING)
        layout["title"] = {**layout.get("title", {}), "text": idle_title}
        layout["annotations"] = [{**a, "text": "<b>nothing running here</b>"}
                                 for a in layout.get("annotations") or []]
    # plotly would validate every list again: the drawing is built from plain data it checked
    # once in the tests (tests/test_app_views.py)
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
