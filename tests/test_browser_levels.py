"""The Model page's levels in a real browser (Chromium through Playwright): a click on a box opens
it, a click on an operator shows its details and its stage, at 1400 and at 800 pixels wide.
Screenshots go to tests/artifacts/levels-*.png (git-ignored).

Marked slow: it starts its own streamlit server and traces Inception V3 there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

from tests._streamlit_server import ARTIFACTS, CHROMIUM, streamlit_server  # noqa: E402
from tests._streamlit_server import CHROMIUM_ARGS as ARGS  # noqa: E402, N811

SLOW_MS = 120_000


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with streamlit_server("streamlit-levels.log", {"IOS_APP_WARM_UP": "0"}) as url:
        yield url


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    page.wait_for_timeout(700)


def _click_point(page, trace: str, index: int) -> None:
    """Click one marker of the level figure's trace named ``trace...`` ("boxes", "operators"):
    found through plotly's own data, since plotly leaves empty traces out of the SVG."""
    page.locator("[data-testid='stPlotlyChart'] g.trace.scatter path.point").first.wait_for()
    box = page.evaluate("""([name, index]) => {
        const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
        const i = gd.data.findIndex(t => (t.name || "").startsWith(name));
        const point = gd.calcdata[i][0].node3.node().querySelectorAll("path.point")[index];
        point.scrollIntoView({block: "center"});
        const r = point.getBoundingClientRect();
        return {x: r.x + r.width / 2, y: r.y + r.height / 2};
    }""", [trace, index])
    page.mouse.click(box["x"], box["y"])
    _idle(page)


@pytest.mark.parametrize("width", [1400, 800])
def test_levels_open_and_inspect_on_a_click(server: str, width: int) -> None:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.set_default_timeout(SLOW_MS)
        page.goto(f"{server}/model")
        page.get_by_role("heading", name="Model: inception_v3").wait_for()
        _idle(page)
        page.locator("[data-testid='stPlotlyChart'] g.trace.scatter path.point").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / f"levels-top-{width}.png"))
        _click_point(page, "boxes", 0)  # the first box: Mixed_5b
        page.get_by_text("Open: inception_v3 › Mixed_5b").wait_for()
        _click_point(page, "operators", 0)  # an operator of the block
        details = page.get_by_text("On the timeline: stream").first
        details.wait_for()
        assert page.get_by_text("of the ios-both schedule").count() >= 1
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(ARTIFACTS / f"levels-op-{width}.png"), full_page=True)
        browser.close()
