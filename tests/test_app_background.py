"""Pages never hold a click for seconds of work: the Compare page's searches run in one background
batch with progress and a Stop button, and a page whose model is still being traced in the worker
says so and opens when it is in (app/search_ui.py, app/ui.py, backend.SearchBatch), with AppTest.

The searches are held at a gate (the real SearchJob.run behind it), so what the page shows while
they run is seen every time, not only when the machine is slow enough."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
MODEL = "tests._search_models:small_chains"  # a quick trace and quick searches


def clean(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def compare_page(monkeypatch) -> AppTest:
    monkeypatch.setenv("IOS_APP_WARM_UP", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"
    at.session_state["w_custom"] = MODEL
    at.session_state["w_cost"] = "simulated:h100"
    return at.run()


@pytest.fixture
def gate(monkeypatch):
    """Background searches wait until the test opens the gate."""
    from app import backend

    opened = threading.Event()
    run = backend.SearchJob.run

    def held(self, *args, **kwargs):
        opened.wait(60)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(backend.SearchJob, "run", held)
    yield opened
    opened.set()


def batches(at: AppTest) -> list:
    return list(at.session_state["search_batches"].values())


def finish(at: AppTest) -> AppTest:
    for batch in batches(at):
        batch.thread.join(60)
        assert not batch.running
    return clean(at.run())


def test_compare_draws_at_once_then_fills_in_when_its_searches_end(monkeypatch, gate) -> None:
    at = clean(compare_page(monkeypatch).switch_page("app_pages/compare.py").run())
    assert at.title[0].value == "Compare"
    (batch,) = batches(at)
    assert len(batch.keys) == 5 + 9  # the strategies not shipped (all five here) and the sweep
    progress = [p.proto.text for p in at.get("progress")]
    assert any("running in the background, search 1 of 14" in t for t in progress), progress
    assert not at.get("plotly_chart")  # nothing drawn from schedules not found yet
    assert any(b.label == "Stop these searches" for b in at.button)
    gate.set()
    at = finish(at)
    assert not at.get("progress")
    strategies, sweep = at.get("plotly_chart")
    assert len(at.dataframe[0].value) == 5 and len(at.dataframe[1].value) == 9
    # each schedule is the one ios_core's search finds with the key's knobs
    from app import backend
    from ios_core.search import SearchConfig, optimize

    for model_ref, b, cost, strategy, r, s, ops, states in batch.keys:
        found = backend.find_schedule(model_ref, b, cost, strategy, r, s, ops, states)
        config = SearchConfig(r=r, s=s, max_part_ops=ops, max_part_states=states)
        fresh = optimize(backend.graph(model_ref, b), strategy,
                         backend.cost_model(cost, model_ref, b), config)
        assert (found.search.strategy, found.search.r, found.search.s) == (strategy, r, s)
        assert found.stages == fresh.stages
    clean(at.switch_page("app_pages/learn.py").run())
    at = clean(at.switch_page("app_pages/compare.py").run())
    assert len(at.get("plotly_chart")) == 2 and len(batches(at)) == 1  # nothing searched again


def test_stopping_the_batch_says_so_and_runs_again_on_request(monkeypatch, gate) -> None:
    from app import backend

    backend.searches._finished_searches().clear()
    at = clean(compare_page(monkeypatch).switch_page("app_pages/compare.py").run())
    stop = next(b for b in at.button if b.label == "Stop these searches")
    stop.click()
    gate.set()
    at = finish(at.run())
    said = " ".join(w.value for w in at.warning)
    # the search under way when Stop came ends (a sequential one has no DP to stop); no other
    assert re.search(r"The pruning sweep: stopped after \d+ of 14 searches", said), said
    again = [b for b in at.button if b.label == "Run the searches again"]
    assert again
    again[0].click().run()
    at = finish(at)
    assert len(at.get("plotly_chart")) == 2 and not at.warning


def test_a_page_waits_for_the_trace_without_holding_the_click(monkeypatch) -> None:
    from app import backend

    ready = {"now": False}
    monkeypatch.setattr(backend, "graph_ready", lambda model_ref, batch: ready["now"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"
    at.session_state["w_custom"] = MODEL
    at = clean(at.run().switch_page("app_pages/model.py").run())
    assert "Tracing **tests._search_models:small_chains** at batch 1" in at.info[0].value
    assert not at.title and not at.metric  # the page waits, nothing half-drawn
    ready["now"] = True
    at = clean(at.run())
    assert at.title[0].value.startswith("Model: ")


def test_with_the_worker_a_page_says_tracing_then_opens(monkeypatch) -> None:
    """The real path: the trace worker traces the model beside the session."""
    monkeypatch.setenv("IOS_APP_WARM_UP", "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"
    at.session_state["w_custom"] = "tests._search_models:parallel_chains"
    at = clean(at.run().switch_page("app_pages/model.py").run())
    deadline = time.monotonic() + 120
    seen = [i.value for i in at.info]
    while not at.title and time.monotonic() < deadline:
        assert any(v.startswith("Tracing **tests._search_models:parallel_chains**")
                   for v in seen), seen
        time.sleep(0.2)
        at = clean(at.run())
        seen = [i.value for i in at.info]
    assert at.title[0].value.startswith("Model: ")


def test_the_warm_up_asks_for_the_dp_pages_net(monkeypatch) -> None:
    """The worker answers one trace at a time, and the Compare page's searches may keep it busy
    for seconds with other batch sizes: the warm-up asks for How the DP decides' small net early,
    so that page never waits behind them (it waited 2 s in Chromium before, 2026-12-04)."""
    monkeypatch.setenv("IOS_APP_WARM_UP", "1")
    from app import backend

    real = backend.trace_worker()
    asked: list[tuple[str, int]] = []

    class Recording:
        def __getattr__(self, name):
            return getattr(real, name)

        def graph_data(self, ref, batch, leaves, *regions):
            asked.append((ref, batch))
            return real.graph_data(ref, batch, leaves, *regions)

    monkeypatch.setattr(backend.models, "trace_worker", lambda: Recording())
    backend.graph.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"
    at.session_state["w_custom"] = MODEL
    clean(at.run())  # the landing page: How the DP decides is never opened here
    deadline = time.monotonic() + 60
    while (backend.TEACHING_NET, 1) not in asked and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (backend.TEACHING_NET, 1) in asked, asked


def page_script_running(release: threading.Timer) -> threading.Event:
    """A page script run in another thread, from now until ``release`` fires or is cancelled;
    the event returned is set when it has ended."""
    from app import backend

    started, ended = threading.Event(), threading.Event()

    def page() -> None:
        backend.script_started()
        started.set()
        release.finished.wait(30)
        backend.script_ended()
        ended.set()

    threading.Thread(target=page, daemon=True).start()
    started.wait(5)
    return ended


def test_background_searches_give_way_to_page_scripts(monkeypatch) -> None:
    """A search asks whether to stop at each progress report; while a page script runs in
    another thread, and YIELD_AFTER_S after it, the answer waits (a Schedule click right after
    Compare's first visit took 1.1-1.4 s in Chromium while Compare's searches ran, 2026-12-04;
    0.63-0.70 s with this)."""
    from app import backend

    monkeypatch.setattr(backend.activity, "YIELD_AFTER_S", 0.2)
    job = backend.SearchJob(("m", 1, "simulated:h100", "ios-both", 3, 8, 50, 0))
    release = threading.Timer(0.5, lambda: None)
    ended = page_script_running(release)
    release.start()  # the script ends 0.5 s from now
    t = time.monotonic()
    assert job.should_stop() is False
    waited = time.monotonic() - t
    assert ended.is_set() and waited >= 0.4 + 0.2 - 0.05  # the script, then the grace
    time.sleep(0.25)
    t = time.monotonic()
    job.should_stop()  # no script: at once
    assert time.monotonic() - t < 0.05
    backend.script_started()  # this thread's own script never makes it wait
    try:
        monkeypatch.setattr(backend.activity, "YIELD_AFTER_S", 0.0)
        t = time.monotonic()
        job.should_stop()
        assert time.monotonic() - t < 0.05
    finally:
        backend.script_ended()


def test_a_search_never_waits_long_for_the_pages(monkeypatch) -> None:
    """A page script that never ends (or a long one) holds a search back YIELD_AT_MOST_S at a
    time, not for good."""
    from app import backend

    monkeypatch.setattr(backend.activity, "YIELD_AT_MOST_S", 0.2)
    release = threading.Timer(10, lambda: None)
    page_script_running(release)
    try:
        t = time.monotonic()
        backend.yield_to_pages()
        assert 0.15 < time.monotonic() - t < 1.0
    finally:
        release.cancel()


def test_the_warm_up_reads_the_cost_model_while_the_worker_traces(monkeypatch) -> None:
    """The cost model needs no graph: the warm-up reads it while the worker traces (a core the
    server leaves idle), not after. After, it was 0.2-0.5 s more cold work for a click that came
    as the trace did (a Schedule click then took 1.0-1.3 s in Chromium, 2026-12-04)."""
    monkeypatch.setenv("IOS_APP_WARM_UP", "1")
    from app import backend

    monkeypatch.setattr(backend.activity, "WARM_UP_IDLE_S", 0.0)
    real, cost_model = backend.trace_worker(), backend.cost_model
    traced, priced = threading.Event(), threading.Event()

    class Slow:
        def __getattr__(self, name):
            return getattr(real, name)

        def answered(self, *args):
            return traced.is_set() and real.answered(*args)

        def graph_data(self, *args):
            traced.wait(60)  # the trace ends when the test says
            return real.graph_data(*args)

    def pricing(*args):
        priced.set()
        return cost_model(*args)

    monkeypatch.setattr(backend.models, "trace_worker", lambda: Slow())
    monkeypatch.setattr(backend.costs, "cost_model", pricing)
    backend.graph.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"
    at.session_state["w_custom"] = MODEL
    try:
        clean(at.run())  # the landing page starts the warm-up
        assert priced.wait(30), "the warm-up waited for the trace to read the cost model"
    finally:
        traced.set()


@pytest.mark.parametrize("model", ["squeezenet", "nasnet"])
def test_the_warm_up_draws_the_schedule_pages_first_figure(app_in_one_run, monkeypatch,
                                                           model) -> None:
    """After a pause, the Schedule page finds its first figure built: the whole graph's, or a
    big graph's top level (NASNet's: 0.36 s on a 2-core machine)."""
    from app import backend
    from app.views import animation

    backend.warmup._shipped_animation(model, 1, "profile:h100")
    shipped = backend.shipped_schedule("profile:h100", model, 1, backend.DEFAULT_STRATEGY)
    assert shipped is not None

    def not_again(*args, **kwargs):
        raise AssertionError("the page built the figure again")

    monkeypatch.setattr(animation, "stage_frames", not_again)
    if model == "nasnet":  # drawn by levels: the page opens on the top one
        assert backend.level_animation(shipped, model, 1, "") is not None
    else:
        assert backend.animation(shipped, model, 1) is not None


def test_one_profile_is_read_once_for_every_model(app_in_one_run, monkeypatch) -> None:
    """Each model's profile cost model is cut from ONE merged read of the profile (1.4 s for
    the H100's), not a read per model."""
    import ios_core.cost
    from app import backend

    reads = []
    make = ios_core.cost.make_cost_model
    monkeypatch.setattr(ios_core.cost, "make_cost_model",
                        lambda *a, **k: reads.append(a) or make(*a, **k))
    backend.costs._shared_cost_model.clear()
    backend.cost_model.clear()
    own = {m: backend.cost_model("profile:h100", m, 1) for m in ("squeezenet", "inception_v3")}
    assert reads == [("profile:h100",)]
    shared = backend.costs._shared_cost_model("profile:h100", 1)
    assert len(shared.db.parts) >= 2  # every model's database, merged
    for model, cost in own.items():  # each model priced by its own measurements
        assert cost is not shared and 0 < len(cost.db) < len(shared.db)
        assert [m["name"] for m in cost.db.models] == [model]


def test_background_threads_do_not_fill_the_log_with_context_warnings(caplog) -> None:
    """Streamlit's "missing ScriptRunContext" warning is dropped for the app's own threads
    (named ios-…), kept for any other."""
    import logging

    from app import backend

    log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")

    def warn() -> None:
        log.warning("Thread '%s': missing ScriptRunContext! This warning can be ignored...",
                    threading.current_thread().name)

    with caplog.at_level(logging.WARNING):
        for name in ("ios-search-batch", "someone-else"):
            t = threading.Thread(target=warn, name=name)
            t.start()
            t.join()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "someone-else" in said[0], said
    assert any(isinstance(f, backend._QuietBackgroundThreads) for f in log.filters)
