"""Work ahead in the background: the trace worker's prefetch, and the warm-up that builds what
the Model and Schedule pages need once the user pauses."""

from __future__ import annotations

import os
import threading

import streamlit as st

from app.backend import activity, costs, files, models, searches, views

TEACHING_NET = "ios_demo"  # the How the DP decides page's small net


def background_work_on() -> bool:
    """Whether the app works ahead in the background (trace worker, warm-up); tests of whole
    pages in one run turn it off with IOS_APP_WARM_UP=0."""
    return os.environ.get("IOS_APP_WARM_UP", "1") != "0"


def prefetch_graph(model_ref: str, batch: int) -> None:
    """Start the trace worker and have it trace the sidebar's model while the page draws (every
    page calls this; no background work where IOS_APP_WARM_UP=0)."""
    if not background_work_on():
        return
    ref, leaves = models.split_model_key(model_ref)
    models.trace_worker().prefetch(ref, batch, leaves, models.fused_epilogues(model_ref))


def preload_tables() -> None:
    """Import pandas (and pyarrow) for st.dataframe, once, after a page has drawn. Not in a
    background thread: plotly looks pandas up in sys.modules, and a half-imported one broke a
    figure being drawn. Not before the first page: it takes 0.5 s on a 2-core machine, which
    the first table otherwise added to the click that opened it."""
    import sys

    if "pandas" not in sys.modules:
        import pandas  # noqa: F401


def graph_ready(model_ref: str, batch: int) -> bool:
    """Whether :func:`graph` answers at once: the worker has traced the model (or cannot), or
    there is no background work (IOS_APP_WARM_UP=0: the page traces in its own run). When not,
    the trace is under way in the worker."""
    if not background_work_on():
        return True
    ref, leaves = models.split_model_key(model_ref)
    worker = models.trace_worker()
    regions = models.fused_epilogues(model_ref)
    if worker.answered(ref, batch, leaves, regions):
        return True
    worker.prefetch(ref, batch, leaves, regions)
    return False


def _shipped_animation(model_ref: str, batch: int, cost_spec: str) -> None:
    """The Schedule page's first figure for the shipped schedule of the default strategy, where
    one ships (a search, the other case, is not started by a warm-up): the whole graph's, or a
    big graph's top level (NASNet's: 0.36 s on a 2-core machine, 2026-12-04)."""
    from app.views.dot import BIG_GRAPH_OPS

    schedule = files.shipped_schedule(cost_spec, model_ref, batch, searches.DEFAULT_STRATEGY)
    if schedule is None:
        return
    if len(models.graph(model_ref, batch)) <= BIG_GRAPH_OPS:
        views.animation(schedule, model_ref, batch)
    else:
        views.level_animation(schedule, model_ref, batch, "")


def warm_up(model_ref: str, batch: int, cost_spec: str) -> None:
    """Build what the Model and Schedule pages of the sidebar's selection need (cost model,
    bounds, layout, first figure) in a background thread, once the user pauses: once per
    selection and session (every page calls this), so the next page finds them ready."""

    def work() -> None:
        # never pandas here: plotly looks it up in sys.modules, and a half-imported pandas from
        # this thread broke the page's figure being drawn at that moment
        try:
            if cost_spec != "measured":  # needs no graph (a live GPU's does): read while the
                activity._wait_for_a_pause()  # worker traces, a core this process leaves idle
                costs.cost_model(cost_spec, model_ref, batch)
            models.graph(model_ref, batch)  # in the worker process: this thread only waits for it
            # the DP page's small net too: the worker answers one request at a time, and the
            # Compare page's searches may keep it busy for seconds tracing other batch sizes
            # (the DP page waited 2 s for it after Compare, then What if, 2026-12-04)
            models.graph(TEACHING_NET, batch)  # at the sidebar's batch, as the page asks
            for step in (lambda: costs.cost_model(cost_spec, model_ref, batch),  # a live GPU's
                         lambda: costs._floors(model_ref, batch, cost_spec),  # Schedule's bounds
                         lambda: views.positions(model_ref, batch),
                         lambda: _shipped_animation(model_ref, batch, cost_spec)):
                activity._wait_for_a_pause()
                step()
        except Exception:  # noqa: BLE001 - the page that needs them will say what failed
            pass

    if not background_work_on():
        return
    warmed = st.session_state.setdefault("_warmed", set())
    if (model_ref, batch, cost_spec) not in warmed:
        warmed.add((model_ref, batch, cost_spec))
        threading.Thread(target=work, name="ios-warm-up", daemon=True).start()
