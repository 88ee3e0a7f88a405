"""Capturing real models: size-dependent Python traced with the example input's values, one
message for every module that cannot be traced, leaf modules by name and by class (library,
schedule files and CLI), and models with several inputs and outputs.

The models are in ``tests/_real_models.py``; the real torchvision and timm models in
``tests/test_zoo.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import fx

from ios_core.cli.main import build_parser, main
from ios_core.cost import make_cost_model
from ios_core.frontend import capture, tracing
from ios_core.frontend.models import ModelLoadError, load_model
from ios_core.frontend.tracing import TraceError, run_graph, trace_model
from ios_core.ir.schedule import Schedule, ScheduleError
from ios_core.runtime.executor import check
from ios_core.search import optimize
from tests._real_models import Gate, Repeat

SAME = "tests._real_models:same_padding"
UNTRACEABLE = "tests._real_models:two_untraceable"
TWO_IO = "tests._real_models:two_in_two_out"


def _outputs(value) -> list[torch.Tensor]:
    return [value] if isinstance(value, torch.Tensor) else list(value)


def _assert_reproduces(traced, inputs: tuple[torch.Tensor, ...]) -> None:
    with torch.no_grad():
        expected = _outputs(traced.module(*inputs))
    got = _outputs(run_graph(traced, *inputs))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


# ---- size-dependent Python ----------------------------------------------------------------------
def test_size_dependent_python_is_traced_with_the_example_input_sizes() -> None:
    loaded = load_model(SAME)
    with pytest.raises(Exception):  # noqa: B017 - plain fx cannot: math.ceil of a proxy
        fx.symbolic_trace(loaded.module)
    traced = trace_model(loaded.module, loaded.example_input)
    traced.graph.validate()
    _assert_reproduces(traced, loaded.inputs)
    assert [n.shape for n in traced.graph if n.kind == "conv"] == [(1, 8, 8, 8), (1, 8, 8, 8)]


@pytest.mark.parametrize("name", ["ios_demo", "squeezenet"])
def test_tracing_with_values_gives_the_symbolic_graph(name: str, monkeypatch) -> None:
    """Models fx traces alone keep their graphs (and fingerprints); with values they would too."""
    loaded = load_model(name)
    symbolic = trace_model(loaded.module, loaded.example_input, name=name).graph

    def with_values(model, leaves=(), inputs=None):
        return capture._capture_concretely(model, leaves, inputs)

    monkeypatch.setattr(tracing, "capture", with_values)
    concrete = trace_model(loaded.module, loaded.example_input, name=name).graph
    assert concrete.fingerprint() == symbolic.fingerprint()


def test_a_module_that_fails_on_the_example_input_is_named() -> None:
    loaded = load_model(SAME)
    with pytest.raises(TraceError, match=r"module 'stem' \(SamePadConv\) fails on the example"):
        trace_model(loaded.module, torch.randn(1, 4, 15, 15))  # 4 channels, the conv wants 3


# ---- what cannot be traced: one message, and leaf modules ---------------------------------------
def test_every_untraceable_module_is_named_in_one_message() -> None:
    loaded = load_model(UNTRACEABLE)
    with pytest.raises(TraceError) as info:
        trace_model(loaded.module, loaded.example_input)
    text = str(info.value)
    assert "cannot trace 2 modules" in text
    assert "'gate' (Gate)" in text and "'repeat' (Repeat)" in text
    assert "if x.mean() > 0" in text and "int(x.abs().amax())" in text  # the lines that broke
    assert "stem" not in text  # its size-dependent padding was traced
    assert "leaf_modules=['gate', 'repeat']" in text and "leaf_modules=[Gate, Repeat]" in text
    assert "--leaf-module gate --leaf-module repeat" in text


@pytest.mark.parametrize("leaves", [
    ["gate", "repeat"],  # qualified names
    [Gate, Repeat],  # classes
    ["Gate", "tests._real_models.Repeat"],  # class names, short and qualified
], ids=["names", "classes", "class-names"])
def test_leaf_modules_by_name_and_by_class(leaves: list) -> None:
    loaded = load_model(UNTRACEABLE)
    traced = trace_model(loaded.module, loaded.example_input, leaf_modules=leaves)
    assert traced.graph["gate"].kind == "call" and traced.graph["repeat"].kind == "call"
    _assert_reproduces(traced, loaded.inputs)
    assert traced.leaf_modules == tuple(capture.leaf_label(x) for x in leaves)
    # the recorded labels are leaf specs too: the same graph again
    again = trace_model(loaded.module, loaded.example_input, leaf_modules=traced.leaf_modules)
    assert again.graph.fingerprint() == traced.graph.fingerprint()


def test_an_unknown_leaf_module_is_refused_with_a_suggestion() -> None:
    loaded = load_model(UNTRACEABLE)
    with pytest.raises(TraceError, match="did you mean 'gate'"):
        trace_model(loaded.module, loaded.example_input, leaf_modules=["gat", "repeat"])


# ---- several inputs and outputs -----------------------------------------------------------------
def test_load_model_with_two_inputs_given_as_a_tensor_and_a_shape() -> None:
    loaded = load_model(TWO_IO, batch=2, seed=3)
    x, y = loaded.example_input
    assert loaded.inputs == (x, y)
    assert x.shape == (2, 3, 12, 12) and y.shape == (2, 4, 12, 12)  # tensor cut, shape batched
    same = load_model(TWO_IO, batch=2, seed=3).example_input[1]
    other = load_model(TWO_IO, batch=2, seed=4).example_input[1]
    assert torch.equal(y, same) and not torch.equal(y, other)  # seeded


@pytest.mark.parametrize(("example", "words"), [
    ((), "empty tuple"),
    ((torch.zeros(1, 3, 4, 4), (3, 4)), "example input 1"),
])
def test_bad_several_inputs_say_which(example, words: str, monkeypatch) -> None:
    import tests._real_models as models

    monkeypatch.setattr(models, "bad", lambda: (torch.nn.Identity(), example), raising=False)
    with pytest.raises(ModelLoadError, match=words):
        load_model("tests._real_models:bad")


def test_two_inputs_and_two_outputs_through_optimize_and_check() -> None:
    loaded = load_model(TWO_IO)
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name)
    graph = traced.graph
    assert len(graph.inputs) == 2 and len(graph.outputs) == 2
    _assert_reproduces(traced, loaded.inputs)
    schedule = optimize(graph, "ios-both", make_cost_model("simulated:h100"),
                        model_name=loaded.name)
    result = check(traced, schedule)
    assert result.ok, result


# ---- schedule files and the CLI -----------------------------------------------------------------
def test_a_schedule_records_its_leaf_modules() -> None:
    loaded = load_model(UNTRACEABLE)
    traced = trace_model(loaded.module, loaded.example_input, leaf_modules=["gate", "Repeat"])
    schedule = optimize(traced.graph, "sequential", make_cost_model("simulated:h100"),
                        model_name=UNTRACEABLE, leaf_modules=traced.leaf_modules)
    data = schedule.to_json()
    assert data["model"]["leaf_modules"] == ["gate", "Repeat"]
    assert Schedule.loads(schedule.dumps()).model.leaf_modules == ("gate", "Repeat")
    del data["model"]["leaf_modules"]  # a file of before leaf modules were recorded
    assert Schedule.from_json(data).model.leaf_modules == ()
    data["model"]["leaf_modules"] = "gate"
    with pytest.raises(ScheduleError, match="leaf_modules"):
        Schedule.from_json(data)


def test_cli_leaf_module_is_recorded_and_rebuilt(tmp_path, capsys) -> None:
    out, dot = str(tmp_path / "s.json"), str(tmp_path / "s.dot")
    assert main(["optimize", "--model", UNTRACEABLE, "--out", out, "-q"]) == 2
    err = capsys.readouterr().err
    assert "'gate' (Gate)" in err and "'repeat' (Repeat)" in err and "--leaf-module" in err

    assert main(["optimize", "--model", UNTRACEABLE, "--leaf-module", "gate",
                 "--leaf-module", "Repeat", "--out", out, "-q"]) == 0
    with open(out) as f:
        assert json.load(f)["model"]["leaf_modules"] == ["gate", "Repeat"]
    capsys.readouterr()
    assert main(["run", out, "--check", "--device", "cpu", "-q"]) == 0  # leaves from the file
    assert "matches" in capsys.readouterr().out
    assert main(["export", out, "--dot", dot, "-q"]) == 0
    with open(dot) as f:
        assert "gate" in f.read()


def test_every_tracing_command_takes_leaf_modules() -> None:
    parser = build_parser()
    for argv in (["optimize", "--out", "s.json"], ["run", "s.json"], ["export", "s.json"],
                 ["profile"]):
        args = parser.parse_args([*argv, "--leaf-module", "a.b", "--leaf-module", "Gate"])
        assert args.leaf_module == ["a.b", "Gate"], argv
