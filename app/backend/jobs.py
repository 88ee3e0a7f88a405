"""Long searches in the background: one search (SearchJob) or several in a row (SearchBatch),
with progress, time left and a Stop button on the page."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.backend import activity, costs, models, searches
from app.backend.searches import SearchKey
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule
from ios_core.search.config import SearchConfig
from ios_core.search.observer import SearchObserver, SearchProgress

# Streamlit reruns the page's script on every click, interrupting a search that runs inside it
# (its work lost), and a cached function cannot show a Stop button. So a long search runs in a
# thread of its own that calls no Streamlit command (the pattern of Streamlit's multithreading
# guide); the page polls it from a fragment that reruns every half second (st.fragment's
# run_every) with the progress and a Stop button whose click sets the job's flag, which the
# search reads through SearchObserver.should_stop. The search stops at its next progress report
# (a fifth of a second at most) and returns the best schedule so far (ios_core.search.progress).
LONG_GUESS_S = 2.0  # a simulated search guessed to take longer runs in the background
LONG_STATES = 2000  # so does one of this many states with stages costed one at a time


@dataclass(frozen=True)
class SearchSize:
    """A search's size before it starts, in words for the page."""

    states: int
    parts: int
    text: str  # "45 DP parts, 151,947 states (per part: …)"
    guess_s: float | None  # a rough guess of the DP's seconds, None where there is none
    measured: bool  # stages are measured on the GPU one by one


@st.cache_data(show_spinner="Counting the search's states…", max_entries=32)
def search_size(model_ref: str, batch: int, cost_spec: str, strategy: str, r: int, s: int,
                max_part_ops: int, max_part_states: int) -> SearchSize:
    """ios_core's estimate of a search (states per part, counted without solving)."""
    from ios_core.search.batch import concurrent_batch
    from ios_core.search.estimate import estimate_search

    g = models.graph(model_ref, batch)
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    est = estimate_search(g, strategy, config)
    bulk = concurrent_batch(costs.cost_model(cost_spec, model_ref, batch), g) is not None
    return SearchSize(est.states_total, len(est.part_states), est.describe(), est.guess_s(bulk),
                      cost_spec == "measured")


def is_long(size: SearchSize) -> bool:
    """Whether a search should run in the background with progress and a Stop button."""
    if size.guess_s is not None:
        return size.guess_s >= LONG_GUESS_S
    return size.states >= LONG_STATES


class SearchJob(SearchObserver):
    """One background search: its latest progress, the stop flag, and its end (a schedule or an
    error in words). Written by the search's thread, read by the page's reruns."""

    def __init__(self, key: SearchKey) -> None:
        self.key = key
        self.progress: SearchProgress | None = None
        self.stop_requested = False
        self.schedule: Schedule | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None

    def on_search_progress(self, progress: SearchProgress) -> None:
        self.progress = progress

    def should_stop(self) -> bool:
        activity.yield_to_pages()  # asked at each progress report: the page's click goes first
        return self.stop_requested

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def stopped(self) -> bool:
        """Ended by the Stop button: ``schedule`` is the best found so far, not the answer."""
        return self.schedule is not None and bool(self.schedule.search.stats.get("stopped"))

    def run(self, g: OpGraph, cost: Any, strategy: str, config: SearchConfig,
            model_name: str) -> None:
        from app.errors import explain
        from ios_core.search import optimize

        try:
            found = optimize(g, strategy, cost, config, observer=self, model_name=model_name)
        except Exception as e:  # noqa: BLE001 - shown on the page in words, never a traceback
            self.error = explain(e)
            return
        found = searches.recorded(found, self.key[0])  # the key's first item: the model's
        searches._remember(self.key, found)
        self.schedule = found


class SearchBatch:
    """Several searches one after another in one background thread, each answer kept for
    find_schedule: the Compare page's (strategies not shipped, the 9-search pruning sweep, the
    batch specialisation), which held its own run for 3-7 s on a 2-core machine. The page shows
    their progress and a Stop button meanwhile; searches already finished are skipped."""

    def __init__(self, keys: Sequence[SearchKey]) -> None:
        self.keys = tuple(keys)
        self.done = 0
        self.job: SearchJob | None = None  # the search under way
        self.error: str | None = None
        self.stop_requested = False
        self.thread = threading.Thread(target=self._run, name="ios-search-batch", daemon=True)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.stop_requested = True
        if self.job is not None:
            self.job.stop_requested = True

    def _run(self) -> None:
        from app.errors import explain

        for key in self.keys:
            if self.stop_requested:
                return
            if key not in searches._finished_searches():
                model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_states = key
                self.job = job = SearchJob(key)
                try:  # cached resources: built here at most once, shared with the pages
                    g = models.graph(model_ref, batch)
                    cost = costs.cost_model(cost_spec, model_ref, batch)
                except Exception as e:  # noqa: BLE001 - shown on the page in words
                    self.error = explain(e)
                    return
                config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops,
                                      max_part_states=max_states)
                job.run(g, cost, strategy, config, models.split_model_key(model_ref)[0])
                if job.error is not None or job.stopped:
                    self.error = job.error
                    return
            self.done += 1


def search_batch(keys: Sequence[SearchKey]) -> SearchBatch:
    """This session's background batch of ``keys``, started on first ask (finished searches
    are skipped, so a batch whose searches are all known ends at once)."""
    batches = st.session_state.setdefault("search_batches", {})
    key = tuple(keys)
    if key not in batches:
        batches[key] = SearchBatch(key)
        batches[key].thread.start()
    return batches[key]


def forget_batch(keys: Sequence[SearchKey]) -> None:
    """Drop this session's ended batch of ``keys`` (to run it again)."""
    batches = st.session_state.setdefault("search_batches", {})
    batch = batches.get(tuple(keys))
    if batch is not None and not batch.running:
        del batches[tuple(keys)]


def searched(keys: Sequence[SearchKey]) -> bool:
    """Whether every search of ``keys`` has its schedule (find_schedule returns them at once)."""
    finished = searches._finished_searches()
    return all(k in finished for k in keys)


def _jobs() -> dict[SearchKey, SearchJob]:
    return st.session_state.setdefault("search_jobs", {})


def search_job(key: SearchKey) -> SearchJob | None:
    """This session's background search of ``key`` (running or ended), if any."""
    return _jobs().get(key)


def start_search(key: SearchKey) -> SearchJob:
    """Start the search of ``key`` (find_schedule's arguments) in a background thread; the model
    and the cost model are built here, in the page's own run (they are cached resources)."""
    model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_part_states = key
    job = SearchJob(key)
    g = models.graph(model_ref, batch)
    cost = costs.cost_model(cost_spec, model_ref, batch)
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    job.thread = threading.Thread(
        target=job.run, args=(g, cost, strategy, config, models.split_model_key(model_ref)[0]),
        name=f"ios-search {strategy} {model_ref}", daemon=True)
    _jobs()[key] = job
    job.thread.start()
    return job


def duration_text(seconds: float) -> str:
    """Seconds in words, as ios_core's progress line says them ("2 min 5 s")."""
    from ios_core.search.observer import duration_text as words

    return words(seconds)


def stop_search(key: SearchKey) -> None:
    """Ask the background search of ``key`` to stop and keep the best schedule so far."""
    job = search_job(key)
    if job is not None:
        job.stop_requested = True


def forget_search(key: SearchKey) -> None:
    """Drop this session's ended search of ``key`` (to search again)."""
    job = _jobs().get(key)
    if job is not None and not job.running:
        del _jobs()[key]
