"""Concurrent-stage latencies in bulk, for the vectorised DP (:mod:`ios_core.search.vectorized`).

The DP of a RandWire or NASNet part looks at millions of concurrent stages; asking the cost model
for each one through :meth:`~ios_core.cost.base.CostModel.stage_cost` costs ~10 µs of Python per
stage, more than the rest of the search. A *batch* computes a whole array of them at once from
per-group tables. It must agree with ``stage_cost`` bit for bit (the DP breaks ties by exact
equality), and it vouches for the two facts the branch and bound relies on (so that the full DP it
allows equals the bounded one, see :mod:`ios_core.search.vectorized`): a concurrent stage takes at
least as long as each of its groups alone and as each of its sub-stages one group smaller.

:func:`concurrent_batch` knows one such model, :class:`~ios_core.cost.analytic.SimulatedCost`
(what every CPU-only search uses). Its formula is

    ideal = max(longest group, packed work + launch)
    ms    = ideal + (1 - overlap_eff) * (serial - ideal) + stream_us * (groups - 1)

that is ``overlap_eff * ideal + (1 - overlap_eff) * serial + stream_us * (groups - 1)``: adding a
group raises ``ideal`` or keeps it, raises ``serial`` by at least a launch and adds a stream, so
both facts hold with a margin far above rounding. :class:`SimulatedBatch` repeats its float
operations in the same order (``tests/test_dp_vectorized.py`` checks every stage of sample parts);
:func:`~ios_core.search.vectorized.solve_vectorized` re-costs the stages it picks through
``stage_cost`` and falls back to the plain DP should they ever differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel
from ios_core.ir.graph import OpGraph
from ios_core.search.bitsets import bits

__all__ = ["BatchFactory", "ConcurrentBatch", "SimulatedBatch", "concurrent_batch"]


class ConcurrentBatch(Protocol):
    """Latencies of the concurrent stages of one part, its groups given by index.

    A stage's latency is a left fold over its groups taken in order of their lowest op (the
    order ``stage_cost`` receives them): :meth:`start` holds the running sums after one group,
    :meth:`add` adds one more group, row by row, and :meth:`finish` turns the sums of stages of
    ``c`` groups into latencies. Running sums are tuples of float64 arrays, one entry per stage,
    so that a caller can take rows of them with ``tuple(a[rows] for a in sums)``.
    """

    def alone(self) -> np.ndarray:
        """Each group's latency as a stage of its own (float64, one per group)."""
        ...

    def start(self, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        """The running sums of the stages made of one group each (``groups``: indices)."""
        ...

    def add(self, sums: tuple[np.ndarray, ...], groups: np.ndarray) -> tuple[np.ndarray, ...]:
        """The running sums once ``groups[i]`` (whose lowest op follows those of every group
        already in stage ``i``) is added to stage ``i``."""
        ...

    def finish(self, sums: tuple[np.ndarray, ...], c: int) -> np.ndarray:
        """Latencies of stages of ``c`` groups from their running sums."""
        ...


# (op names of the part, groups as bitmasks over them) -> that part's batch
BatchFactory = Callable[[Sequence[str], Sequence[int]], ConcurrentBatch]


def concurrent_batch(cost: CostModel, graph: OpGraph) -> BatchFactory | None:
    """The batch factory of ``cost`` on ``graph``, or None when its stages can only be asked one
    at a time (measured and profile costs: each stage is a GPU measurement or a lookup, and the
    branch and bound exists to ask for fewer of them).

    Only :class:`SimulatedCost` itself qualifies: a subclass may change the formula.

    >>> concurrent_batch(SimulatedCost("h100"), None) is not None
    True
    """
    if type(cost) is SimulatedCost:
        return lambda names, groups: SimulatedBatch(cost, graph, names, groups)
    return None


class SimulatedBatch:
    """:meth:`SimulatedCost.stage_cost` of concurrent stages, vectorised over stages.

    ``_concurrent_ms`` loops over the groups in order, adding each op's ``ms`` to its group's
    time and its ``busy * share`` to the packed work, then takes ``longest``, ``serial`` and
    ``packed`` into its formula. Per group we keep its serial time (summed in op order, as the
    loop sums it) and its ops' packed work (padded with zeros, and adding 0.0 is exact); the
    running sums are ``(longest, serial, packed)``, and every float is the one the loop makes.
    """

    def __init__(self, cost: SimulatedCost, graph: OpGraph, names: Sequence[str],
                 groups: Sequence[int]) -> None:
        ops = [cost.op_cost(graph, name) for name in names]
        width = max((g.bit_count() for g in groups), default=1)
        serial = np.zeros(len(groups))
        work = np.zeros((width, len(groups)))
        alone = np.zeros(len(groups))
        for j, g in enumerate(groups):
            group_ms = 0.0
            for k, i in enumerate(bits(g)):
                group_ms += ops[i].ms
                work[k, j] = ops[i].busy * ops[i].share
            serial[j] = group_ms
            # a group alone is the scalar call itself (a single op is its isolated time)
            alone[j] = cost.stage_cost(graph, "concurrent", ([names[i] for i in bits(g)],)).ms
        p = cost.preset
        self._serial, self._work, self._alone = serial, work, alone
        self._launch = p.launch_us * 1e-3
        self._keep = 1 - p.overlap_eff
        self._stream = p.stream_us * 1e-3

    def alone(self) -> np.ndarray:
        return self._alone

    def start(self, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        zero = np.zeros(len(groups))
        return self.add((zero, zero, zero), groups)

    def add(self, sums: tuple[np.ndarray, ...], groups: np.ndarray) -> tuple[np.ndarray, ...]:
        longest, serial, packed = sums
        group_ms = self._serial[groups]
        for row in self._work:
            packed = packed + row[groups]
        return np.maximum(longest, group_ms), serial + group_ms, packed

    def finish(self, sums: tuple[np.ndarray, ...], c: int) -> np.ndarray:
        longest, serial, packed = sums
        ideal = np.maximum(longest, packed + self._launch)
        return ideal + self._keep * (serial - ideal) + self._stream * (c - 1)
