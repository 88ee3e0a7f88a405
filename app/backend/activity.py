"""Who is busy: page scripts running now, and when the last one ended. Background work (the
warm-up, searches) waits for a pause or gives way while a page script runs."""

from __future__ import annotations

import threading
import time

# The warm-up shares the interpreter (and its lock) with the pages: importing torch and tracing
# in the background made the first click after the landing page take 6 s instead of 0.5 s on a
# 2-core machine. Tracing now runs in the trace worker's process; the steps still done here
# (reading a profile, the bounds: about 0.45 s for Inception V3) wait until no script has run for
# this long. At 4 s, a click on Schedule 0.8-1.2 s after the landing page found nothing built and
# took 1.29-1.36 s in Chromium; at 1 s, 0.64-0.88 s 1-2 s after it, and no click of three random
# walks over the pages took longer than before (2026-12-04).
WARM_UP_IDLE_S = 1.0
_last_activity = [time.monotonic()]


# Background searches (the Compare page's batch, a search started on Optimize or What if) share
# the interpreter with the pages too: a click on Schedule right after Compare's first visit took
# 1.1-1.4 s in Chromium while they ran (2026-12-04). They give way while a page script runs.
YIELD_AT_MOST_S = 2.0  # longest a search waits at once for page scripts to end
YIELD_AFTER_S = 0.8  # and it waits this long after a script ends: the browser is drawing it
_scripts: set[int] = set()  # threads running a page script now
_scripts_lock = threading.Lock()


def mark_activity() -> None:
    """A script run starts or ends: the warm-up waits for a pause."""
    _last_activity[0] = time.monotonic()


def script_started() -> None:
    """A page script run starts (app/main.py): background work waits or gives way."""
    mark_activity()
    with _scripts_lock:
        _scripts.add(threading.get_ident())


def script_ended() -> None:
    """The page script run of this thread ends (app/main.py, in a ``finally``)."""
    mark_activity()
    with _scripts_lock:
        _scripts.discard(threading.get_ident())


def _pages_busy() -> bool:
    """A page script runs in another thread, or one ended less than YIELD_AFTER_S ago (on a
    machine that serves and shows the app, the browser draws the page on the same cores)."""
    if time.monotonic() - _last_activity[0] < YIELD_AFTER_S:
        return True
    with _scripts_lock:
        return bool(_scripts - {threading.get_ident()})


def yield_to_pages() -> None:
    """Sleep while the pages are busy (:func:`_pages_busy`), ``YIELD_AT_MOST_S`` at most (a
    search calls this at each progress report, every 0.2 s at most: ios_core.search.dp)."""
    deadline = time.monotonic() + YIELD_AT_MOST_S
    while _pages_busy() and time.monotonic() < deadline:
        time.sleep(0.005)


def _wait_for_a_pause() -> None:
    while (quiet := time.monotonic() - _last_activity[0]) < WARM_UP_IDLE_S:
        time.sleep(WARM_UP_IDLE_S - quiet)
