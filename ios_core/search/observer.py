"""Hooks into a schedule search: progress for the UI, every step for teaching views.

The schedulers never print or time themselves for show; they call an observer. Subclass
:class:`SearchObserver` and override what you need. The per-state and per-transition hooks cost
time on large searches, so the DP calls them only when a subclass overrides them.

>>> class Count(SearchObserver):
...     def __init__(self):
...         self.parts = 0
...     def on_part_end(self, part_index, stats):
...         self.parts += 1
>>> Count().wants_steps()
False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Groups = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SearchProgress:
    """Where a whole search stands (all parts), for a progress bar and an ETA."""

    part_index: int  # the part being solved (0-based)
    n_parts: int
    part_states_done: int
    part_states_total: int
    states_done: int  # all parts: DP states solved so far
    states_total: int  # all parts: every DP state of the search
    transitions: int  # endings looked at so far
    stages_costed: int  # distinct stages costed so far (a measured search times each once)
    elapsed_s: float
    eta_s: float | None  # seconds left (None: no estimate yet)

    @property
    def fraction(self) -> float:
        """States solved over all states, in [0, 1]."""
        return self.states_done / self.states_total if self.states_total else 1.0

    def describe(self) -> str:
        """One line for a status bar."""
        eta = "estimating time left" if self.eta_s is None else f"{duration_text(self.eta_s)} left"
        return (f"part {self.part_index + 1}/{self.n_parts} · {self.states_done:,}/"
                f"{self.states_total:,} states · {self.stages_costed:,} stages costed · {eta}")


def duration_text(seconds: float) -> str:
    """Seconds in words a status bar can show.

    >>> duration_text(4.2), duration_text(125), duration_text(7300)
    ('4 s', '2 min 5 s', '2 h 1 min')
    """
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class SearchObserver:
    """No-op callbacks; a search calls them in this order per part:

    ``on_part_start`` → (``on_state`` → ``on_transition`` …)* with ``on_progress`` now and then
    → ``on_part_end``.

    Whole-search progress with an estimate of the time left comes to ``on_search_progress``
    (from :func:`~ios_core.search.optimize`, right after each ``on_progress``), and
    ``should_stop`` is asked at the same moments: return True to stop the search and keep the
    best schedule it has (:mod:`ios_core.search.progress`).
    """

    def on_part_start(self, part_index: int, n_parts: int, n_ops: int) -> None:
        """A part (one DP subproblem of ``n_ops`` operators) starts."""

    def on_progress(
        self, states_done: int, states_total: int, part_index: int, n_parts: int
    ) -> None:
        """``states_done`` of the part's ``states_total`` DP states are solved."""

    def on_part_end(self, part_index: int, stats: Mapping[str, Any]) -> None:
        """A part is solved; ``stats`` holds its states, transitions, seconds, cost..."""

    def on_search_progress(self, progress: SearchProgress) -> None:
        """The whole search's counts so far and the seconds left (``progress.eta_s``, None
        until there is an estimate); ``progress.describe()`` is one status line."""

    def should_stop(self) -> bool:
        """Asked at every progress report: True stops the search, which then returns the DP
        stages of the parts it solved and greedy stages for the rest (``stats["stopped"]``).
        A CLI can set a flag on Ctrl-C, an app on a Stop button."""
        return False

    # ---- teaching: every step of the DP ------------------------------------------------------
    def on_state(
        self, part_index: int, remaining: tuple[str, ...], cost_ms: float, best: tuple[str, Groups]
    ) -> None:
        """State ``remaining`` (ops still to schedule before it) is solved: its optimal cost and
        its best last stage ``(strategy, groups)``."""

    def on_transition(
        self,
        part_index: int,
        remaining: tuple[str, ...],
        strategy: str,
        groups: Groups,
        stage_ms: float,
        total_ms: float,
    ) -> None:
        """The DP tried ending ``remaining`` with stage ``(strategy, groups)`` costing
        ``stage_ms``; ``total_ms`` is the schedule cost that choice gives."""

    def wants_steps(self) -> bool:
        """True when a subclass overrides ``on_state`` or ``on_transition``."""
        cls = type(self)
        return (
            cls.on_state is not SearchObserver.on_state
            or cls.on_transition is not SearchObserver.on_transition
        )
