"""The knobs of the drop-in: one frozen :class:`DropinSettings`, read from keyword arguments
(``optimize_module``) or from a ``torch.compile(..., options={...})`` dict, with plain-words
errors for anything unknown.

>>> DropinSettings.from_options({"strategy": "greedy", "r": 2}).config.r
2
>>> DropinSettings.from_options({"stratgy": "greedy"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown drop-in option 'stratgy' (did you mean 'strategy'?); ...
>>> DropinSettings().resolved_cost("cpu")
'simulated:h100'
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.runtime.fuse_switch import engine_options
from ios_core.runtime.options import EngineOptions
from ios_core.search.config import SearchConfig

__all__ = ["CPU_COST", "DropinSettings", "DropinWarning", "default_cache_dir"]

ON_NEW_SHAPE = ("search", "error")
# what cost="measured" becomes off the GPU: the measured model times stages on a CUDA GPU, and a
# CPU run of a schedule is for tests, where the simulated H100's schedules are as good as any
CPU_COST = "simulated:h100"


class DropinWarning(UserWarning):
    """Something the drop-in worked around: a cache file refused, a graph run eagerly, ..."""


def default_cache_dir() -> Path:
    """``$IOS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ios-explorer``, else ``~/.cache/ios-explorer``."""
    if os.environ.get("IOS_CACHE_DIR"):
        return Path(os.environ["IOS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ios-explorer"


@dataclass(frozen=True)
class DropinSettings:
    strategy: str = "ios-both"  # the search (ios_core.ir.schedule.SEARCH_STRATEGIES)
    r: int = 3  # max operators per group of a concurrent stage (IOS default)
    s: int = 8  # max groups per stage (IOS default)
    # "measured" (CUDA: every stage timed on this GPU, kept in the cache's stage profile; on the
    # CPU it means CPU_COST, with a warning), "simulated:<preset>" or "profile:<name|path>"
    cost: str = "measured"
    # True: default_cache_dir(); a folder; False/None: no cache (always search)
    cache: bool | str | os.PathLike[str] | None = True
    on_new_shape: str = "search"  # a new input shape or dtype: "search" it, or "error"
    reuse_outputs: bool = False  # True: return the CUDA graph's output buffers (next call rewrites)
    check: bool = True  # compare the first run with the model's own forward, refuse a mismatch
    check_tolerance: float | None = None  # None: runtime.executor's tolerance (plan.tolerance)
    use_cuda_graph: bool = True  # False: the CUDA path runs eagerly (streams, no graph)
    engine: EngineOptions | None = None  # the executor's levers; None: DEFAULT_OPTIONS
    # True: fused regions after the trace and the engine's fuse_epilogues lever (one compiled
    # epilogue per region; ios_core.runtime.fuse_switch). Off by default: the shipped GPU
    # profiles were measured on graphs without regions
    fuse_epilogues: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in SEARCH_STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of "
                             + ", ".join(SEARCH_STRATEGIES))
        if self.on_new_shape not in ON_NEW_SHAPE:
            raise ValueError(f"on_new_shape must be one of {ON_NEW_SHAPE} "
                             f"(got {self.on_new_shape!r})")
        if not isinstance(self.cost, str) or not self.cost.strip():
            raise ValueError("cost must be a cost source such as 'measured' or 'simulated:h100'")
        if not isinstance(self.fuse_epilogues, bool):
            raise ValueError(f"fuse_epilogues must be True or False (got {self.fuse_epilogues!r})")
        self.config  # noqa: B018 - SearchConfig checks r and s now, not after the trace

    @property
    def config(self) -> SearchConfig:
        return SearchConfig(r=self.r, s=self.s)

    @property
    def engine_options(self) -> EngineOptions:
        """The executor's levers: ``engine`` (None: DEFAULT_OPTIONS), plus ``fuse_epilogues``
        when that is on; its label is part of the schedule cache's key.

        >>> DropinSettings(fuse_epilogues=True).engine_options.label().endswith("+epi")
        True
        """
        return engine_options(self.engine, self.fuse_epilogues)

    def cache_dir(self) -> Path | None:
        """The cache folder these settings ask for (None: no cache)."""
        if self.cache is None or self.cache is False:
            return None
        if self.cache is True:
            return default_cache_dir()
        return Path(self.cache).expanduser()

    def resolved_cost(self, device: Any) -> str:
        """The cost source that runs for a model on ``device``: "measured" needs CUDA."""
        measured = self.cost.strip().lower() == "measured"
        on_cuda = str(device).startswith("cuda")
        return CPU_COST if measured and not on_cuda else self.cost.strip()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> DropinSettings:
        """Settings from a ``torch.compile`` options dict (its keys: the field names)."""
        options = dict(options or {})
        names = [f.name for f in fields(cls)]
        for key in options:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown drop-in option {key!r}{hint}; the options are "
                                 + ", ".join(names))
        return cls(**options)
