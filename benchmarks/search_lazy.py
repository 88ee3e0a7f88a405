"""Lazy measuring against the envelope DP with no GPU: stages a measured search would time, and
the schedule it would pick (issue 14).

    python -m benchmarks.search_lazy                                  # every setting below
    python -m benchmarks.search_lazy --models inception_v3 --optimism 0.8 0.7

Two stand-ins answer for the GPU, both counting distinct stages (stage signatures), as the
measured cost model times each distinct stage once:

* ``h200``: the H200 profile shipped with the project (``ios_core/data/profiles``): stage
  latencies the GPU measured. Only models whose profile holds every stage these searches ask for
  (Inception V3, SqueezeNet) are answered this way; a stage the profile lacks is counted
  (``estimated``) and priced by the simulated H100, as the profile cost model does.
* ``stand-in``: :class:`benchmarks.search_envelope.StandInGpu` (ratios drawn from the H200 runs,
  independent of a stage's shape; see that script for what it is not) for RandWire and NASNet,
  whose profiles cover a small part of what a search asks. ``--chains`` picks how it times a
  group of several ops: ``drawn`` (as the envelope's counts were made) draws it from 0.6-1.6 of
  the simulated H100's time, independently of its ops, which no calibration can predict;
  ``sum`` takes its ops' own times, summed, times 0.99-1.09, as the H200 measured: Inception V3's
  230 chains in the shipped H200 profile took 0.992-1.085 of the sum of their ops alone
  (median 1.011; RandWire's and NASNet's profiles, searched at r=1, hold no chains).

Per model and stand-in: the search today (the DP with branch and bound and the fitted envelope,
``SearchConfig()``) and lazy measuring (:mod:`ios_core.search.lazy`) at each ``--optimism``:
distinct stages asked, the DP re-solves, the schedule's latency under the stand-in, and CPU
seconds. Writes ``search-lazy.json`` and ``.md``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from typing import Any

import torch

from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, timestamp
from benchmarks.search_cost import load
from benchmarks.search_envelope import CHAIN_MODES, RATIOS, StandInGpu
from ios_core.cost.base import StageCost
from ios_core.cost.factory import make_cost_model
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.search import SearchConfig, optimize

PROFILED = ("inception_v3", "squeezenet")  # the H200 profile answers every stage asked
STAND_IN = ("randwire", "nasnet")  # ratios in h200-envelope-ratios.json


class Counted:
    """A stand-in GPU that counts the distinct stages asked (and those it had to estimate)."""

    measures = True  # so that today's search fits its envelope, as on the GPU

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.device = inner, inner.name, inner.device
        self.answers: dict[str, StageCost] = {}

    def stage_cost(self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
                   ) -> StageCost:
        key = stage_signature(graph, strategy, groups)
        found = self.answers.get(key)
        if found is None:
            found = self.answers[key] = self.inner.stage_cost(graph, strategy, groups)
        return found


def gpu_for(name: str, graph: OpGraph, chains: str) -> tuple[str, Any]:
    if name in PROFILED:
        return "h200", make_cost_model("profile:h200", batch=graph.batch)
    ratios = json.loads(RATIOS.read_text())["models"][name]["quantiles"]
    return f"stand-in, chains {chains}", StandInGpu(ratios, chains=chains)


def row_for(name: str, graph: OpGraph, optimism: float | None, chains: str = "sum") -> Row:
    source, gpu = gpu_for(name, graph, chains)
    counted = Counted(gpu)
    config = (SearchConfig(r=3, s=8) if optimism is None
              else SearchConfig(r=3, s=8, lazy=True, lazy_optimism=optimism))
    t0 = time.process_time()
    schedule = optimize(graph, "ios-both", counted, config)
    cpu = time.process_time() - t0
    parts = schedule.search.stats["parts"]
    return {"model": name, "gpu": source,
            "search": "envelope DP" if optimism is None else f"lazy {optimism:g}",
            "stages_asked": len(counted.answers),
            "estimated": sum(c.estimated for c in counted.answers.values()),
            "rounds": sum(p.get("lazy_rounds", 0) for p in parts),
            "schedule_ms": schedule.predicted_ms, "cpu_s": round(cpu, 2)}


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    base = {(r["model"], r["gpu"]): r for r in rows if r["search"] == "envelope DP"}
    lines = [f"# Lazy measuring against the envelope DP, no GPU ({data['machine']})", "",
             f"torch {data['torch']}, {data['date']}; ios-both r=3 s=8, batch 1; "
             "`python -m benchmarks.search_lazy` (see its docstring for the stand-ins).", "",
             *table(["model", "GPU stand-in", "search", "distinct stages asked",
                     "fewer than the DP", "of them estimated", "DP re-solves",
                     "schedule ms (stand-in)", "against the DP", "CPU s"],
                    [[r["model"], r["gpu"], r["search"], f"{r['stages_asked']:,}",
                      _ratio(base.get((r["model"], r["gpu"])), r), f"{r['estimated']:,}",
                      f"{r['rounds']:,}" if r["rounds"] else "", f"{r['schedule_ms']:.4f}",
                      _pct(base.get((r["model"], r["gpu"])), r), f"{r['cpu_s']:.1f}"]
                     for r in rows])]
    return "\n".join(lines) + "\n"


def _ratio(base: Row | None, r: Row) -> str:
    return f"{base['stages_asked'] / r['stages_asked']:.2f}x" if base else ""


def _pct(base: Row | None, r: Row) -> str:
    return f"{100 * (r['schedule_ms'] / base['schedule_ms'] - 1):+.2f} %" if base else ""


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.search_lazy", __doc__)
    p.add_argument("--models", nargs="+", default=[*PROFILED, *STAND_IN],
                   choices=[*PROFILED, *STAND_IN])
    p.add_argument("--optimism", nargs="+", type=float, default=[0.9, 0.8, 0.7])
    p.add_argument("--chains", nargs="+", default=["sum", "drawn"], choices=CHAIN_MODES,
                   help="how the stand-in times a group of several ops (docstring)")
    add_out_dir(p)
    args = p.parse_args(argv)
    header = {"machine": f"{platform.machine()} CPU", "torch": torch.__version__,
              "date": timestamp()}
    report = Report(out_dir(args.out_dir), "search-lazy", header, markdown)
    for name in args.models:
        graph = load(name)
        for chains in (args.chains if name in STAND_IN else ["sum"]):
            for optimism in (None, *args.optimism):
                row = row_for(name, graph, optimism, chains)
                print(row, flush=True)
                report.add(row)
    print(markdown(report.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
