"""The CUDA path (streams + one CUDA graph) and the measured cost model; run on the lent GPU.

    PYTHONPATH=. python3 -m pytest -m cuda -q tests/test_cuda.py
"""

from __future__ import annotations

import pytest
import torch

from ios_core.runtime.executor import check, compile_schedule, relative_error
from tests._hand_models import SCHEDULES, hand_traced, make_schedule, run_in_order, sequential

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

TF32_TOL = 5e-3  # cuDNN convs run in TF32 by default


@pytest.fixture(scope="module")
def traced():
    return hand_traced(batch=2, hw=16)


def _input(traced, seed: int) -> torch.Tensor:
    return torch.randn(traced.graph.inputs[0].shape, generator=torch.Generator().manual_seed(seed))


def _schedules(traced):
    named = {name: make_schedule(traced.graph, st) for name, st in SCHEDULES.items()}
    return {**named, "sequential": sequential(traced.graph)}


def _assert_matches_cpu(traced, out, x) -> None:
    ref = run_in_order(traced, x)
    out = out if isinstance(out, tuple) else (out,)
    assert all(o.device.type == "cuda" for o in out)
    assert relative_error(out, ref) < TF32_TOL


@pytest.mark.parametrize("use_graph", [True, False])
@pytest.mark.parametrize("name", [*sorted(SCHEDULES), "sequential"])
def test_cuda_matches_cpu(traced, name: str, use_graph: bool) -> None:
    schedule = _schedules(traced)[name]
    compiled = compile_schedule(traced, schedule, device="cuda", use_cuda_graph=use_graph)
    assert compiled.uses_cuda_graph == use_graph
    widest = max(len(st.groups) for st in schedule.stages)
    assert compiled.num_streams == (widest if widest > 1 else 0)  # pool = max groups
    for seed in (1, 2):  # a second input: the replay must read the new static input
        x = _input(traced, seed)
        _assert_matches_cpu(traced, compiled(x), x)


def test_one_graph_replay_runs_the_whole_schedule(traced) -> None:
    compiled = compile_schedule(traced, make_schedule(traced.graph, SCHEDULES["merge_all_five"]),
                                device="cuda")
    pointers = [t.data_ptr() for t in compiled.static_outputs]
    x = _input(traced, 3)
    compiled.static_inputs[0].copy_(x)
    compiled.replay()  # nothing but the graph: every output must be fresh
    torch.cuda.synchronize()
    _assert_matches_cpu(traced, tuple(compiled.static_outputs), x)
    assert [t.data_ptr() for t in compiled.static_outputs] == pointers  # static buffers


def test_call_returns_clones(traced) -> None:
    compiled = compile_schedule(traced, sequential(traced.graph), device="cuda")
    first = compiled(_input(traced, 4))
    kept = [t.clone() for t in first]
    compiled(_input(traced, 5))
    assert all(torch.equal(a, b) for a, b in zip(first, kept, strict=True))
    assert all(a.data_ptr() != s.data_ptr() for a, s in zip(first, compiled.static_outputs,
                                                             strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_check_on_cuda(traced, dtype: torch.dtype) -> None:
    result = check(traced, make_schedule(traced.graph, SCHEDULES["two_merges_and_groups"]),
                   device="cuda", dtype=dtype)
    assert result.ok, result


@pytest.mark.parametrize("tf32,tolerance", [(False, 5e-4), (True, 5e-3)])
def test_check_tf32_switch(traced, tf32: bool, tolerance: float) -> None:
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    result = check(traced, sequential(traced.graph), device="cuda", tf32=tf32)
    assert result.ok and result.tolerance == tolerance, result
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


# ---- measured cost ------------------------------------------------------------------------------
STAGES = [
    ("merge", (("a", "b", "c", "d", "e"),)),
    ("concurrent", (("a",), ("b",), ("c",), ("d",), ("e",))),
    ("concurrent", (("b", "b2"), ("d", "d2"), ("p", "pc", "s"))),
    ("concurrent", (("a",),)),
]


def test_measured_cost_positive_repeatable_cached(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=5, iters=30)
    assert cost.name == "measured" and cost.device == torch.cuda.get_device_name()
    for strategy, groups in STAGES:
        first = cost.stage_cost(traced.graph, strategy, groups)
        again = cost.latency_ms(cost.measure(traced.graph, strategy, groups))
        assert first.ms > 0 and not first.estimated
        assert 0.5 < again / first.ms < 2.0, (strategy, groups, first.ms, again)
    before = cost.measured
    cost.stage_cost(traced.graph, *STAGES[0])
    assert cost.measured == before and cost.hits == 1


@pytest.mark.parametrize("weights,slope,copies", [("warm", False, 2), ("cold", False, 2),
                                                  ("cold", True, 1), ("cold", False, None)])
def test_stages_measured_together_agree_with_alone_and_fill_the_cache(traced, weights, slope,
                                                                      copies) -> None:
    """Several stages in one graph, each between timing events inside it (issue 14), time each
    stage as measuring it alone does, within the noise of microsecond stages."""
    from ios_core.cost.measured import MeasuredCost

    alone = MeasuredCost(traced, warmup=3, iters=20, weights=weights)
    together = MeasuredCost(traced, warmup=3, iters=20, weights=weights)
    stages = [*STAGES, ("concurrent", (("a",), ("b",)))]
    together.prefetch(traced.graph, [*stages, stages[0]], together=3, copies=copies, slope=slope)
    assert together.measured == len(stages)  # the repeat is measured once
    runs = set(together.copies.values())  # copies of a stage a replay ran
    assert runs == ({3} if slope else {2} if copies else runs & set(range(5, 21)))
    for strategy, groups in stages:
        ms = together.stage_cost(traced.graph, strategy, groups).ms
        assert 0.5 < ms / alone.stage_cost(traced.graph, strategy, groups).ms < 2.0
    assert together.measured == len(stages)  # every answer came from the cache


def test_measured_cost_of_a_stage_is_below_its_ops_in_sequence(traced) -> None:
    # sanity, not a benchmark: five tiny convs merged cost less than five separate launches
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced)
    merged = cost.stage_cost(traced.graph, *STAGES[0]).ms
    singles = sum(cost.stage_cost(traced.graph, "concurrent", ((n,),)).ms for n in "abcde")
    assert merged < singles


@pytest.mark.parametrize("weights", ["warm", "cold"])
def test_measured_cost_weight_modes(traced, weights: str) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=2, iters=10, weights=weights)
    assert cost.cold is (weights == "cold")
    for strategy, groups in STAGES:
        c = cost.stage_cost(traced.graph, strategy, groups)
        assert c.ms > 0 and not c.estimated
    assert cost.phase_s["capture"] > 0 and cost.phase_s["replay"] > 0


def test_measured_cost_one_eager_run_is_enough_to_capture(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=2, iters=10, eager_runs=1, weights="cold")
    for strategy, groups in STAGES:
        assert cost.stage_cost(traced.graph, strategy, groups).ms > 0


def test_cold_copies_are_made_once_and_shared_by_stages(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=1, iters=3, weights="cold", max_unroll=5)
    cost.stage_cost(traced.graph, "concurrent", (("a",),))
    first = dict(cost._copies)
    assert len(first) == cost.unroll - 1  # copies 1..unroll-1 of kernel "a"; copy 0 is its own
    cost.stage_cost(traced.graph, *STAGES[1])  # reads "a" again, with four more kernels
    assert all(cost._copies[k] is v for k, v in first.items())
    assert len(cost._copies) == 5 * (cost.unroll - 1)


def test_short_stages_get_more_copies(traced) -> None:
    # a replay's fixed cost is spread over the copies: short stages need more of them
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=1, iters=3, unroll=5, max_unroll=20, replay_us=100.0)
    short = cost.copies_for(traced.graph, "concurrent", (("a",),))
    assert 5 < short <= 20
    long_cost = MeasuredCost(traced, warmup=1, iters=3, unroll=5, max_unroll=20, replay_us=1.0)
    assert long_cost.copies_for(traced.graph, "concurrent", (("a",),)) == 5
    cost.stage_cost(traced.graph, "concurrent", (("a",),))
    (key,) = cost.copies
    assert cost.copies[key] == short
    timing = cost.timings[key]  # per-copy samples: one copy of a tiny conv, a few µs
    assert 0 < timing.median_ms < 0.1 and len(timing.samples_ms) == 3


def test_quick_replays_are_extended_only_when_they_spread(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    steady = MeasuredCost(traced, warmup=1, iters=6, quick_iters=2, quick_spread=float("inf"))
    noisy = MeasuredCost(traced, warmup=1, iters=6, quick_iters=2, quick_spread=-1.0)
    for cost, replays in ((steady, 2), (noisy, 6)):
        cost.stage_cost(traced.graph, *STAGES[1])
        (timing,) = cost.timings.values()
        assert len(timing.samples_ms) == replays and timing.median_ms > 0


def test_copies_follow_the_parts_measured_so_far(traced) -> None:
    # a stage's estimate is the prior's, scaled by how its groups measured alone against it
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=1, iters=3)
    strategy, groups = STAGES[1]
    prior = cost.prior.stage_cost(traced.graph, strategy, groups).ms
    assert cost.estimate_ms(traced.graph, strategy, groups) == prior  # nothing measured yet
    measured = priced = 0.0
    for g in groups:
        measured += cost.stage_cost(traced.graph, "concurrent", (tuple(g),)).ms
        priced += cost.prior.stage_cost(traced.graph, "concurrent", (tuple(g),)).ms
    assert cost.estimate_ms(traced.graph, strategy, groups) == pytest.approx(
        prior * measured / priced)


@pytest.mark.parametrize("eager_copies", [1, None])
def test_stage_graphs_share_one_pool_whatever_is_warmed_up(traced, eager_copies) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced, warmup=1, iters=3, weights="cold", max_unroll=5,
                        eager_copies=eager_copies)
    first = cost.stage_cost(traced.graph, *STAGES[1]).ms
    pool = cost._graph_pool
    assert pool is not None and cost._anchor is not None
    again = cost.measure(traced.graph, *STAGES[1], copies=5)  # a second capture into the pool
    assert cost._graph_pool == pool and again.median_ms > 0 and first > 0
    assert set(cost.phase_s) == {"build", "eager", "capture", "replay", "release"}


def test_measured_cost_auto_is_cold_only_past_l2(traced) -> None:
    from ios_core.cost.measured import MeasuredCost

    cost = MeasuredCost(traced)  # the hand model's few KB of weights sit in L2
    assert cost.param_bytes < cost.l2_bytes and not cost.cold


def test_measured_cost_memory_stays_bounded(traced) -> None:
    # stage graphs share one pool; eager runs and inputs fill the ordinary cache, and before the
    # pool was shared, dead graphs' private pools filled the H100 within a minute
    from ios_core.cost.measured import MeasuredCost

    limit, segment = 32 * 2**20, 64 * 2**20
    cost = MeasuredCost(traced, warmup=1, iters=2, cache_limit_bytes=limit)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()
    for _ in range(100):
        cost.measure(traced.graph, *STAGES[2])
    assert torch.cuda.memory_reserved() <= max(limit, before) + segment


# ---- sample models through the frontend and the schedulers ------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["sequential", "ios-both"])
def test_inception_v3_schedule_on_cuda(strategy: str) -> None:
    sample_models = pytest.importorskip("sample_models")
    frontend = pytest.importorskip("ios_core.frontend.tracing")
    schedulers = pytest.importorskip("ios_core.search")
    analytic = pytest.importorskip("ios_core.cost.analytic")
    model, shape = sample_models.build_model("inception_v3")
    traced = frontend.trace_model(model, torch.randn(1, *shape), name="inception_v3")
    schedule = schedulers.optimize(traced.graph, strategy, analytic.SimulatedCost("h100"))
    if strategy == "ios-both":
        assert any(len(st.groups) > 1 or st.strategy == "merge" for st in schedule.stages)
    result = check(traced, schedule, device="cuda")  # TF32 off: see executor.TOLERANCES
    assert result.ok and result.tolerance == 5e-4, result
