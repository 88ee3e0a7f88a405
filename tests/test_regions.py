"""Fused regions (frontend.regions) and their compiled epilogues (runtime.epilogue), on the CPU:
the region graph computes what the module computes under every lever set, merges skip regions
with an epilogue, and the compiled path (Dynamo's eager backend standing in for Inductor) traces
each epilogue without a graph break and compiles once per signature."""

from __future__ import annotations

import pytest
import torch

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.measured import fresh_copy, parameter_bytes
from ios_core.frontend import run_graph
from ios_core.frontend.regions import RegionKernel, fuse_regions
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
from ios_core.ir.merge import merge_problem
from ios_core.runtime import epilogue
from ios_core.runtime.executor import check
from ios_core.runtime.lowering import Lowering
from ios_core.runtime.options import options_from_label
from ios_core.search import optimize
from tests._region_models import region_traced


@pytest.fixture(scope="module")
def traced():
    return region_traced()


@pytest.fixture(scope="module")
def fused(traced):
    return fuse_regions(traced)


def test_regions_absorb_single_reader_chains(traced, fused) -> None:
    epilogues = {n.name: n.attrs.get("epilogue") for n in fused.graph}
    assert epilogues["se_fc2"] == ["mul"]  # gating: stem.0 has two readers, the gate one
    assert epilogues["proj.0"] == ["add"]  # the residual add joins the conv, not the SE output
    assert epilogues["a2.0"] == ["add+relu"]  # not `down`: its input is shared (it may merge)
    assert epilogues["down"] is None and isinstance(fused.kernels["bn"], RegionKernel)
    assert len(fused.graph.nodes) == len(traced.graph.nodes) - 3
    assert fused.graph["se_fc2"].inputs == ("se_fc1", "stem.0")
    x = traced.example_input
    with torch.no_grad():
        torch.testing.assert_close(run_graph(fused, x), traced.module(x), rtol=1e-5, atol=1e-5)


def test_merge_skips_regions_with_an_epilogue() -> None:
    attrs = dict(kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 in_channels=4, out_channels=4, activation="none")
    a = OpNode("a", "conv", ("x",), (1, 4, 4, 4), attrs)
    b = OpNode("b", "conv", ("x",), (1, 4, 4, 4), {**attrs, "epilogue": ["hardswish"]})
    g = OpGraph("m", (TensorSpec("x", (1, 4, 4, 4)),), (a, b), ("a", "b"))
    assert "fused region" in merge_problem(g, ["a", "b"])


class SiblingsNet(torch.nn.Module):
    """Convs that merge, with elementwise work after them: a RepVGG block (a 3x3 and a 1x1 conv
    of one input, summed, then ReLU) and two branches whose outputs are scaled (a layer-scale
    multiply) before their concat."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, c, 3, padding=1)
        self.k3, self.k1 = torch.nn.Conv2d(c, c, 3, padding=1), torch.nn.Conv2d(c, c, 1)
        self.b1, self.b2 = torch.nn.Conv2d(c, 4, 1), torch.nn.Conv2d(c, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        y = torch.relu(self.k3(s) + self.k1(s))
        return torch.cat([self.b1(y) * 0.5, self.b2(y) * 2.0], 1)


def test_convs_that_merge_keep_their_chains_out_of_their_regions() -> None:
    """An elementwise chain never joins a conv that could merge: the merge classes of the region
    graph are those of the traced graph, the chains are regions of their own, and a schedule
    that merges computes the module (with compiled epilogues too)."""
    from ios_core.frontend.tracing import trace_model
    from ios_core.ir.merge import mergeable_groups

    torch.manual_seed(0)
    traced = trace_model(SiblingsNet().eval(), torch.randn(1, 3, 10, 10))
    fused = fuse_regions(traced)
    assert mergeable_groups(fused.graph) == mergeable_groups(traced.graph)
    assert len(mergeable_groups(fused.graph)) == 2  # k3 + k1, and b1 + b2
    merged = {n for group in mergeable_groups(fused.graph) for n in group}
    assert not any(fused.graph[n].attrs.get("epilogue") for n in merged)
    # the sum + ReLU and the scalings are regions of their own: one compiled kernel each
    assert all(isinstance(fused.kernels[n], RegionKernel) for n in ("add", "mul", "mul_1"))
    schedule = optimize(fused.graph, "ios-merge", SimulatedCost("h100"))
    assert sum(stage.strategy == "merge" for stage in schedule.stages) == 2
    for label in ("default", "default+epi"):
        assert check(fused, schedule, options=options_from_label(label)).ok


@pytest.mark.parametrize("strategy", ["sequential", "ios-both"])
@pytest.mark.parametrize("label", ["plain", "default", "default+epi", "epi"])
def test_region_schedules_match_the_module(fused, strategy: str, label: str) -> None:
    schedule = optimize(fused.graph, strategy, SimulatedCost("h100"))
    result = check(fused, schedule, options=options_from_label(label))
    assert result.ok, result


@pytest.fixture
def compile_on_cpu(monkeypatch):
    """The compiled path on the CPU, with Dynamo's eager backend (no C compiler needed)."""
    monkeypatch.setattr(epilogue, "COMPILE_DEVICES", {"cpu"})
    monkeypatch.setattr(epilogue, "BACKEND", "eager")
    monkeypatch.setattr(epilogue, "_CACHE", {})
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_epilogues_trace_whole_and_are_cached(fused, compile_on_cpu) -> None:
    from torch._dynamo.utils import counters

    counters.clear()
    schedule = optimize(fused.graph, "ios-both", SimulatedCost("h100"))
    assert check(fused, schedule, options=options_from_label("default+epi")).ok
    # stem.0's hardswish, se_fc2 + gating, proj.0 + add, bn + relu (a2.0 is cuDNN's add+relu)
    assert epilogue.compiled_signatures() == 4
    assert sum(counters["graph_break"].values()) == 0
    bigger = fuse_regions(region_traced(hw=12))  # other sizes, same structure: no new compile
    schedule = optimize(bigger.graph, "sequential", SimulatedCost("h100"))
    assert check(bigger, schedule, options=options_from_label("default+epi")).ok
    assert epilogue.compiled_signatures() == 4


def test_global_means_compile_once_as_one_reduction(traced, compile_on_cpu) -> None:
    """``compile_mean``: the squeeze's spatial mean runs compiled (no graph break), once per
    input shape; other pools and ops are untouched; the output still matches."""
    from torch._dynamo.utils import counters

    counters.clear()
    options = options_from_label("default+gapc")
    lowering = Lowering(traced.graph, traced.kernels, options=options)
    assert isinstance(lowering.kernels["mean"], epilogue.EpilogueRegion)
    assert not isinstance(lowering.kernels["cat"], epilogue.EpilogueRegion)
    schedule = optimize(traced.graph, "ios-both", SimulatedCost("h100"))
    assert check(traced, schedule, options=options).ok
    assert epilogue.compiled_signatures() == 1
    assert sum(counters["graph_break"].values()) == 0
    bigger = region_traced(hw=12)
    assert check(bigger, optimize(bigger.graph, "sequential", SimulatedCost("h100")),
                 options=options).ok
    assert epilogue.compiled_signatures() == 2  # static sizes: a compile per shape


def test_fresh_copies_of_regions_compute_the_same(fused) -> None:
    lowering = Lowering(fused.graph, fused.kernels, options=options_from_label("default+epi"))
    k = lowering.kernels["se_fc2"]
    copy = fresh_copy(k)
    assert copy.epilogue.params[0].data_ptr() != k.epilogue.params[0].data_ptr()
    x, gate = torch.randn(1, 4, 1, 1), torch.randn(1, 8, 8, 8)
    torch.testing.assert_close(copy(x, gate), k(x, gate))
    assert parameter_bytes({"r": k}, torch.float32) == parameter_bytes(
        {"r": fused.kernels["se_fc2"]}, torch.float32) > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("label", ["default+epi", "default+epi+gapc"])
def test_compiled_epilogues_in_a_multi_stream_cuda_graph(fused, label: str) -> None:
    """Inductor's kernels of the epilogues (and, with ``gapc``, of the spatial mean) run inside
    the schedule's one CUDA graph, side streams included, and the output matches the module
    (TF32 off, ``check``'s default)."""
    schedule = optimize(fused.graph, "ios-both", SimulatedCost("h100"))
    assert any(len(s.groups) > 1 for s in schedule.stages)  # side streams are exercised
    result = check(fused, schedule, device="cuda", options=options_from_label(label))
    assert result.ok, result
    assert epilogue.compiled_signatures() >= 4
