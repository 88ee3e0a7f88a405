"""Cost sources (the live GPU, the shipped profiles, the simulated devices), the cost models
built from them, and what they say of single operators: isolated costs and proven bounds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.backend import models
from ios_core.cost.base import StageCost
from ios_core.cost.bounds import LowerBounds
from ios_core.ir.schedule import Schedule

# a GPU driver leaves one of these behind (NVIDIA; AMD's ROCm, which torch.cuda also runs; WSL)
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


@st.cache_data(show_spinner=False)
def cuda_device_name() -> str | None:
    """The live GPU's name, or None. Where no GPU driver is installed torch.cuda cannot be
    available, so a cold first page does not import torch (~2 s) to learn that."""
    if os.name == "posix" and not any(os.path.exists(p) for p in GPU_DRIVER_FILES):
        return None
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def shipped_profiles() -> list[tuple[str, int, str]]:
    """(name, batch, device) of every profile database ios_core finds in data/profiles."""
    return _shipped_profiles(profiles_stamp())


@st.cache_data(show_spinner=False)
def _shipped_profiles(stamp: tuple) -> list[tuple[str, int, str]]:
    return sorted({(name, batch, device) for name, batch, device, _ in _profile_listing()})


def _profile_listing() -> list[tuple[str, int, str, tuple[str, ...]]]:
    """(name, batch, device, models measured) of every shipped profile database."""
    return [(r.name, r.batch, r.device, r.models) for r in _profile_rows(profiles_stamp())]


@dataclass(frozen=True)
class _ProfileRow:
    name: str  # as in ``profile:<name>``
    batch: int
    device: str
    models: tuple[str, ...]
    summary: str  # how it was measured, in one line


@st.cache_data(show_spinner=False)
def _profile_rows(stamp: tuple) -> list[_ProfileRow]:
    """Every profile database of the folders, each read ONCE (the cold first page read all of
    them three times: 12 MB of JSON each time), keyed by the folders' files and times, not a time
    to live: an expiry reloaded every database (seconds) on the first widget change after a minute
    idle."""
    from ios_core.cost.profile_db import SCHEDULE_SUFFIX, ProfileDB, ProfileError

    rows = []
    for path, _, _ in stamp:  # the stamp lists every *.json of profile_dirs(), in order
        if path.endswith(SCHEDULE_SUFFIX):
            continue
        try:
            db = ProfileDB.load(path)
        except ProfileError:
            continue  # a broken file must not hide the others
        parts = [db.key.describe()]
        if db.measure.get("engine"):
            parts.append(f"engine levers {db.measure['engine']}")
        if db.measure.get("weights"):
            parts.append(f"parameters {db.measure['weights']} in L2")
        # the name as ios_core.cost.profile_db.list_profiles derives it from the file name
        name = os.path.basename(path).split("-")[0].removesuffix(".json")
        rows.append(_ProfileRow(name, db.key.batch, db.key.device,
                                tuple(m.get("name", "") for m in db.models),
                                "Measured on " + "; ".join(parts)))
    return rows


def profile_summary(spec: str, model_ref: str, batch: int) -> str | None:
    """How a shipped profile's numbers for this model and batch were measured, in one line."""
    name = spec.removeprefix("profile:")
    return next((r.summary for r in _profile_rows(profiles_stamp())
                 if (r.name, r.batch) == (name, batch) and model_ref in r.models), None)


def profile_specs(batch: int) -> list[str]:
    """Cost specs of the shipped profiles measured at ``batch``."""
    return sorted({f"profile:{name}" for name, b, _ in shipped_profiles() if b == batch})


def profile_batches(spec: str, model_ref: str) -> list[int]:
    """Batch sizes at which a shipped profile (``profile:<name>``) measured ``model_ref``."""
    name = spec.removeprefix("profile:")
    listing = _profile_listing()
    return sorted({b for n, b, _, models in listing if n == name and model_ref in models})


def simulated_presets() -> dict[str, str]:
    """spec -> device name of every simulated preset."""
    from ios_core.cost import PRESETS

    return {f"simulated:{key}": preset.name for key, preset in PRESETS.items()}


def cost_sources(batch: int) -> list[str]:
    """Live GPU first (if any), then shipped profiles of this batch, then simulated devices."""
    live = ["measured"] if cuda_device_name() else []
    return live + profile_specs(batch) + list(simulated_presets())


def default_cost_spec(batch: int = 1) -> str:
    """The shipped H100 profile when there is one, else the simulated H100."""
    h100 = [p for p in profile_specs(batch) if "h100" in p.lower()]
    return h100[0] if h100 else "simulated:h100"


def cost_label(spec: str) -> str:
    if spec == "measured":
        return f"Live GPU: {cuda_device_name() or 'none'}"
    if spec.startswith("profile:"):
        return f"Shipped profile: {spec.split(':', 1)[1]}"
    return f"Simulated: {simulated_presets().get(spec, spec)}"


@st.cache_resource(show_spinner=False, max_entries=8)
def cost_model(spec: str, model_ref: str, batch: int) -> Any:
    """A CostModel; a live-GPU one is built for one traced model, the others are shared."""
    from ios_core.cost import make_cost_model

    if spec == "measured":  # measuring needs the model's kernels; regions run compiled
        from ios_core.runtime.fuse_switch import engine_options

        fused = models.fused_epilogues(model_ref)
        return make_cost_model(spec, traced=models.traced_model(model_ref, batch),
                               options=engine_options(None, fused))
    if spec.startswith("profile:"):  # a profile holds the numbers of one batch size
        from ios_core.cost.bounds import own_measurements

        # this model's own measurements when the profile has them: they price its stages as the
        # merged profile does (no two shipped models share an operator) and keep its lower bounds
        # tight (ios_core.cost.bounds)
        own = models.split_model_key(model_ref)[0]
        return own_measurements(_shared_cost_model(spec, batch), own)
    return _shared_cost_model(spec)


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_cost_model(spec: str, batch: int | None = None) -> Any:
    """A cost model for every model: a simulated device, or a profile's databases of one batch
    size read and merged once (1.4 s for the H100's at batch 1), not once per model."""
    from ios_core.cost import make_cost_model

    return make_cost_model(spec) if batch is None else make_cost_model(spec, batch=batch)



@st.cache_data(show_spinner="Costing every operator…", max_entries=16)
def op_costs(model_ref: str, batch: int, cost_spec: str) -> dict[str, StageCost]:
    """Isolated latency of every op: the cost model's price of a one-op stage."""
    g = models.graph(model_ref, batch)
    cost = cost_model(cost_spec, model_ref, batch)
    return {n.name: cost.stage_cost(g, "concurrent", ((n.name,),)) for n in g.nodes}


@st.cache_data(show_spinner="Proving lower bounds…", max_entries=16)
def _floors(model_ref: str, batch: int, cost_spec: str) -> Any:
    """ios_core's per-op floors of the cost source on the model, or why it has none."""
    from ios_core.cost.bounds import NoBoundError, floors

    try:
        return floors(models.graph(model_ref, batch), cost_model(cost_spec, model_ref, batch))
    except NoBoundError as e:
        return str(e)


@st.cache_data(show_spinner=False, max_entries=16)
def bounds(model_ref: str, batch: int, cost_spec: str) -> LowerBounds | str:
    """ios_core's lower bounds of the model under the cost source (path and work bounds, and the
    isolated-op critical path as a reference), or why there are none, in words."""
    from ios_core.cost.bounds import lower_bounds

    fl = _floors(model_ref, batch, cost_spec)
    if isinstance(fl, str):
        return fl
    return lower_bounds(models.graph(model_ref, batch), cost_model(cost_spec, model_ref, batch), fl)


def stage_bounds(schedule: Schedule, model_ref: str, batch: int,
                 cost_spec: str) -> list[float] | None:
    """Each stage's own lower bound under the cost source (ios_core.cost.bounds.Floors), or None
    when the cost source has none."""
    fl = _floors(model_ref, batch, cost_spec)
    if isinstance(fl, str):
        return None
    g = models.graph(model_ref, batch)
    return [fl.stage_ms_bound(g, stage.groups) for stage in schedule.stages]



def profiles_stamp() -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of every file in the profile folders: the key that makes the cached
    listings see a new or rewritten profile at once, for the price of a directory listing."""
    from ios_core.cost.profile_db import profile_dirs

    found = []
    for folder in profile_dirs():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.name.endswith(".json") and e.is_file():
                info = e.stat()
                found.append((e.path, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))
