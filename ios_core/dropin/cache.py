"""The schedule cache on disk: a found schedule and its stage profile, so a second start of the
same program loads them instead of searching and measuring again.

Layout (readable JSON in the project's own formats, never pickles; safe to delete)::

    <folder>/schedules/<model>-<digest>.schedule.json   # ios-schedule/1; search.stats.cache_key
    <folder>/profiles/<gpu>-<digest>.json               # ios-profile/1: measured stage latencies

A schedule's **key** (:func:`schedule_key`) holds everything its choice depends on: the graph's
fingerprint (kinds, attrs, shapes, edges), the inputs' shapes and dtypes, the device's name,
torch's and cuDNN's versions, the search (strategy, every SearchConfig knob, cost source) and the
engine's levers. The file name is a digest of the key; the key itself is stored in the schedule's
``search.stats["cache_key"]`` and compared on load, so a file that names another key, is torn,
is not a schedule or does not fit the graph is refused with a :class:`DropinWarning` and
rebuilt. A profile is keyed by what stage latencies depend on (:class:`ProfileKey`, TF32 and the
engine's levers) and is shared by every model measured under that key: identical stages are
measured once. Writes go through a temporary file and ``os.replace``; a folder that cannot be
written is warned about once and the program goes on without caching.

>>> digest({"b": 1, "a": [2, 3]}) == digest({"a": [2, 3], "b": 1})
True
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ios_core.cost.profile_db import ProfileDB, ProfileError, ProfileKey, device_slug, file_slug
from ios_core.dropin.settings import DropinWarning
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule, ScheduleError, validate_schedule

__all__ = ["KEY_FIELD", "ScheduleCache", "digest", "schedule_key"]

KEY_FIELD = "cache_key"  # where a cached schedule keeps its key (in search.stats)


def digest(key: Any) -> str:
    """A short stable hash of a JSON-able key (16 hex digits)."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def schedule_key(graph: OpGraph, inputs: list[tuple[list[int], str]], device: str, torch: str,
                 cudnn: str, strategy: str, config: Any, cost: str, engine: str,
                 tf32: bool) -> dict[str, Any]:
    """The key of a cached schedule (module docstring); ``config`` a SearchConfig."""
    return {"fingerprint": graph.fingerprint(), "inputs": [list(i) for i in inputs],
            "device": device, "torch": torch, "cudnn": cudnn, "strategy": strategy,
            "config": asdict(config), "cost": cost, "engine": engine, "tf32": tf32}


class ScheduleCache:
    """One cache folder (module docstring). Nothing here raises for a bad file or folder."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()
        self.writable = True  # False after the first failed write: warned once, then silent

    def __repr__(self) -> str:
        return f"ScheduleCache({str(self.folder)!r})"

    # ---- schedules ------------------------------------------------------------------------------
    def schedule_path(self, key: dict[str, Any], name: str = "model") -> Path:
        return self.folder / "schedules" / f"{file_slug(name)}-{digest(key)}.schedule.json"

    def load_schedule(self, key: dict[str, Any], graph: OpGraph,
                      name: str = "model") -> Schedule | None:
        """The cached schedule of ``key`` for ``graph``; None when there is none or it is
        refused (then with a warning)."""
        path = self.schedule_path(key, name)
        if not path.exists():
            return None
        try:
            schedule = Schedule.load(path)
            if schedule.search.stats.get(KEY_FIELD) != key:
                raise ScheduleError("it was stored for other settings (its cache key differs)")
            validate_schedule(schedule, graph)
        except ScheduleError as e:
            warnings.warn(f"ignoring the cached schedule {path}: {e}; searching again and "
                          "replacing it", DropinWarning, stacklevel=3)
            return None
        return schedule

    def save_schedule(self, key: dict[str, Any], schedule: Schedule,
                      name: str = "model") -> Path | None:
        """Store ``schedule`` under ``key`` (its stats gain the key); the file, or None."""
        stats = {**schedule.search.stats, KEY_FIELD: key}
        schedule = replace(schedule, search=replace(schedule.search, stats=stats))
        path = self.schedule_path(key, name)
        return path if self._write(path, schedule.dumps()) else None

    # ---- stage profiles -------------------------------------------------------------------------
    def profile_path(self, key: ProfileKey, measure: dict[str, Any]) -> Path:
        ident = digest({"key": asdict(key), "measure": measure})
        return self.folder / "profiles" / f"{device_slug(key.device)}-{ident}.json"

    def load_profile(self, key: ProfileKey, measure: dict[str, Any]) -> ProfileDB:
        """The stored stage profile of ``key`` measured as ``measure`` says, or a new empty one."""
        path = self.profile_path(key, measure)
        fresh = ProfileDB(key, measure=dict(measure))
        if not path.exists():
            return fresh
        try:
            db = ProfileDB.load(path)
            if db.key != key:
                raise ProfileError("it was measured under another key ("
                                   + "; ".join(db.key.differences(key)) + ")")
        except ProfileError as e:
            warnings.warn(f"ignoring the cached stage profile {path}: {e}; measuring again",
                          DropinWarning, stacklevel=3)
            return fresh
        return db

    def save_profile(self, db: ProfileDB, measure: dict[str, Any]) -> Path | None:
        path = self.profile_path(db.key, measure)
        return path if self._write(path, db.dumps()) else None

    # ---- writing --------------------------------------------------------------------------------
    def _write(self, path: Path, text: str) -> bool:
        if not self.writable:
            return False
        try:
            atomic_write_text(path, text)
        except OSError as e:
            self.writable = False
            warnings.warn(f"cannot write to the schedule cache {self.folder} "
                          f"({e.strerror or e}); going on without caching (set IOS_CACHE_DIR or "
                          "pass cache= a writable folder)", DropinWarning, stacklevel=3)
            return False
        return True
