"""Knobs of a schedule search."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchConfig:
    r: int = 3  # max operators per group of a concurrent stage (IOS default)
    s: int = 8  # max groups per stage (IOS default)
    max_part_ops: int = 50  # ops per DP subproblem; bigger blocks are cut (IOS used 50)
    stream_cap: int = 8  # greedy: at most this many ready ops per wavefront stage

    def __post_init__(self) -> None:
        for knob in ("r", "s", "max_part_ops", "stream_cap"):
            value = getattr(self, knob)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{knob} must be an integer of at least 1 (got {value!r})")
