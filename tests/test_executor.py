"""The executor's CPU path computes what the model computes, stage kind by stage kind."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.tracing import trace_model
from ios_core.ir.schedule import ScheduleError
from ios_core.runtime.executor import (
    TOLERANCES,
    TYPICAL_OWN_ERROR,
    CheckResult,
    check,
    compile_schedule,
    release_lists,
    scaled_tolerance,
    tolerance_for,
)
from ios_core.runtime.timing import Timing, time_ms, time_samples
from tests._hand_models import SCHEDULES, hand_traced, make_schedule, run_in_order, sequential


@pytest.fixture(scope="module")
def traced():
    return hand_traced(batch=2)


def _input(traced, seed: int = 1) -> torch.Tensor:
    return torch.randn(traced.graph.inputs[0].shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_ops_in_order(traced, name: str) -> None:
    compiled = compile_schedule(traced, make_schedule(traced.graph, SCHEDULES[name]))
    x = _input(traced)
    out = compiled(x)
    ref = run_in_order(traced, x)
    assert isinstance(out, tuple) and len(out) == 2  # the graph has two outputs
    for o, r in zip(out, ref, strict=True):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


def test_sequential_matches_module_at_batch_1() -> None:
    traced = hand_traced(batch=1)
    compiled = compile_schedule(traced, sequential(traced.graph))
    x = _input(traced)
    for o, r in zip(compiled(x), traced.module(x), strict=True):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_check_passes(traced, name: str) -> None:
    result = check(traced, make_schedule(traced.graph, SCHEDULES[name]), seed=3)
    assert isinstance(result, CheckResult)
    assert result.ok and result.tolerance == 5e-4
    assert 0 <= result.rel_err < 1e-5


def test_check_catches_a_wrong_kernel(traced) -> None:
    broken = dataclasses.replace(traced, kernels={**traced.kernels, "s": FnKernel(torch.sub, {})})
    result = check(broken, sequential(traced.graph))
    assert not result.ok and result.rel_err > 1e-2


def test_check_scales_its_tolerance_with_the_models_own_error() -> None:
    from tests._cli_models import ill_conditioned

    module, shape = ill_conditioned()
    traced = trace_model(module, torch.randn(1, *shape))
    result = check(traced, sequential(traced.graph))
    assert result.own_rel_err > 10 * TYPICAL_OWN_ERROR  # float32 loses digits at 1e4
    assert result.tolerance == scaled_tolerance(5e-4, result.own_rel_err) > 5e-3
    assert result.ok and not result.note, result
    # a wrong kernel is still caught at the wider tolerance
    broken = dataclasses.replace(traced, kernels={**traced.kernels, "sub": FnKernel(torch.add, {})})
    assert not check(broken, sequential(traced.graph)).ok


def test_check_of_an_all_zero_output_is_never_ok() -> None:
    from tests._cli_models import silent

    module, shape = silent()
    traced = trace_model(module, torch.randn(1, *shape))
    result = check(traced, sequential(traced.graph))
    assert result.rel_err == 0 and not result.ok and "all zeros" in result.note


def test_outputs_are_fresh_tensors(traced) -> None:
    compiled = compile_schedule(traced, make_schedule(traced.graph, SCHEDULES["merge_all_five"]))
    first = compiled(_input(traced, 1))
    kept = [t.clone() for t in first]
    compiled(_input(traced, 2))
    for a, b in zip(first, kept, strict=True):
        assert torch.equal(a, b)


def test_replay_writes_static_outputs(traced) -> None:
    compiled = compile_schedule(traced, sequential(traced.graph))
    compiled.static_inputs[0].copy_(_input(traced, 5))
    compiled.replay()
    for o, r in zip(compiled.static_outputs, run_in_order(traced, _input(traced, 5)), strict=True):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)
    assert compiled.static_inputs[0].abs().sum() > 0  # random static input, never zeros
    assert not compiled.uses_cuda_graph and compiled.num_streams == 0


def test_intermediates_are_released(traced) -> None:
    schedule = make_schedule(traced.graph, SCHEDULES["merge_all_five"])
    compiled = compile_schedule(traced, schedule)
    drops = release_lists(traced.graph, compiled._plans)
    dropped = [n for d in drops for n in d]
    assert "c" not in dropped and "cat" not in dropped  # graph outputs stay
    assert sorted(dropped) == sorted({"x", *traced.graph.input_names,
                                      *(n.name for n in traced.graph.nodes)} - {"c", "cat"})
    assert "b" in drops[1] and "a" in drops[2]  # dropped after their last reader's stage


# ---- invalid schedules are refused before anything runs ---------------------------------------
class Counting(FnKernel):
    calls = 0

    def __call__(self, *inputs):
        Counting.calls += 1
        return super().__call__(*inputs)

    def to(self, device, dtype=None):
        return self


def _counting(traced):
    kernels = {name: Counting(k, {}) for name, k in traced.kernels.items()}
    return dataclasses.replace(traced, kernels=kernels)


BAD = {
    "dependency": ([("concurrent", [["b2"], ["b"]])], "dependency"),
    "missing op": ([("concurrent", [["a"]])], "missing"),
    "twice": ([("concurrent", [["a"], ["a"]])], "twice"),
    "group order": ([("concurrent", [["b2", "b"]])], "before"),
    "merge of a non-conv": ([("merge", [["a", "p"]])], "merge"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_schedule_rejected_before_running(traced, case: str) -> None:
    stages, words = BAD[case]
    counting = _counting(traced)
    Counting.calls = 0
    with pytest.raises(ScheduleError, match=words):
        compile_schedule(counting, make_schedule(traced.graph, stages))
    assert Counting.calls == 0


def test_schedule_for_another_model_rejected(traced) -> None:
    schedule = sequential(traced.graph)
    other = dataclasses.replace(schedule.model, fingerprint="0" * 16)
    with pytest.raises(ScheduleError, match="another model"):
        compile_schedule(traced, dataclasses.replace(schedule, model=other))


def test_wrong_input_shape_rejected(traced) -> None:
    compiled = compile_schedule(traced, sequential(traced.graph))
    with pytest.raises(ValueError, match="batch size"):
        compiled(torch.randn(1, 8, 12, 12))


def test_missing_kernel_named(traced) -> None:
    kernels = dict(traced.kernels)
    del kernels["pc"]
    with pytest.raises(KeyError, match="pc"):
        compile_schedule(dataclasses.replace(traced, kernels=kernels), sequential(traced.graph))


# ---- tolerances and timing --------------------------------------------------------------------
def test_tolerance_table() -> None:
    assert tolerance_for("cpu", torch.float32) == 5e-4
    assert tolerance_for("cuda:0", torch.float16) == 2e-2
    assert TOLERANCES[("cuda", torch.float32)] == 5e-3
    with pytest.raises(ValueError, match="no tolerance"):
        tolerance_for("cpu", torch.int8)


def test_time_samples_on_cpu(traced) -> None:
    compiled = compile_schedule(traced, sequential(traced.graph))
    timing = time_samples(compiled, warmup=1, iters=5)
    assert isinstance(timing, Timing) and len(timing.samples_ms) == 5
    assert timing.device == "cpu" and timing.median_ms > 0 and timing.min_ms <= timing.median_ms
    assert set(timing.to_json()) >= {"median_ms", "p10_ms", "p90_ms", "iters"}
    assert time_ms(lambda: None, warmup=0, iters=3, device="cpu") >= 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_measured_cost_needs_cuda(traced) -> None:
    from ios_core.cost.measured import CudaUnavailableError, MeasuredCost

    with pytest.raises(CudaUnavailableError, match="profile:h100 or simulated:h100"):
        MeasuredCost(traced)


@pytest.mark.parametrize("quick, iters", [(0, 10), (11, 10)])
def test_measured_cost_refuses_quick_replays_outside_its_replays(traced, quick, iters) -> None:
    from ios_core.cost.measured import MeasuredCost

    with pytest.raises(ValueError, match="quick_iters"):
        MeasuredCost(traced, iters=iters, quick_iters=quick)
