"""IOS Explorer's web app: `ios-explorer app` (or `streamlit run app/main.py`). A router plus the
shared sidebar. ``app`` and ``ios_core`` are imported as installed packages (``pip install -e .``).
"""

from __future__ import annotations

import streamlit as st

from app.backend import prefetch_graph, preload_tables, script_ended, script_started, warm_up
from app.errors import show_error
from app.state import init_state, sidebar_ui

PAGES = [
    st.Page("app_pages/learn.py", title="Learn", icon=":material/lightbulb:", default=True),
    st.Page("app_pages/model.py", title="Model", icon=":material/account_tree:"),
    st.Page("app_pages/optimize.py", title="Optimize", icon=":material/tune:"),
    st.Page("app_pages/schedule.py", title="Schedule", icon=":material/play_circle:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/whatif.py", title="What if", icon=":material/science:"),
    st.Page("app_pages/dp.py", title="How the DP decides", icon=":material/school:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
]

st.set_page_config(page_title="IOS Explorer", page_icon=":material/bolt:", layout="wide")
script_started()  # the warm-up waits for a pause in the clicks; searches give way
init_state()
page = st.navigation(PAGES)
selection = sidebar_ui()
if selection is not None:  # traced in the worker process while this page draws; the next
    prefetch_graph(selection.model_ref, selection.batch)  # pages' costs, bounds and figures
    warm_up(selection.model_ref, selection.batch, selection.cost_spec)  # once the user pauses
try:
    page.run()
except Exception as e:  # noqa: BLE001 - last safety net: a plain message, never a traceback
    show_error("This page could not be drawn", e)
finally:
    script_ended()
preload_tables()  # once the page is drawn: the next page's first table waits for nothing
