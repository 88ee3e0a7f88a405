"""The ``fuse_means`` lever (runtime.fused_means): which global average pools their producer's
compiled epilogue computes, that the pool then runs nothing, that stages read what they must, and
that schedules still compute what the module computes. On the CPU the epilogue runs eagerly; the
CUDA test runs it compiled."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ios_core.cost import make_cost_model
from ios_core.frontend.regions import fuse_regions
from ios_core.frontend.tracing import TracedModel, trace_model
from ios_core.runtime import steps
from ios_core.runtime.epilogue import MeanOut
from ios_core.runtime.executor import check, compile_schedule
from ios_core.runtime.fused_means import mean_pairs, plan_means
from ios_core.runtime.lowering import Lowering
from ios_core.runtime.options import options_from_label
from ios_core.search import optimize
from tests._epilogue_models import jitter_batch_norms, tiny_mobilenet

LABEL = "default+epi+gapfuse"
STRATEGIES = ("sequential", "greedy", "ios-both")


class PoolsNet(nn.Module):
    """Global average pools where the lever must tell apart: the squeeze of a conv + BN + ReLU
    whose value the gating multiply also reads (a pair: the bias and ReLU join the compiled
    epilogue), the squeeze of a conv that merges with a sibling (no pair), a pool of the graph
    input (no pair), and the flattening mean of a residual region before a linear head (a
    pair, keepdim False)."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.a = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.fc1, self.fc2 = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.b1, self.b2 = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)  # siblings: they merge
        self.c = nn.Conv2d(c, c, 3, padding=1)
        self.fc3, self.fc4 = nn.Linear(c, 5), nn.Linear(3, 5)
        jitter_batch_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(self.stem(x))
        y = y * torch.sigmoid(self.fc1(y.mean((2, 3), keepdim=True)))
        u, v = self.b1(y), self.b2(y)
        z = u + v * self.fc2(nn.functional.adaptive_avg_pool2d(v, 1))
        w = torch.relu(self.c(z) + z)
        return self.fc3(w.mean((2, 3))) + self.fc4(x.mean((2, 3)))


@pytest.fixture(scope="module")
def pools_net() -> TracedModel:
    torch.manual_seed(0)
    return fuse_regions(trace_model(PoolsNet().eval(), torch.randn(1, 3, 12, 12)))


@pytest.fixture(scope="module")
def mobilenet() -> TracedModel:
    module, shape = tiny_mobilenet()
    return fuse_regions(trace_model(module, torch.randn(1, *shape)))


def _pool_inputs(traced: TracedModel, pairs: dict[str, MeanOut]) -> set[str]:
    return {traced.graph[m.pool].inputs[0] for m in pairs.values()}


def test_pairs_are_the_pools_of_epilogue_producers_only(pools_net) -> None:
    g = pools_net.graph
    pairs = mean_pairs(g, pools_net.kernels)
    assert sorted(pairs) == ["a.0", "c"]
    assert [pairs["a.0"].keepdim, pairs["c"].keepdim] == [True, False]
    pools = {n.name for n in g.nodes if n.kind == "pool"}
    unpaired = pools - {m.pool for m in pairs.values()}
    # the merging sibling's pool and the input's pool stay ops of their own
    assert sorted(g[p].inputs[0] for p in unpaired) == ["b2", "x"]
    assert mean_pairs(g, pools_net.kernels, excluded=frozenset(pairs)) == {}


def test_no_pairs_without_both_levers(pools_net) -> None:
    for label in ("default+epi", "default+gapfuse", "default"):
        assert plan_means(pools_net.graph, pools_net.kernels, options_from_label(label)) == {}
    assert plan_means(pools_net.graph, pools_net.kernels, options_from_label(LABEL))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_schedules_match_the_module_and_the_pools_run_nothing(pools_net, mobilenet, strategy,
                                                              monkeypatch) -> None:
    def found_only(self, env) -> None:  # the fused pool must find its value written
        assert self.name in env, f"{self.name} was not computed by its producer"

    monkeypatch.setattr(steps.FusedMeanStep, "run", found_only)
    for traced in (pools_net, mobilenet):
        schedule = optimize(traced.graph, strategy, make_cost_model("simulated:h100"))
        result = check(traced, schedule, options=options_from_label(LABEL))
        assert result.ok, (strategy, result)
        compiled = compile_schedule(traced, schedule, options=options_from_label(LABEL))
        assert compiled.lever_report()["fused_means"] == 2


def test_a_stage_with_the_pool_but_not_its_producer_reads_the_pool(mobilenet) -> None:
    lowering = Lowering(mobilenet.graph, mobilenet.kernels, options=options_from_label(LABEL))
    (pool, src), *_ = lowering.pools.items()
    alone = lowering.stage_plan("concurrent", [[pool]])
    assert pool in alone.reads and src in alone.reads
    assert [type(s) for g in alone.groups for s in g] == [steps.FusedMeanStep]
    both = lowering.stage_plan("concurrent", [[src, pool]])
    assert pool not in both.reads
    assert [type(s) for g in both.groups for s in g] == [steps.ValueAndMeanStep,
                                                         steps.FusedMeanStep]
    env = {n: torch.randn(mobilenet.graph.shape_of(n)) for n in both.reads}
    for step in both.groups[0]:
        step.run(env)
    expected = env[src].mean((2, 3), keepdim=lowering.kernels.means[src].keepdim)
    torch.testing.assert_close(env[pool], expected)


def test_a_relu_conv_producer_runs_its_bias_and_relu_in_the_epilogue(pools_net) -> None:
    lowering = Lowering(pools_net.graph, pools_net.kernels, options=options_from_label(LABEL))
    relu_src = next(src for src in lowering.kernels.means
                    if pools_net.graph[src].activation == "relu")
    k = lowering.kernels[relu_src]
    assert k.head.activation == "none" and k.head.bias is None  # joined the compiled kernel
    assert k.mean is not None and k.epilogue.dynamic is False  # a reduction: compiled per shape


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fused_means_on_cuda_match_and_compile(pools_net, mobilenet) -> None:
    for traced in (pools_net, mobilenet):
        schedule = optimize(traced.graph, "ios-both", make_cost_model("simulated:h100"))
        result = check(traced, schedule, device="cuda", options=options_from_label(LABEL))
        assert result.ok, result
