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
