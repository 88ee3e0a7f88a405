"""Progress of a whole search, with an estimate of the time left, and the request to stop.

:func:`~ios_core.search.optimize` counts every part's DP states before it starts (cheap: they
are counted anyway to cut the parts), so the total is known from the first second. While the DP
runs it reports, through a :class:`ProgressTracker`, how many states of which part are solved,
how many transitions it looked at and how many distinct stages it had costed (what a measured
search times on the GPU). The tracker turns that into a :class:`SearchProgress` for
:meth:`~ios_core.search.observer.SearchObserver.on_search_progress` and asks the observer's
:meth:`~ios_core.search.observer.SearchObserver.should_stop` whether to go on. A stop raises
:class:`SearchStopped` inside the DP; ``optimize`` catches it and returns the schedule it has:
the solved parts' DP stages, then greedy wavefronts for every op left.

The time left is the time so far scaled by the *work* left, counted in states weighted by the
part's measured cost per state once a part has started; before any state is solved there is no
estimate (None).

>>> p = SearchProgress(part_index=1, n_parts=4, part_states_done=50, part_states_total=100,
...                    states_done=150, states_total=400, transitions=9000, stages_costed=1200,
...                    elapsed_s=3.0, eta_s=5.0)
>>> p.fraction
0.375
>>> p.describe()
'part 2/4 · 150/400 states · 1,200 stages costed · 5 s left'
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ios_core.search.observer import SearchObserver, SearchProgress

__all__ = ["ProgressTracker", "SearchStopped"]


class SearchStopped(Exception):  # noqa: N818 - a request, not an error
    """The observer asked the search to stop; ``part_index`` was being solved."""

    def __init__(self, part_index: int) -> None:
        super().__init__(f"search stopped in part {part_index}")
        self.part_index = part_index


class ProgressTracker:
    """Collects the parts' reports into :class:`SearchProgress` and relays stop requests.

    ``part_states``: every part's DP state count, in search order (for the totals and the ETA).
    """

    def __init__(self, observer: SearchObserver, part_states: Sequence[int]) -> None:
        self.observer = observer
        self.part_states = list(part_states)
        self.states_total = sum(self.part_states)
        self.start = time.perf_counter()
        self.done_before = 0  # states of finished parts
        self.time_before = 0.0  # seconds spent in finished parts
        self.transitions_before = self.costed_before = 0
        self.part_start = self.start
        self.states_done = 0  # states solved so far, the part under way included

    def start_part(self, part_index: int) -> None:
        self.part_start = time.perf_counter()

    def end_part(self, part_index: int, transitions: int, stages_costed: int) -> None:
        self.done_before += self.part_states[part_index]
        self.states_done = self.done_before
        self.time_before = time.perf_counter() - self.start
        self.transitions_before += transitions
        self.costed_before += stages_costed

    def report(self, part_index: int, states_done: int, transitions: int,
               stages_costed: int) -> bool:
        """A part's running counts; tells the observer; True when it asks to stop."""
        now = time.perf_counter()
        part_total = self.part_states[part_index]
        done = self.states_done = self.done_before + states_done
        progress = SearchProgress(
            part_index=part_index,
            n_parts=len(self.part_states),
            part_states_done=states_done,
            part_states_total=part_total,
            states_done=done,
            states_total=self.states_total,
            transitions=self.transitions_before + transitions,
            stages_costed=self.costed_before + stages_costed,
            elapsed_s=now - self.start,
            eta_s=self._eta(now, part_index, states_done),
        )
        self.observer.on_search_progress(progress)
        return bool(self.observer.should_stop())

    def _eta(self, now: float, part_index: int, states_done: int) -> float | None:
        """Seconds left: finished parts' and this part's seconds per state, times states left.

        Parts differ (a part of parallel chains has many more endings per state), so the rate
        of the part under way counts as much as all finished parts together once it has solved a
        tenth of its states."""
        left = self.states_total - self.done_before - states_done
        rates = []
        if self.done_before:
            rates.append(self.time_before / self.done_before)
        part_total = self.part_states[part_index]
        if states_done and states_done * 10 >= part_total:
            rates.append((now - self.part_start) / states_done)
        if not rates:
            return None
        return left * sum(rates) / len(rates)
