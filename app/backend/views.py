"""What the schedule pages draw, built once and cached: the graph's layout, the Chrome trace,
the stage animations (whole graph, or one open level) and the DP's record on a block."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.backend import costs, models
from ios_core.ir.schedule import Schedule
from ios_core.search.config import SearchConfig


@st.cache_data(show_spinner=False, max_entries=16)
def positions(model_ref: str, batch: int) -> dict[str, tuple[float, float]]:
    from app.views.layout import layered_positions

    return layered_positions(models.graph(model_ref, batch))


def chrome_trace(schedule: Schedule, model_ref: str, batch: int, cost_spec: str) -> dict:
    """ios_core's Chrome trace: op slices weighted by the cost model's isolated op times."""
    from ios_core.export import to_chrome_trace

    return to_chrome_trace(schedule, models.graph(model_ref, batch),
                           costs.cost_model(cost_spec, model_ref, batch))


def schedule_key(schedule: Schedule) -> str:
    """A short hashable identity of a schedule (cache key for figures of uploaded ones too)."""
    import hashlib

    return hashlib.sha256(schedule.dumps().encode()).hexdigest()[:16]


@st.cache_data(show_spinner="Running the DP on the block…", max_entries=32)
def dp_record(model_ref: str, batch: int, cost_spec: str, ops: tuple[str, ...], strategy: str,
              config: SearchConfig) -> Any:
    """Every state and transition ios_core's DP reports while solving ``ops`` as one part, run by
    the search's own entry with ``config`` (the search's, or one the page changed on purpose)."""
    from app.views.dp import DPRecorder
    from ios_core.search import solve_part_with

    recorder = DPRecorder()
    solve_part_with(models.graph(model_ref, batch), ops, strategy,
                    costs.cost_model(cost_spec, model_ref, batch), config, recorder)
    return recorder.record


@st.cache_resource(show_spinner=False, max_entries=16)
def _animation(key: str, model_ref: str, batch: int, only: tuple[str, ...] | None,
               _schedule: Schedule) -> Any:
    from app.views.animation import stage_frames

    return stage_frames(models.graph(model_ref, batch), _schedule, positions(model_ref, batch),
                        only=only)


def animation(schedule: Schedule, model_ref: str, batch: int,
              only: tuple[str, ...] | None = None) -> Any:
    """The stage drawing's frames (app.views.animation.stage_frames), built once per schedule;
    never changed after (app.views.frame.still_frame copies what it shows)."""
    return _animation(schedule_key(schedule), model_ref, batch, only, schedule)


@st.cache_resource(show_spinner="Drawing the open level's stages…", max_entries=16)
def _level_animation(key: str, model_ref: str, batch: int, group: str,
                     _schedule: Schedule) -> Any:
    from app.views.animation import stage_frames

    g = models.graph(model_ref, batch)
    return stage_frames(g, _schedule, {}, level=models.hierarchy(model_ref, batch).level(g, group))


def level_animation(schedule: Schedule, model_ref: str, batch: int, group: str) -> Any:
    """The stage drawing's frames of one open level (``group`` of :func:`hierarchy`), built once
    per schedule and level, never changed after."""
    return _level_animation(schedule_key(schedule), model_ref, batch, group, schedule)
