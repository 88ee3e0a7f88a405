"""The app in a real browser: Debian's Chromium driven through Playwright's sync API.

Starts `streamlit run app/main.py` on a free port, runs an optimization, plays and steps the
animation, checks that the DAG's SVG and the Gantt chart show operator names, downloads the
schedule JSON and validates it with ios_core, and saves a screenshot of every page to
tests/artifacts/ (git-ignored). Never runs `playwright install`: it uses /usr/bin/chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SLOW_MS = 240_000  # first load traces Inception V3 on a small shared CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; see {ARTIFACTS / 'streamlit.log'}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(server: str):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000},
                                      accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(SLOW_MS)
        pg.goto(server)
        yield pg
        context.close()
        browser.close()


@pytest.fixture(scope="module")
def graph():
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model

    loaded = load_model("inception_v3")
    return trace_model(loaded.module, loaded.example_input, name=loaded.name).graph


def _expected_schedule(graph):
    """What the app should have found: ios_core's own search with the app's defaults (the
    shipped H100 profile)."""
    from ios_core.cost import make_cost_model
    from ios_core.search import optimize

    return optimize(graph, "ios-both", make_cost_model("profile:h100", batch=graph.batch))


def _idle(page) -> None:
    """Wait until the script run is over (the 'Running…' status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    page.wait_for_timeout(500)


def _goto(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).first.wait_for()
    _idle(page)


def _shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 800), 12000)})
    page.wait_for_timeout(1500)  # charts re-layout to the new size
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(size)


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def test_browser_walkthrough(page, graph) -> None:
    from ios_core.ir.schedule import Schedule, validate_schedule

    # opens ready: Inception V3, its DAG drawn as SVG with operator names
    page.get_by_role("heading", name="Model: inception_v3").wait_for()
    _idle(page)
    svg = page.locator("[data-testid='stGraphVizChart'] svg").first
    svg.wait_for()
    text = svg.text_content() or ""
    first = graph.nodes[0].name
    assert first in text and "Mixed_5b.branch1x1.conv" in text
    _no_exception(page)
    _shot(page, "1-model")

    # run an optimization: another strategy, then back to ios-both
    _goto(page, "Optimize")
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Strategy")
    for strategy in ("ios-parallel", "ios-both"):
        box.click()
        page.get_by_role("option", name=strategy, exact=True).click()
        _idle(page)
        assert page.get_by_text("Speedup over sequential").is_visible()
    _no_exception(page)
    _shot(page, "2-optimize")

    # the schedule: play, pause, step
    _goto(page, "Schedule")
    anim = page.locator("[data-testid='stPlotlyChart']").first
    anim.locator("g.updatemenu-button").first.wait_for()
    anim.locator("g.updatemenu-button").filter(has_text="Play").click()
    page.wait_for_timeout(2500)
    anim.locator("g.updatemenu-button").filter(has_text="Pause").click()
    title = anim.locator(".gtitle").text_content() or ""
    assert title.startswith("stage ") and not title.startswith("stage 1/")  # it moved
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Stage")
    slider.get_by_role("slider").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.locator("[data-testid='stMarkdown']").filter(has_text="stage 4/").first.wait_for()
    _idle(page)
    gantt = page.locator("[data-testid='stPlotlyChart']").nth(1)
    points = gantt.locator("g.trace.bars g.point path")
    assert len(graph) // 2 < points.count() <= len(graph)  # merged convs share one bar
    names = {n.name for n in graph.nodes}
    shown = set(gantt.locator("text.bartext").all_text_contents()) & names
    points.nth(points.count() // 2).hover(force=True)  # names that do not fit: on hover
    gantt.locator(".hoverlayer .hovertext").first.wait_for()
    hover = gantt.locator(".hoverlayer").text_content() or ""
    assert shown or any(name in hover for name in names), hover
    # the step view opens the block of stage 4 (the overview is the first SVG): its ops are drawn
    expected = _expected_schedule(graph)
    step_svg = page.locator("[data-testid='stGraphVizChart'] svg").nth(1).text_content() or ""
    assert all(name in step_svg for name in expected.stages[3].ops)
    _no_exception(page)
    _shot(page, "3-schedule")

    _goto(page, "Compare")
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for()
    _no_exception(page)
    _shot(page, "4-compare")

    _goto(page, "How the DP decides")
    page.locator("[data-testid='stGraphVizChart'] svg").nth(1).wait_for()
    _no_exception(page)
    _shot(page, "5-dp")

    # download the schedule JSON and check it with ios_core
    _goto(page, "Export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Schedule JSON", exact=True).click()
    target = ARTIFACTS / info.value.suggested_filename
    info.value.save_as(target)
    schedule = Schedule.loads(target.read_bytes())
    validate_schedule(schedule, graph)
    assert schedule.search.strategy == "ios-both" and len(schedule.ops) == len(graph)
    assert schedule.search.cost == "profile:h100"
    assert [st.groups for st in schedule.stages] == [st.groups for st in expected.stages]
    _no_exception(page)
    _shot(page, "6-export")
