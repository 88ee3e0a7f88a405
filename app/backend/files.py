"""Schedule files: exports (DOT, CSV), uploads (refused unless JSON that fits the model; never
executed or unpickled), and the schedules GPU searches found, shipped beside their profiles."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import streamlit as st

from app.backend import costs, models
from ios_core.ir.schedule import Schedule

MAX_UPLOAD = 20 * 1024 * 1024  # a schedule of the biggest sample model is well under 1 MB


def schedule_dot(schedule: Schedule, model_ref: str, batch: int) -> str:
    """ios_core's DOT export: stages as clusters."""
    from ios_core.export import to_dot

    return to_dot(schedule, models.graph(model_ref, batch))


def schedule_csv(schedule: Schedule) -> str:
    """ios_core's CSV export: one row per operator."""
    from ios_core.export import to_csv

    return to_csv(schedule)


def load_schedule(data: bytes, model_ref: str, batch: int) -> Schedule:
    """Parse an uploaded schedule file and validate it against the model at this batch; a
    ScheduleError says what is wrong in plain words. JSON only: nothing in the file is ever
    executed or unpickled."""
    from ios_core.ir.schedule import ScheduleError, validate_schedule
    from ios_core.runtime.fuse_switch import recorded_switch

    if len(data) > MAX_UPLOAD:
        raise ScheduleError(f"the file is {len(data) / 1e6:.1f} MB; a schedule is far smaller, so "
                            "this is probably not a schedule file")
    problem = _not_json_text(data)
    if problem:
        raise ScheduleError(f"the file is {problem}, not JSON text: a schedule file is the JSON "
                            "(ios-schedule/1) that the Export page downloads")
    loaded = Schedule.loads(data)
    try:
        validate_schedule(loaded, models.graph(model_ref, batch))
    except ScheduleError as e:
        hint = ""
        name = models.split_model_key(model_ref)[0]
        if loaded.model.name != name or loaded.target.batch != batch:
            hint = (f" The file is for model `{loaded.model.name}` at batch "
                    f"{loaded.target.batch}: select those in the sidebar and upload it again.")
        elif recorded_switch(loaded) != models.fused_epilogues(model_ref):
            turn = "on" if recorded_switch(loaded) else "off"
            hint = (f" The file was searched with fused epilogues {turn}: turn **Fuse "
                    f"elementwise epilogues** in the sidebar {turn} and upload it again.")
        text = str(e).rstrip()
        raise ScheduleError(f"{text if text.endswith(('.', '?', '!')) else text + '.'}{hint}"
                            ) from None
    return loaded


_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "gzip data",
          b"\x80": "a Python pickle (never unpickled here)"}


def _not_json_text(data: bytes) -> str | None:
    r"""What ``data`` is when it is plainly not JSON text (an image, an archive, binary data, or
    text that does not start like JSON), so that the refusal names it rather than guessing at a
    truncated file; None when it may be JSON.

    >>> _not_json_text(b"\x89PNG\r\n"), _not_json_text(b' {"format": 1'), _not_json_text(b"hi")
    ('a PNG image', None, 'text that is not JSON')
    """
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            return what
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "binary data"
    if "\x00" in text:
        return "binary data"
    start = text.lstrip()[:1]
    return None if start in ("{", "[", "") else "text that is not JSON"



@dataclass(frozen=True)
class ShippedFile:
    """A schedule a GPU search found, shipped beside its profile database."""

    profile: str  # the profile's name, as in ``profile:<name>``
    model: str
    batch: int
    strategy: str
    path: str


def shipped_schedule_files() -> list[ShippedFile]:
    """Every ``<profile>-<model>-b<batch>.<strategy>.schedule.json`` in the profile folders."""
    return _shipped_schedule_files(costs.profiles_stamp())


@st.cache_data(show_spinner=False)
def _shipped_schedule_files(stamp: tuple) -> list[ShippedFile]:
    from ios_core.cost.profile_db import SCHEDULE_SUFFIX
    from ios_core.ir.schedule import SEARCH_STRATEGIES

    found = []
    for path, _, _ in stamp:
        name = os.path.basename(path)
        if not name.endswith(SCHEDULE_SUFFIX):
            continue
        stem, _, strategy = name.removesuffix(SCHEDULE_SUFFIX).rpartition(".")
        profile, _, rest = stem.partition("-")
        model, _, b = rest.rpartition("-b")
        if strategy in SEARCH_STRATEGIES and b.isdigit() and model:
            found.append(ShippedFile(profile, model, int(b), strategy, path))
    return found


def shipped_file(cost_spec: str, model_ref: str, batch: int, strategy: str) -> ShippedFile | None:
    """The shipped GPU schedule of this model, batch and strategy under a profile, if any (a
    model traced with leaf modules is another graph: none)."""
    if not cost_spec.startswith("profile:"):
        return None
    name = cost_spec.removeprefix("profile:")
    want = (name, model_ref, batch, strategy)
    return next((f for f in shipped_schedule_files()
                 if (f.profile, f.model, f.batch, f.strategy) == want), None)


@st.cache_data(show_spinner="Loading the schedule the GPU search found…", max_entries=32)
def shipped_schedule(cost_spec: str, model_ref: str, batch: int, strategy: str) -> Schedule | None:
    """The shipped GPU schedule (see :func:`shipped_file`), checked against the model as traced
    here and priced by the app's cost model (the profile holds the GPU's measurements of its
    stages); None when there is none or it does not fit this graph."""
    from ios_core.ir.schedule import ScheduleError, validate_schedule
    from ios_core.search import price_schedule

    found = shipped_file(cost_spec, model_ref, batch, strategy)
    if found is None:
        return None
    loaded = Schedule.load(found.path)
    g = models.graph(model_ref, batch)
    try:
        validate_schedule(loaded, g)
    except ScheduleError:
        return None  # traced differently here (another torch): search instead
    priced = price_schedule(loaded, g, costs.cost_model(cost_spec, model_ref, batch))
    search = replace(loaded.search, cost=cost_spec, stats={
        **loaded.search.stats, "searched_with": loaded.search.cost,
        "shipped_file": os.path.basename(found.path)})
    return replace(priced, search=search)


@st.cache_data(show_spinner=False, max_entries=32)
def teaching_schedules(profile: str, model: str, batch: int) -> dict[str, Schedule]:
    """strategy -> the shipped schedule file as the GPU search wrote it (no trace, no torch
    work: the first page reads these), for one profile, model and batch."""
    return {f.strategy: Schedule.load(f.path) for f in shipped_schedule_files()
            if (f.profile, f.model, f.batch) == (profile, model, batch)}
