"""Issue 17's app items, driven headless with AppTest on SqueezeNet and the shipped H100 profile
(small: the whole file runs in seconds): one stage control, shipped schedules first, the Learn
page's measured figures, what-if re-solves and diffs, and profile listings without an expiry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

from ios_core.cost.profile_db import PROFILE_DIR  # noqa: E402
from ios_core.ir.schedule import Schedule  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
MODEL = "squeezenet"


@pytest.fixture(autouse=True)
def _no_warm_up(monkeypatch) -> None:
    """The Learn page traces the sidebar's model in the background; these tests never need it."""
    monkeypatch.setenv("IOS_APP_WARM_UP", "0")


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shipped(profile: str, model: str, strategy: str, batch: int = 1) -> Schedule:
    return Schedule.load(PROFILE_DIR / f"{profile}-{model}-b{batch}.{strategy}.schedule.json")


def on(page: str, model: str = MODEL) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.selectbox(key="w_model").select(model).run()
    return ok(at.switch_page(f"app_pages/{page}.py").run())


def texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def stage_heading(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**stage ")
                or m.value.startswith("**all "))


def markdown_rows(table: str) -> list[dict[str, str]]:
    """The rows of a Markdown table as dicts (header row first, separator second)."""
    lines = [[c.strip() for c in line.strip().strip("|").split("|")]
             for line in table.splitlines()]
    return [dict(zip(lines[0], row, strict=True)) for row in lines[2:]]


def test_one_stage_control_drives_every_view() -> None:
    at = on("schedule")
    slider = next(w for w in at.slider if w.key.startswith("stage:"))
    n = int(slider.max) - 1
    slider.set_value(4).run()
    for move, expect in ((lambda: at.button(key="next").click(), 5),
                         (lambda: at.button(key="prev").click(), 4),
                         (lambda: at.button(key="first").click(), 1)):
        move()
        ok(at.run())
        assert at.slider(key=slider.key).value == expect
        assert stage_heading(at).startswith(f"**stage {expect}/{n}")
        anim, gantt = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
        assert anim["layout"]["title"]["text"].startswith(f"stage {expect}/")  # the same stage
        assert "sliders" not in anim["layout"] and "frames" not in anim  # no second control
        box = [s for s in gantt["layout"]["shapes"] if s["type"] == "rect"]
        assert box, "the Gantt outlines the selected stage"
        rows = at.dataframe[0].value
        assert list(rows[rows[""] == "▶"]["stage"]) == [expect]  # the table marks it
    # the selected stage's own figures: predicted, measured (never None), bound, efficiency
    labels = {m.label: m.value for m in at.metric}
    assert labels["measured ms"] == "not measured"
    assert float(labels["stage bound ms"]) <= float(labels["predicted ms"]) + 1e-9
    assert labels["efficiency"].endswith("%")
    assert "None" not in at.dataframe[0].value.to_string()
    at.toggle[0].set_value(True).run()
    assert ok(at).slider(key=slider.key).value == 2  # playing moves the one control


def test_shipped_schedule_is_shown_at_once_then_searched_on_request() -> None:
    at = on("schedule")
    assert any("Shown at once" in i.value for i in at.info)
    want = shipped("h100", MODEL, "ios-both")
    n = int(next(w for w in at.slider if w.key.startswith("stage:")).max) - 1
    assert n == len(want.stages)
    assert f"{want.predicted_ms:.3f} ms" in texts(at)  # priced by the same measurements
    at.button(key=next(b.key for b in at.button if b.key.startswith("search_here:"))).click()
    ok(at.run())
    assert not any("Shown at once" in i.value for i in at.info)


def test_learn_page_teaches_from_the_shipped_files_only() -> None:
    at = AppTest.from_file(APP, default_timeout=300).run()
    ok(at)
    assert at.title[0].value.startswith("Inter-operator parallelism")
    assert not at.dataframe  # the first page shows without importing pandas and pyarrow
    totals = markdown_rows(next(m.value for m in at.markdown if m.value.startswith("| GPU |")))
    assert {"NVIDIA H100 80GB HBM3", "NVIDIA H200"} <= {r["GPU"] for r in totals}
    seq = shipped("h100", "inception_v3", "sequential")
    both = shipped("h100", "inception_v3", "ios-both")
    h100 = next(r for r in totals if r["GPU"] == "NVIDIA H100 80GB HBM3")
    assert h100["sequential"].startswith(f"{seq.predicted_ms:.3f} ms")
    assert h100["ios-both"].startswith(f"{both.predicted_ms:.3f} ms")
    alone = {s.ops[0]: s.predicted_ms for s in seq.stages}
    key = next(s.key for s in at.selectbox if s.key and s.key.startswith("learn_stage:"))
    for index in (0, 9):
        at.selectbox(key=key).set_value(index).run()
        stage = both.stages[index]
        total = sum(alone[op] for op in stage.ops)
        story = next(m.value for m in ok(at).markdown if m.value.startswith("Stage "))
        # the picked bar is outlined by a style sheet; the figure itself stays the same
        outline = next(m.value for m in at.markdown if m.value.startswith("<style>.st-key-learn"))
        assert f"g.point:nth-of-type({index + 1})" in outline
        assert f"{total * 1000:.1f} µs" in story and f"{stage.predicted_ms * 1000:.1f} µs" in story
        assert f"{max(alone[op] for op in stage.ops) * 1000:.1f} µs" in story
        figures = {m.label: m.value for m in at.metric}  # the same numbers, as headlines
        assert figures["its ops alone, one after another"] == f"{total * 1000:.1f} µs"
        assert figures[f"the stage as IOS ran it ({stage.strategy})"] == (
            f"{stage.predicted_ms * 1000:.1f} µs")
        (drawing,) = at.get("graphviz_chart")  # the stage's streams, in the expander
        assert all(f'"{op}" [label=' in drawing.proto.spec for op in stage.ops)
        assert drawing.proto.spec.count("subgraph cluster_") == (
            1 if stage.strategy == "merge" else len(stage.groups))
        word = ("did nothing" if len(stage.ops) < 2 or abs(stage.predicted_ms - total)
                <= 0.02 * total else "helped" if stage.predicted_ms < total else "hurt")
        assert word in story or (len(stage.ops) < 2 and "nothing to overlap" in story)
    assert "sequential alternative" in texts(at)


def test_what_if_forbid_resolves_and_diffs() -> None:
    at = on("whatif")
    base = shipped("h100", MODEL, "ios-both")
    forbid = at.multiselect(key=next(m.key for m in at.multiselect if m.key.startswith("forbid")))
    conc = next(i for i, s in enumerate(base.stages) if len(s.groups) > 1)
    forbid.select(conc).run()
    ok(at)
    a, b = (m.value for m in at.metric[:2])
    assert float(b.split()[0]) >= float(a.split()[0]) - 1e-6  # a ban never helps
    rows = at.dataframe[0].value
    assert len(rows) >= 1 and (rows["same stages"] == "no").all()
    at.radio(key="diff_axis").set_value("strategy").run()
    at.selectbox(key="diff_strategy").set_value("sequential").run()
    seq = shipped("h100", MODEL, "sequential")
    assert any(f"{seq.predicted_ms:.4f} ms" in m.value for m in ok(at).metric)


def test_profile_listing_follows_the_folder_without_an_expiry(tmp_path, monkeypatch) -> None:
    from app import backend

    monkeypatch.setenv("IOS_PROFILE_PATH", str(tmp_path))
    before = backend.profiles_stamp()
    (tmp_path / "x-squeezenet-b1.ios-both.schedule.json").write_text("{}")
    after = backend.profiles_stamp()
    assert after != before
    found = [f for f in backend.shipped_schedule_files() if f.profile == "x"]
    assert [(f.model, f.batch, f.strategy) for f in found] == [("squeezenet", 1, "ios-both")]
    source = "".join(p.read_text() for p in Path(backend.__file__).parent.glob("*.py"))
    assert "ttl=" not in source  # a change after a minute idle must not reload every profile


@pytest.mark.parametrize("module", ["app.views.teach", "app.views.stage_style"])
def test_view_examples(module: str) -> None:
    """The examples in these views' docstrings hold (tests/test_doctests walks ios_core only)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0, result


def test_a_stage_step_keeps_the_block_drawing_and_repaints_it() -> None:
    """Stepping inside one block sends the same DOT text (the browser lays it out once) and a new
    style sheet with the stage's states."""
    at = on("schedule")
    slider = next(w for w in at.slider if w.key.startswith("stage:"))

    def drawing() -> tuple[str, str]:
        block = [c.proto.spec for c in at.get("graphviz_chart")][-1]
        paint = next(m.value for m in at.markdown if m.value.startswith("<style>"))
        return block, paint

    from app import backend

    schedule = shipped("h100", MODEL, "ios-both")
    blocks = {op: bi for bi, ops in enumerate(backend.blocks(MODEL, 1)) for op in ops}
    k = next(i for i in range(len(schedule.stages) - 1)
             if blocks[schedule.stages[i].ops[0]] == blocks[schedule.stages[i + 1].ops[0]])
    slider.set_value(k + 1).run()
    before = drawing()
    ok(at.button(key="next").click().run())
    after = drawing()
    assert after[0] == before[0] and 'id="iosop-' in after[0]
    assert after[1] != before[1] and "stroke-width: 3px" in after[1]


def test_a_cold_first_page_does_not_import_torch() -> None:
    """The Learn page reads shipped files only: on a machine with no GPU driver the cold page
    must not pay torch's import (~2 s of the 10 s target), neither for the sidebar's model list
    nor for the live-GPU check."""
    import subprocess
    import sys

    from app import backend

    if any(Path(p).exists() for p in backend.GPU_DRIVER_FILES):
        pytest.skip("a GPU driver is installed: the live-GPU check imports torch here")
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({APP!r}, default_timeout=120).run()\n"
            "print(len(at.exception), at.title[0].value, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "IOS_APP_WARM_UP": "0"},
                         cwd=Path(APP).parents[1]).stdout.strip().splitlines()[-1]
    assert out == "0 Inter-operator parallelism in a few minutes False"


def test_the_warm_up_waits_for_a_pause_in_the_clicks(monkeypatch) -> None:
    """The background trace shares the interpreter with the pages: it starts each step only
    after WARM_UP_IDLE_S without a script run (a first click took 6 s instead of 0.5 s)."""
    import time

    from app import backend

    monkeypatch.setattr(backend.activity, "WARM_UP_IDLE_S", 0.3)
    backend.mark_activity()
    t = time.monotonic()
    backend.activity._wait_for_a_pause()
    assert time.monotonic() - t >= 0.29
    t = time.monotonic()
    backend.activity._wait_for_a_pause()  # already quiet: no wait
    assert time.monotonic() - t < 0.05
