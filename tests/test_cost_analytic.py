"""The simulated-device cost model: roofline per op, occupancy, concurrent and merge stages."""

from __future__ import annotations

import doctest
import gc

import pytest

import ios_core.cost as cost_pkg
from ios_core.cost import PRESETS, SimulatedCost, StageCost, make_cost_model
from ios_core.cost import analytic as analytic_mod
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec

from ._graphs_cost import Builder, inception_block

SHAPE = (1, 64, 14, 14)


def one_op(flops: int, nbytes: int, shape: tuple[int, ...] = SHAPE) -> OpGraph:
    node = OpNode("op", "call", ("x",), shape, {"target": "f"}, flops, nbytes)
    return OpGraph("one", (TensorSpec("x", shape),), (node,), ("op",))


def two_branches(shape: tuple[int, ...], cout: int, k: int = 1) -> OpGraph:
    """x -> a, x -> b: two independent convs reading the same tensor."""
    b = Builder("two", shape)
    b.conv("a", "x", cout, k=k)
    b.conv("b", "x", cout, k=k)
    return b.build(["a", "b"])


def test_doctests() -> None:
    for mod in (analytic_mod, cost_pkg):
        assert doctest.testmod(mod).failed == 0


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_monotone_in_flops_and_bytes(preset: str) -> None:
    cost = SimulatedCost(preset)
    flops_steps = [0, 10**6, 10**8, 10**10, 10**12]
    times = [cost.op_ms(g, "op") for g in (one_op(f, 10**5) for f in flops_steps)]
    assert times == sorted(times) and times[-1] > times[0]
    bytes_steps = [0, 10**4, 10**6, 10**8, 10**10]
    times = [cost.op_ms(g, "op") for g in (one_op(10**5, b) for b in bytes_steps)]
    assert times == sorted(times) and times[-1] > times[0]


def test_op_time_includes_launch_and_share_is_capped() -> None:
    cost = SimulatedCost("h100")
    empty = one_op(0, 0)
    assert cost.op_ms(empty, "op") == pytest.approx(cost.preset.launch_us * 1e-3)
    big = one_op(10**9, 10**9, (1, 256, 112, 112))
    assert cost.op_share(big, "op") == 1.0
    assert 0 < cost.op_share(empty, "op") < 1.0


def test_single_op_stage_is_that_op_under_both_strategies() -> None:
    graph, cost = inception_block(), SimulatedCost()
    for strategy in ("concurrent", "merge"):
        got = cost.stage_cost(graph, strategy, [["c2"]])
        assert got == StageCost(cost.op_ms(graph, "c2"), estimated=False)


def test_one_group_costs_the_sum_of_its_ops() -> None:
    graph, cost = inception_block(), SimulatedCost()
    chain = ["c1", "c2", "c3"]
    got = cost.stage_cost(graph, "concurrent", [chain]).ms
    assert got == pytest.approx(sum(cost.op_ms(graph, n) for n in chain))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_small_independent_ops_overlap(preset: str) -> None:
    graph, cost = two_branches((1, 192, 17, 17), 64), SimulatedCost(preset)
    a, b = cost.op_ms(graph, "a"), cost.op_ms(graph, "b")
    both = cost.stage_cost(graph, "concurrent", [["a"], ["b"]]).ms
    assert max(a, b) <= both < a + b


def test_gpu_filling_ops_do_not_overlap() -> None:
    graph, cost = two_branches((1, 128, 112, 112), 256, k=3), SimulatedCost()
    assert cost.op_share(graph, "a") == cost.op_share(graph, "b") == 1.0
    a, b = cost.op_ms(graph, "a"), cost.op_ms(graph, "b")
    both = cost.stage_cost(graph, "concurrent", [["a"], ["b"]]).ms
    assert both == pytest.approx(a + b, rel=0.03)


def test_concurrent_stage_at_least_longest_group() -> None:
    graph, cost = inception_block(), SimulatedCost()
    groups = [["a"], ["b1", "b2"], ["c1", "c2", "c3"], ["p", "pc"]]
    got = cost.stage_cost(graph, "concurrent", groups).ms
    sums = [sum(cost.op_ms(graph, n) for n in g) for g in groups]
    assert max(sums) <= got < sum(sums)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_merging_two_pointwise_convs_is_cheaper(preset: str) -> None:
    graph, cost = two_branches((1, 192, 17, 17), 64), SimulatedCost(preset)
    merged = cost.stage_cost(graph, "merge", [["a", "b"]]).ms
    assert merged < cost.op_ms(graph, "a") + cost.op_ms(graph, "b")
    assert merged >= max(cost.op_ms(graph, "a"), cost.op_ms(graph, "b"))


def test_merge_pays_for_zero_padded_kernels() -> None:
    b = Builder("mixed", (1, 192, 17, 17))
    b.conv("p1", "x", 64, k=1)
    b.conv("p2", "x", 64, k=1)
    b.conv("k3", "x", 64, k=3)
    graph, cost = b.build(["p1", "p2", "k3"]), SimulatedCost("v100")  # v100: compute-bound
    pointwise = cost.stage_cost(graph, "merge", [["p1", "p2"]]).ms
    mixed = cost.stage_cost(graph, "merge", [["p1", "k3"]]).ms
    # the 1x1 zero-padded to 3x3 does a 3x3's work: the pair costs more than the 3x3 alone
    assert mixed > pointwise and mixed > cost.op_ms(graph, "k3")


def test_presets_differ_and_are_named() -> None:
    graph = inception_block()
    times = {p: SimulatedCost(p).op_ms(graph, "c3") for p in PRESETS}
    assert len(set(times.values())) == len(PRESETS)
    assert times["h100"] < times["a100"] < times["v100"]
    cost = SimulatedCost("a100")
    assert (cost.name, cost.device) == ("simulated:a100", "simulated:a100")
    assert {"h100", "a100", "v100"} <= set(PRESETS)
    assert PRESETS["h100"].sms == 132 and PRESETS["a100"].sms == 108 and PRESETS["v100"].sms == 80


def test_deterministic_across_instances_and_calls() -> None:
    graph = inception_block()
    groups = [["a"], ["b1", "b2"], ["c1", "c2", "c3"], ["p", "pc"]]
    first = [SimulatedCost().stage_cost(graph, "concurrent", groups) for _ in range(3)]
    cost = SimulatedCost()
    again = [cost.stage_cost(graph, "concurrent", groups) for _ in range(3)]
    assert len(set(first + again)) == 1
    assert first[0].estimated is False


def test_cache_follows_the_graph_object() -> None:
    cost = SimulatedCost()
    small = cost.op_ms(one_op(10**6, 10**4), "op")
    gc.collect()  # the first graph is gone; its id may be reused by the next one
    big = cost.op_ms(one_op(10**12, 10**9), "op")
    assert big > small


def test_bigger_batch_costs_more() -> None:
    cost = SimulatedCost()
    small, large = inception_block((1, 192, 17, 17)), inception_block((16, 192, 17, 17))
    groups = [["a"], ["b1", "b2"], ["c1", "c2", "c3"], ["p", "pc"]]
    assert cost.stage_cost(large, "concurrent", groups).ms > cost.stage_cost(
        small, "concurrent", groups
    ).ms


def test_overrides_and_their_errors() -> None:
    graph = inception_block()
    base, free = SimulatedCost(), SimulatedCost("h100", launch_us=0.0)
    assert free.op_ms(graph, "a") < base.op_ms(graph, "a")
    assert free.params["launch_us"] == 0.0 and base.params["launch_us"] > 0
    with pytest.raises(ValueError, match="launch_ms"):
        SimulatedCost("h100", launch_ms=1.0)
    with pytest.raises(ValueError, match="overlap_eff"):
        SimulatedCost("h100", overlap_eff=1.5)
    with pytest.raises(ValueError, match="h100"):
        SimulatedCost("tpu")


def test_stage_errors() -> None:
    graph, cost = inception_block(), SimulatedCost()
    with pytest.raises(ValueError, match="strategy"):
        cost.stage_cost(graph, "fused", [["a"], ["b1"]])
    with pytest.raises(ValueError, match="at least one"):
        cost.stage_cost(graph, "concurrent", [])


def test_make_cost_model() -> None:
    cost = make_cost_model("simulated:v100")
    assert isinstance(cost, SimulatedCost) and cost.name == "simulated:v100"
    assert make_cost_model(" Simulated:H100 ").name == "simulated:h100"
    with pytest.raises(ValueError, match="simulated:h100, simulated:a100, simulated:v100"):
        make_cost_model("simulated:k80")
    with pytest.raises(ValueError, match="pass traced="):
        make_cost_model("measured")  # it runs the model's kernels, so it needs them
    with pytest.raises(ValueError, match="unknown cost source"):
        make_cost_model("magic")


def test_a_concat_ending_a_merge_is_free() -> None:
    # the executor makes it a view of the wide conv's output (schedulers/merge.py)
    from .toy_graphs import conv, graph_of

    cat = OpNode("cat", "concat", ("a", "b"), (1, 16, 8, 8), {"dim": 1})
    g = graph_of([conv("a", "x"), conv("b", "x", k=3), cat])
    sim = SimulatedCost("h100")
    merged = sim.stage_cost(g, "merge", (("a", "b"),)).ms
    assert sim.stage_cost(g, "merge", (("a", "b", "cat"),)).ms == merged
    assert sim.stage_cost(g, "concurrent", (("cat",),)).ms > 0  # alone it copies
