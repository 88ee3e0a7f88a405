"""What-if constraints (ios_core.search.constraints): the DP under the +inf-pricing wrapper equals
a brute force over every schedule that meets the constraints, on small random DAGs."""

from __future__ import annotations

import math
import random

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend import trace_model
from ios_core.frontend.models import load_model
from ios_core.search import SearchConfig, optimize
from ios_core.search.constraints import (
    ConstrainedCost,
    ConstraintError,
    Constraints,
    optimize_constrained,
)
from ios_core.search.dp import solve_part

from .test_dp import BIG, DP_STRATEGIES, brute_force, cost_fn, endings_brute
from .toy_graphs import ToyCost, random_dag


class _RuledCost:
    """The brute force's view of the constraints: ``latency`` is +inf where they rule out."""

    def __init__(self, base: ToyCost, constraints: Constraints) -> None:
        self.base, self.constraints = base, constraints

    def latency(self, strategy, groups) -> float:
        groups = tuple(tuple(g) for g in groups)
        if not self.constraints.allows(strategy, groups):
            return math.inf
        return self.base.latency(strategy, groups)


def _random_constraints(rng: random.Random, graph, strategy: str) -> Constraints:
    """A pin, a forbidden stage and maybe an op that may not merge, drawn from real stages."""
    names = [n.name for n in graph.nodes]
    state = frozenset(names)
    stages = []
    for _ in range(3):  # endings of a few states (each a downset: drop endings repeatedly)
        found = endings_brute(graph, names, state, BIG, BIG, strategy)
        stages += [Constraints.rule(st, groups) for (st, groups), _ in found]
        _, sub = rng.choice(found)
        state = state - sub
        if not state:
            break
    pin, forbid = rng.choice(stages), rng.choice(stages)
    no_merge = frozenset(rng.sample(names, 1)) if rng.random() < 0.5 else frozenset()
    return Constraints(pinned=(pin,), forbidden=() if forbid == pin else (forbid,),
                       no_merge=no_merge)


def test_constrained_dp_equals_constrained_brute_force():
    """120 seeded DAGs of 4..7 ops, every DP strategy, random pins, bans and no-merge ops."""
    checked = infeasible = 0
    for seed in range(40):
        rng = random.Random(7000 + seed)
        graph = random_dag(rng, rng.randint(4, 7))
        toy = ToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in DP_STRATEGIES:
            cons = _random_constraints(rng, graph, strategy)
            expect = brute_force(graph, strategy, _RuledCost(toy, cons))
            result = solve_part(graph, names, strategy,
                                cost_fn(ConstrainedCost(toy, cons)), BIG, BIG)
            if math.isinf(expect):
                assert math.isinf(result.cost_ms), (seed, strategy)
                infeasible += 1
                continue
            assert result.cost_ms == pytest.approx(expect, abs=1e-9), (seed, strategy)
            picked = [Constraints.rule(st, g) for st, g, _ in result.stages]
            assert all(cons.allows(st, g) for st, g, _ in result.stages)
            assert cons.pinned[0] in picked
            checked += 1
    assert checked > 80 and infeasible < checked  # most draws can be met


def test_optimize_constrained_pins_forbids_and_says_when_it_cannot():
    rng = random.Random(3)
    graph = random_dag(rng, 7, fans=True)
    toy = ToyCost.random(graph, 3)
    free = optimize(graph, "ios-both", toy, SearchConfig(bound_slack=None))
    best = max(free.stages, key=lambda st: len(st.ops))
    rule = Constraints.rule(best.strategy, best.groups)
    banned = optimize_constrained(graph, "ios-both", toy, Constraints(forbidden=(rule,)))
    assert rule not in [Constraints.rule(st.strategy, st.groups) for st in banned.stages]
    assert banned.predicted_ms >= free.predicted_ms - 1e-12
    pinned = optimize_constrained(graph, "ios-both", toy, Constraints(pinned=(rule,)))
    assert pinned.predicted_ms == pytest.approx(free.predicted_ms)  # pinning the optimum's own
    with pytest.raises(ConstraintError, match="no schedule meets"):
        optimize_constrained(graph, "ios-both", toy,
                             Constraints(pinned=(rule,), forbidden=(rule,)))
    with pytest.raises(ConstraintError, match="does not search"):
        optimize_constrained(graph, "greedy", toy, Constraints(pinned=(rule,)))
    with pytest.raises(ConstraintError, match="no operator"):
        optimize_constrained(graph, "ios-both", toy, Constraints(no_merge=frozenset({"zz"})))


def test_no_merge_on_a_real_model_removes_its_merges():
    """ios_demo on the simulated H100: its merge stage goes when its convs may not merge."""
    loaded = load_model("ios_demo")
    graph = trace_model(loaded.module, loaded.example_input, name="ios_demo").graph
    cost = SimulatedCost("h100")
    free = optimize(graph, "ios-both", cost)
    merged = {n for st in free.stages if st.strategy == "merge" for n in st.ops}
    if not merged:
        pytest.skip("the simulated H100 merges nothing in ios_demo")
    cons = Constraints(no_merge=frozenset(merged))
    out = optimize_constrained(graph, "ios-both", cost, cons)
    assert not any(st.strategy == "merge" and len(st.ops) > 1 and set(st.ops) & merged
                   for st in out.stages)
    assert out.predicted_ms >= free.predicted_ms - 1e-12
