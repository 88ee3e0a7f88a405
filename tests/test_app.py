"""The Streamlit app driven headless with AppTest: every page, every main widget, bad uploads.

Each test asserts that no exception reached the page (`at.exception` is empty) and that the
expected elements are there. Models are traced for real (Inception V3 once per test session; the
caches are process-wide), and schedules come from the real schedulers on the simulated H100.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

pytestmark = pytest.mark.usefixtures("app_in_one_run")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
TIMEOUT = 300  # the first run builds and traces Inception V3 on a small shared CPU
PAGES = {
    "learn": "app_pages/learn.py",
    "model": "app_pages/model.py",
    "optimize": "app_pages/optimize.py",
    "schedule": "app_pages/schedule.py",
    "compare": "app_pages/compare.py",
    "whatif": "app_pages/whatif.py",
    "dp": "app_pages/dp.py",
    "export": "app_pages/export.py",
}


def landing() -> AppTest:
    """A new session on the page the app opens on (Learn)."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def fresh() -> AppTest:
    """A new session on the Model page, where most of these tests begin."""
    return landing().switch_page(PAGES["model"]).run()


def ok(at: AppTest) -> AppTest:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def goto(at: AppTest, page: str) -> AppTest:
    return settled(at.switch_page(PAGES[page]).run())


def settled(at: AppTest) -> AppTest:
    """Rerun until no background search batch of the page runs (the Compare page draws at once
    and fills in when its searches end: test_app_background.py)."""
    for _ in range(5):
        running = [b for b in (at.session_state["search_batches"].values()
                               if "search_batches" in at.session_state else ()) if b.running]
        if not running:
            return at
        for batch in running:
            batch.thread.join(120)
        at.run()
    return at


def charts(at: AppTest, kind: str) -> list:
    return list(at.get(kind))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def ms(text: str) -> float:
    return float(text.split()[0])


def texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def use_model(at: AppTest, name: str, batch: int = 1) -> AppTest:
    at.selectbox(key="w_model").select(name)
    at.number_input(key="w_batch").set_value(batch)
    return at.run()


def schedule_json(model: str, batch: int = 1, strategy: str = "ios-both") -> str:
    """A schedule file made by ios_core itself, as a user would have exported it."""
    from ios_core.cost import make_cost_model
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.search import optimize

    loaded = load_model(model, batch=batch)
    graph = trace_model(loaded.module, loaded.example_input, name=loaded.name).graph
    return optimize(graph, strategy, make_cost_model("simulated:h100"), model_name=model).dumps()


# ---- every page opens ready --------------------------------------------------------------------
def test_opens_ready_with_every_page_populated() -> None:
    at = ok(landing())
    assert at.title[0].value.startswith("Inter-operator parallelism")  # the landing page
    ok(goto(at, "model"))
    assert at.title[0].value == "Model: inception_v3"
    assert metric(at, "Operators") == "124"
    level = json.loads(charts(at, "plotly_chart")[0].proto.spec)  # the model's top level
    assert "Mixed_5b" in next(t["customdata"] for t in level["data"] if t["name"].startswith("box"))
    assert len(at.dataframe[0].value) == 124

    ok(goto(at, "optimize"))
    assert {"Latency", "Speedup over sequential", "Lower bound", "Of the lower bound"} <= {
        m.label for m in at.metric}
    assert float(metric(at, "Speedup over sequential").rstrip("×")) > 1.0
    assert ms(metric(at, "Lower bound")) <= ms(metric(at, "Latency"))

    ok(goto(at, "schedule"))
    anim, gantt = charts(at, "plotly_chart")
    stages = int(texts(at).split(" stages (")[0].split()[-1])
    # one still frame of the stage the page's one control selects (no second control inside)
    assert f"stage 1/{stages}" in json.loads(anim.proto.spec)["layout"]["title"]["text"]
    assert "stream 0" in gantt.proto.spec
    assert charts(at, "graphviz_chart")

    ok(goto(at, "compare"))
    assert len(charts(at, "plotly_chart")) == 2
    assert len(at.dataframe[0].value) == 5
    # the shipped H100 profiles cover Inception V3 at batch 1 and 16: specialisation is shown
    spec = at.dataframe[-1].value
    assert list(spec["run at batch"]) == [1, 16]
    own = spec["ios-both searched at batch 16, ms"][1]
    assert own <= spec["ios-both searched at batch 1, ms"][1] * 1.0001  # searched-for batch wins

    ok(goto(at, "dp"))
    assert len(charts(at, "graphviz_chart")) == 2
    assert int(metric(at, "States")) > 1

    ok(goto(at, "export"))
    labels = [b.label for b in at.download_button]
    assert labels == ["Schedule JSON", "Chrome trace", "DOT", "CSV"]


# ---- model page and sidebar --------------------------------------------------------------------
def test_model_page_views_and_blocks() -> None:
    at = ok(fresh())
    at.radio(key="model_view").set_value("IOS blocks").run()
    ok(at)
    overview, block = (c.proto.spec for c in charts(at, "graphviz_chart"))
    assert "b0 -> b1" in overview and '"from:' not in overview
    at.selectbox(key="model_block:inception_v3").set_value(5).run()
    block = charts(ok(at), "graphviz_chart")[1].proto.spec
    assert "block 5" in block and '"from:' in block  # inputs from outside the block as stubs
    at.radio(key="model_view").set_value("Whole graph").run()
    assert "cluster_b0" in charts(ok(at), "graphviz_chart")[0].proto.spec


def test_sidebar_model_batch_and_cost_source() -> None:
    at = use_model(fresh(), "squeezenet", batch=2)
    ok(at)
    assert at.title[0].value == "Model: squeezenet"
    assert metric(at, "Input") == "2×3×224×224"
    at.selectbox(key="w_cost").select("simulated:v100").run()
    assert "V100" in texts(ok(at))
    ok(goto(at, "optimize"))  # the search follows the sidebar
    assert "V100" in texts(at)


@pytest.mark.slow
def test_big_model_overview_and_no_surprise_long_search() -> None:
    at = ok(use_model(fresh(), "randwire"))
    assert at.radio(key="model_view").value == "Levels"  # one level at a time, no hairball
    assert not charts(at, "graphviz_chart") and len(charts(at, "plotly_chart")) == 1
    ok(goto(at, "schedule"))  # the GPU-found ios-both schedule ships with profile:h100: at once
    assert not at.warning and any("Shown at once" in i.value for i in at.info)
    # on the simulated device none ships, and ios-both on RandWire runs for a while: asked first
    at.selectbox(key="w_cost").select("simulated:h100").run()
    ok(at)
    assert at.warning and any(b.label.startswith("Run: the ios-both search") for b in at.button)
    assert not charts(at, "plotly_chart")
    goto(at, "optimize")
    at.selectbox(key="w_strategy").select("greedy").run()
    ok(goto(at, "schedule"))
    assert len(charts(at, "plotly_chart")) == 2  # the stage's block drawn, and the Gantt


@pytest.mark.parametrize("ref, words", [
    ("nope_pkg.nets:build", "cannot import"),
    ("tests._app_models:untraceable", "trace"),
    ("tests._app_models:out_of_memory", "smaller batch size"),
    ("not a reference", "unknown model"),
    ("models/net.py:build", "file path"),
    ("models/net.py", "write `net:callable`"),
])
def test_bad_custom_models_are_plain_errors(ref: str, words: str) -> None:
    at = fresh()
    at.selectbox(key="w_model").select("Your own model…").run()
    assert any("package.module:callable" in i.value for i in at.sidebar.info)
    at.text_input(key="w_custom").input(ref).run()
    assert not at.exception
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    goto(at, "optimize")
    assert not at.exception and at.error


# ---- optimize, schedule, compare ---------------------------------------------------------------
def test_optimize_every_strategy_and_knob() -> None:
    at = goto(fresh(), "optimize")
    for strategy in ("sequential", "greedy", "ios-merge", "ios-parallel", "ios-both"):
        at.selectbox(key="w_strategy").select(strategy).run()
        ok(at)
        assert float(metric(at, "Latency").split()[0]) > 0
    at.slider(key="w_r").set_value(1).run()
    at.slider(key="w_s").set_value(2).run()
    at.number_input(key="w_max_part_ops").set_value(8).run()
    ok(at)
    rows = {r["statistic"]: r["value"] for r in at.dataframe[0].value.to_dict("records")}
    assert int(rows["states"]) > 0 and int(rows["transitions"]) > 0
    ok(goto(at, "schedule"))  # the knobs survive a page switch
    assert at.session_state["r"] == 1 and at.session_state["max_part_ops"] == 8


def test_schedule_page_steps_through_stages() -> None:
    at = ok(goto(fresh(), "schedule"))
    assert any(m.value.startswith("**stage 1/") for m in at.markdown)
    step = next(w for w in at.slider if w.key.startswith("stage:"))
    step.set_value(5).run()
    ok(at)
    assert any(m.value.startswith("**stage 5/") for m in at.markdown)
    overview, block = (c.proto.spec for c in charts(at, "graphviz_chart"))
    # the block's DOT is the same for all its stages; a style sheet paints the stage's states
    paint = next(m.value for m in at.markdown if m.value.startswith("<style>"))
    assert "stroke-width: 3px" in paint and "#e0e0e0" in paint  # current bold, finished dimmed
    assert 'id="iosop-' in block
    gantt = json.loads(charts(at, "plotly_chart")[1].proto.spec)
    assert any(s["type"] == "rect" for s in gantt["layout"]["shapes"])  # the selected stage
    step = next(w for w in at.slider if w.key.startswith("stage:"))
    step.set_value(step.max).run()
    assert any("stages done" in m.value for m in ok(at).markdown)


def test_compare_subset_and_sweep_axis() -> None:
    at = ok(goto(fresh(), "compare"))
    settled(at.multiselect(key="cmp_strategies").set_value(["sequential", "ios-both"]).run())
    assert len(ok(at).dataframe[0].value) == 2
    settled(at.radio(key="sweep_x").set_value("search seconds").run())
    sweep = json.loads(charts(ok(at), "plotly_chart")[1].proto.spec)
    assert len(sweep["data"]) == 3  # one line per r
    assert sum(len(t["x"]) for t in sweep["data"]) == 9


# ---- the DP, step by step ------------------------------------------------------------------------
def test_dp_page_pruning_and_blocks() -> None:
    at = ok(goto(fresh(), "dp"))
    assert int(metric(at, "Removed by pruning")) >= 0
    # the search's own DP (its SearchConfig): here the shipped H100 ios_demo schedule's, searched
    # before merges could end in their concat, which the page says
    assert at.slider(key="dp_r").value == 3 and at.slider(key="dp_s").value == 8
    said = at.success[0].value
    assert "(ios-both, r = 3, s = 8, merges never take their concat" in said
    assert [i.value for i in at.info] == [  # only the note that a GPU-found schedule is shown
        "Shown at once: the ios-both schedule the search found on the GPU (r=3, s=8, max part "
        "50), shipped with profile:h100."]
    at.slider(key="dp_r").set_value(1).run()
    at.slider(key="dp_s").set_value(1).run()
    ok(at)
    assert int(metric(at, "Removed by pruning")) > 0
    note = infos(at)  # the view now differs from the search, and says how
    assert "r = 1 here (the search: 3)" in note and "s = 1 here (the search: 8)" in note
    assert "Set r = 3 and s = 8" in note
    assert not at.success
    assert "✂" in charts(at, "graphviz_chart")[1].proto.spec
    state = next(w for w in at.selectbox if w.key.startswith("dp_state:"))
    state.select_index(0).run()
    at.selectbox(key="dp_strategy").select("ios-merge").run()
    ok(at)
    assert "ios-merge here, ios-both in the search" in infos(at)
    # the Optimize page's knob cuts the block: on a cost source with no shipped schedule, which
    # would be shown as it was found
    at.selectbox(key="w_cost").select("simulated:h100").run()
    at.session_state["max_part_ops"] = 4
    at.run()
    assert "in 2 parts of 4, 1 ops" in infos(ok(at))
    at.session_state["max_part_ops"] = 50
    at.radio(key="dp_source").set_value("A block of inception_v3").run()
    ok(at)
    at.selectbox(key="dp_block:inception_v3").select_index(1).run()
    assert len(charts(ok(at), "graphviz_chart")) == 2


def infos(at: AppTest) -> str:
    """Every info box's text: the DP page's notes sit beside the shipped-schedule note."""
    return "\n".join(i.value for i in at.info)


# ---- export and upload ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def squeezenet_file() -> str:
    return schedule_json("squeezenet")


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, "application/json"))
    return at.run()


def test_upload_valid_schedule_then_play_it(squeezenet_file: str) -> None:
    at = goto(use_model(fresh(), "squeezenet"), "export")
    ok(upload(at, "mine.json", squeezenet_file.encode()))
    assert at.success and "valid schedule" in at.success[0].value
    assert charts(at, "plotly_chart") and at.dataframe
    goto(at, "schedule")
    at.radio(key="which_schedule").set_value("Uploaded: mine.json").run()
    ok(at)
    assert "ios-both" in texts(at)


@pytest.mark.parametrize("case, words", [
    ("truncated", "not valid JSON"),
    ("other_model", "made for another model"),
    ("other_batch", "batch 2"),
    ("not_a_schedule", "unknown schedule format"),
    ("pickle", "a Python pickle"),
    ("png", "a PNG image"),
    ("text", "text that is not JSON"),
    ("missing_op", "missing from the schedule"),
])
def test_bad_uploads_are_refused_in_plain_words(squeezenet_file: str, case: str,
                                                words: str) -> None:
    data = {
        "truncated": lambda: squeezenet_file[: len(squeezenet_file) // 2].encode(),
        "other_model": lambda: schedule_json("ios_demo").encode(),
        "other_batch": lambda: schedule_json("squeezenet", batch=2).encode(),
        "not_a_schedule": lambda: b'{"hello": "world"}',
        "pickle": lambda: pickle.dumps({"format": "ios-schedule/1"}),  # must never be unpickled
        "png": lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "text": lambda: b"stage,strategy\n1,merge\n",
        "missing_op": lambda: _drop_last_stage(squeezenet_file).encode(),
    }[case]()
    at = goto(use_model(fresh(), "squeezenet"), "export")
    upload(at, f"{case}.json", data)
    assert not at.exception
    assert any("refused" in e.value and words in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not any("truncated" in e.value for e in at.error) or case == "truncated"
    assert not at.success


def _drop_last_stage(text: str) -> str:
    data = json.loads(text)
    data["stages"] = data["stages"][:-1]
    return json.dumps(data)


# ---- shipped profiles ----------------------------------------------------------------------------
def test_shipped_h100_profile_is_the_default() -> None:
    """data/profiles ships H100 measurements of every IOS benchmark model at batch 1."""
    at = ok(use_model(fresh(), "squeezenet"))
    assert at.selectbox(key="w_cost").value == "profile:h100"
    sources = {r["source"] for r in at.dataframe[0].value.to_dict("records")}
    assert sources == {"measured"}  # SqueezeNet's profile covers every stage
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "Measured on NVIDIA H100" in sidebar and "batch 1" in sidebar
    assert "nhwc" in sidebar and "parameters warm in L2" in sidebar  # 6 MB of weights fit
    ok(goto(at, "compare"))  # only batch 1 was measured for SqueezeNet: no specialisation
    assert any("Not shown" in i.value for i in at.info)


def test_partial_profile_marks_estimates(tmp_path, monkeypatch) -> None:
    """A profile that lacks some stages: those are estimated, and the app says so."""
    import streamlit as st

    from ios_core.cost.profile_db import PROFILE_DIR, ProfileDB

    db = ProfileDB.load(PROFILE_DIR / "h100-squeezenet-b1.json")
    dropped = list(db.entries)[:10]  # the first single-op stages the sequential search measured
    for sig in dropped:
        db.entries.pop(sig)
        db.stages.pop(sig, None)
    db.save(tmp_path / "half-squeezenet-b1.json")
    monkeypatch.setenv("IOS_PROFILE_PATH", str(tmp_path))
    st.cache_data.clear()  # the profile listing is cached
    at = ok(use_model(fresh(), "squeezenet"))
    at.selectbox(key="w_cost").set_value("profile:half")
    ok(at.run())
    sources = {r["source"] for r in at.dataframe[0].value.to_dict("records")}
    assert sources == {"measured", "estimated"}
    ok(goto(at, "optimize"))
    assert "estimated by the analytic model" in texts(at)
    st.cache_data.clear()


# ---- plain-words errors and the progress observer (no app run needed) ---------------------------
def test_errors_are_explained_with_what_to_do() -> None:
    import torch

    from app.errors import explain
    from ios_core.frontend import TraceError
    from ios_core.frontend.models import UnknownModelError
    from ios_core.ir.schedule import ScheduleError

    assert "smaller batch size" in explain(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert "could not trace" in explain(TraceError("data-dependent control flow"))
    assert ".." not in explain(UnknownModelError("unknown model x."))
    assert "Pick a sample model" in explain(UnknownModelError("unknown model 'x'"))
    assert explain(ScheduleError("stage 3 is bad")) == "stage 3 is bad"
    assert "not built yet" in explain(ModuleNotFoundError("x", name="ios_core.nothing"))
    assert "unexpected KeyError" in explain(KeyError("k"))


def test_progress_observer_reports_counts() -> None:
    from app.backend import ProgressObserver

    class Bar:
        def __init__(self) -> None:
            self.calls: list[tuple[float, str]] = []

        def progress(self, value: float, text: str) -> None:
            self.calls.append((value, text))

    bar = Bar()
    obs = ProgressObserver(bar, "ios-both", every_s=0.0)
    obs.on_part_start(0, 2, 5)
    obs.on_progress(10, 20, 0, 2)
    obs.on_part_end(0, {"states": 20, "transitions": 70})
    obs.on_part_start(1, 2, 3)
    assert [round(v, 2) for v, _ in bar.calls] == [0.0, 0.25, 0.5]
    assert "part 1/2 (5 ops) · 10/20 states" in bar.calls[1][1]
    assert "20 states and 70 transitions so far" in bar.calls[2][1]


# ---- the explorer as an instrument: bounds, per-stage figures, inputs ---------------------------
def frame_rows(df) -> list[dict]:
    return df.to_dict("records")


@pytest.mark.parametrize("cost", ["profile:h100", "simulated:h100"])
def test_lower_bound_is_below_every_strategy(cost: str) -> None:
    """The bounds hold under the cost model that priced the schedules (SqueezeNet's merges beat
    the isolated-op critical path, which the app names a reference, not a bound)."""
    at = use_model(fresh(), "squeezenet")
    at.selectbox(key="w_cost").select(cost).run()
    goto(ok(at), "optimize")
    for strategy in ("sequential", "greedy", "ios-merge", "ios-parallel", "ios-both"):
        at.selectbox(key="w_strategy").select(strategy).run()
        assert ms(metric(ok(at), "Lower bound")) <= ms(metric(at, "Latency")), strategy
    assert "isolated-op path" in texts(at) and "reference" in texts(at)
    ok(goto(at, "compare"))
    rows = frame_rows(at.dataframe[0].value)
    assert all(0 < r["of the lower bound"] <= 1 for r in rows)
    assert all(v is not None and v == v for r in rows for v in r.values())  # no None, no NaN
    spec = charts(at, "plotly_chart")[0].proto.spec
    assert "path bound" in spec and "work bound" in spec and "(reference)" in spec
    assert "critical-path bound" not in spec


def test_stage_table_has_predicted_measured_and_bound_per_stage() -> None:
    at = ok(goto(use_model(fresh(), "squeezenet"), "schedule"))
    rows = frame_rows(at.dataframe[0].value)
    assert rows and all(r["measured ms"] == "not measured" for r in rows)
    for r in rows:
        assert r["stage bound ms"] <= r["predicted ms"] + 1e-9
        assert 0 < r["efficiency"] <= 1
    assert all(v is not None and v == v for r in rows for v in r.values())
    assert "stage bound ms" in texts(at) and "efficiency" in texts(at)


def test_uploaded_measured_schedule_shows_its_measured_times(squeezenet_file: str) -> None:
    data = json.loads(squeezenet_file)
    for i, stage in enumerate(data["stages"]):
        stage["measured_ms"] = 0.001 * (i + 1)
    at = goto(use_model(fresh(), "squeezenet"), "export")
    ok(upload(at, "measured.json", json.dumps(data).encode()))
    rows = frame_rows(at.dataframe[0].value)
    assert rows[1]["measured ms"] == "0.0020"
    assert "not measured" not in {r["measured ms"] for r in rows}


def test_empty_own_model_box_shows_no_model() -> None:
    at = ok(fresh())
    assert at.title[0].value == "Model: inception_v3"
    at.selectbox(key="w_model").select("Your own model…").run()
    assert not at.exception
    assert not at.title or "inception_v3" not in at.title[0].value
    assert any("Choose a model" in i.value for i in at.info)
    ok(goto(at, "optimize"))
    assert not at.metric


def test_import_errors_have_single_punctuation() -> None:
    at = fresh()
    at.selectbox(key="w_model").select("Your own model…").run()
    at.text_input(key="w_custom").input("nope_pkg.nets:build").run()
    errors = " ".join(e.value for e in at.error)
    assert "PYTHONPATH?" in errors and "?." not in errors and ".." not in errors


def test_leaf_modules_field_traces_a_model_with_value_dependent_control_flow() -> None:
    at = fresh()
    at.selectbox(key="w_model").select("Your own model…").run()
    at.text_input(key="w_custom").input("tests._app_models:needs_leaf").run()
    assert any("gate" in e.value for e in at.error)  # the tracer names the module to keep whole
    at.text_area(key="w_leaves").input("gate").run()
    ok(at)
    assert "[leaf modules: gate]" in texts(at)  # the caption names the model as traced
    kinds = {r["kind"] for r in frame_rows(at.dataframe[0].value)}
    assert "call" in kinds
    at.text_area(key="w_leaves").input("_Gate,\n").run()  # a class name works too
    ok(goto(at, "optimize"))
    assert ms(metric(at, "Lower bound")) <= ms(metric(at, "Latency"))


def test_fused_epilogues_toggle_schedules_regions_and_exports_the_switch() -> None:
    """The sidebar's toggle traces the model with its elementwise chains fused (the CLI's
    --fuse-epilogues), the search records the switch in the schedule it exports, and an upload
    searched the other way is refused with what to turn."""
    at = fresh()
    at.selectbox(key="w_model").select("Your own model…").run()
    at.text_input(key="w_custom").input("tests._epilogue_models:tiny_mobilenet").run()
    at.selectbox(key="w_cost").select("simulated:h100").run()
    plain_ops = int(metric(ok(at), "Operators"))
    at.toggle(key="w_regions").set_value(True).run()
    assert int(metric(ok(at), "Operators")) < plain_ops
    assert "[fused epilogues]" in texts(at)
    for page in ("optimize", "schedule", "compare", "whatif", "dp"):  # every page draws it
        ok(goto(at, page))
    ok(goto(at, "export"))
    assert "fuse_epilogues=True" in at.code[0].value
    at.toggle(key="w_regions").set_value(False).run()
    searched = _regions_schedule_json("tests._epilogue_models:tiny_mobilenet")
    upload(ok(at), "fused.json", searched.encode())
    assert any("fused epilogues on" in e.value and "Fuse elementwise epilogues" in e.value
               for e in at.error), [e.value for e in at.error]


def test_searches_of_fused_models_record_the_switch() -> None:
    from app import backend
    from ios_core.ir.schedule import Schedule
    from ios_core.runtime.fuse_switch import recorded_switch

    schedule = Schedule.loads(schedule_json("ios_demo"))
    fused = backend.recorded(schedule, backend.model_key("ios_demo", regions=True))
    assert recorded_switch(fused)
    assert not recorded_switch(backend.recorded(schedule, backend.model_key("ios_demo")))


def _regions_schedule_json(model: str) -> str:
    """A schedule searched on the model's region graph, with the switch recorded (as
    ``ios-explorer optimize --fuse-epilogues`` writes it)."""
    from ios_core.cost import make_cost_model
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.runtime.fuse_switch import record_switch, with_regions
    from ios_core.search import optimize

    loaded = load_model(model)
    traced = with_regions(trace_model(loaded.module, loaded.example_input, name=loaded.name), True)
    found = optimize(traced.graph, "ios-both", make_cost_model("simulated:h100"), model_name=model)
    return record_switch(found, True).dumps()


def test_model_with_two_inputs_loads_and_optimizes() -> None:
    from ios_core.frontend.models import ModelLoadError, load_model

    try:
        load_model("tests._app_models:two_inputs")
    except ModelLoadError as e:
        pytest.skip(f"ios_core.frontend.models.load_model takes one input here: {str(e)[:80]}")
    at = fresh()
    at.selectbox(key="w_model").select("Your own model…").run()
    at.text_input(key="w_custom").input("tests._app_models:two_inputs").run()
    ok(at)
    assert metric(at, "Inputs") == "1×3×16×16, 1×3×16×16"
    ok(goto(at, "optimize"))
    assert ms(metric(at, "Latency")) > 0
    ok(goto(at, "schedule"))
