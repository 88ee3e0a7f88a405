"""Searches run in a page's own script: ios_core's optimize() with a progress bar, cached by every
input that changes its answer; a schedule priced at another batch; searches under what-if
constraints; the DP parts of a search."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app.backend import costs, models
from ios_core.ir.schedule import Schedule
from ios_core.search.config import SearchConfig
from ios_core.search.observer import SearchObserver, SearchProgress

DEFAULT_STRATEGY = "ios-both"
SearchKey = tuple[str, int, str, str, int, int, int, int]  # find_schedule's arguments
DEFAULT_SEARCH = SearchConfig()  # ios_core's own defaults: the Optimize page's first knobs


class ProgressObserver(SearchObserver):
    """Drives an st.progress bar: parts done, states solved, running totals."""

    def __init__(self, bar: Any, title: str, every_s: float = 0.15) -> None:
        self.bar, self.title, self.every_s = bar, title, every_s
        self.states = self.transitions = 0
        self.n_ops = 0
        self._last = 0.0

    def on_part_start(self, part_index: int, n_parts: int, n_ops: int) -> None:
        self.n_ops = n_ops
        self._show(part_index / max(n_parts, 1), part_index, n_parts, "", force=True)

    def on_progress(self, states_done: int, states_total: int, part_index: int,
                    n_parts: int) -> None:
        frac = (part_index + states_done / max(states_total, 1)) / max(n_parts, 1)
        self._show(frac, part_index, n_parts, f" · {states_done:,}/{states_total:,} states")

    def on_part_end(self, part_index: int, stats: Mapping[str, Any]) -> None:
        self.states += int(stats.get("states", 0) or 0)
        self.transitions += int(stats.get("transitions", 0) or 0)

    def on_search_progress(self, progress: SearchProgress) -> None:
        """The whole search's counts and time left replace the part's own line from now on."""
        self._whole = True
        self._draw(progress.fraction, f"{self.title}: {progress.describe()}")

    def _show(self, frac: float, part: int, n_parts: int, extra: str, force: bool = False) -> None:
        if getattr(self, "_whole", False) and not force:
            return
        self._draw(frac, f"{self.title}: part {part + 1}/{n_parts} ({self.n_ops} ops){extra} · "
                         f"{self.states:,} states and {self.transitions:,} transitions so far",
                   force)

    def _draw(self, frac: float, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return  # a websocket message per DP state would slow the search down
        self._last = now
        self.bar.progress(min(max(frac, 0.0), 1.0), text=text)


@st.cache_data(show_spinner=False, max_entries=64)
def find_schedule(model_ref: str, batch: int, cost_spec: str, strategy: str, r: int, s: int,
                  max_part_ops: int, max_part_states: int = DEFAULT_SEARCH.max_part_states,
                  ) -> Schedule:
    """ios_core's optimize(), cached by every input that changes its answer (the knobs the app
    does not show keep ios_core's defaults)."""
    from ios_core.search import optimize

    key = (model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_part_states)
    done = _finished_searches().get(key)
    if done is not None:  # searched to the end: here, or in the background (SearchJob)
        return done
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    g = models.graph(model_ref, batch)
    cost = costs.cost_model(cost_spec, model_ref, batch)
    # created inside the cached function so that its replay on a cache hit is legal (and empty)
    bar = st.progress(0.0, text=f"Searching {strategy} (r={r}, s={s})…")
    try:
        # the schedule names the model as the CLI loads it (leaf modules go with --leaf-module)
        found = optimize(g, strategy, cost, config, model_name=models.split_model_key(model_ref)[0],
                         observer=ProgressObserver(bar, f"{strategy} r={r} s={s}"))
    finally:
        bar.empty()
    found = recorded(found, model_ref)
    _remember(key, found)  # so that a background batch does not search it again
    return found



@st.cache_resource(show_spinner=False)
def _finished_searches() -> dict[SearchKey, Schedule]:
    """Schedules of searches that ran to the end, for find_schedule (every session)."""
    return {}


FINISHED_KEPT = 256  # schedules kept by _finished_searches (NASNet's is about 100 kB)


def _remember(key: SearchKey, found: Schedule) -> None:
    """Keep a finished search's schedule (never a stopped one: it is not the search's answer)."""
    if found.search.stats.get("stopped"):
        return
    finished = _finished_searches()
    finished[key] = found
    while len(finished) > FINISHED_KEPT:  # the oldest first (dicts keep insertion order)
        del finished[next(iter(finished))]



@st.cache_data(show_spinner=False, max_entries=32)
def price_at_batch(schedule_json: str, model_ref: str, batch: int, cost_spec: str) -> Schedule:
    """A schedule (as JSON text, so it hashes) priced at another batch size: IOS's
    specialisation experiment."""
    from ios_core.search import price_schedule

    schedule = Schedule.loads(schedule_json)
    return price_schedule(schedule, models.graph(model_ref, batch),
                          costs.cost_model(cost_spec, model_ref, batch))


def search_config(schedule: Schedule) -> SearchConfig:
    """The SearchConfig the schedule was searched with (every knob, those the app hides too)."""
    return SearchConfig.from_search(schedule.search)


@st.cache_data(show_spinner=False, max_entries=32)
def search_parts(model_ref: str, batch: int, config: SearchConfig,
                 ops: tuple[str, ...]) -> list[list[str]]:
    """The DP parts of a search under ``config`` that hold any of ``ops``: ``[list(ops)]`` when
    the search solved exactly these ops as one part."""
    from ios_core.search import search_parts as parts_of

    wanted = set(ops)
    return [part for part in parts_of(models.graph(model_ref, batch), config) if wanted & set(part)]



@st.cache_data(show_spinner="Re-solving under your constraints…", max_entries=32)
def constrained_schedule(model_ref: str, batch: int, cost_spec: str, strategy: str,
                         config: SearchConfig, constraints: Any) -> Schedule:
    """ios_core's search under what-if constraints (ios_core.search.constraints.Constraints):
    the full DP with ``config``'s knobs; a ConstraintError says when nothing meets them."""
    from ios_core.search.constraints import optimize_constrained

    found = optimize_constrained(models.graph(model_ref, batch), strategy,
                                 costs.cost_model(cost_spec, model_ref, batch), constraints,
                                 config, model_name=models.split_model_key(model_ref)[0])
    return recorded(found, model_ref)


def recorded(schedule: Schedule, model_ref: str) -> Schedule:
    """``schedule`` with the fused-epilogues switch of its model key recorded, as the CLI's
    ``optimize --fuse-epilogues`` records it: ``run``, ``export`` and the drop-in then rebuild
    the model with its regions (ios_core.runtime.fuse_switch)."""
    from ios_core.runtime.fuse_switch import record_switch

    return record_switch(schedule, models.fused_epilogues(model_ref))


def constraints(pinned: Sequence[tuple[str, Sequence[str]]] = (),
                forbidden: Sequence[tuple[str, Sequence[str]]] = (),
                no_merge: Sequence[str] = ()) -> Any:
    """ios_core's Constraints from (strategy, ops) pairs and op names."""
    from ios_core.search.constraints import Constraints

    return Constraints(pinned=tuple((s, frozenset(ops)) for s, ops in pinned),
                       forbidden=tuple((s, frozenset(ops)) for s, ops in forbidden),
                       no_merge=frozenset(no_merge))
