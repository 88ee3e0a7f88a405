"""Progress on stderr that suits where stderr goes: a terminal, or a file or pipe.

On a terminal a progress line is redrawn in place (``\\r`` and erase-line) at most five times a
second. Anywhere else those control codes would litter a log, so each update is a plain line,
at most one every :data:`LOG_INTERVAL_S` seconds (and every forced one: a new part, the end).
Results go to stdout; progress and status lines only ever to stderr.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["LOG_INTERVAL_S", "LiveLine", "is_terminal"]

TTY_INTERVAL_S = 0.2  # redraws of a terminal line
LOG_INTERVAL_S = 10.0  # plain lines in a file or pipe


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, closed streams).

    >>> import io
    >>> is_terminal(io.StringIO()), is_terminal(None)
    (False, False)
    """
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):  # a closed stream
        return False


class LiveLine:
    """One line of progress on ``stream`` (default: stderr at the time of each write).

    >>> import io
    >>> buf = io.StringIO()
    >>> line = LiveLine(stream=buf)
    >>> line.show("part 1/2", force=True); line.show("part 1/2: 5/9 states"); line.done()
    >>> buf.getvalue()                           # not a terminal: plain lines, throttled
    'part 1/2\\n'
    """

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._stream = stream
        self._last = -1e9
        self._drawn = False

    @property
    def stream(self) -> TextIO | None:
        return self._stream if self._stream is not None else sys.stderr

    def show(self, text: str, force: bool = False) -> None:
        """Show ``text`` now if ``force`` or enough time has passed since the last line."""
        stream = self.stream
        if not self.enabled or stream is None:
            return
        tty = is_terminal(stream)
        now = time.monotonic()
        if not force and now - self._last < (TTY_INTERVAL_S if tty else LOG_INTERVAL_S):
            return
        self._last = now
        if tty:
            stream.write(f"\r\033[K{text}")
            self._drawn = True
        else:
            stream.write(text + "\n")
        stream.flush()

    def done(self, keep: bool = False) -> None:
        """End the line: on a terminal, erase it (or, with ``keep``, leave it and go on below)."""
        stream = self.stream
        if self.enabled and stream is not None and self._drawn and is_terminal(stream):
            stream.write("\n" if keep else "\r\033[K")
            stream.flush()
        self._drawn = False
