"""Stable colours per op kind, strategy and stream: those of ios_core.export, so a conv or a
merge stage looks the same in the app, the DOT export and the Chrome trace."""

from __future__ import annotations

from ios_core.export import KIND_COLORS, STRATEGY_COLORS, STREAM_COLORS, kind_color

__all__ = [
    "DONE_COLOR", "KIND_COLORS", "PENDING_COLOR", "STRATEGY_COLORS", "STRATEGY_SYMBOLS",
    "group_color", "kind_color",
]

# merge vs concurrent must read differently at a glance: a shape as well as a colour
STRATEGY_SYMBOLS: dict[str, str] = {"merge": "diamond", "concurrent": "circle"}
DONE_COLOR = "#e0e0e0"
PENDING_COLOR = "#ffffff"

# streams of a concurrent stage never take the merge colour, or the two would be confused
_GROUP_COLORS = tuple(c for c in STREAM_COLORS if c != STRATEGY_COLORS["merge"])


def group_color(index: int) -> str:
    """Colour of the index-th group (stream) of a concurrent stage."""
    return _GROUP_COLORS[index % len(_GROUP_COLORS)]
