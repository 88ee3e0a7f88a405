"""Stable colours per op kind, strategy and stream: those of ios_core.export, so a conv or a
merge stage looks the same in the app, the DOT export and the Chrome trace.

Op kinds are pale fills, streams and merges saturated colours (ios_core.export says why they
never meet); the highlight of a selected stage or block is black, apart from both.
"""

from __future__ import annotations

from ios_core.export import KIND_COLORS, STRATEGY_COLORS, STREAM_COLORS, kind_color

__all__ = [
    "DONE_COLOR", "HIGHLIGHT_COLOR", "KIND_COLORS", "PENDING_COLOR", "STRATEGY_COLORS",
    "STRATEGY_SYMBOLS", "STREAM_COLORS", "group_color", "ink", "kind_color",
]

# merge vs concurrent must read differently at a glance: a shape as well as a colour
STRATEGY_SYMBOLS: dict[str, str] = {"merge": "diamond", "concurrent": "circle"}
DONE_COLOR = "#e0e0e0"
PENDING_COLOR = "#ffffff"
# the selected stage (Gantt) or block (overview): an outline, in no palette's colour
HIGHLIGHT_COLOR = "#000000"


def group_color(index: int) -> str:
    """Colour of the index-th group (stream) of a concurrent stage.

    >>> group_color(0) == STREAM_COLORS[0] and group_color(len(STREAM_COLORS)) == STREAM_COLORS[0]
    True
    """
    return STREAM_COLORS[index % len(STREAM_COLORS)]


def ink(fill: str) -> str:
    """Black or white, whichever reads on ``fill`` (a ``#rrggbb`` colour): streams and merges are
    dark enough that black text on them is hard to read.

    >>> ink("#332288"), ink("#a6c8ec")
    ('#ffffff', '#000000')
    """
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#ffffff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.4 else "#000000"
