"""The app's only door to ios_core: every call into ios_core's functions is made here, cached and
keyed by hashable things.

Models and traced graphs are ``st.cache_resource`` (big, shared, never mutated: OpGraph is
frozen); pure results (op costs, blocks, bounds, schedules) are ``st.cache_data`` keyed by the
model reference, batch, cost spec and search knobs. No scheduling, timing or file-format logic
lives here: everything is computed by ios_core.

The rule, which tests/test_app_views.py::test_backend_is_the_apps_only_door_to_ios_core checks:
everywhere else in app/, an import from ios_core brings in only

* classes, used as types (annotations, ``isinstance``, subclassing ``SearchObserver``), never
  called, constructed or asked for a classmethod; and UPPER_CASE constants (``SEARCH_STRATEGIES``,
  the colour tables);
* in app/views/colors.py and app/views/fmt.py, ios_core.export's display helpers
  (``kind_color``, ``flops_text``, ``op_caption``, ``shape_text``): pure functions of their
  arguments, so that labels and colours read as in ios_core's own exports.

Methods of the objects handed out here (``schedule.dumps()``, ``graph[name]``) may be called
anywhere.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from app.trace_client import TraceWorker
from ios_core.cost.base import StageCost
from ios_core.cost.bounds import LowerBounds
from ios_core.ir.graph import OpGraph
from ios_core.ir.hierarchy import Hierarchy
from ios_core.ir.schedule import Schedule
from ios_core.search.config import SearchConfig
from ios_core.search.observer import SearchObserver, SearchProgress


class _QuietBackgroundThreads(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning from this module's own threads
    (named ``ios-…``: the warm-up, search batches and jobs, trace prefetches). They run cached
    functions outside a page's script run by design and draw nothing; the warning only filled
    the server's log. Any other thread's warning stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName.startswith("ios-")
                    and "missing ScriptRunContext" in record.getMessage())


_CONTEXT_LOG = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
if not any(isinstance(f, _QuietBackgroundThreads) for f in _CONTEXT_LOG.filters):
    _CONTEXT_LOG.addFilter(_QuietBackgroundThreads())

DEFAULT_MODEL = "inception_v3"
DEFAULT_STRATEGY = "ios-both"
DEFAULT_SEARCH = SearchConfig()  # ios_core's own defaults: the Optimize page's first knobs
MAX_UPLOAD = 20 * 1024 * 1024  # a schedule of the biggest sample model is well under 1 MB


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: tuple[int, ...]
    description: str


# ---- models ------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False)
def sample_models() -> list[ModelInfo]:
    """The sample models ios_core ships, as (name, input shape, description). Read from the
    ``sample_models`` package itself, which lists them without importing torch (ios_core's
    ``list_models`` imports its frontend, and torch with it: ~2 s of a cold first page)."""
    try:
        from sample_models import REGISTRY
    except ImportError:  # as ios_core's listing: no sample models where the package is missing
        return []
    return [ModelInfo(s.name, tuple(s.input_shape), s.description) for s in REGISTRY.values()]


_LEAVES = " [leaf modules: "


def model_key(ref: str, leaves: Sequence[str] = ()) -> str:
    """The app's name of a model traced with ``leaves`` kept whole: the key of every cache, so
    two tracings of one model never share a graph.

    >>> model_key("mypkg.nets:build", ["gate", "Mixer"])
    'mypkg.nets:build [leaf modules: gate, Mixer]'
    >>> split_model_key(model_key("squeezenet"))
    ('squeezenet', ())
    """
    return f"{ref}{_LEAVES}{', '.join(leaves)}]" if leaves else ref


def split_model_key(key: str) -> tuple[str, tuple[str, ...]]:
    """(model reference, leaf modules) of a :func:`model_key`."""
    ref, found, rest = key.partition(_LEAVES)
    if not found or not rest.endswith("]"):
        return key, ()
    return ref, tuple(n.strip() for n in rest[:-1].split(",") if n.strip())


def parse_leaves(text: str) -> tuple[str, ...]:
    r"""Leaf modules as a user types them: names or class names, comma- or line-separated.

    >>> parse_leaves(" features.3, Fire\n\nrouter ,")
    ('features.3', 'Fire', 'router')
    """
    names = (n.strip() for line in text.splitlines() for n in line.split(","))
    return tuple(dict.fromkeys(n for n in names if n))


@st.cache_resource(show_spinner="Building and tracing the model…", max_entries=8)
def traced_model(model_ref: str, batch: int) -> Any:
    """ios_core.frontend.TracedModel of a :func:`model_key` (a sample name or
    package.module:callable, maybe with leaf modules) at a batch."""
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model

    ref, leaves = split_model_key(model_ref)
    loaded = load_model(ref, batch=batch)
    return trace_model(loaded.module, loaded.example_input, name=loaded.name,
                       leaf_modules=leaves)


@st.cache_resource(show_spinner=False)
def trace_worker() -> TraceWorker:
    """The server's one trace worker process (app/trace_client.py)."""
    return TraceWorker()


@st.cache_resource(show_spinner="Building and tracing the model…", max_entries=8)
def graph(model_ref: str, batch: int) -> OpGraph:
    """The model's OpGraph, traced by the worker process beside the server; traced here when
    the worker cannot (this raises the frontend's own error, with its advice)."""
    from ios_core.ir.graph import GraphError
    from ios_core.ir.graph_file import graph_from_json

    ref, leaves = split_model_key(model_ref)
    data = trace_worker().graph_data(ref, batch, leaves)
    if data is not None:
        try:
            return graph_from_json(data)
        except GraphError:  # never expected: the worker runs this same code
            pass
    return traced_model(model_ref, batch).graph


@st.cache_data(show_spinner=False, max_entries=16)
def blocks(model_ref: str, batch: int) -> list[list[str]]:
    from ios_core.ir.partition import find_blocks

    return find_blocks(graph(model_ref, batch))


@st.cache_resource(show_spinner=False, max_entries=16)
def hierarchy(model_ref: str, batch: int) -> Hierarchy:
    """The model's operators grouped by module path, to open one level at a time (frozen)."""
    from ios_core.ir.hierarchy import build_hierarchy

    return build_hierarchy(graph(model_ref, batch))


# ---- cost sources ------------------------------------------------------------------------------
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

    if spec == "measured":  # measuring needs the model's kernels
        return make_cost_model(spec, traced=traced_model(model_ref, batch))
    if spec.startswith("profile:"):  # a profile holds the numbers of one batch size
        from ios_core.cost.bounds import own_measurements

        # this model's own measurements when the profile has them: they price its stages as the
        # merged profile does (no two shipped models share an operator) and keep its lower bounds
        # tight (ios_core.cost.bounds)
        return own_measurements(_shared_cost_model(spec, batch), split_model_key(model_ref)[0])
    return _shared_cost_model(spec)


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_cost_model(spec: str, batch: int | None = None) -> Any:
    """A cost model for every model: a simulated device, or a profile's databases of one batch
    size read and merged once (1.4 s for the H100's at batch 1), not once per model."""
    from ios_core.cost import make_cost_model

    return make_cost_model(spec) if batch is None else make_cost_model(spec, batch=batch)


# ---- per-operator numbers ----------------------------------------------------------------------
@st.cache_data(show_spinner="Costing every operator…", max_entries=16)
def op_costs(model_ref: str, batch: int, cost_spec: str) -> dict[str, StageCost]:
    """Isolated latency of every op: the cost model's price of a one-op stage."""
    g = graph(model_ref, batch)
    cost = cost_model(cost_spec, model_ref, batch)
    return {n.name: cost.stage_cost(g, "concurrent", ((n.name,),)) for n in g.nodes}


@st.cache_data(show_spinner="Proving lower bounds…", max_entries=16)
def _floors(model_ref: str, batch: int, cost_spec: str) -> Any:
    """ios_core's per-op floors of the cost source on the model, or why it has none."""
    from ios_core.cost.bounds import NoBoundError, floors

    try:
        return floors(graph(model_ref, batch), cost_model(cost_spec, model_ref, batch))
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
    return lower_bounds(graph(model_ref, batch), cost_model(cost_spec, model_ref, batch), fl)


def stage_bounds(schedule: Schedule, model_ref: str, batch: int,
                 cost_spec: str) -> list[float] | None:
    """Each stage's own lower bound under the cost source (ios_core.cost.bounds.Floors), or None
    when the cost source has none."""
    fl = _floors(model_ref, batch, cost_spec)
    if isinstance(fl, str):
        return None
    g = graph(model_ref, batch)
    return [fl.stage_ms_bound(g, stage.groups) for stage in schedule.stages]


# ---- searches ----------------------------------------------------------------------------------
class ProgressObserver(SearchObserver):
    """Drives an st.progress bar: parts done, states solved, running totals."""

    def __init__(self, bar: Any, title: str, every_s: float = 0.15) -> None:
        self.bar, self.title, self.every_s = bar, title, every_s
        self.states = self.transitions = 0
        self.n_ops = 0
        self._last = 0.0

    def on_part_start(self, part_index: int, n_parts: int, n_ops: int) -> None:
        self.n_ops = n_ops
        self._show(part_index / max(n_parts, 1), part_index, n_parts, "", force=True)

    def on_progress(self, states_done: int, states_total: int, part_index: int,
                    n_parts: int) -> None:
        frac = (part_index + states_done / max(states_total, 1)) / max(n_parts, 1)
        self._show(frac, part_index, n_parts, f" · {states_done:,}/{states_total:,} states")

    def on_part_end(self, part_index: int, stats: Mapping[str, Any]) -> None:
        self.states += int(stats.get("states", 0) or 0)
        self.transitions += int(stats.get("transitions", 0) or 0)

    def on_search_progress(self, progress: SearchProgress) -> None:
        """The whole search's counts and time left replace the part's own line from now on."""
        self._whole = True
        self._draw(progress.fraction, f"{self.title}: {progress.describe()}")

    def _show(self, frac: float, part: int, n_parts: int, extra: str, force: bool = False) -> None:
        if getattr(self, "_whole", False) and not force:
            return
        self._draw(frac, f"{self.title}: part {part + 1}/{n_parts} ({self.n_ops} ops){extra} · "
                         f"{self.states:,} states and {self.transitions:,} transitions so far",
                   force)

    def _draw(self, frac: float, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return  # a websocket message per DP state would slow the search down
        self._last = now
        self.bar.progress(min(max(frac, 0.0), 1.0), text=text)


@st.cache_data(show_spinner=False, max_entries=64)
def find_schedule(model_ref: str, batch: int, cost_spec: str, strategy: str, r: int, s: int,
                  max_part_ops: int, max_part_states: int = DEFAULT_SEARCH.max_part_states,
                  ) -> Schedule:
    """ios_core's optimize(), cached by every input that changes its answer (the knobs the app
    does not show keep ios_core's defaults)."""
    from ios_core.search import optimize

    key = (model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_part_states)
    done = _finished_searches().get(key)
    if done is not None:  # searched to the end: here, or in the background (SearchJob)
        return done
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    g = graph(model_ref, batch)
    cost = cost_model(cost_spec, model_ref, batch)
    # created inside the cached function so that its replay on a cache hit is legal (and empty)
    bar = st.progress(0.0, text=f"Searching {strategy} (r={r}, s={s})…")
    try:
        # the schedule names the model as the CLI loads it (leaf modules go with --leaf-module)
        found = optimize(g, strategy, cost, config, model_name=split_model_key(model_ref)[0],
                         observer=ProgressObserver(bar, f"{strategy} r={r} s={s}"))
    finally:
        bar.empty()
    _remember(key, found)  # so that a background batch does not search it again
    return found


# ---- long searches, in the background: progress, time left, stop ------------------------------
# Streamlit reruns the page's script on every click, interrupting a search that runs inside it
# (its work lost), and a cached function cannot show a Stop button. So a long search runs in a
# thread of its own that calls no Streamlit command (the pattern of Streamlit's multithreading
# guide); the page polls it from a fragment that reruns every half second (st.fragment's
# run_every) with the progress and a Stop button whose click sets the job's flag, which the
# search reads through SearchObserver.should_stop. The search stops at its next progress report
# (a fifth of a second at most) and returns the best schedule so far (ios_core.search.progress).
SearchKey = tuple[str, int, str, str, int, int, int, int]  # find_schedule's arguments
LONG_GUESS_S = 2.0  # a simulated search guessed to take longer runs in the background
LONG_STATES = 2000  # so does one of this many states with stages costed one at a time


@dataclass(frozen=True)
class SearchSize:
    """A search's size before it starts, in words for the page."""

    states: int
    parts: int
    text: str  # "45 DP parts, 151,947 states (per part: …)"
    guess_s: float | None  # a rough guess of the DP's seconds, None where there is none
    measured: bool  # stages are measured on the GPU one by one


@st.cache_data(show_spinner="Counting the search's states…", max_entries=32)
def search_size(model_ref: str, batch: int, cost_spec: str, strategy: str, r: int, s: int,
                max_part_ops: int, max_part_states: int) -> SearchSize:
    """ios_core's estimate of a search (states per part, counted without solving)."""
    from ios_core.search.batch import concurrent_batch
    from ios_core.search.estimate import estimate_search

    g = graph(model_ref, batch)
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    est = estimate_search(g, strategy, config)
    bulk = concurrent_batch(cost_model(cost_spec, model_ref, batch), g) is not None
    return SearchSize(est.states_total, len(est.part_states), est.describe(), est.guess_s(bulk),
                      cost_spec == "measured")


def is_long(size: SearchSize) -> bool:
    """Whether a search should run in the background with progress and a Stop button."""
    if size.guess_s is not None:
        return size.guess_s >= LONG_GUESS_S
    return size.states >= LONG_STATES


class SearchJob(SearchObserver):
    """One background search: its latest progress, the stop flag, and its end (a schedule or an
    error in words). Written by the search's thread, read by the page's reruns."""

    def __init__(self, key: SearchKey) -> None:
        self.key = key
        self.progress: SearchProgress | None = None
        self.stop_requested = False
        self.schedule: Schedule | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None

    def on_search_progress(self, progress: SearchProgress) -> None:
        self.progress = progress

    def should_stop(self) -> bool:
        yield_to_pages()  # asked at each progress report: the page's click goes first
        return self.stop_requested

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def stopped(self) -> bool:
        """Ended by the Stop button: ``schedule`` is the best found so far, not the answer."""
        return self.schedule is not None and bool(self.schedule.search.stats.get("stopped"))

    def run(self, g: OpGraph, cost: Any, strategy: str, config: SearchConfig,
            model_name: str) -> None:
        from app.errors import explain
        from ios_core.search import optimize

        try:
            found = optimize(g, strategy, cost, config, observer=self, model_name=model_name)
        except Exception as e:  # noqa: BLE001 - shown on the page in words, never a traceback
            self.error = explain(e)
            return
        _remember(self.key, found)
        self.schedule = found


@st.cache_resource(show_spinner=False)
def _finished_searches() -> dict[SearchKey, Schedule]:
    """Schedules of searches that ran to the end, for find_schedule (every session)."""
    return {}


FINISHED_KEPT = 256  # schedules kept by _finished_searches (NASNet's is about 100 kB)


def _remember(key: SearchKey, found: Schedule) -> None:
    """Keep a finished search's schedule (never a stopped one: it is not the search's answer)."""
    if found.search.stats.get("stopped"):
        return
    finished = _finished_searches()
    finished[key] = found
    while len(finished) > FINISHED_KEPT:  # the oldest first (dicts keep insertion order)
        del finished[next(iter(finished))]


class SearchBatch:
    """Several searches one after another in one background thread, each answer kept for
    find_schedule: the Compare page's (strategies not shipped, the 9-search pruning sweep, the
    batch specialisation), which held its own run for 3-7 s on a 2-core machine. The page shows
    their progress and a Stop button meanwhile; searches already finished are skipped."""

    def __init__(self, keys: Sequence[SearchKey]) -> None:
        self.keys = tuple(keys)
        self.done = 0
        self.job: SearchJob | None = None  # the search under way
        self.error: str | None = None
        self.stop_requested = False
        self.thread = threading.Thread(target=self._run, name="ios-search-batch", daemon=True)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.stop_requested = True
        if self.job is not None:
            self.job.stop_requested = True

    def _run(self) -> None:
        from app.errors import explain

        for key in self.keys:
            if self.stop_requested:
                return
            if key not in _finished_searches():
                model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_states = key
                self.job = job = SearchJob(key)
                try:  # cached resources: built here at most once, shared with the pages
                    g = graph(model_ref, batch)
                    cost = cost_model(cost_spec, model_ref, batch)
                except Exception as e:  # noqa: BLE001 - shown on the page in words
                    self.error = explain(e)
                    return
                config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops,
                                      max_part_states=max_states)
                job.run(g, cost, strategy, config, split_model_key(model_ref)[0])
                if job.error is not None or job.stopped:
                    self.error = job.error
                    return
            self.done += 1


def search_batch(keys: Sequence[SearchKey]) -> SearchBatch:
    """This session's background batch of ``keys``, started on first ask (finished searches
    are skipped, so a batch whose searches are all known ends at once)."""
    batches = st.session_state.setdefault("search_batches", {})
    key = tuple(keys)
    if key not in batches:
        batches[key] = SearchBatch(key)
        batches[key].thread.start()
    return batches[key]


def forget_batch(keys: Sequence[SearchKey]) -> None:
    """Drop this session's ended batch of ``keys`` (to run it again)."""
    batches = st.session_state.setdefault("search_batches", {})
    batch = batches.get(tuple(keys))
    if batch is not None and not batch.running:
        del batches[tuple(keys)]


def searched(keys: Sequence[SearchKey]) -> bool:
    """Whether every search of ``keys`` has its schedule (find_schedule returns them at once)."""
    finished = _finished_searches()
    return all(k in finished for k in keys)


def _jobs() -> dict[SearchKey, SearchJob]:
    return st.session_state.setdefault("search_jobs", {})


def search_job(key: SearchKey) -> SearchJob | None:
    """This session's background search of ``key`` (running or ended), if any."""
    return _jobs().get(key)


def start_search(key: SearchKey) -> SearchJob:
    """Start the search of ``key`` (find_schedule's arguments) in a background thread; the model
    and the cost model are built here, in the page's own run (they are cached resources)."""
    model_ref, batch, cost_spec, strategy, r, s, max_part_ops, max_part_states = key
    job = SearchJob(key)
    g = graph(model_ref, batch)
    cost = cost_model(cost_spec, model_ref, batch)
    config = SearchConfig(r=r, s=s, max_part_ops=max_part_ops, max_part_states=max_part_states)
    job.thread = threading.Thread(
        target=job.run, args=(g, cost, strategy, config, split_model_key(model_ref)[0]),
        name=f"ios-search {strategy} {model_ref}", daemon=True)
    _jobs()[key] = job
    job.thread.start()
    return job


def duration_text(seconds: float) -> str:
    """Seconds in words, as ios_core's progress line says them ("2 min 5 s")."""
    from ios_core.search.observer import duration_text as words

    return words(seconds)


def stop_search(key: SearchKey) -> None:
    """Ask the background search of ``key`` to stop and keep the best schedule so far."""
    job = search_job(key)
    if job is not None:
        job.stop_requested = True


def forget_search(key: SearchKey) -> None:
    """Drop this session's ended search of ``key`` (to search again)."""
    job = _jobs().get(key)
    if job is not None and not job.running:
        del _jobs()[key]


@st.cache_data(show_spinner=False, max_entries=32)
def price_at_batch(schedule_json: str, model_ref: str, batch: int, cost_spec: str) -> Schedule:
    """A schedule (as JSON text, so it hashes) priced at another batch size: IOS's
    specialisation experiment."""
    from ios_core.search import price_schedule

    schedule = Schedule.loads(schedule_json)
    return price_schedule(schedule, graph(model_ref, batch),
                          cost_model(cost_spec, model_ref, batch))


def search_config(schedule: Schedule) -> SearchConfig:
    """The SearchConfig the schedule was searched with (every knob, those the app hides too)."""
    return SearchConfig.from_search(schedule.search)


@st.cache_data(show_spinner=False, max_entries=32)
def search_parts(model_ref: str, batch: int, config: SearchConfig,
                 ops: tuple[str, ...]) -> list[list[str]]:
    """The DP parts of a search under ``config`` that hold any of ``ops``: ``[list(ops)]`` when
    the search solved exactly these ops as one part."""
    from ios_core.search import search_parts as parts_of

    wanted = set(ops)
    return [part for part in parts_of(graph(model_ref, batch), config) if wanted & set(part)]


# ---- schedule views ----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def positions(model_ref: str, batch: int) -> dict[str, tuple[float, float]]:
    from app.views.layout import layered_positions

    return layered_positions(graph(model_ref, batch))


def chrome_trace(schedule: Schedule, model_ref: str, batch: int, cost_spec: str) -> dict:
    """ios_core's Chrome trace: op slices weighted by the cost model's isolated op times."""
    from ios_core.export import to_chrome_trace

    return to_chrome_trace(schedule, graph(model_ref, batch),
                           cost_model(cost_spec, model_ref, batch))


def schedule_key(schedule: Schedule) -> str:
    """A short hashable identity of a schedule (cache key for figures of uploaded ones too)."""
    import hashlib

    return hashlib.sha256(schedule.dumps().encode()).hexdigest()[:16]


# ---- schedule files ----------------------------------------------------------------------------
def schedule_dot(schedule: Schedule, model_ref: str, batch: int) -> str:
    """ios_core's DOT export: stages as clusters."""
    from ios_core.export import to_dot

    return to_dot(schedule, graph(model_ref, batch))


def schedule_csv(schedule: Schedule) -> str:
    """ios_core's CSV export: one row per operator."""
    from ios_core.export import to_csv

    return to_csv(schedule)


def load_schedule(data: bytes, model_ref: str, batch: int) -> Schedule:
    """Parse an uploaded schedule file and validate it against the model at this batch; a
    ScheduleError says what is wrong in plain words. JSON only: nothing in the file is ever
    executed or unpickled."""
    from ios_core.ir.schedule import ScheduleError, validate_schedule

    if len(data) > MAX_UPLOAD:
        raise ScheduleError(f"the file is {len(data) / 1e6:.1f} MB; a schedule is far smaller, so "
                            "this is probably not a schedule file")
    problem = _not_json_text(data)
    if problem:
        raise ScheduleError(f"the file is {problem}, not JSON text: a schedule file is the JSON "
                            "(ios-schedule/1) that the Export page downloads")
    loaded = Schedule.loads(data)
    try:
        validate_schedule(loaded, graph(model_ref, batch))
    except ScheduleError as e:
        hint = ""
        if loaded.model.name != split_model_key(model_ref)[0] or loaded.target.batch != batch:
            hint = (f" The file is for model `{loaded.model.name}` at batch "
                    f"{loaded.target.batch}: select those in the sidebar and upload it again.")
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


# ---- the DP, step by step (teaching page) ------------------------------------------------------
@st.cache_data(show_spinner="Running the DP on the block…", max_entries=32)
def dp_record(model_ref: str, batch: int, cost_spec: str, ops: tuple[str, ...], strategy: str,
              config: SearchConfig) -> Any:
    """Every state and transition ios_core's DP reports while solving ``ops`` as one part, run by
    the search's own entry with ``config`` (the search's, or one the page changed on purpose)."""
    from app.views.dp import DPRecorder
    from ios_core.search import solve_part_with

    recorder = DPRecorder()
    solve_part_with(graph(model_ref, batch), ops, strategy,
                    cost_model(cost_spec, model_ref, batch), config, recorder)
    return recorder.record


@st.cache_resource(show_spinner=False, max_entries=16)
def _animation(key: str, model_ref: str, batch: int, only: tuple[str, ...] | None,
               _schedule: Schedule) -> Any:
    from app.views.animation import stage_frames

    return stage_frames(graph(model_ref, batch), _schedule, positions(model_ref, batch),
                        only=only)


def animation(schedule: Schedule, model_ref: str, batch: int,
              only: tuple[str, ...] | None = None) -> Any:
    """The stage drawing's frames (app.views.animation.stage_frames), built once per schedule;
    never changed after (app.views.frame.still_frame copies what it shows)."""
    return _animation(schedule_key(schedule), model_ref, batch, only, schedule)


# ---- shipped files, what-if searches, teaching (appended: issue 17) -----------------------------
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
    return _shipped_schedule_files(profiles_stamp())


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
    g = graph(model_ref, batch)
    try:
        validate_schedule(loaded, g)
    except ScheduleError:
        return None  # traced differently here (another torch): search instead
    priced = price_schedule(loaded, g, cost_model(cost_spec, model_ref, batch))
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


@st.cache_data(show_spinner="Re-solving under your constraints…", max_entries=32)
def constrained_schedule(model_ref: str, batch: int, cost_spec: str, strategy: str,
                         config: SearchConfig, constraints: Any) -> Schedule:
    """ios_core's search under what-if constraints (ios_core.search.constraints.Constraints):
    the full DP with ``config``'s knobs; a ConstraintError says when nothing meets them."""
    from ios_core.search.constraints import optimize_constrained

    return optimize_constrained(graph(model_ref, batch), strategy,
                                cost_model(cost_spec, model_ref, batch), constraints, config,
                                model_name=split_model_key(model_ref)[0])


def constraints(pinned: Sequence[tuple[str, Sequence[str]]] = (),
                forbidden: Sequence[tuple[str, Sequence[str]]] = (),
                no_merge: Sequence[str] = ()) -> Any:
    """ios_core's Constraints from (strategy, ops) pairs and op names."""
    from ios_core.search.constraints import Constraints

    return Constraints(pinned=tuple((s, frozenset(ops)) for s, ops in pinned),
                       forbidden=tuple((s, frozenset(ops)) for s, ops in forbidden),
                       no_merge=frozenset(no_merge))


# The warm-up shares the interpreter (and its lock) with the pages: importing torch and tracing
# in the background made the first click after the landing page take 6 s instead of 0.5 s on a
# 2-core machine. Tracing now runs in the trace worker's process; the steps still done here
# (reading a profile, the bounds: about 0.45 s for Inception V3) wait until no script has run for
# this long. At 4 s, a click on Schedule 0.8-1.2 s after the landing page found nothing built and
# took 1.29-1.36 s in Chromium; at 1 s, 0.64-0.88 s 1-2 s after it, and no click of three random
# walks over the pages took longer than before (2026-12-04).
WARM_UP_IDLE_S = 1.0
TEACHING_NET = "ios_demo"  # the How the DP decides page's small net
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


def background_work_on() -> bool:
    """Whether the app works ahead in the background (trace worker, warm-up); tests of whole
    pages in one run turn it off with IOS_APP_WARM_UP=0."""
    return os.environ.get("IOS_APP_WARM_UP", "1") != "0"


def prefetch_graph(model_ref: str, batch: int) -> None:
    """Start the trace worker and have it trace the sidebar's model while the page draws (every
    page calls this; no background work where IOS_APP_WARM_UP=0)."""
    if not background_work_on():
        return
    ref, leaves = split_model_key(model_ref)
    trace_worker().prefetch(ref, batch, leaves)


def preload_tables() -> None:
    """Import pandas (and pyarrow) for st.dataframe, once, after a page has drawn. Not in a
    background thread: plotly looks pandas up in sys.modules, and a half-imported one broke a
    figure being drawn. Not before the first page: it takes 0.5 s on a 2-core machine, which
    the first table otherwise added to the click that opened it."""
    import sys

    if "pandas" not in sys.modules:
        import pandas  # noqa: F401


def graph_ready(model_ref: str, batch: int) -> bool:
    """Whether :func:`graph` answers at once: the worker has traced the model (or cannot), or
    there is no background work (IOS_APP_WARM_UP=0: the page traces in its own run). When not,
    the trace is under way in the worker."""
    if not background_work_on():
        return True
    ref, leaves = split_model_key(model_ref)
    worker = trace_worker()
    if worker.answered(ref, batch, leaves):
        return True
    worker.prefetch(ref, batch, leaves)
    return False


def _shipped_animation(model_ref: str, batch: int, cost_spec: str) -> None:
    """The Schedule page's first figure for the shipped schedule of the default strategy, where
    one ships (a search, the other case, is not started by a warm-up): the whole graph's, or a
    big graph's top level (NASNet's: 0.36 s on a 2-core machine, 2026-12-04)."""
    from app.views.dot import BIG_GRAPH_OPS

    schedule = shipped_schedule(cost_spec, model_ref, batch, DEFAULT_STRATEGY)
    if schedule is None:
        return
    if len(graph(model_ref, batch)) <= BIG_GRAPH_OPS:
        animation(schedule, model_ref, batch)
    else:
        level_animation(schedule, model_ref, batch, "")


def warm_up(model_ref: str, batch: int, cost_spec: str) -> None:
    """Build what the Model and Schedule pages of the sidebar's selection need (cost model,
    bounds, layout, first figure) in a background thread, once the user pauses: once per
    selection and session (every page calls this), so the next page finds them ready."""
    import threading

    def work() -> None:
        # never pandas here: plotly looks it up in sys.modules, and a half-imported pandas from
        # this thread broke the page's figure being drawn at that moment
        try:
            if cost_spec != "measured":  # needs no graph (a live GPU's does): read while the
                _wait_for_a_pause()  # worker traces, a core this process leaves idle
                cost_model(cost_spec, model_ref, batch)
            graph(model_ref, batch)  # in the worker process: this thread only waits for it
            # the DP page's small net too: the worker answers one request at a time, and the
            # Compare page's searches may keep it busy for seconds tracing other batch sizes
            # (the DP page waited 2 s for it after Compare, then What if, 2026-12-04)
            graph(TEACHING_NET, batch)  # at the sidebar's batch, as the page asks
            for step in (lambda: cost_model(cost_spec, model_ref, batch),  # a live GPU's
                         lambda: _floors(model_ref, batch, cost_spec),  # Schedule's bounds
                         lambda: positions(model_ref, batch),
                         lambda: _shipped_animation(model_ref, batch, cost_spec)):
                _wait_for_a_pause()
                step()
        except Exception:  # noqa: BLE001 - the page that needs them will say what failed
            pass

    if not background_work_on():
        return
    warmed = st.session_state.setdefault("_warmed", set())
    if (model_ref, batch, cost_spec) not in warmed:
        warmed.add((model_ref, batch, cost_spec))
        threading.Thread(target=work, name="ios-warm-up", daemon=True).start()


# ---- the Schedule page's level view (appended: issue 17) ----------------------------------------
@st.cache_resource(show_spinner="Drawing the open level's stages…", max_entries=16)
def _level_animation(key: str, model_ref: str, batch: int, group: str,
                     _schedule: Schedule) -> Any:
    from app.views.animation import stage_frames

    g = graph(model_ref, batch)
    return stage_frames(g, _schedule, {}, level=hierarchy(model_ref, batch).level(g, group))


def level_animation(schedule: Schedule, model_ref: str, batch: int, group: str) -> Any:
    """The stage drawing's frames of one open level (``group`` of :func:`hierarchy`), built once
    per schedule and level, never changed after."""
    return _level_animation(schedule_key(schedule), model_ref, batch, group, schedule)
