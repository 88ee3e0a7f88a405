"""Schedule searches, cached, with a live progress bar fed by the scheduler's observer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import streamlit as st

from app import backend
from ios_core.ir.schedule import Schedule
from ios_core.search.config import SearchConfig
from ios_core.search.observer import SearchObserver


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

    def _show(self, frac: float, part: int, n_parts: int, extra: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return  # a websocket message per DP state would slow the search down
        self._last = now
        self.bar.progress(min(max(frac, 0.0), 1.0), text=(
            f"{self.title}: part {part + 1}/{n_parts} ({self.n_ops} ops){extra} · "
            f"{self.states:,} states and {self.transitions:,} transitions so far"))


@st.cache_data(show_spinner=False, max_entries=64)
def find_schedule(model_ref: str, batch: int, cost_spec: str, strategy: str, r: int, s: int,
                  max_part_ops: int, max_part_states: int = SearchConfig().max_part_states,
                  ) -> Schedule:
    """ios_core's optimize(), cached by every input that changes its answer."""
    from ios_core.search import optimize

    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    g = backend.graph(model_ref, batch)
    cost = backend.cost_model(cost_spec, model_ref, batch)
    # created inside the cached function so that its replay on a cache hit is legal (and empty)
    bar = st.progress(0.0, text=f"Searching {strategy} (r={r}, s={s})…")
    try:
        return optimize(g, strategy, cost, config, model_name=model_ref,
                        observer=ProgressObserver(bar, f"{strategy} r={r} s={s}"))
    finally:
        bar.empty()


@st.cache_data(show_spinner=False, max_entries=32)
def price_at_batch(schedule_json: str, model_ref: str, batch: int, cost_spec: str) -> Schedule:
    """A schedule (as JSON text, so it hashes) priced at another batch size: IOS's
    specialisation experiment."""
    from ios_core.search import price_schedule

    schedule = Schedule.loads(schedule_json)
    return price_schedule(schedule, backend.graph(model_ref, batch),
                          backend.cost_model(cost_spec, model_ref, batch))
