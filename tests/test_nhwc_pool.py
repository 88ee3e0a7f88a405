"""NHWC pooling as one 3-d pool: exact against the module, and the lever that installs it."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend
from ios_core.runtime import executor
from ios_core.runtime.nhwc_pool import NhwcPool, nhwc_pool_pays, nhwc_poolable
from ios_core.runtime.options import DEFAULT_OPTIONS
from ios_core.runtime.prepare import prepare_kernels
from ios_core.search import optimize

POOLS = [nn.MaxPool2d(3, 2, ceil_mode=True), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d((3, 2), (2, 1)),
         nn.AvgPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False),
         nn.AvgPool2d(2, ceil_mode=True), nn.AvgPool2d(3, 2, 1, divisor_override=5)]


@pytest.mark.parametrize("pool", POOLS, ids=repr)
@pytest.mark.parametrize("shape", [(1, 96, 55, 55), (3, 5, 9, 12)])
def test_nhwc_pool_equals_the_module(pool, shape):
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    got, want = NhwcPool(pool)(x), pool(x)
    assert got.shape == want.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_nchw_inputs_take_the_module_path():
    pool = nn.MaxPool2d(3, 2)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(NhwcPool(pool)(x), pool(x))


def test_only_exact_cases_are_poolable():
    assert nhwc_poolable(nn.MaxPool2d(3)) and nhwc_poolable(nn.AvgPool2d(3))
    assert not nhwc_poolable(nn.MaxPool2d(3, dilation=2))
    assert not nhwc_poolable(nn.MaxPool2d(3, return_indices=True))
    assert not nhwc_poolable(nn.AdaptiveAvgPool2d(1))
    assert nhwc_pool_pays(nn.MaxPool2d(3)) and not nhwc_pool_pays(nn.AvgPool2d(3))


def _uses_nhwc_pool(kernel) -> bool:
    expr = getattr(getattr(kernel, "fn", None), "expr", None)
    return isinstance(getattr(expr, "fn", None), NhwcPool)


def test_lever_rewrites_pools_and_keeps_the_schedule_output():
    loaded = models.load_model("squeezenet", batch=1, seed=0)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
    on = DEFAULT_OPTIONS
    off = replace(DEFAULT_OPTIONS, nhwc_pool=False)
    assert on.nhwc_pool
    kernels = prepare_kernels(traced.kernels, on)
    pools = [n.name for n in traced.graph.nodes if n.kind == "pool"]
    rewritten = [n for n in pools if _uses_nhwc_pool(kernels[n])]
    assert rewritten == ["pool1", "pool4", "pool8"]  # the global average pool keeps its module
    assert not any(_uses_nhwc_pool(k) for k in prepare_kernels(traced.kernels, off).values())
    schedule = optimize(traced.graph, "ios-both", SimulatedCost("h100"))
    inputs = executor.random_inputs(traced.graph, 0)
    plain = executor.compile_schedule(traced, schedule, "cpu", options=off)(*inputs)
    fast = executor.compile_schedule(traced, schedule, "cpu", options=on)(*inputs)
    torch.testing.assert_close(fast, plain, rtol=0, atol=0)


class _FunctionalPools(nn.Module):
    """Pools called as functions, as in graphs Dynamo captures (and in hand-written forwards)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        y = torch.nn.functional.max_pool2d(self.conv(x), 3, 2, ceil_mode=True)
        z = torch.max_pool2d(y, kernel_size=(2, 3), stride=1, padding=1)
        return torch.nn.functional.max_pool2d(z, 2, dilation=2)  # dilated: kept as it is


def _pool_kernels(traced):
    kernels = prepare_kernels(traced.kernels, DEFAULT_OPTIONS)
    return [_uses_nhwc_pool(kernels[n.name]) for n in traced.graph.nodes if n.kind == "pool"]


def test_functional_max_pools_get_the_3d_pool_too():
    model = _FunctionalPools().eval()
    x = torch.randn(1, 3, 33, 33)
    traced = frontend.trace_model(model, x)
    assert _pool_kernels(traced) == [True, True]  # the dilated pool is not a "pool" op here
    kernels = prepare_kernels(traced.kernels, DEFAULT_OPTIONS)
    assert sum(_uses_nhwc_pool(k) for k in kernels.values()) == 2
    schedule = optimize(traced.graph, "ios-both", SimulatedCost("h100"))
    off = replace(DEFAULT_OPTIONS, nhwc_pool=False)
    got = executor.compile_schedule(traced, schedule, "cpu")(x)
    want = executor.compile_schedule(traced, schedule, "cpu", options=off)(x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)


def test_a_graph_dynamo_captured_gets_the_3d_pool_as_the_module_does():
    """The ``torch.compile`` backend's graphs call ``F.max_pool2d`` where the module called
    ``nn.MaxPool2d``: on the H200 that left googlenet's 13 max pools on PyTorch's NHWC kernel,
    0.22 ms a call slower than ``optimize_module`` (benchmarks/results/h200-dropin.md)."""
    from ios_core.dropin.backend import freeze, input_kinds

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
                          nn.Conv2d(8, 8, 1)).eval()
    x = torch.randn(1, 3, 20, 20)
    captured = []

    def keep(gm, example_inputs):
        captured.append((gm, list(example_inputs)))
        return gm.forward

    torch._dynamo.reset()
    with torch.no_grad():
        torch.compile(model, backend=keep)(x)
    ((gm, example),) = captured
    frozen = freeze(gm, example, input_kinds(gm, example))
    inputs = [t for t, k in zip(example, input_kinds(gm, example), strict=True) if k == "tensor"]
    traced = frontend.trace_model(frozen, tuple(inputs))
    assert _pool_kernels(traced) == [True]
    assert _pool_kernels(frontend.trace_model(model, x)) == [True]
