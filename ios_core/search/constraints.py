"""What-if searches: pin a stage, forbid a stage, forbid merging an operator, and re-solve.

The constraints never touch the DP. :class:`ConstrainedCost` wraps a cost model and prices every
stage the constraints rule out at ``+inf``; the DP's minimum over the remaining schedules is then
the constrained optimum, exactly:

* a **pinned** stage ``(strategy, ops)``: any other stage that runs one of its ops is ruled out,
  so the only way left to run those ops is that very stage;
* a **forbidden** stage ``(strategy, ops)``: that stage is ruled out (other stages of the same
  ops, or of some of them, stay allowed);
* **no merge** for an op: every merge stage of two or more ops that holds it is ruled out.

The wrapper is exact only for the full DP: the branch and bound (``SearchConfig.bound_slack``)
takes a stage to cost at least its slowest part alone, and a part priced ``+inf`` would prune the
very stage a pin asks for. :func:`optimize_constrained` therefore searches with the bound off
(every stage of the DP costed once: a lookup for a profile, a formula for a simulated device).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ios_core.cost.base import CostModel, Groups, StageCost
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule
from ios_core.search import optimize
from ios_core.search.config import SearchConfig
from ios_core.search.dp import MODES

__all__ = ["ConstrainedCost", "ConstraintError", "Constraints", "StageRule",
           "optimize_constrained"]

StageRule = tuple[str, frozenset[str]]  # (strategy, the stage's ops)


class ConstraintError(ValueError):
    """Constraints that cannot be met, or that do not apply, said in plain words."""


@dataclass(frozen=True)
class Constraints:
    """Stages pinned or forbidden, and ops that may not be merged (all hashable, so a search
    under them can be cached)."""

    pinned: tuple[StageRule, ...] = ()
    forbidden: tuple[StageRule, ...] = ()
    no_merge: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def rule(strategy: str, groups: Iterable[Sequence[str]]) -> StageRule:
        """The rule naming a stage by its strategy and ops.

        >>> strategy, ops = Constraints.rule("merge", [["b", "a"]])
        >>> strategy, sorted(ops)  # a set of ops: their order in the stage does not matter
        ('merge', ['a', 'b'])
        """
        return strategy, frozenset(n for g in groups for n in g)

    def __bool__(self) -> bool:
        return bool(self.pinned or self.forbidden or self.no_merge)

    def allows(self, strategy: str, groups: Groups) -> bool:
        """Whether a stage may appear in a schedule under these constraints.

        >>> c = Constraints(pinned=(("merge", frozenset({"a", "b"})),), no_merge=frozenset({"x"}))
        >>> c.allows("merge", (("a", "b"),)), c.allows("concurrent", (("a",), ("b",)))
        (True, False)
        >>> c.allows("concurrent", (("c",),)), c.allows("merge", (("x", "y"),))
        (True, False)
        """
        ops = frozenset(n for g in groups for n in g)
        for pin in self.pinned:
            if ops & pin[1] and (strategy, ops) != pin:
                return False
        if (strategy, ops) in self.forbidden:
            return False
        return not (strategy == "merge" and len(ops) > 1 and ops & self.no_merge)

    def describe(self) -> list[str]:
        """One line per constraint, for messages and the app.

        >>> Constraints(forbidden=(("merge", frozenset({"b", "a"})),)).describe()
        ['forbid merge of a, b']
        """
        def names(ops: frozenset[str]) -> str:
            return ", ".join(sorted(ops))

        return ([f"pin {s} of {names(ops)}" for s, ops in self.pinned]
                + [f"forbid {s} of {names(ops)}" for s, ops in self.forbidden]
                + [f"never merge {n}" for n in sorted(self.no_merge)])


class ConstrainedCost:
    """A cost model that prices the stages ``constraints`` rule out at ``+inf`` and asks ``base``
    for the rest (its name, device and versions are the base's: the schedule's times are)."""

    def __init__(self, base: CostModel, constraints: Constraints) -> None:
        self.base, self.constraints = base, constraints
        self.name, self.device = base.name, base.device
        self.torch = getattr(base, "torch", "")
        self.cudnn = getattr(base, "cudnn", "")

    def stage_cost(self, graph: OpGraph, strategy: str, groups: Groups) -> StageCost:
        if not self.constraints.allows(strategy, groups):
            return StageCost(math.inf)
        return self.base.stage_cost(graph, strategy, groups)


def optimize_constrained(graph: OpGraph, strategy: str, cost: CostModel,
                         constraints: Constraints, config: SearchConfig | None = None,
                         model_name: str | None = None) -> Schedule:
    """The best ``strategy`` schedule of ``graph`` under ``constraints`` (the full DP: the branch
    and bound is off, see the module docstring); :class:`ConstraintError` when none exists."""
    if strategy not in MODES:
        raise ConstraintError(f"{strategy} does not search, so there is nothing to re-solve: "
                              "pin and forbid apply to " + ", ".join(sorted(MODES)))
    _check_ops(graph, constraints)
    config = replace(config or SearchConfig(), bound_slack=None)
    found = optimize(graph, strategy, ConstrainedCost(cost, constraints), config,
                     model_name=model_name)
    if not math.isfinite(found.predicted_ms):
        raise ConstraintError(
            "no schedule meets " + "; ".join(constraints.describe()) + ": a pinned stage must "
            f"be one the {strategy} search can form (its ops in one DP part, within r="
            f"{config.r} and s={config.s}), and forbidding leaves some op no stage to run in")
    return found


def _check_ops(graph: OpGraph, constraints: Constraints) -> None:
    known = {n.name for n in graph.nodes}
    named = set(constraints.no_merge).union(*(ops for _, ops in constraints.pinned),
                                            *(ops for _, ops in constraints.forbidden))
    unknown = sorted(named - known)
    if unknown:
        raise ConstraintError(f"the model has no operator {', '.join(unknown[:5])}")
    seen: set[str] = set()
    for _, ops in constraints.pinned:
        if ops & seen:
            raise ConstraintError("two pinned stages share "
                                  f"{', '.join(sorted(ops & seen))}: an op runs in one stage")
        seen |= ops
