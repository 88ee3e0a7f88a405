"""IOS Explorer's web app: `streamlit run app/main.py`. A router plus the shared sidebar."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run app/main.py` puts only app/ on sys.path; ios_core and app live one level up
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.errors import show_error  # noqa: E402
from app.state import init_state, sidebar_ui  # noqa: E402

PAGES = [
    st.Page("app_pages/model.py", title="Model", icon=":material/account_tree:", default=True),
    st.Page("app_pages/optimize.py", title="Optimize", icon=":material/tune:"),
    st.Page("app_pages/schedule.py", title="Schedule", icon=":material/play_circle:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/dp.py", title="How the DP decides", icon=":material/school:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
]

st.set_page_config(page_title="IOS Explorer", page_icon=":material/bolt:", layout="wide")
init_state()
page = st.navigation(PAGES)
sidebar_ui()
try:
    page.run()
except Exception as e:  # noqa: BLE001 - last safety net: a plain message, never a traceback
    show_error("This page could not be drawn", e)
