"""Knobs of a schedule search."""

from __future__ import annotations

from dataclasses import dataclass

from ios_core.ir.partition import PART_ORDERS
from ios_core.ir.schedule import SearchInfo
from ios_core.search.envelope import DEFAULT_MARGIN, DEFAULT_QUANTILE


@dataclass(frozen=True)
class SearchConfig:
    r: int = 3  # max operators per group of a concurrent stage (IOS default)
    s: int = 8  # max groups per stage (IOS default)
    max_part_ops: int = 50  # ops per DP subproblem; bigger blocks are cut (IOS used 50)
    # DP states (downsets) per subproblem: parallel chains multiply states, so RandWire/NASNet
    # blocks are cut by this bound, not by ops; 4096 keeps each under a minute of search at
    # r=3, s=8 on a laptop core (see notes/dp_performance.md)
    max_part_states: int = 4096
    stream_cap: int = 8  # greedy: at most this many ready ops per wavefront stage
    # DP branch and bound (schedulers/dp.py): a stage is assumed to take at least this times the
    # slowest of its groups alone and of its costed sub-stages, and is costed only when that
    # bound could still win; None costs every stage the DP can ask for, as IOS did. 0.9 found
    # the full search's schedules on the shipped H100 profiles with ~44 % fewer stages
    bound_slack: float | None = 0.9
    # a search whose cost model measures on the GPU (``cost.measures``) also skips stages below
    # the lower envelope fitted to its own measurements, this margin under the lowest ratio seen
    # (search/envelope.py); None: the branch and bound alone. Needs bound_slack.
    envelope_margin: float | None = DEFAULT_MARGIN
    # the ratio that margin multiplies: 0 the lowest seen, q > 0 their q-quantile (prunes more;
    # search/envelope.py says what it risks)
    envelope_quantile: float = DEFAULT_QUANTILE
    # merge stages may end in the concat that joins exactly their convs (a view of the wide
    # output, so free), not only leave it to a stage of its own that copies (schedulers/merge.py)
    merge_concat: bool = True
    # the order a block too big for one part is cut in (partition.split_parts): "level" keeps
    # parallel branches in the same parts; "topo", the graph's program order, keeps them apart
    part_order: str = "level"
    # measure lazily (search/lazy.py): the DP runs on the simulated device calibrated to each op
    # measured alone, times this; only the stages of the plans it picks are measured, and each
    # part is solved again until its plan is measured throughout. A heuristic: off by default
    lazy: bool = False
    lazy_optimism: float = 0.9

    @classmethod
    def from_search(cls, search: SearchInfo) -> SearchConfig:
        """The config a saved schedule was searched with (to replay or re-price that search)."""
        stats = search.stats
        return cls(
            r=search.r,
            s=search.s,
            max_part_ops=search.max_part_ops,
            max_part_states=int(stats.get("max_part_states", cls.max_part_states)),
            stream_cap=int(stats.get("stream_cap", cls.stream_cap)),
            bound_slack=stats.get("bound_slack"),
            envelope_margin=stats.get("envelope_margin"),  # None: searched before it existed
            envelope_quantile=float(stats.get("envelope_quantile", 0.0)),
            merge_concat=bool(stats.get("merge_concat", False)),  # searched before it existed
            part_order=str(stats.get("part_order", "topo")),
            lazy=bool(stats.get("lazy", False)),
            lazy_optimism=float(stats.get("lazy_optimism", cls.lazy_optimism)),
        )

    def __post_init__(self) -> None:
        for knob in ("r", "s", "max_part_ops", "max_part_states", "stream_cap"):
            value = getattr(self, knob)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{knob} must be an integer of at least 1 (got {value!r})")
        if self.part_order not in PART_ORDERS:
            raise ValueError(f"part_order must be one of {PART_ORDERS} (got {self.part_order!r})")
        slack = self.bound_slack
        if slack is not None and not (isinstance(slack, int | float) and 0 < slack <= 1):
            raise ValueError(f"bound_slack must be in (0, 1] or None (got {slack!r})")
        margin = self.envelope_margin
        if margin is not None and not (isinstance(margin, int | float) and 0 < margin <= 1):
            raise ValueError(f"envelope_margin must be in (0, 1] or None (got {margin!r})")
        q = self.envelope_quantile
        if not (isinstance(q, int | float) and 0 <= q < 1):
            raise ValueError(f"envelope_quantile must be in [0, 1) (got {q!r})")
        o = self.lazy_optimism
        if not (isinstance(o, int | float) and 0 < o <= 1):
            raise ValueError(f"lazy_optimism must be in (0, 1] (got {o!r})")
