"""A lower envelope fitted to a measured search's own measurements: which stages are worth timing.

The DP's branch and bound (:mod:`~ios_core.search.dp`) times a stage of several groups only when
``slack`` times its slowest group alone could still win. On RandWire and NASNet most concurrent
endings pass that test (a stage of eight one-op groups is bounded by one op's time), and a
measured search at r=3, s=8 would time 100,000-400,000 stages at ~17 ms each. The envelope adds a
second, tighter estimate from below, fitted to what this search has measured so far:

* **calibrated prior**: a cheap model of the device (the simulated H100, the *prior*) prices the
  stage, scaled by how far off it was on the stage's own parts, which are measured already (each
  group alone is an ending of the same state, timed first):
  ``prior(stage) * sum(measured part alone) / sum(prior part alone)``;
* **fitted factor**: ``margin`` times the smallest ``measured / calibrated`` ratio seen so far
  among this search's stages of the same kind (concurrent, merge), once ``min_samples`` of that
  kind were measured; until then the envelope says nothing (0). With ``quantile`` q > 0 it is
  the q-quantile of those ratios instead of the smallest: the smallest of a hundred thousand is
  an outlier (the 377,406 concurrent stages RandWire's whole search saw on the H200, 2026-12-04:
  smallest 0.55, 1 % quantile 0.73, 5 % 0.79; NASNet's first 17,817: 0.86, 0.93, 0.97), and the
  window of endings timed shrinks with it. That is riskier, as a stage below the quantile can
  now be skipped although it would have won; ``benchmarks/results/search-envelope.md`` counts
  what each quantile saves on a stand-in GPU drawn from those ratios. The default stays 0: the
  GPU runs that found RandWire's schedule in 391 s used it, and on the GPU a high quantile
  skips exactly the stages that beat their prior, the winners (NASNet with the median and
  margin 1: the whole search in 283 s, its schedule 19 % slower than greedy wavefronts;
  ``benchmarks/results/h200-search.md``, 2026-12-04).

A stage is then timed only when ``factor * calibrated`` could still win. This is an *estimate*
from below, not a proven bound: a stage further below its calibrated prior than every stage
measured before it could be skipped although it would have won. On the H200 profiles shipped
with this project (2026-12-03), no concurrent stage of Inception V3, RandWire or NASNet measured
below 0.57 of its calibrated prior (NASNet 0.64), while the simulated device alone ranged from 0.25
to 2.3 of measured (``benchmarks/results/search-envelope.md`` measures what it saves and what it
costs). Hand-written rather than a library's: it is a dozen lines of bookkeeping over the DP's own
tables.

>>> env = Envelope(margin=0.9, min_samples=2)
>>> env.lower(False, 10.0)   # nothing measured yet: no estimate
0.0
>>> env.observe(False, calibrated=10.0, measured=8.0)
>>> env.observe(False, calibrated=5.0, measured=6.0)
>>> round(env.lower(False, 10.0), 6)   # 0.9 * min(0.8, 1.2) * 10
7.2
>>> env.lower(True, 10.0)   # merges are fitted apart
0.0
>>> q = Envelope(margin=1.0, min_samples=1, quantile=0.5)
>>> for ratio in (0.9, 0.5, 1.3, 0.7, 1.1):
...     q.observe(False, calibrated=1.0, measured=ratio)
>>> q.factor(False)   # the median of the five ratios
0.9
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

__all__ = ["DEFAULT_MARGIN", "DEFAULT_MIN_SAMPLES", "DEFAULT_QUANTILE", "Envelope"]

# the fitted factor is this times the smallest ratio seen: room for a stage a little further
# below its prior than any measured so far
DEFAULT_MARGIN = 0.9
# stages of one kind measured before the envelope prunes: the smallest ratio of a few dozen
# stages is already near the smallest of thousands on the shipped profiles (0.57-0.64)
DEFAULT_MIN_SAMPLES = 48
# the ratio the factor is fitted to: 0, the smallest seen (what the GPU runs of 2026-12-03/04 used)
DEFAULT_QUANTILE = 0.0


@dataclass
class Envelope:
    """The fitted factor per stage kind (``merge`` or not), learned as measurements come in.

    The ``quantile`` of the ratios seen is kept exactly by two heaps per kind: the lowest
    ``floor(quantile * (n - 1)) + 1`` ratios in a max-heap, whose top is the quantile, and the
    rest in a min-heap (``O(log n)`` a stage; a sorted list would move ~10^5 floats per insert)."""

    margin: float = DEFAULT_MARGIN
    min_samples: int = DEFAULT_MIN_SAMPLES
    quantile: float = DEFAULT_QUANTILE
    _low: dict[bool, list[float]] = field(default_factory=dict)  # kind -> negated lowest ratios
    _high: dict[bool, list[float]] = field(default_factory=dict)  # kind -> the other ratios
    _seen: dict[bool, int] = field(default_factory=dict)  # kind -> stages observed

    def __post_init__(self) -> None:
        if not 0 <= self.quantile < 1:
            raise ValueError(f"the envelope's quantile must be in [0, 1) (got {self.quantile!r})")

    def observe(self, merge: bool, calibrated: float, measured: float) -> None:
        """One more measured stage of this kind and its calibrated prior."""
        if calibrated <= 0:
            return
        ratio = measured / calibrated
        seen = self._seen[merge] = self._seen.get(merge, 0) + 1
        low, high = self._low.setdefault(merge, []), self._high.setdefault(merge, [])
        if low and ratio > -low[0]:
            heapq.heappush(high, ratio)
        else:
            heapq.heappush(low, -ratio)
        keep = math.floor(self.quantile * (seen - 1)) + 1  # ratios at or below the quantile
        while len(low) > keep:
            heapq.heappush(high, -heapq.heappop(low))
        while len(low) < keep:
            heapq.heappush(low, -heapq.heappop(high))

    def factor(self, merge: bool) -> float:
        """``margin`` times the ``quantile`` of the ratios seen (0: the smallest), or 0 before
        ``min_samples`` of the kind."""
        if self._seen.get(merge, 0) < self.min_samples:
            return 0.0
        return self.margin * -self._low[merge][0]

    def lower(self, merge: bool, calibrated: float) -> float:
        """The envelope of a stage whose calibrated prior is ``calibrated`` (ms)."""
        return self.factor(merge) * calibrated

    @property
    def observed(self) -> int:
        """Stages observed, all kinds."""
        return sum(self._seen.values())

