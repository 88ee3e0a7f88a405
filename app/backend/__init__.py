"""The app's only door to ios_core: every call into ios_core's functions is made in this package,
cached and keyed by hashable things; pages reach it as ``backend.<name>`` (re-exported below).

Models and traced graphs are ``st.cache_resource`` (big, shared, never mutated: OpGraph is
frozen); pure results (op costs, blocks, bounds, schedules) are ``st.cache_data`` keyed by the
model reference, batch, cost spec and search knobs. No scheduling, timing or file-format logic
lives here: everything is computed by ios_core.

The rule, which tests/test_app_views.py::test_backend_is_the_apps_only_door_to_ios_core checks:
everywhere else in app/ (outside app/backend/), an import from ios_core brings in only

* classes, used as types (annotations, ``isinstance``, subclassing ``SearchObserver``), never
  called, constructed or asked for a classmethod; and UPPER_CASE constants (``SEARCH_STRATEGIES``,
  the colour tables);
* in app/views/colors.py and app/views/fmt.py, ios_core.export's display helpers
  (``kind_color``, ``flops_text``, ``op_caption``, ``shape_text``): pure functions of their
  arguments, so that labels and colours read as in ios_core's own exports.

Methods of the objects handed out here (``schedule.dumps()``, ``graph[name]``) may be called
anywhere.

One module a concern, each importing only those before it:

* :mod:`~app.backend.models`: sample models, model keys, the traced graph, blocks, hierarchy;
* :mod:`~app.backend.costs`: cost sources and cost models, isolated op costs, proven bounds;
* :mod:`~app.backend.searches`: searches in a page's own run, what-if searches, pricing;
* :mod:`~app.backend.activity`: which page scripts run, for background work to give way;
* :mod:`~app.backend.jobs`: long searches in the background, with progress and Stop;
* :mod:`~app.backend.views`: layouts, traces, stage animations, the DP's record;
* :mod:`~app.backend.files`: exports, uploads, the shipped schedule files;
* :mod:`~app.backend.warmup`: the trace worker's prefetch and the warm-up.

Inside the package a module calls another's functions through the module
(``models.graph(...)``), so that a test that replaces one (``monkeypatch.setattr(models,
"trace_worker", ...)``) replaces it for every caller.
"""

from __future__ import annotations

import logging

from app.backend.activity import (  # noqa: F401 - the pages' names
    WARM_UP_IDLE_S,
    YIELD_AFTER_S,
    YIELD_AT_MOST_S,
    mark_activity,
    script_ended,
    script_started,
    yield_to_pages,
)
from app.backend.costs import (  # noqa: F401 - the pages' names
    GPU_DRIVER_FILES,
    bounds,
    cost_label,
    cost_model,
    cost_sources,
    cuda_device_name,
    default_cost_spec,
    op_costs,
    profile_batches,
    profile_specs,
    profile_summary,
    profiles_stamp,
    shipped_profiles,
    simulated_presets,
    stage_bounds,
)
from app.backend.files import (  # noqa: F401 - the pages' names
    MAX_UPLOAD,
    ShippedFile,
    load_schedule,
    schedule_csv,
    schedule_dot,
    shipped_file,
    shipped_schedule,
    shipped_schedule_files,
    teaching_schedules,
)
from app.backend.jobs import (  # noqa: F401 - the pages' names
    LONG_GUESS_S,
    LONG_STATES,
    SearchBatch,
    SearchJob,
    SearchSize,
    duration_text,
    forget_batch,
    forget_search,
    is_long,
    search_batch,
    search_job,
    search_size,
    searched,
    start_search,
    stop_search,
)
from app.backend.models import (  # noqa: F401 - the pages' names
    DEFAULT_MODEL,
    ModelInfo,
    blocks,
    fused_epilogues,
    graph,
    hierarchy,
    model_key,
    parse_leaves,
    sample_models,
    split_model_key,
    trace_worker,
    traced_model,
)
from app.backend.searches import (  # noqa: F401 - the pages' names
    DEFAULT_SEARCH,
    DEFAULT_STRATEGY,
    FINISHED_KEPT,
    ProgressObserver,
    SearchKey,
    constrained_schedule,
    constraints,
    find_schedule,
    price_at_batch,
    recorded,
    search_config,
    search_parts,
)
from app.backend.views import (  # noqa: F401 - the pages' names
    animation,
    chrome_trace,
    dp_record,
    level_animation,
    positions,
    schedule_key,
)
from app.backend.warmup import (  # noqa: F401 - the pages' names
    TEACHING_NET,
    background_work_on,
    graph_ready,
    prefetch_graph,
    preload_tables,
    warm_up,
)


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
