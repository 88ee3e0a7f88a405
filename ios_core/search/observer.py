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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ios_core.search.progress import SearchProgress

Groups = tuple[tuple[str, ...], ...]


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
