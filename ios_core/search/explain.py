"""One part of a search, solved with the search's own knobs: what a teaching view shows.

A view that explains a schedule (the app's "How the DP decides") must run the DP that made it,
not a look-alike. :func:`solve_part_with` takes the search's :class:`SearchConfig` itself and hands
every knob the DP reads (:data:`DP_KNOBS`) to :func:`~ios_core.search.dp.solve_part`;
:func:`~ios_core.search.optimize` solves each of its parts through this same function, so the two
cannot drift apart. The other knobs decide which parts there are (:data:`PART_KNOBS`, see
:func:`search_parts`) or only concern the greedy strategy (``stream_cap``).

It overrides nothing, on purpose. Branch and bound (``bound_slack``) stays on: with an observer
that wants every step, the DP costs the endings the bound skipped after each state's choice, only
to report them, so every state and transition still shows and the chosen stages stay the
search's. A view that wants another DP (other r and s, to show what pruning removes) passes its
own config (``dataclasses.replace(config, r=..., s=...)``) and says so.

A search whose cost model measures stages on the GPU also fits an envelope to them
(``envelope_margin``, ``envelope_quantile``, :mod:`~ios_core.search.envelope`);
:func:`~ios_core.search.optimize` shares one across its parts, and a part solved alone here fits
its own.

>>> DP_KNOBS
('r', 's', 'bound_slack', 'merge_concat', 'envelope_margin', 'envelope_quantile')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel, Groups, StageCost
from ios_core.ir.graph import OpGraph
from ios_core.ir.partition import split_parts
from ios_core.search.batch import concurrent_batch
from ios_core.search.config import SearchConfig
from ios_core.search.dp import PartResult, solve_part
from ios_core.search.envelope import Envelope
from ios_core.search.observer import SearchObserver
from ios_core.search.progress import ProgressTracker

__all__ = ["DP_KNOBS", "PART_KNOBS", "envelope_for", "search_parts", "solve_part_with",
           "stage_cost_of"]

# the SearchConfig fields the DP of one part reads, all passed by solve_part_with
DP_KNOBS = ("r", "s", "bound_slack", "merge_concat", "envelope_margin", "envelope_quantile")
# the fields that decide the parts (search_parts), not how one part is solved
PART_KNOBS = ("max_part_ops", "max_part_states", "part_order")


def search_parts(graph: OpGraph, config: SearchConfig) -> list[list[str]]:
    """The DP parts a search of ``graph`` under ``config`` solves, in order (ops in topological
    order within each): every block, cut within ``max_part_ops`` and ``max_part_states`` in the
    config's ``part_order``."""
    return split_parts(graph, config.max_part_ops, config.max_part_states, config.part_order)


def solve_part_with(
    graph: OpGraph,
    part: Sequence[str],
    strategy: str,
    cost: CostModel,
    config: SearchConfig,
    observer: SearchObserver | None = None,
    part_index: int = 0,
    n_parts: int = 1,
    *,
    tracker: ProgressTracker | None = None,
    envelope: Envelope | None = None,
) -> PartResult:
    """Run the IOS DP (``strategy``: ios-merge, ios-parallel or ios-both) over ``part`` (its ops
    in topological order) exactly as a search under ``config`` runs it: r, s, bound_slack and
    merge_concat all come from ``config``, and stages are costed by ``cost`` as in the search.

    Pass an observer that overrides ``on_state`` / ``on_transition`` to see every step. The result
    equals the search's stages for ``part`` when ``part`` is one of :func:`search_parts`: a cost
    model with bulk latencies (:func:`~ios_core.search.batch.concurrent_batch`) is solved on
    arrays unless the observer wants every step, and both ways pick the same stages.
    ``tracker``: the whole search's progress (:func:`~ios_core.search.optimize` passes one).
    ``envelope``: the search's (see the module docstring); None fits a new one where
    :func:`envelope_for` says the search has one.
    """
    envelope = envelope or envelope_for(cost, config)
    prior = None
    if envelope is not None:
        simulated = SimulatedCost("h100")

        def prior(kind: str, groups: Groups) -> float:
            return simulated.stage_cost(graph, kind, groups).ms

    stage_cost = stage_cost_of(graph, cost)
    return solve_part(
        graph, list(part), strategy, stage_cost, config.r, config.s, observer, part_index,
        n_parts, bound_slack=config.bound_slack, merge_concat=config.merge_concat,
        batch=concurrent_batch(cost, graph), tracker=tracker, envelope=envelope, prior=prior,
    )


def stage_cost_of(graph: OpGraph, cost: CostModel) -> Callable[[str, Groups], StageCost]:
    """``cost``'s stage latencies on ``graph`` as the DP asks for them: (kind, groups)."""
    def stage_cost(kind: str, groups: Groups) -> StageCost:
        result = cost.stage_cost(graph, kind, groups)
        return result if isinstance(result, StageCost) else StageCost(float(result))
    return stage_cost


def envelope_for(cost: CostModel, config: SearchConfig) -> Envelope | None:
    """A new envelope for a search of ``config`` on ``cost``, or None where it has none: only a
    cost model that measures on the GPU (``cost.measures``) gets one, and only under the branch and
    bound; simulated and profile costs answer cheaply, so nothing is worth skipping.

    >>> envelope_for(SimulatedCost("h100"), SearchConfig()) is None
    True
    """
    if (config.envelope_margin is None or config.bound_slack is None
            or not getattr(cost, "measures", False)):
        return None
    return Envelope(margin=config.envelope_margin, quantile=config.envelope_quantile)
