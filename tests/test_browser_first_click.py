"""A click that lands while the app's worker still traces the model (Chromium, Playwright).

The page says it is tracing and opens by itself when the trace is in, on the model the sidebar
shows. Before the sidebar gave the default model as the widget's own index, the browser showed
the first model of the list while the pages used the default, and the rerun that the waiting
page asked for switched every page to the first model (Model: ios_demo)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

from tests._streamlit_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

WAIT_MS = 180_000  # a cold worker imports torch and traces Inception V3 on a shared CPU


def test_a_first_click_waits_for_the_trace_and_opens_the_sidebars_model() -> None:
    with streamlit_server("streamlit-first-click.log") as url, \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        nav = page.locator("[data-testid='stSidebarNav']")
        nav.wait_for()
        nav.get_by_text("Model", exact=True).click()  # at once: the trace is under way
        page.get_by_role("heading", name="Model: inception_v3").wait_for()
        box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
        assert box.locator("input").input_value() == "inception_v3"
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
