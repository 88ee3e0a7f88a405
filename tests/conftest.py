"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_in_one_run(monkeypatch):
    """AppTest sessions without the app's background work (IOS_APP_WARM_UP=0): a page traces
    its model in its own run, so one ``at.run()`` opens it whole. The worker path, where a page
    says "Tracing…" until the worker's graph is in, has its own tests (test_app_background.py,
    test_trace_worker.py) and the browser tests."""
    monkeypatch.setenv("IOS_APP_WARM_UP", "0")
