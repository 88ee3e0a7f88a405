"""What the fitted envelope's quantile saves and risks, on a CPU stand-in for the GPU (issue 14).

    python -m benchmarks.search_envelope                       # RandWire and NASNet, 3 settings
    python -m benchmarks.search_envelope --models randwire --quantiles 0 0.05

A measured search times a stage only while ``margin x factor x calibrated prior`` could still win
(:mod:`ios_core.search.envelope`); the factor is the lowest measured/calibrated ratio seen, or a
low quantile of them (``SearchConfig.envelope_quantile``). Timing a stage on the GPU costs
milliseconds, so how many distinct stages a search times is what this counts, for each quantile,
with no GPU: a stand-in device answers in its place.

The stand-in: a group alone takes the simulated H100's time times a factor drawn from 0.6 to 1.6
(per distinct stage, seeded by its signature); a stage of several groups (or a merge) takes its
calibrated prior (the simulated price scaled by its parts alone, as the envelope computes it)
times a ratio drawn from the ratios that the H200's measured searches saw
(``benchmarks/results/h200-envelope-ratios.json``, RandWire's whole search and NASNet's first
113 s). The draws are independent of a stage's shape, which the GPU's ratios are not, so the
counts and the latencies here are a guide to what the GPU run will show, not a measurement of it;
and a poor one on NASNet: at q=0.05 it counted 94,906 stages for the whole search, where the H200
had timed 73,081 by 14 % of the states (``results/h200-search.md``, run 9, 2026-12-04).

Per model and quantile: distinct stages timed, endings the envelope skipped, the factor it
settled at, the schedule's latency on the stand-in (the sum of its stages' stand-in times) and
the search's CPU seconds. Writes ``search-envelope.json`` and ``.md``.
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, timestamp
from benchmarks.search_cost import load
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import StageCost, calibrated
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.search import SearchConfig, optimize

RATIOS = Path(__file__).parent / "results" / "h200-envelope-ratios.json"
ALONE_RANGE = (0.6, 1.6)  # a group alone against the simulated device
# chains="sum": a group of several ops takes the sum of its ops alone times a draw from this
# range: Inception V3's 230 chains in the H200 profile took 0.992-1.085 of their ops' sum
# (median 1.011; benchmarks/search_lazy.py's docstring); "drawn" (the default, as the envelope
# runs were counted) draws every group from ALONE_RANGE independently of its ops
CHAIN_RANGE = (0.99, 1.09)
CHAIN_MODES = ("drawn", "sum")


class StandInGpu:
    """A cost model that "measures" (``measures = True``, so searches fit an envelope) without a
    GPU: see the module docstring. ``timed`` counts distinct stages, as MeasuredCost does."""

    name, device, measures = "stand-in", "stand-in GPU", True

    def __init__(self, quantiles: Sequence[float], chains: str = "drawn") -> None:
        if chains not in CHAIN_MODES:
            raise ValueError(f"chains must be one of {CHAIN_MODES} (got {chains!r})")
        self.sim = SimulatedCost("h100")
        self.quantiles = list(quantiles)  # the GPU's ratios at 0 %, 0.1 %, ..., 100 %
        self.chains = chains
        self.answers: dict[str, StageCost] = {}

    @property
    def timed(self) -> int:
        return len(self.answers)

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        key = stage_signature(graph, strategy, groups)
        found = self.answers.get(key)
        if found is None:
            found = self.answers[key] = StageCost(self._ms(graph, strategy, groups, key))
        return found

    def _ms(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]],
            key: str) -> float:
        groups = [tuple(g) for g in groups]
        if strategy == "concurrent" and len(groups) == 1:
            return self._alone(graph, groups[0])[0]
        parts = groups if strategy == "concurrent" else [
            (n,) for n in groups[0] if graph[n].kind != "concat"]
        alone = [self._alone(graph, p) for p in parts]
        prior = self.sim.stage_cost(graph, strategy, groups).ms
        return calibrated(prior, [a for a, _ in alone], [s for _, s in alone]) * self._ratio(key)

    def _alone(self, graph: OpGraph, group: tuple[str, ...]) -> tuple[float, float]:
        sim = self.sim.stage_cost(graph, "concurrent", (group,)).ms
        seed = random.Random(stage_signature(graph, "concurrent", (group,)))
        if self.chains == "sum" and len(group) > 1:  # its ops' own draws, then the chain's
            ops = sum(self._alone(graph, (name,))[0] for name in group)
            return ops * seed.uniform(*CHAIN_RANGE), sim
        return sim * seed.uniform(*ALONE_RANGE), sim

    def _ratio(self, key: str) -> float:
        """A ratio drawn from the GPU's distribution (inverse of its quantiles, interpolated)."""
        u = random.Random(key + ":ratio").random() * (len(self.quantiles) - 1)
        i = min(int(u), len(self.quantiles) - 2)
        lo, hi = self.quantiles[i], self.quantiles[i + 1]
        return lo + (u - i) * (hi - lo)


def row_for(model: str, graph: OpGraph, quantiles: list[float], q: float) -> Row:
    cost = StandInGpu(quantiles)
    t0 = time.process_time()
    schedule = optimize(graph, "ios-both", cost, SearchConfig(r=3, s=8, envelope_quantile=q))
    cpu_s = time.process_time() - t0
    stats = schedule.search.stats
    on_stand_in = sum(cost.stage_cost(graph, st.strategy, st.groups).ms for st in schedule.stages)
    return {"model": model, "quantile": q, "stages_timed": cost.timed,
            "stages_costed": stats["stages_costed"], "envelope_pruned": stats["envelope_pruned"],
            "factor": stats["envelope_factor"]["concurrent"], "latency_ms": on_stand_in,
            "cpu_s": cpu_s}


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    base = {r["model"]: r for r in rows if r["quantile"] == 0}
    body = []
    for r in rows:
        b = base.get(r["model"])
        fewer = f"{b['stages_timed'] / r['stages_timed']:.2f}x" if b else ""
        dl = f"{100 * (r['latency_ms'] / b['latency_ms'] - 1):+.3f} %" if b else ""
        body.append([r["model"], r["quantile"] or "0 (the lowest)", f"{r['stages_timed']:,}",
                     fewer, f"{r['envelope_pruned']:,}", f"{r['factor']:.3f}",
                     f"{r['latency_ms']:.4f}", dl, f"{r['cpu_s']:.1f}"])
    lines = [f"# The envelope's quantile on a stand-in GPU ({data['device']})", "",
             f"torch {data['torch']}, Python {data['python']}, {data['date']}; ios-both, r=3, s=8,"
             " batch 1; `python -m benchmarks.search_envelope`. The stand-in's ratios come from "
             f"the H200 runs in `{RATIOS.name}`; see the script's docstring for what it is and is "
             "not.", "",
             *table(["model", "quantile", "distinct stages timed", "fewer than the lowest",
                     "endings the envelope skipped", "factor (concurrent)",
                     "schedule ms on the stand-in", "against the lowest", "search CPU s"], body)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.search_envelope", __doc__)
    p.add_argument("--models", nargs="+", default=["randwire", "nasnet"],
                   help="models whose H200 ratios are in the ratios file")
    p.add_argument("--quantiles", nargs="+", type=float, default=[0.0, 0.01, 0.05])
    add_out_dir(p)
    args = p.parse_args(argv)
    ratios = json.loads(RATIOS.read_text())["models"]
    missing = [m for m in args.models if m not in ratios]
    if missing:
        p.error(f"no H200 ratios for {', '.join(missing)} in {RATIOS} (have: {', '.join(ratios)})")
    header = {"device": f"{torch.get_num_threads()}-thread {platform.machine()} CPU",
              "torch": torch.__version__, "python": platform.python_version(),
              "date": timestamp()}
    report = Report(out_dir(args.out_dir), "search-envelope", header, markdown,
                    describe=lambda r: f"{r['model']} q={r['quantile']}: {r['stages_timed']:,} "
                                       f"stages, {r['latency_ms']:.4f} ms")
    for model in args.models:
        graph = load(model)
        for q in sorted(args.quantiles):
            report.add(row_for(model, graph, ratios[model]["quantiles"], q))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
