"""A long search on the Optimize page: its size first, then progress and a Stop button that keeps
the best schedule so far (app/search_ui.py, backend's background searches), driven with AppTest.

The model is ``tests._search_models:parallel_chains`` (a quick trace, 8,194 DP states) on the
shipped H100 profile, which has no bulk latencies: the plain DP, seconds per part."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

pytestmark = pytest.mark.usefixtures("app_in_one_run")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
LONG, SMALL = "tests._search_models:parallel_chains", "tests._search_models:small_chains"


def optimize_page(ref: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["w_model"] = "Your own model…"  # never traces the default model
    at.session_state["w_custom"] = ref
    at.run()
    return at.switch_page("app_pages/optimize.py").run()


def clean(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def button(at: AppTest, prefix: str):
    return next(b for b in at.button if b.key and b.key.startswith(prefix))


def wait_job(at: AppTest, timeout: float = 60.0):
    (job,) = at.session_state["search_jobs"].values()
    job.thread.join(timeout)
    assert not job.running
    return job


def test_a_long_search_shows_its_size_then_stops_with_the_best_schedule_so_far() -> None:
    at = clean(optimize_page(LONG))
    assert "3 DP parts, 8,194 states" in at.info[-1].value and not at.metric
    clean(button(at, "start_search").click().run())
    (job,) = at.session_state["search_jobs"].values()
    assert button(at, "stop_search").label.startswith("Stop")  # the progress fragment
    deadline = time.monotonic() + 30
    while job.progress is None and time.monotonic() < deadline:
        time.sleep(0.05)  # a first report, so that the counts are there
    clean(button(at, "stop_search").click().run())
    job = wait_job(at)
    assert job.stopped and job.progress.states_total == 8194
    clean(at.run())
    warning = " ".join(w.value for w in at.warning)
    assert "Stopped: a partial search" in warning and "of 3 parts" in warning
    assert float(next(m.value for m in at.metric if m.label == "Latency").split()[0]) > 0
    clean(button(at, "again_search").click().run())
    assert button(at, "start_search") is not None  # asks again, nothing kept as the answer


@pytest.mark.slow  # a second search in the background: seconds on a busy machine
def test_a_background_search_that_ends_is_the_answer_on_every_page(monkeypatch) -> None:
    from app import backend

    monkeypatch.setattr(backend.jobs, "LONG_STATES", 100)  # 626 states: long, for this test
    at = clean(optimize_page(SMALL))
    clean(button(at, "start_search").click().run())
    job = wait_job(at)
    assert not job.stopped and job.error is None
    clean(at.run())
    assert not at.warning and any(m.label == "Latency" for m in at.metric)
    key = job.key
    assert backend.find_schedule(*key).stages == job.schedule.stages
