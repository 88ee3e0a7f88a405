"""The zoo (``sample_models/zoo.py``): real torchvision and timm CNNs traced with no option.

Every zoo model is traced at its usual input size, as ``--model sample_models.zoo:NAME`` would;
two small ones (and a timm model with TF "same" padding, at an odd size) are also searched and
checked against their own forward on the CPU. Tests skip where torchvision or timm is absent.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from ios_core.cost import make_cost_model
from ios_core.frontend import capture
from ios_core.frontend.models import ModelLoadError, load_model
from ios_core.frontend.tracing import run_graph, trace_model
from ios_core.runtime.executor import check, compile_schedule
from ios_core.search import optimize
from sample_models import zoo

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
HAS_TIMM = HAS_TORCHVISION and importlib.util.find_spec("timm") is not None
TIMM = {"inception_v4", "nasnetalarge", "dpn68", "ghostnet_100"}
SIZES = {"inception_v3": 299, "inception_v4": 299, "nasnetalarge": 331}  # else 224

needs_torchvision = pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed")
needs_timm = pytest.mark.skipif(not HAS_TIMM, reason="timm is not installed")


def _param(name: str):
    return pytest.param(name, marks=needs_timm if name in TIMM else needs_torchvision)


@pytest.mark.parametrize("name", [_param(n) for n in zoo.MODELS])
def test_zoo_model_traces_with_no_option(name: str) -> None:
    loaded = load_model(f"sample_models.zoo:{name}")
    size = SIZES.get(name, 224)
    assert loaded.example_input.shape == (1, 3, size, size)
    assert not loaded.module.training
    traced = trace_model(loaded.module, loaded.example_input, name=name)
    traced.graph.validate()
    assert traced.graph.shape_of(traced.graph.outputs[0]) == (1, 1000)


@needs_torchvision
def test_small_zoo_model_runs_as_scheduled() -> None:
    loaded = load_model("sample_models.zoo:squeezenet1_1")
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name)
    schedule = optimize(traced.graph, "ios-both", make_cost_model("simulated:h100"))
    assert any(stage.strategy == "merge" for stage in schedule.stages)
    result = check(traced, schedule)
    assert result.ok, result


@needs_timm
def test_timm_same_padding_model_is_traced_with_values_and_runs_as_scheduled() -> None:
    module, (channels, _, _) = zoo.timm_model("tf_mobilenetv3_small_minimal_100")
    x = torch.randn(1, channels, 97, 97)  # odd: the "same" pads are asymmetric
    with pytest.raises(Exception):  # noqa: B017 - plain fx tracing fails on Conv2dSame
        capture.LeafTracer(()).trace(module)
    traced = trace_model(module, x)
    schedule = optimize(traced.graph, "greedy", make_cost_model("simulated:h100"))
    result = check(traced, schedule)
    assert result.ok, result


@needs_torchvision
def test_any_torchvision_model_through_the_generic_builder() -> None:
    module, shape = zoo.torchvision_model("shufflenet_v2_x0_5", input_size=96)
    assert shape == (3, 96, 96)
    x = torch.randn(1, *shape)
    traced = trace_model(module, x)
    with torch.no_grad():
        torch.testing.assert_close(run_graph(traced, x), module(x), rtol=1e-4, atol=1e-4)


@needs_torchvision
def test_import_torchvision_is_repeatable() -> None:
    first = zoo.import_torchvision()
    assert zoo.import_torchvision() is first and hasattr(first.models, "get_model")


def test_a_missing_package_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now fails as if absent
    if HAS_TORCHVISION:
        with pytest.raises(zoo.ZooError, match="pip install timm"):
            zoo.import_timm()
        with pytest.raises(ModelLoadError, match="pip install timm"):
            load_model("sample_models.zoo:dpn68")
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(zoo.ZooError, match="pip install torchvision"):
        zoo.import_torchvision()


SQUEEZES = {"mobilenet_v3_large": 9, "regnet_y_400mf": 17}  # SE squeezes + the classifier pool


@needs_torchvision
@pytest.mark.parametrize("name", ["mobilenet_v3_large", "regnet_y_400mf"])
def test_zoo_grouped_convs_run_nchw_and_keep_the_output(name: str, monkeypatch) -> None:
    """The conv_layouts lever on real depthwise and grouped convs (SE blocks, residual regions):
    every pair forced NCHW by a stand-in timing, the schedule still computes the model; and
    fuse_means with it, every squeeze computed by its producer's epilogue."""
    from ios_core.frontend.regions import fuse_regions
    from ios_core.runtime import conv_layouts
    from ios_core.runtime.options import options_from_label

    monkeypatch.setattr(conv_layouts, "LAYOUT_DEVICES", {"cpu"})
    monkeypatch.setattr(conv_layouts, "_TIMED", {})
    monkeypatch.setattr(conv_layouts, "time_pair",
                        lambda first, second, *_: 1.0 if getattr(second, "head_nchw", 0) else 2.0)
    loaded = load_model(f"sample_models.zoo:{name}")
    traced = fuse_regions(trace_model(loaded.module, loaded.example_input, name=name))
    assert len(conv_layouts.layout_pairs(traced.graph, traced.kernels)) >= 10
    schedule = optimize(traced.graph, "ios-both", make_cost_model("simulated:h100"))
    # with fuse_means too: the squeezes of SE blocks whose depthwise conv now reads NCHW
    options = options_from_label("default+epi+gapmv+layouts+gapfuse")
    result = check(traced, schedule, options=options)
    assert result.ok, result
    report = compile_schedule(traced, schedule, options=options).lever_report()
    assert report["fused_means"] == SQUEEZES[name], report
