"""Does the sum of stage-alone measurements predict a whole schedule? And what does measuring cost?

    PYTHONPATH=. python3 benchmarks/stage_probe.py --out-dir $OUT

For each model (batch 1) and each shipped H100 schedule (``data/profiles/h100-<model>-b1.<strategy>
.schedule.json``), under each engine configuration: time the whole schedule as one CUDA graph, then
price its stages with fresh ``MeasuredCost`` instances that differ only in how a stage is measured
(warm or cold parameters, unroll, replays) and report predicted / measured and the seconds each
stage took to measure, split into build, capture and replay. Writes ``stage_probe.json`` and
``stage_probe.md``; prints the short table last.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ios_core.cost.measured import MeasuredCost  # noqa: E402
from ios_core.frontend import models  # noqa: E402
from ios_core.frontend import tracing as frontend  # noqa: E402
from ios_core.ir.files import atomic_write_text  # noqa: E402
from ios_core.ir.schedule import Schedule  # noqa: E402
from ios_core.runtime import executor  # noqa: E402
from ios_core.runtime.levers import DEFAULT_OPTIONS  # noqa: E402
from ios_core.runtime.timing import time_samples  # noqa: E402
from ios_core.search.pricing import price_schedule  # noqa: E402

OPTIONS = {"default": DEFAULT_OPTIONS,
           "default+sviews+pool3d": replace(DEFAULT_OPTIONS, strided_views=True, nhwc_pool=True),
           "nchw": replace(DEFAULT_OPTIONS, channels_last=False, pack_slices=False)}


def fixed(unroll: int, **kwargs: Any) -> dict[str, Any]:
    """MeasuredCost keywords for exactly ``unroll`` copies per replay, whatever the stage."""
    return {"unroll": unroll, "max_unroll": unroll, **kwargs}


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
    ("auto u5-20 i10 e1", {"warmup": 2, "iters": 10, "eager_runs": 1}),
)
SLOPE = ("auto u5 i10 e1", "auto u20 i10 e1")  # (fewer copies, more copies)


def probe(model: str, strategies: list[str], opts_names: list[str], methods: list[str]
          ) -> list[dict[str, Any]]:
    loaded = models.load_model(model, batch=1, seed=0)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
    rows = []
    for strategy in strategies:
        path = ROOT / "data" / "profiles" / f"h100-{model}-b1.{strategy}.schedule.json"
        sched = Schedule.load(str(path))
        for opts_name in opts_names:
            opts = OPTIONS[opts_name]
            compiled = executor.compile_schedule(traced, sched, "cuda", options=opts)
            t = time_samples(compiled, 20, 200)
            del compiled
            row: dict[str, Any] = {"model": model, "strategy": strategy, "options": opts_name,
                                   "engine": opts.label(),
                                   "stages": len(sched.stages), "measured_ms": t.median_ms}
            for name, kwargs in METHODS:
                if name not in methods:
                    continue
                cost = MeasuredCost(traced, options=opts, **kwargs)
                t0 = time.perf_counter()
                priced = price_schedule(sched, traced.graph, cost)
                secs = time.perf_counter() - t0
                row[name] = {"predicted_ms": priced.predicted_ms,
                             "ratio": priced.predicted_ms / t.median_ms,
                             "s_per_stage": secs / max(cost.measured, 1),
                             "phase_s": cost.phase_s, "cold": cost.cold,
                             "param_mb": cost.param_bytes / 2**20}
                per_stage_ms = secs / max(cost.measured, 1) * 1e3
                _log(f"{model} {strategy} {opts_name} {name}: measured {t.median_ms:.3f} "
                     f"predicted {priced.predicted_ms:.3f} ({per_stage_ms:.1f} ms/stage, "
                     f"phases {cost.phase_s})")
            rows.append(row)
            torch.cuda.empty_cache()
    return rows


def markdown(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    names = [n for n, _ in METHODS if any(n in r for r in rows)]
    slope = all(n in r for n in SLOPE for r in rows)
    lines = [f"# Stage-alone prediction vs whole schedule on {header['device']}", "",
             f"torch {header['torch']}, cuDNN {header['cudnn']}, {header['date']}; batch 1; "
             "whole schedule: median of 200 graph replays; predicted: sum of stage latencies.",
             "", "| model | strategy | options | measured ms | "
             + " | ".join(f"{n}: pred/meas (ms per stage)" for n in names)
             + (" | slope u5→u20: pred/meas" if slope else "") + " |",
             "|---|---|---|---|" + "---|" * (len(names) + slope)]
    for r in rows:
        cells = [f"{r[n]['ratio']:.3f} ({r[n]['s_per_stage'] * 1e3:.1f})" for n in names]
        if slope:
            cells.append(f"{slope_ms(r) / r['measured_ms']:.3f}")
        lines.append(f"| {r['model']} | {r['strategy']} | {r['options']} | "
                     f"{r['measured_ms']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def slope_ms(row: dict[str, Any]) -> float:
    """The schedule's prediction from per-copy slopes: (u2·P2 − u1·P1) / (u2 − u1), where Pu is
    the sum of (replay median / u); the replay's fixed cost cancels."""
    n1, n2 = SLOPE
    u1, u2 = (dict(METHODS)[n]["unroll"] for n in SLOPE)
    return (u2 * row[n2]["predicted_ms"] - u1 * row[n1]["predicted_ms"]) / (u2 - u1)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+",
                   default=["squeezenet", "inception_v3", "randwire", "nasnet"])
    p.add_argument("--strategies", nargs="+", default=["sequential", "ios-both"])
    p.add_argument("--options", nargs="+", default=["default"], choices=list(OPTIONS))
    p.add_argument("--methods", nargs="+", default=[n for n, _ in METHODS],
                   choices=[n for n, _ in METHODS], help="measuring variants to compare")
    p.add_argument("--out-dir", default=os.environ.get("OUT") or "benchmarks/results")
    args = p.parse_args()
    header = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "cudnn": torch.backends.cudnn.version(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for model in args.models:
        rows += probe(model, args.strategies, args.options, args.methods)
        atomic_write_text(out / "stage_probe.json", json.dumps({**header, "rows": rows}, indent=1))
        atomic_write_text(out / "stage_probe.md", markdown(rows, header))
    print(markdown(rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
