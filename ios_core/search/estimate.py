"""The size of a search before it starts: DP states per part, and a rough guess of its time.

Counting a part's DP states is cheap (it is done anyway to cut the parts:
:func:`~ios_core.ir.partition.count_downsets`), so a CLI or an app can say how big a search is
before starting it. Its *time* depends on each state's endings, which cost as much to count as
to solve; the guess here is only the state count times a rate measured on a 2-core CPU with the
simulated device (:data:`CPU_SECONDS_PER_STATE`, from ``benchmarks/results/search-cost.md``).
It says nothing of a measured search, whose time is the GPU's time per stage; that one gets its
estimate from the running search (:mod:`~ios_core.search.progress`).

>>> e = SearchEstimate(strategy="ios-both", part_states=(4096, 100, 3), ops=120)
>>> e.states_total, e.largest_part
(4199, 4096)
>>> e.describe()
'3 DP parts, 4,199 states (per part: 4,096, 100, 3)'
>>> SearchEstimate(strategy="ios-both", part_states=(300, 0, 0), ops=30).describe()
'3 DP parts (2 repeat an earlier one), 300 states (per part: 300, 0, 0)'
>>> SearchEstimate(strategy="greedy", part_states=(), ops=120).describe()
'greedy: no DP (120 operators, one pass)'
"""

from __future__ import annotations

from dataclasses import dataclass

from ios_core.ir.graph import OpGraph
from ios_core.ir.partition import count_downsets
from ios_core.search.config import SearchConfig
from ios_core.search.dp import MODES
from ios_core.search.explain import search_parts
from ios_core.search.reuse import first_of_each

__all__ = ["CPU_SECONDS_PER_STATE", "SearchEstimate", "estimate_search"]

# CPU seconds per DP state of a whole ios-both search at r=3, s=8 with the simulated H100 on this
# project's 2-core CPU: the big searches (where a guess matters) ran at 1.6-2.4e-5 s per state
# (RandWire, NASNet, timm nasnetalarge: benchmarks/results/search-cost.md, 2026-12-03); twice that,
# so that the guess errs long, as a shared machine's wall clock does
CPU_SECONDS_PER_STATE = 4.0e-5
SHOWN_PARTS = 8  # states of this many parts in a one-line description, then "…"


@dataclass(frozen=True)
class SearchEstimate:
    """How big a search is: DP states per part (in search order) and the operators."""

    strategy: str
    # one count per DP part (0 for a part that repeats an earlier one: search.reuse); empty for
    # sequential and greedy
    part_states: tuple[int, ...]
    ops: int

    @property
    def states_total(self) -> int:
        return sum(self.part_states)

    @property
    def largest_part(self) -> int:
        return max(self.part_states, default=0)

    def guess_s(self, bulk: bool) -> float | None:
        """A rough guess of the DP's seconds on a 2-core CPU, or None where none can be made
        cheaply: only for a cost model with bulk latencies (the simulated device, ``bulk``),
        whose search is CPU work alone."""
        if not self.part_states:
            return 0.0
        return self.states_total * CPU_SECONDS_PER_STATE if bulk else None

    def describe(self) -> str:
        """One line: parts, states, states per part."""
        if not self.part_states:
            return f"{self.strategy}: no DP ({self.ops} operators, one pass)"
        shown = ", ".join(f"{n:,}" for n in self.part_states[:SHOWN_PARTS])
        more = ", …" if len(self.part_states) > SHOWN_PARTS else ""
        n = len(self.part_states)
        repeats = self.part_states.count(0)  # a part has at least one state unless it repeats
        verb = "repeats" if repeats == 1 else "repeat"
        again = f" ({repeats} {verb} an earlier one)" if repeats else ""
        return (f"{n} DP part{'s' if n > 1 else ''}{again}, {self.states_total:,} states "
                f"(per part: {shown}{more})")


def estimate_search(graph: OpGraph, strategy: str, config: SearchConfig | None = None
                    ) -> SearchEstimate:
    """The DP states of every part a search of ``graph`` with ``strategy`` under ``config``
    solves (the same parts as :func:`~ios_core.search.optimize`); cheap next to the search."""
    config = config or SearchConfig()
    if strategy not in MODES:
        return SearchEstimate(strategy, (), len(graph.nodes))
    parts = search_parts(graph, config)
    first = first_of_each(graph, parts)  # a part that repeats an earlier one is not solved again
    states = tuple(count_downsets(graph, names, config.max_part_states) if first[i] == i else 0
                   for i, names in enumerate(parts))
    return SearchEstimate(strategy, states, len(graph.nodes))
