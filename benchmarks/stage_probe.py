"""Does the sum of stage-alone measurements predict a whole schedule? And what does measuring cost?

    python -m benchmarks.stage_probe --out-dir $OUT

For each model (batch 1) and each shipped H100 schedule
(``ios_core/data/profiles/h100-<model>-b1.<strategy>.schedule.json``), under each engine
configuration: time the whole schedule as one CUDA graph, then price its stages with fresh
``MeasuredCost`` instances that differ only in how a stage is measured (warm or cold parameters,
unroll, replays, copies warmed up eagerly) and report predicted / measured and the seconds each
stage took to measure, split into build, eager warm-up, capture, replay and release. Writes
``stage_probe.json`` and ``stage_probe.md``; prints the short table last.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from benchmarks.harness import environment, require_cuda
from benchmarks.report import (
    Report,
    Row,
    add_out_dir,
    argument_parser,
    log,
    out_dir,
    table,
    versions,
)
from ios_core.cost.measured import MeasuredCost
from ios_core.cost.profile_db import PROFILE_DIR, SCHEDULE_SUFFIX
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend
from ios_core.ir.schedule import Schedule
from ios_core.runtime import executor
from ios_core.runtime.options import DEFAULT_OPTIONS
from ios_core.runtime.timing import time_samples
from ios_core.search.pricing import price_schedule

OPTIONS = {"default": DEFAULT_OPTIONS,
           "default+sviews+pool3d": replace(DEFAULT_OPTIONS, strided_views=True, nhwc_pool=True),
           "nchw": replace(DEFAULT_OPTIONS, channels_last=False, pack_slices=False)}


def fixed(unroll: int, **kwargs: Any) -> dict[str, Any]:
    """MeasuredCost keywords for exactly ``unroll`` copies per replay, whatever the stage."""
    return {"unroll": unroll, "max_unroll": unroll, "eager_copies": None, **kwargs}


# (name, MeasuredCost keyword arguments): how a stage is measured
METHODS = (
    ("warm u5 i20", fixed(5, weights="warm", warmup=3, iters=20)),
    ("cold u5 i20", fixed(5, weights="cold", warmup=3, iters=20)),
    ("cold u2 i10", fixed(2, weights="cold", warmup=2, iters=10)),
    ("warm u2 i10", fixed(2, weights="warm", warmup=2, iters=10)),
    # cheaper variants for the search-cost target
    ("cold u5 i10", fixed(5, weights="cold", warmup=2, iters=10)),
    ("cold u5 i20 e1", fixed(5, weights="cold", warmup=3, iters=20, eager_runs=1)),
    ("cold u5 i10 e1", fixed(5, weights="cold", warmup=2, iters=10, eager_runs=1)),
    ("warm u5 i10 e1", fixed(5, weights="warm", warmup=2, iters=10, eager_runs=1)),
    # the shipped settings (weights by parameter size) at more unrolled copies: a replay's fixed
    # cost shrinks per copy, and two unrolls give the per-copy slope (markdown's last column)
    ("auto u5 i10 e1", fixed(5, warmup=2, iters=10, eager_runs=1)),
    ("auto u20 i10 e1", fixed(20, warmup=2, iters=10, eager_runs=1)),
    # what profiling uses now: 5 to 20 copies, by the stage's estimated length
    ("auto u5-20 i10 e1", {"warmup": 2, "iters": 10, "eager_runs": 1, "eager_copies": None}),
    # issue 14's cheaper measuring: the eager run warms one copy only (c1), fewer replays (i5),
    # fewer copies for short stages (r50: about 50 µs of work per replay, 3 to 10 copies)
    ("auto u5-20 i10 e1 c1", {"warmup": 2, "iters": 10, "eager_runs": 1, "eager_copies": 1}),
    ("auto u5-20 i5 e1 c1", {"warmup": 1, "iters": 5, "eager_runs": 1, "eager_copies": 1}),
    ("auto u3-10 r50 i10 e1 c1", {"unroll": 3, "max_unroll": 10, "replay_us": 50.0, "warmup": 2,
                                  "iters": 10, "eager_runs": 1, "eager_copies": 1}),
)
SLOPE = ("auto u5 i10 e1", "auto u20 i10 e1")  # (fewer copies, more copies)
# issue 14's "more stages per capture" (MeasuredCost.prefetch): method -> (stages per graph,
# copies of each), each stage between timing events recorded inside the graph
TOGETHER = {"together16 c1 i5": (16, 1, False), "together16 c2 i5": (16, 2, False),
            "together64 c1 i5": (64, 1, False), "together16 slope i5": (16, 1, True),
            "together16 slope i10": (16, 1, True), "together16 u5-20 i5": (16, None, False)}
METHODS += tuple((name, {"warmup": 1, "iters": 10 if name.endswith("i10") else 5,
                         "eager_runs": 1, "eager_copies": 1}) for name in TOGETHER)


def probe(model: str, strategies: list[str], opts_names: list[str], methods: list[str]
          ) -> list[Row]:
    loaded = models.load_model(model, batch=1, seed=0)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
    rows = []
    for strategy in strategies:
        path = PROFILE_DIR / f"h100-{model}-b1.{strategy}{SCHEDULE_SUFFIX}"
        sched = Schedule.load(str(path))
        for opts_name in opts_names:
            opts = OPTIONS[opts_name]
            compiled = executor.compile_schedule(traced, sched, "cuda", options=opts)
            t = time_samples(compiled, 20, 200)
            del compiled
            row: Row = {"model": model, "strategy": strategy, "options": opts_name,
                                   "engine": opts.label(),
                                   "stages": len(sched.stages), "measured_ms": t.median_ms}
            for name, kwargs in METHODS:
                if name not in methods:
                    continue
                cost = MeasuredCost(traced, options=opts, **kwargs)
                t0 = time.perf_counter()
                if name in TOGETHER:
                    together, copies, slope = TOGETHER[name]
                    cost.prefetch(traced.graph, [(st.strategy, st.groups) for st in sched.stages],
                                  together, copies, slope)
                priced = price_schedule(sched, traced.graph, cost)
                secs = time.perf_counter() - t0
                row[name] = {"predicted_ms": priced.predicted_ms,
                             "ratio": priced.predicted_ms / t.median_ms,
                             "s_per_stage": secs / max(cost.measured, 1),
                             "phase_s": cost.phase_s, "cold": cost.cold,
                             "stages_measured": cost.measured,
                             "param_mb": cost.param_bytes / 2**20}
                per_stage_ms = secs / max(cost.measured, 1) * 1e3
                log(f"{model} {strategy} {opts_name} {name}: measured {t.median_ms:.3f} "
                    f"predicted {priced.predicted_ms:.3f} ({per_stage_ms:.1f} ms/stage, "
                    f"phases {cost.phase_s})", file=sys.stderr)
            rows.append(row)
            torch.cuda.empty_cache()
    return rows


def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    names = [n for n, _ in METHODS if any(n in r for r in rows)]
    slope = all(n in r for n in SLOPE for r in rows)
    head = ["model", "strategy", "options", "measured ms",
            *(f"{n}: pred/meas (ms per stage)" for n in names),
            *(["slope u5→u20: pred/meas"] if slope else [])]
    lines = [f"# Stage-alone prediction vs whole schedule on {header['device']}", "",
             f"{versions(header)}; batch 1; "
             "whole schedule: median of 200 graph replays; predicted: sum of stage latencies.",
             "", *table(head, ([r["model"], r["strategy"], r["options"], f"{r['measured_ms']:.3f}",
                                *(f"{r[n]['ratio']:.3f} ({r[n]['s_per_stage'] * 1e3:.1f})"
                                  for n in names),
                                *([f"{slope_ms(r) / r['measured_ms']:.3f}"] if slope else [])]
                               for r in rows)),
             "", "Where a stage's measuring time goes (ms per distinct stage, all rows together):",
             "", *phase_table(rows, names)]
    return "\n".join(lines) + "\n"


def phase_table(rows: list[Row], names: list[str]) -> list[str]:
    """Per method: ms per measured stage, in all and by phase (rows without phases skipped)."""
    body = []
    for name in names:
        done = [r[name] for r in rows if "stages_measured" in r.get(name, {})]
        stages = sum(d["stages_measured"] for d in done)
        if not stages:
            continue
        phases = {k: sum(d["phase_s"].get(k, 0.0) for d in done) * 1e3 / stages
                  for k in PHASES}
        body.append([name, f"{stages:,}", f"{sum(phases.values()):.2f}",
                     *(f"{phases[k]:.2f}" for k in PHASES)])
    return table(["method", "stages", "ms per stage", *PHASES], body)


PHASES = ("build", "eager", "capture", "replay", "release")


def slope_ms(row: Row) -> float:
    """The schedule's prediction from per-copy slopes: (u2·P2 − u1·P1) / (u2 − u1), where Pu is
    the sum of (replay median / u); the replay's fixed cost cancels."""
    n1, n2 = SLOPE
    u1, u2 = (dict(METHODS)[n]["unroll"] for n in SLOPE)
    return (u2 * row[n2]["predicted_ms"] - u1 * row[n1]["predicted_ms"]) / (u2 - u1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.stage_probe", __doc__)
    p.add_argument("--models", nargs="+",
                   default=["squeezenet", "inception_v3", "randwire", "nasnet"])
    p.add_argument("--strategies", nargs="+", default=["sequential", "ios-both"])
    p.add_argument("--options", nargs="+", default=["default"], choices=list(OPTIONS))
    p.add_argument("--methods", nargs="+", default=[n for n, _ in METHODS],
                   choices=[n for n, _ in METHODS], help="measuring variants to compare")
    add_out_dir(p)
    args = p.parse_args(argv)
    if not require_cuda("the stage probe"):
        return 2
    header = environment()
    report = Report(out_dir(args.out_dir), "stage_probe", header,
                    lambda data: markdown(data["rows"], data))
    for model in args.models:
        report.extend(probe(model, args.strategies, args.options, args.methods))
    print(markdown(report.rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
