"""The app in a real browser: Debian's Chromium driven through Playwright's sync API. It runs by
default (about 95 s on a quiet 2-core machine): the one end-to-end walk of every page.

Starts `streamlit run app/main.py` on a free port and walks every page as a user would: the Learn
page (measured totals, a stage picked and explained), the Model page's DAG with operator names,
an optimization, the Schedule page's one stage control (step buttons, slider, play) driving the
still frame over the graph, the block drawing, the Gantt chart and the stage table, Compare, What
if, the DP page, and Export (the schedule JSON downloaded and validated with ios_core). No page
may show an exception or an error box. Every page is saved at 1400 px and at 800 px wide under
tests/artifacts/ (git-ignored). Never runs `playwright install`: it uses /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.browser]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

from tests._streamlit_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

SLOW_MS = 240_000  # the first page that needs the model traces Inception V3 on a shared CPU
STEP_MS = 90_000  # anything after that


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with streamlit_server("streamlit.log") as url:
        yield url


WIDE, NARROW = 1400, 800  # the widths every page is looked at


@pytest.fixture(scope="module")
def page(server: str):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": WIDE, "height": 1000},
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


def _shown_schedule():
    """What the app shows first for Inception V3 on the shipped H100 profile: the ios-both
    schedule the GPU search found, shipped beside the profile."""
    from ios_core.cost.profile_db import PROFILE_DIR
    from ios_core.ir.schedule import Schedule

    return Schedule.load(PROFILE_DIR / "h100-inception_v3-b1.ios-both.schedule.json")


def _idle(page) -> None:
    """Wait until the script run is over (the 'Running…' status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    page.wait_for_timeout(500)


def _goto(page, title: str, heading: str | None = None) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading or title).first.wait_for()
    _idle(page)


def _shot(page, name: str) -> None:
    """The whole page at 1400 and at 800 px wide: Streamlit scrolls inside its main block, so
    the viewport grows to fit it."""
    for width in (WIDE, NARROW):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(800)
        height = page.evaluate(
            "document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(max(height, 800), 12000)})
        page.wait_for_timeout(1500)  # charts re-layout to the new size
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))
    page.set_viewport_size({"width": WIDE, "height": 1000})
    page.wait_for_timeout(500)


def _clean(page) -> None:
    """No traceback, no exception box, no error message on the page."""
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.all_text_contents()


def _markdown(page, text: str):
    return page.locator("[data-testid='stMarkdown']").filter(has_text=text).first


def test_browser_walkthrough(page, graph) -> None:
    from ios_core.ir.schedule import Schedule, validate_schedule

    shown = _shown_schedule()

    # opens on Learn: the measured totals of one stream and several, a stage explained
    page.get_by_role("heading", name="Inter-operator parallelism in a few minutes").wait_for()
    _idle(page)
    page.set_default_timeout(STEP_MS)
    table = page.locator("table").filter(has_text="ios-both").first
    assert "NVIDIA H100 80GB HBM3" in (table.text_content() or "")
    assert page.locator("[data-testid='stPlotlyChart']").count() == 2  # stages; one stage
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Stage")
    box.locator("input").click()
    page.keyboard.type("stage 4:")
    page.keyboard.press("Enter")
    _markdown(page, "Stage 4 runs").wait_for()
    _idle(page)
    story = _markdown(page, "Stage 4 runs").text_content() or ""
    page.set_default_timeout(SLOW_MS)  # the Model page traces the model (if the warm-up has not)
    assert f"{shown.stages[3].predicted_ms * 1000:.1f} µs" in story  # the stage as measured
    _clean(page)
    _shot(page, "1-learn")

    # the model's DAG, with operator names
    _goto(page, "Model", "Model: inception_v3")
    whole = page.locator("[data-testid='stRadio']").get_by_text("Whole graph", exact=True)
    if whole.count():  # the page opens on its module levels; the whole DAG is one click away
        whole.click()
        _idle(page)
    svg = page.locator("[data-testid='stGraphVizChart'] svg").first
    svg.wait_for()
    text = svg.text_content() or ""
    assert graph.nodes[0].name in text and "Mixed_5b.branch1x1.conv" in text
    _clean(page)
    _shot(page, "2-model")
    page.set_default_timeout(STEP_MS)

    # an optimization: another strategy, then back to ios-both
    _goto(page, "Optimize")
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Strategy")
    for strategy in ("ios-parallel", "ios-both"):
        box.click()
        page.get_by_role("option", name=strategy, exact=True).click()
        _idle(page)
        assert page.get_by_text("Speedup over sequential").is_visible()
    _clean(page)
    _shot(page, "3-optimize")

    # the schedule: one stage control drives every view
    _goto(page, "Schedule")
    n = len(shown.stages)
    _markdown(page, f"stage 1/{n}").wait_for()
    for _ in range(3):
        page.get_by_role("button", name="Next").click()
        _idle(page)
    _markdown(page, f"stage 4/{n}").wait_for()
    charts = page.locator("[data-testid='stPlotlyChart']")
    anim, gantt = charts.nth(0), charts.nth(1)
    assert (anim.locator(".gtitle").text_content() or "").startswith(f"stage 4/{n}")
    assert anim.locator("g.updatemenu-button").count() == 0  # no second stage control
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Stage")
    thumb = slider.locator("[data-testid='stSliderThumbValue']")
    assert thumb.text_content() == "4"
    rows = page.locator("[data-testid='stDataFrame']").first
    rows.wait_for()
    # the block drawing opens the block of stage 4 (the overview is the first SVG): its ops drawn
    step_svg = page.locator("[data-testid='stGraphVizChart'] svg").nth(1).text_content() or ""
    assert all(name in step_svg for name in shown.stages[3].ops)
    points = gantt.locator("g.trace.bars g.point path")
    assert len(graph) // 2 < points.count() <= len(graph)  # merged convs share one bar
    names = {node.name for node in graph.nodes}
    on_bars = set(gantt.locator("text.bartext").all_text_contents()) & names
    points.nth(points.count() // 2).hover(force=True)  # names that do not fit: on hover
    gantt.locator(".hoverlayer .hovertext").first.wait_for()
    hover = gantt.locator(".hoverlayer").text_content() or ""
    assert on_bars or any(name in hover for name in names), hover
    # the slider is the same control: move it with the keyboard, the heading follows
    slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    _markdown(page, f"stage 5/{n}").wait_for()
    _idle(page)
    # play moves on by itself, and stops when switched off
    page.locator("[data-testid='stCheckbox']").filter(has_text="Play").click()
    _markdown(page, f"stage 7/{n}").wait_for()
    page.locator("[data-testid='stCheckbox']").filter(has_text="Play").click()
    _idle(page)
    at = int(thumb.text_content() or 0)
    page.wait_for_timeout(3600)  # three ticks of play
    # paused: a tick already in flight when the switch went off may still land (seen once on a
    # loaded machine), but play does not go on
    assert int(thumb.text_content() or 0) - at <= 1
    _clean(page)
    _shot(page, "4-schedule")

    _goto(page, "Compare")
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for()
    _clean(page)
    _shot(page, "5-compare")

    # what if: B = the sequential schedule, diffed stage by stage
    _goto(page, "What if")
    page.get_by_role("heading", name="Diff two schedules").wait_for()
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="B's strategy")
    box.click()
    page.get_by_role("option", name="sequential", exact=True).click()
    _idle(page)
    metric = page.locator("[data-testid='stMetric']").filter(has_text="B: sequential")
    assert "ms" in (metric.text_content() or "")
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    _clean(page)
    _shot(page, "6-whatif")

    _goto(page, "How the DP decides")
    page.locator("[data-testid='stGraphVizChart'] svg").nth(1).wait_for()
    _clean(page)
    _shot(page, "7-dp")

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
    assert [st.groups for st in schedule.stages] == [st.groups for st in shown.stages]
    _clean(page)
    _shot(page, "8-export")
