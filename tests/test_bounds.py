"""Lower bounds: critical path and work over capacity."""

from __future__ import annotations

import doctest
from collections.abc import Sequence

import pytest

from ios_core.cost import SimulatedCost, StageCost, bounds, critical_path_ms, work_bound_ms
from ios_core.ir.graph import OpGraph

from ._graphs_cost import Builder, inception_block

BRANCHES = [["a"], ["b1", "b2"], ["c1", "c2", "c3"], ["p", "pc"]]


def test_doctest() -> None:
    assert doctest.testmod(bounds).failed == 0


def test_chain_critical_path_is_the_sum() -> None:
    b = Builder("chain", (1, 32, 28, 28))
    b.conv("c1", "x", 32)
    b.conv("c2", "c1", 32, k=3)
    b.pool("p", "c2")
    graph, cost = b.build(), SimulatedCost()
    assert critical_path_ms(graph, cost) == pytest.approx(
        sum(cost.op_ms(graph, n) for n in ("c1", "c2", "p"))
    )


def test_critical_path_takes_the_longest_branch() -> None:
    graph, cost = inception_block(), SimulatedCost()
    t = {n.name: cost.op_ms(graph, n.name) for n in graph}
    paths = [["a"], ["b1", "b2"], ["c1", "c2", "c3"], ["p", "pc"]]
    expected = max(sum(t[n] for n in p) for p in paths) + t["cat"]
    assert critical_path_ms(graph, cost) == pytest.approx(expected)


@pytest.mark.parametrize("preset", ["h100", "a100", "v100"])
def test_schedules_respect_both_bounds(preset: str) -> None:
    graph, cost = inception_block(), SimulatedCost(preset)
    sequential = sum(cost.op_ms(graph, n.name) for n in graph)
    parallel = cost.stage_cost(graph, "concurrent", BRANCHES).ms + cost.op_ms(graph, "cat")
    merged = (
        cost.stage_cost(graph, "merge", [["a", "b1", "c1"]]).ms
        + cost.stage_cost(graph, "concurrent", [["b2"], ["c2", "c3"], ["p", "pc"]]).ms
        + cost.op_ms(graph, "cat")
    )
    cp, work = critical_path_ms(graph, cost), work_bound_ms(graph, cost)
    for total in (sequential, parallel, merged):
        assert total >= cp - 1e-12
    for total in (sequential, parallel):
        assert total >= work - 1e-12
    assert 0 < work <= cp <= sequential


def test_work_bound_dominates_for_big_ops() -> None:
    b = Builder("wide", (1, 128, 112, 112))  # convs that fill the GPU on their own
    for i in range(4):
        b.conv(f"c{i}", "x", 256, k=3)
    graph, cost = b.build([f"c{i}" for i in range(4)]), SimulatedCost()
    cp, work = critical_path_ms(graph, cost), work_bound_ms(graph, cost)
    assert work > 3 * cp
    all_at_once = cost.stage_cost(graph, "concurrent", [[f"c{i}"] for i in range(4)]).ms
    assert all_at_once >= work


class ConstantCost:
    """A generic CostModel without the analytic extras: every op takes 1 ms."""

    name, device = "const", "const"

    def stage_cost(
        self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
    ) -> StageCost:
        return StageCost(float(max(len(g) for g in groups)), estimated=True)


def test_generic_cost_model() -> None:
    graph, cost = inception_block(), ConstantCost()
    assert critical_path_ms(graph, cost) == 4.0  # c1 -> c2 -> c3 -> cat
    assert work_bound_ms(graph, cost, share=lambda g, n: 1.0) == len(graph)
    assert work_bound_ms(graph, cost, share=lambda g, n: 0.5) == len(graph) / 2
    default = work_bound_ms(graph, cost)  # occupancy borrowed from the simulated H100
    h100 = SimulatedCost("h100")
    assert default == pytest.approx(sum(h100.op_share(graph, n.name) for n in graph))
