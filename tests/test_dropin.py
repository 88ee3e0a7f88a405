"""The drop-in (ios_core.dropin): optimize_module, the torch.compile backend "ios", the cache.

CPU only, on the simulated H100's cost, small models: every result is compared with the model's
own forward.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ios_core.dropin import (
    DropinSettings,
    DropinWarning,
    ScheduleCache,
    ios_backend,
    optimize_module,
    register_backend,
)
from ios_core.dropin import plan as plan_module
from ios_core.ir.schedule import Schedule, ScheduleError
from tests._hand_models import CIN, HandNet

COST = "simulated:h100"
ROOT = Path(__file__).resolve().parents[1]


class TwoInTwoOut(nn.Module):
    """Two inputs, a dict of two outputs; two 1x1 convs on one tensor (a merge candidate)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8).eval()
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        a = F.relu(self.bn(self.stem(x)))
        return {"sum": self.left(a) + y, "side": torch.sigmoid(self.right(a))}


class Branchy(TwoInTwoOut):
    """Data-dependent Python in the middle: Dynamo breaks the graph there."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        a = F.relu(self.bn(self.stem(x)))
        if a.mean() > 0.1:  # a graph break: decided in Python on the data
            a = a * 2
        return {"sum": self.left(a) + y, "side": torch.sigmoid(self.right(a))}


class WritesInput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.mul_(2)  # visible to the caller: must stay so
        return x + 1


def inputs(batch: int = 1, hw: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch * 100 + hw)
    return (torch.randn(batch, 3, hw, hw, generator=gen),
            torch.randn(batch, 8, hw, hw, generator=gen))


def assert_same(out, ref, tol: float = 1e-4) -> None:
    if isinstance(ref, dict):
        assert out.keys() == ref.keys()
        for k in ref:
            assert_same(out[k], ref[k], tol)
    elif isinstance(ref, (tuple, list)):
        assert type(out) is type(ref) and len(out) == len(ref)
        for o, r in zip(out, ref, strict=True):
            assert_same(o, r, tol)
    else:
        assert out.shape == ref.shape
        assert torch.allclose(out, ref, rtol=tol, atol=tol), (out - ref).abs().max()


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """The default cache folder is a temporary one: tests never write into ~/.cache."""
    monkeypatch.setenv("IOS_CACHE_DIR", str(tmp_path / "default-cache"))


# ---- optimize_module --------------------------------------------------------------------------
def test_several_inputs_and_outputs(tmp_path):
    model = TwoInTwoOut().eval()
    fast = optimize_module(model, inputs(), cost=COST, cache=tmp_path)
    assert fast.plan.source == "search" and fast.plan.rel_err < 1e-5
    for args in (inputs(), (torch.ones(1, 3, 8, 8), torch.zeros(1, 8, 8, 8))):
        out = fast(*args)
        assert_same(out, model(*args))
    kept = fast(*inputs())["sum"]
    fast(torch.ones(1, 3, 8, 8), torch.ones(1, 8, 8, 8))
    assert_same(kept, model(*inputs())["sum"])  # an output outlives the next call


def test_hand_net_merges_and_reuse_outputs(tmp_path):
    model = HandNet().eval()
    x = torch.randn(2, CIN, 12, 12)
    fast = optimize_module(model, x, cost=COST, cache=False, reuse_outputs=True)
    assert any(st.strategy == "merge" for st in fast.schedule.stages)
    assert_same(fast(x), model(x))


def test_new_shape_is_searched(tmp_path):
    model = TwoInTwoOut().eval()
    fast = optimize_module(model, inputs(), cost=COST, cache=tmp_path)
    for batch, hw in ((2, 8), (1, 6), (1, 8)):
        args = inputs(batch, hw)
        assert_same(fast(*args), model(*args))
    assert len(fast.plans) == 3


def test_new_shape_is_refused_when_asked():
    model = TwoInTwoOut().eval()
    fast = optimize_module(model, inputs(), cost=COST, cache=False, on_new_shape="error")
    with pytest.raises(ValueError, match=r"no schedule for inputs \(2, 3, 8, 8\)"):
        fast(*inputs(batch=2))
    with pytest.raises(ValueError, match="no schedule"):
        fast(inputs()[0].double(), inputs()[1])  # another dtype
    assert_same(fast(*inputs()), model(*inputs()))


def test_bad_inputs_say_so():
    model = TwoInTwoOut().eval()
    with pytest.raises(TypeError, match="tensor or a tuple"):
        optimize_module(model, "x", cost=COST, cache=False)
    fast = optimize_module(model, inputs(), cost=COST, cache=False)
    with pytest.raises(TypeError, match="input 1 is a int"):
        fast(inputs()[0], 3)
    with pytest.raises(ValueError, match="unknown strategy"):
        optimize_module(model, inputs(), strategy="fastest", cache=False)
    with pytest.raises(RuntimeError, match="move or convert the model first"):
        fast.to(torch.float64)


def test_measured_on_cpu_warns_and_simulates():
    with pytest.warns(DropinWarning, match="searched with simulated:h100"):
        fast = optimize_module(TwoInTwoOut().eval(), inputs(), cache=False)
    assert fast.schedule.search.cost == "simulated:h100"


# ---- the check against the model's own forward ------------------------------------------------
class _Off:
    """A compiled schedule whose output is off by ``delta``: a bug, as the check sees it."""

    def __init__(self, compiled, delta: float) -> None:
        self._compiled, self._delta = compiled, delta

    def __getattr__(self, name):
        return getattr(self._compiled, name)

    def __call__(self, *xs):
        out = self._compiled(*xs)
        return tuple(o + self._delta for o in out) if isinstance(out, tuple) else out + self._delta


def test_a_wrong_output_is_reported_as_a_bug(monkeypatch):
    real = plan_module.compile_schedule
    monkeypatch.setattr(plan_module, "compile_schedule", lambda *a, **k: _Off(real(*a, **k), 1.0))
    with pytest.raises(plan_module.DropinError, match="this is a bug"):
        optimize_module(TwoInTwoOut().eval(), inputs(), cost=COST, cache=False)


def test_an_ill_conditioned_model_is_not_a_bug():
    """Its own float32 rounding, amplified 1e4 times, makes the schedule differ by ~1e-3 from
    the module (the executor's tolerance is 5e-4); the second look measures that and passes."""
    from tests._cli_models import ill_conditioned

    module, shape = ill_conditioned()
    x = torch.randn(1, *shape)
    fast = optimize_module(module, x, cost=COST, cache=False)
    with torch.no_grad():
        err = float((fast(x) - module(x)).norm() / module(x).norm())
    assert 5e-4 < err < 1e-2  # past the plain tolerance, as the second look let it be
    assert plan_module.conditioned_tolerance(module, (x,), 5e-4) > err


# ---- the cache ----------------------------------------------------------------------------------
def _no_search(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a search ran although the cache holds the schedule")

    monkeypatch.setattr(plan_module, "optimize", refuse)


def test_second_start_loads_the_schedule(tmp_path, monkeypatch):
    model = TwoInTwoOut().eval()
    first = optimize_module(model, inputs(), cost=COST, cache=tmp_path)
    files = list((tmp_path / "schedules").glob("*.schedule.json"))
    assert len(files) == 1 and first.plan.cache_path == str(files[0])
    data = json.loads(files[0].read_text())
    assert data["format"] == "ios-schedule/1"
    assert data["search"]["stats"]["cache_key"]["cost"] == COST
    _no_search(monkeypatch)
    second = optimize_module(TwoInTwoOut().eval(), inputs(), cost=COST, cache=tmp_path)
    assert second.plan.source == "cache"
    assert second.schedule.stages == first.schedule.stages
    assert_same(second(*inputs()), model(*inputs()))


def test_other_settings_miss_the_cache(tmp_path):
    model = TwoInTwoOut().eval()
    optimize_module(model, inputs(), cost=COST, cache=tmp_path)
    other = optimize_module(model, inputs(), cost=COST, cache=tmp_path, r=2)
    assert other.plan.source == "search"
    assert len(list((tmp_path / "schedules").iterdir())) == 2


def test_environment_variable_names_the_default_folder(tmp_path):
    optimize_module(TwoInTwoOut().eval(), inputs(), cost=COST)  # cache=True: the default folder
    assert list((tmp_path / "default-cache" / "schedules").glob("*.schedule.json"))


@pytest.mark.parametrize("damage", ["torn", "other-key", "not-a-schedule"])
def test_damaged_cache_file_is_refused_and_rebuilt(tmp_path, damage):
    model = TwoInTwoOut().eval()
    path = Path(optimize_module(model, inputs(), cost=COST, cache=tmp_path).plan.cache_path)
    text = path.read_text()
    if damage == "torn":
        path.write_text(text[: len(text) // 2])
    elif damage == "other-key":
        data = json.loads(text)
        data["search"]["stats"]["cache_key"]["strategy"] = "greedy"
        path.write_text(json.dumps(data))
    else:
        path.write_text('{"format": "something else"}')
    with pytest.warns(DropinWarning, match="ignoring the cached schedule"):
        again = optimize_module(model, inputs(), cost=COST, cache=tmp_path)
    assert again.plan.source == "search"
    assert_same(again(*inputs()), model(*inputs()))
    assert Schedule.load(path).search.stats["cache_key"]["strategy"] == "ios-both"  # rebuilt


def test_unwritable_cache_warns_and_goes_on(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.warns(DropinWarning, match="going on without caching"):
        fast = optimize_module(TwoInTwoOut().eval(), inputs(), cost=COST, cache=blocker)
    assert fast.plan.cache_path is None
    assert_same(fast(*inputs()), TwoInTwoOut().eval()(*inputs()))


def test_cache_never_raises_on_a_folder_of_junk(tmp_path):
    cache = ScheduleCache(tmp_path)
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "x.schedule.json").write_bytes(b"\x80\x81")
    assert list(cache.folder.iterdir())  # junk under other names is simply never read


# ---- a schedule given as a file --------------------------------------------------------------
def test_exported_schedule_runs_as_is(tmp_path):
    model = TwoInTwoOut().eval()
    found = optimize_module(model, inputs(), cost=COST, cache=False, strategy="greedy").schedule
    path = tmp_path / "s.json"
    found.save(str(path))
    fast = optimize_module(model, inputs(), schedule=str(path), cache=False)
    assert fast.plan.source == "file" and fast.schedule.stages == found.stages
    assert_same(fast(*inputs()), model(*inputs()))
    with pytest.raises(ScheduleError, match="does not fit this model"):
        optimize_module(model, inputs(batch=2), schedule=found, cache=False)


# ---- torch.compile(backend="ios") --------------------------------------------------------------
@pytest.fixture
def dynamo():
    import torch._dynamo

    torch._dynamo.reset()
    yield torch._dynamo
    torch._dynamo.reset()


def test_backend_is_registered_and_declared():
    from torch._dynamo.backends.registry import lookup_backend

    register_backend()  # idempotent
    assert lookup_backend("ios") is ios_backend
    # what pip turns into the entry point torch finds by name (tomllib is Python 3.11+)
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'\[project\.entry-points\.torch_dynamo_backends\]\s+ios = "([^"]+)"', text)
    assert found, "pyproject.toml declares no torch_dynamo_backends entry point 'ios'"
    module, _, name = found.group(1).partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is ios_backend


def test_backend_gives_the_model_outputs(tmp_path, dynamo):
    model = TwoInTwoOut().eval()
    fast = torch.compile(model, backend="ios", options={"cost": COST, "cache": str(tmp_path)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DropinWarning)  # scheduled, not run eagerly
        with torch.no_grad():
            for batch in (1, 2):  # a shape change: recompiled, or dynamic sizes
                args = inputs(batch)
                assert_same(fast(*args), model(*args))
    assert list((tmp_path / "schedules").glob("dynamo_graph-*.schedule.json"))


def test_backend_with_a_graph_break(tmp_path, dynamo):
    model = Branchy().eval()
    calls = []
    real = plan_module.build_plan

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    plan_module_build = "ios_core.dropin.module.build_plan"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plan_module_build, counting)
        fast = torch.compile(model, backend="ios", options={"cost": COST, "cache": False})
        with warnings.catch_warnings():
            warnings.simplefilter("error", DropinWarning)
            with torch.no_grad():
                for scale in (1.0, -1.0):  # both sides of the Python branch
                    args = (inputs()[0] * scale, inputs()[1])
                    assert_same(fast(*args), model(*args))
    assert len(calls) >= 2  # the pieces around the break were scheduled, each on its own


def test_backend_falls_back_with_one_warning(dynamo):
    fast = torch.compile(WritesInput(), backend="ios", options={"cost": COST, "cache": False})
    x = torch.ones(2, 3)
    with pytest.warns(DropinWarning, match="runs eagerly.*writes into its input"):
        out = fast(x)
    assert torch.equal(x, torch.full((2, 3), 2.0)) and torch.equal(out, torch.full((2, 3), 3.0))


def test_backend_options_are_checked():
    with pytest.raises(ValueError, match="did you mean 'strategy'"):
        DropinSettings.from_options({"stratgy": "greedy"})


# ---- the app's Export page ---------------------------------------------------------------------
@pytest.mark.slow
def test_export_page_lines_run(tmp_path, monkeypatch, app_in_one_run):
    """The two lines the Export page shows run the schedule (here one of the same model)."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from ios_core.cost import make_cost_model
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.search import optimize

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=300).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="w_model").select("squeezenet").run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    code = next(c.value for c in at.code if "optimize_module" in c.value)
    name = re.search(r"schedule='([^']+)'", code).group(1)
    loaded = load_model("squeezenet", batch=1)
    traced = trace_model(loaded.module, loaded.example_input, name="squeezenet")
    optimize(traced.graph, "ios-both", make_cost_model("simulated:h100")).save(
        str(tmp_path / name))
    monkeypatch.chdir(tmp_path)
    scope = {"model": loaded.module, "x": loaded.example_input}
    exec(code, scope)  # noqa: S102 - the page's own text, the point of the test
    assert scope["fast"].plan.source == "file"
    assert_same(scope["fast"](loaded.example_input), loaded.module(loaded.example_input), 1e-3)
