"""The engine's levers on the GPU: each against the plain CUDA path (streams + one CUDA graph).

    PYTHONPATH=. python3 -m pytest -m cuda -q tests/test_cuda_levers.py

fp32 comparisons run with TF32 off, so that a lever that computes something else cannot hide in
TF32's rounding; the fused cuDNN paths must really run (a refusal fails the test, naming cuDNN's
reason) so that a torch/cuDNN upgrade that drops them is noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from ios_core.cost.analytic import SimulatedCost
from ios_core.runtime.executor import check, compile_schedule, relative_error
from ios_core.runtime.options import EngineOptions
from ios_core.search import optimize
from tests._lever_models import LEVER_SCHEDULES, lever_schedule, lever_traced
from tests.test_levers import ALL, OPTIONS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

TOL = 1e-4  # fp32, TF32 off: other cuDNN algorithms, same math


@contextmanager
def no_tf32() -> Iterator[None]:
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="module")
def traced():
    return lever_traced(batch=1, hw=16)


def _x(traced, seed: int = 1) -> torch.Tensor:
    shape = traced.graph.inputs[0].shape
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _schedules(traced):
    found = {"ios-both": optimize(traced.graph, "ios-both", SimulatedCost("h100"))}
    return {**{n: lever_schedule(traced, n) for n in LEVER_SCHEDULES}, **found}


def _run(traced, schedule, options=None, use_graph=True, dtype=torch.float32):
    compiled = compile_schedule(traced, schedule, "cuda", dtype, use_graph, options=options)
    outs = []
    for seed in (1, 2):  # a second input: the replay must read the new static input
        outs.append(compiled(_x(traced, seed)).float().cpu())
    return outs, compiled


@pytest.mark.parametrize("use_graph", [True, False])
@pytest.mark.parametrize("opt", sorted(OPTIONS))
def test_option_matches_plain_cuda(traced, opt: str, use_graph: bool) -> None:
    with no_tf32():
        for name, schedule in _schedules(traced).items():
            want, _ = _run(traced, schedule, use_graph=use_graph)
            got, compiled = _run(traced, schedule, OPTIONS[opt], use_graph)
            for g, w in zip(got, want, strict=True):
                assert relative_error([g], [w]) < TOL, (name, compiled.lever_report())


def test_fused_cudnn_paths_really_run(traced) -> None:
    opts = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True)
    for name in ("merge_reversed", "sequential_like"):
        _, compiled = _run(traced, lever_schedule(traced, name), opts)
        report = compiled.lever_report()
        assert "conv_relu_refused" not in report, report
        assert "conv_add_relu_refused" not in report, report
        assert set(report["conv_relu"]) == {"fused"} and report["conv_add_relu"] == {"fused": 1}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("nhwc", [False, True])
def test_reduced_precision(traced, dtype: torch.dtype, nhwc: bool) -> None:
    schedule = lever_schedule(traced, "merge_reversed")
    with no_tf32():
        want, _ = _run(traced, schedule)
    got, compiled = _run(traced, schedule, EngineOptions(
        fuse_conv_relu=True, fuse_conv_add_relu=True, concat="inplace", channels_last=nhwc),
        dtype=dtype)
    for g, w in zip(got, want, strict=True):
        assert relative_error([g], [w]) < 3e-2, compiled.lever_report()
    if dtype == torch.float16:  # cuDNN's fused graphs take fp16; bf16 support varies by version
        assert "conv_relu_refused" not in compiled.lever_report()


def test_concat_modes_on_cuda(traced) -> None:
    _, compiled = _run(traced, lever_schedule(traced, "merge_reversed"),
                       EngineOptions(concat="inplace"))
    report = compiled.lever_report()
    assert report["concat"] == {"view": 1, "inplace": 1} and report["slots"] == {"slot": 2}


def test_priority_stream_and_cap(traced) -> None:
    opts = EngineOptions(order="longest-first", stream_priority=True, stream_cap=2)
    _, compiled = _run(traced, lever_schedule(traced, "wide"), opts)
    streams = compiled._pool.take(compiled.num_streams)
    assert compiled.num_streams == 2
    assert streams[0].priority < streams[1].priority  # lower number: higher priority


def test_benchmark_mode_captures_and_restores(traced) -> None:
    before = torch.backends.cudnn.benchmark
    with no_tf32():
        want, _ = _run(traced, lever_schedule(traced, "wide"))
        got, _ = _run(traced, lever_schedule(traced, "wide"), ALL)
    assert torch.backends.cudnn.benchmark == before
    for g, w in zip(got, want, strict=True):
        assert relative_error([g], [w]) < TOL


def test_measured_cost_with_options(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    g = traced.graph
    plain = MeasuredCost(traced, warmup=2, iters=5)
    fast = MeasuredCost(traced, warmup=2, iters=5, options=ALL)
    for strategy, groups in (("concurrent", [["conv_q", "conv_r", "add_2"]]),
                             ("concurrent", [["conv_a", "conv_b", "add"],
                                             ["avg_pool2d", "add_1"]]),
                             ("merge", [["e3", "e1"]]),
                             ("concurrent", [["cat_1"]])):
        for cost in (plain, fast):
            assert cost.stage_cost(g, strategy, groups).ms > 0


@pytest.mark.parametrize("model", ["squeezenet", "inception_v3"])
def test_sample_model_all_levers(model: str) -> None:
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    loaded = models.load_model(model, batch=1)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=model)
    schedule = optimize(traced.graph, "ios-both", SimulatedCost("h100"))
    result = check(traced, schedule, device="cuda", options=ALL)  # TF32 off: tolerance 5e-4
    assert result.ok, result
    _, compiled = _run(traced, schedule, ALL)
    assert "conv_relu_refused" not in compiled.lever_report(), compiled.lever_report()


def test_measured_merge_stage_ending_in_its_concat(traced) -> None:
    # built by the engine as the executor runs it: the wide conv, then the concat as a view
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=1, iters=5)
    joined = cost.stage_cost(traced.graph, "merge", (("e3", "e1", "cat"),))
    alone = cost.stage_cost(traced.graph, "merge", (("e3", "e1"),))
    assert joined.ms > 0 and alone.ms > 0 and not joined.estimated
    assert cost.measured == 2
