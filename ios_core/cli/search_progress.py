"""What ``optimize`` shows while it searches, and Ctrl-C that stops the search but keeps its result.

Before the search: its size (DP states per part and in all, counted cheaply) and, where the
search is CPU work alone (the simulated device), a rough guess of its time
(:mod:`ios_core.search.estimate`). During it: one :class:`~ios_core.cli.output.LiveLine` with the
states solved of all states, the distinct stages costed (measured, for a measured search) and the
seconds left, redrawn on a terminal and written as plain lines every few seconds elsewhere.

Ctrl-C during the search (:func:`stop_on_interrupt`) asks it to stop: the DP finishes the state it
is on, the parts solved keep their DP stages and every op left runs in greedy wavefronts
(:mod:`ios_core.search.progress`); ``optimize`` writes that schedule, marked as stopped, and exits
with 130. A second Ctrl-C aborts at once, writing nothing.

>>> from ios_core.search.observer import SearchProgress
>>> p = SearchProgress(part_index=2, n_parts=34, part_states_done=10, part_states_total=4096,
...                    states_done=8202, states_total=100044, transitions=1234567,
...                    stages_costed=45678, elapsed_s=2.0, eta_s=21.4)
>>> print(progress_line(p, "measured").replace(" · ", "\\n"))
searching: part 3/34
8,202/100,044 states (8 %)
1,234,567 transitions
45,678 stages measured
21 s left
>>> progress_line(p, "costed").endswith("45,678 stages costed · 21 s left")
True
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ios_core.cli.output import LiveLine
from ios_core.search.estimate import SearchEstimate
from ios_core.search.observer import SearchObserver, SearchProgress, duration_text

__all__ = ["ProgressPrinter", "estimate_lines", "progress_line", "stop_on_interrupt"]

GUESS_FROM_S = 2.0  # a guessed time under this is not worth a line of its own


def progress_line(p: SearchProgress, verb: str = "costed") -> str:
    """The live line: part, states done of all, transitions, distinct stages ``verb``, time left."""
    pct = f"{p.fraction:.0%}".replace("%", " %")
    eta = "estimating time left" if p.eta_s is None else f"{duration_text(p.eta_s)} left"
    return (f"searching: part {p.part_index + 1}/{p.n_parts} · {p.states_done:,}/"
            f"{p.states_total:,} states ({pct}) · {p.transitions:,} transitions · "
            f"{p.stages_costed:,} stages {verb} · {eta}")


def estimate_lines(estimate: SearchEstimate, bulk: bool, measured: bool) -> list[str]:
    """What to say before the search starts: its size, and a guess of its time if any.

    >>> e = SearchEstimate("ios-both", (4096,) * 30, 866)
    >>> estimate_lines(e, bulk=True, measured=False)[1][:45]
    'time: roughly 5 s of DP on a 2-core CPU (a gu'
    """
    if not estimate.part_states:
        return []
    lines = [f"search size: {estimate.describe()}"]
    guess = estimate.guess_s(bulk)
    stop = "Ctrl-C stops the search and keeps the best schedule so far"
    if guess is not None and guess >= GUESS_FROM_S:
        lines.append(f"time: roughly {duration_text(guess)} of DP on a 2-core CPU (a guess from "
                     f"its states; {stop})")
    elif measured:
        lines.append("time: each distinct stage is measured on the GPU (tens of ms each); the "
                     f"time left shows once the search is under way ({stop})")
    return lines


class ProgressPrinter(SearchObserver):
    """Shows the search's progress on stderr (see :class:`LiveLine`) and stops it on request.

    ``verb``: what happens to a distinct stage ("measured" for a measured search)."""

    def __init__(self, enabled: bool = True, verb: str = "costed") -> None:
        self.line = LiveLine(enabled=enabled)
        self.verb = verb
        self.stop_requested = False  # set by Ctrl-C (stop_on_interrupt)
        self._whole = False  # the search reports whole-search progress (with the time left)

    def on_part_start(self, part_index: int, n_parts: int, n_ops: int) -> None:
        if not self._whole:
            self.line.show(f"searching part {part_index + 1}/{n_parts} ({n_ops} ops)",
                           force=part_index == 0)

    def on_progress(self, states_done: int, states_total: int, part_index: int,
                    n_parts: int) -> None:
        if not self._whole:  # a search without on_search_progress: the part's own count
            self.line.show(f"searching part {part_index + 1}/{n_parts}: "
                           f"{states_done}/{states_total} states")

    def on_search_progress(self, progress: SearchProgress) -> None:
        self._whole = True
        self.line.show(progress_line(progress, self.verb))

    def should_stop(self) -> bool:
        return self.stop_requested

    def finish(self) -> None:
        self.line.done()


@contextmanager
def stop_on_interrupt(printer: ProgressPrinter, say: Callable[[str], Any]) -> Iterator[None]:
    """While inside: the first SIGINT (Ctrl-C) asks the search to stop and keep what it has; a
    second one raises KeyboardInterrupt as usual. Outside the main thread (where Python delivers
    no signal), or where SIGINT is ignored (a background job, ``nohup``), it changes nothing."""

    def handler(signum: int, frame: Any) -> None:
        if printer.stop_requested:
            raise KeyboardInterrupt
        printer.stop_requested = True
        printer.line.done()
        say("stopping the search: keeping the best schedule so far (Ctrl-C again to abort)")

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # whoever started us chose to ignore it
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
