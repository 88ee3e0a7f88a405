"""Stream lanes: how a concurrent stage's groups map onto CUDA streams.

Without levers every group of a stage gets its own stream, launched in schedule order. With
``stream_cap`` at most that many streams run a stage: groups are dealt longest first onto the
least-loaded stream (longest processing time first). With ``order="longest-first"`` the groups
(or lanes) launch longest first, so the critical group starts soonest; ``stream_priority`` then
gives that first stream high priority (``ios_core.runtime.engine.StreamPool``).

"Longest" needs a length before anything has run. The runtime may not ask a cost model (that
room sits above it), and only the order matters, so a fixed rough roofline does:
:data:`ROUGH_ROOFLINE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ios_core.ir.graph import OpGraph
from ios_core.runtime.options import EngineOptions

__all__ = ["ROUGH_ROOFLINE", "Roofline", "assign_lanes", "group_cost"]


@dataclass(frozen=True)
class Roofline:
    """A device as sustained compute, memory bandwidth and a fixed cost per kernel."""

    flops_per_s: float
    bytes_per_s: float
    launch_s: float  # per operator: launch and tail

    def seconds(self, graph: OpGraph, group: Sequence[str]) -> float:
        """The group's operators one after another, each its FLOPs at ``flops_per_s`` plus its
        bytes at ``bytes_per_s`` plus ``launch_s``."""
        return sum(graph[n].flops / self.flops_per_s + graph[n].bytes / self.bytes_per_s
                   + self.launch_s for n in group)


# Rough H100 numbers (50 TFLOP/s, 2.5 TB/s, 4 µs an operator), never calibrated: they only rank
# a stage's groups. The calibrated device model is the simulated H100 in ios_core.cost.analytic.
ROUGH_ROOFLINE = Roofline(flops_per_s=50e12, bytes_per_s=2.5e12, launch_s=4e-6)


def group_cost(graph: OpGraph, group: Sequence[str], roofline: Roofline = ROUGH_ROOFLINE
               ) -> float:
    """A rough latency of a group alone, in seconds; only the order it gives matters."""
    return roofline.seconds(graph, group)


def assign_lanes(graph: OpGraph, groups: Sequence[Sequence[str]], options: EngineOptions,
                 roofline: Roofline = ROUGH_ROOFLINE) -> tuple[tuple[int, ...], ...]:
    """Group indices per stream; () where every group keeps its own stream in schedule order."""
    n = len(groups)
    cap = min(options.stream_cap or n, n)
    if n < 2 or (cap == n and options.order == "schedule"):
        return ()
    costs = [group_cost(graph, g, roofline) for g in groups]
    idx = sorted(range(n), key=lambda i: -costs[i])  # stable: ties keep schedule order
    if cap == n:
        return tuple((i,) for i in idx)
    loads = [0.0] * cap
    lanes: list[list[int]] = [[] for _ in range(cap)]
    for i in idx:  # longest processing time first: each onto the least-loaded stream
        j = min(range(cap), key=lambda s: loads[s])
        lanes[j].append(i)
        loads[j] += costs[i]
    return tuple(tuple(lane) for lane in lanes)
