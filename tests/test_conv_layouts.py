"""The ``conv_layouts`` lever (runtime.conv_layouts): which grouped convs could run NCHW without a
conversion kernel, that the choice follows the timing, and that schedules lowered with NCHW
pairs still compute what the module computes, with the layouts the plan promises. On the CPU the
timing is a stand-in (pairs are timed on CUDA only); the CUDA test times them for real."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.regions import fuse_regions
from ios_core.frontend.tracing import TracedModel, trace_model
from ios_core.runtime import conv_layouts, epilogue
from ios_core.runtime.conv_layouts import LayoutPlan, layout_pairs
from ios_core.runtime.executor import check
from ios_core.runtime.lowering import Lowering
from ios_core.runtime.options import options_from_label
from ios_core.search import optimize
from tests._epilogue_models import jitter_batch_norms

LABEL = "default+epi+layouts"


class GroupedNet(nn.Module):
    """Grouped convs in the places the lever must tell apart: a depthwise conv fed by a 1x1 conv
    + hardswish alone (a pair), one fed by a conv + ReLU with a residual add after it (a pair,
    the conv a region), one whose input has another reader (no pair), and a conv of two groups
    fed by a region (a pair)."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.expand = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False),
                                nn.BatchNorm2d(2 * c), nn.Hardswish())
        self.expand2 = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 1), nn.ReLU())
        self.dw2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.dw3 = nn.Conv2d(2 * c, 2 * c, 5, padding=2, groups=2 * c)
        self.grouped = nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1, groups=2)
        jitter_batch_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.dw(self.expand(x))
        y = self.dw2(self.expand2(y)) + y
        z = y * 0.5 + self.dw3(y)  # y has two readers: dw3 is no pair
        return self.grouped(z)


def grouped_traced(hw: int = 8) -> TracedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GroupedNet().eval()
        x = torch.randn(1, 3, hw, hw)
    return fuse_regions(trace_model(model, x, name="groupednet"))


@pytest.fixture(scope="module")
def traced() -> TracedModel:
    return grouped_traced()


def _names(traced: TracedModel) -> dict[str, str]:
    """Graph names by module path prefix (the tracer's names start with the module's)."""
    found = {}
    for n in traced.graph.nodes:
        for key in ("expand2", "expand", "dw3", "dw2", "dw", "grouped"):
            if n.name.startswith(key) and key not in found and n.kind == "conv":
                found[key] = n.name
                break
    return found


def test_pairs_are_grouped_convs_fed_by_their_only_reader(traced) -> None:
    names = _names(traced)
    pairs = layout_pairs(traced.graph, traced.kernels)
    convs = [c for _, c in pairs]
    assert names["dw"] in convs and names["dw2"] in convs and names["grouped"] in convs
    assert names["dw3"] not in convs  # its input is read by the scaling too
    assert (names["expand"], names["dw"]) in pairs
    assert (names["expand2"], names["dw2"]) in pairs
    assert all(traced.graph.consumers(p) == (c,) for p, c in pairs)


@pytest.fixture
def timed_on_cpu(monkeypatch):
    """Pairs 'timed' on the CPU by a stand-in that says whatever ``nchw_faster`` says."""
    calls = []
    verdict = {"nchw_faster": True}

    def fake_time_pair(first, second, first_inputs, second_rest) -> float:
        nchw = bool(getattr(second, "head_nchw", False))
        calls.append(nchw)
        return 1.0 if nchw == verdict["nchw_faster"] else 2.0

    monkeypatch.setattr(conv_layouts, "LAYOUT_DEVICES", {"cpu"})
    monkeypatch.setattr(conv_layouts, "_TIMED", {})
    monkeypatch.setattr(conv_layouts, "time_pair", fake_time_pair)
    return calls, verdict


def test_the_plan_follows_the_timing_and_is_cached(traced, timed_on_cpu) -> None:
    calls, verdict = timed_on_cpu
    options = options_from_label(LABEL)
    pairs = layout_pairs(traced.graph, traced.kernels)
    plan = Lowering(traced.graph, traced.kernels, options=options).kernels.layouts
    assert plan == LayoutPlan(frozenset(c for _, c in pairs), frozenset(p for p, _ in pairs))
    assert plan.timed == tuple((c, 2.0, 1.0) for _, c in pairs)  # each pair's two timings
    assert len(calls) == 2 * len(pairs)  # each pair timed both ways
    Lowering(traced.graph, traced.kernels, options=options)
    assert len(calls) == 2 * len(pairs)  # answered from the process's cache
    verdict["nchw_faster"] = False
    conv_layouts._TIMED.clear()
    assert Lowering(traced.graph, traced.kernels, options=options).kernels.layouts == LayoutPlan()
    for label in ("default+epi", "default+layouts", "epi+layouts"):  # lever off or inapplicable
        conv_layouts._TIMED.clear()
        lowering = Lowering(traced.graph, traced.kernels, options=options_from_label(label))
        assert lowering.kernels.layouts == LayoutPlan()


@pytest.mark.parametrize("compiled", [False, True])
def test_nchw_pairs_compute_the_module_with_the_promised_layouts(traced, timed_on_cpu,
                                                                 monkeypatch, compiled) -> None:
    if compiled:  # Dynamo's eager backend standing in for Inductor
        monkeypatch.setattr(epilogue, "COMPILE_DEVICES", {"cpu"})
        monkeypatch.setattr(epilogue, "BACKEND", "eager")
        monkeypatch.setattr(epilogue, "_CACHE", {})
        torch._dynamo.reset()
    options = options_from_label(LABEL)
    lowering = Lowering(traced.graph, traced.kernels, options=options)
    names = _names(traced)
    x = torch.randn(1, 8, 8, 8).contiguous(memory_format=torch.channels_last)
    produced = lowering.kernels[names["expand"]](x)
    assert produced.is_contiguous() and not produced.is_contiguous(
        memory_format=torch.channels_last)
    out = lowering.kernels[names["dw"]](produced)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert lowering.to_layout(names["expand"], x).is_contiguous()  # measured inputs follow
    assert lowering.to_layout(names["dw"], out).is_contiguous(memory_format=torch.channels_last)
    for strategy in ("sequential", "ios-both"):
        schedule = optimize(traced.graph, strategy, SimulatedCost("h100"))
        result = check(traced, schedule, options=options)
        assert result.ok, result
    if compiled:
        torch._dynamo.reset()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_layouts_timed_on_the_gpu_keep_the_output() -> None:
    """On CUDA the pairs are timed for real (whichever way they come out), compiled with
    Inductor, and the schedule's output matches the module (TF32 off, ``check``'s default)."""
    big = grouped_traced(hw=56)
    schedule = optimize(big.graph, "ios-both", SimulatedCost("h100"))
    result = check(big, schedule, device="cuda", options=options_from_label(LABEL))
    assert result.ok, result


def test_a_pair_whose_nchw_form_fails_stays_nhwc(traced, monkeypatch) -> None:
    def fails_for_nchw(first, second, first_inputs, second_rest) -> float:
        if getattr(second, "head_nchw", False):
            raise RuntimeError("no kernel for this layout")
        return 1.0

    monkeypatch.setattr(conv_layouts, "LAYOUT_DEVICES", {"cpu"})
    monkeypatch.setattr(conv_layouts, "_TIMED", {})
    monkeypatch.setattr(conv_layouts, "time_pair", fails_for_nchw)
    with pytest.warns(UserWarning, match="stays NHWC"):
        lowering = Lowering(traced.graph, traced.kernels, options=options_from_label(LABEL))
    assert lowering.kernels.layouts == LayoutPlan()
