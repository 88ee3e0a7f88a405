"""Fit the simulated H100 to the shipped H100 stage profiles and report its per-stage error.

    PYTHONPATH=. python3 benchmarks/calibrate.py                 # profile:h100, all batch sizes
    PYTHONPATH=. python3 benchmarks/calibrate.py --profile h100 --params launch_us compute_eff

Runs on the CPU (it traces the sample models to rebuild the measured stages). Writes
benchmarks/results/calibration.md and .json, and prints the fitted preset to paste into
``ios_core/cost/analytic.py`` (``PRESETS["h100"]``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ios_core.cost.analytic import SimulatedCost  # noqa: E402
from ios_core.cost.calibrate import (  # noqa: E402
    FIT_BOUNDS,
    FitResult,
    Sample,
    breakdown,
    error_summary,
    fit_preset,
    relative_errors,
    samples_from_db,
)
from ios_core.cost.profile_db import ProfileDB, list_profiles  # noqa: E402
from ios_core.ir.graph import OpGraph  # noqa: E402


def load_samples(profile: str) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Samples from every database named ``profile``, with the graphs traced on the CPU."""
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    found = [(p, key) for name, key, p in list_profiles() if name == profile]
    if not found:
        raise SystemExit(f"no profile named {profile!r} in data/profiles (run the benchmark)")
    graphs: dict[tuple[str, int], OpGraph] = {}
    samples: list[Sample] = []
    sources = []
    for path, key in found:
        db = ProfileDB.load(path)
        wanted = sorted({label[0] for label in db.stages.values()})
        for model in wanted:
            if (model, key.batch) not in graphs:
                loaded = models.load_model(model, batch=key.batch)
                graphs[(model, key.batch)] = frontend.trace(loaded.module, loaded.example_input,
                                                            name=loaded.name)
        got, skipped = samples_from_db(db, {m: graphs[(m, key.batch)] for m in wanted})
        samples += got
        sources.append({"file": path.name, "batch": key.batch, "entries": len(db),
                        "used": len(got), "skipped": skipped})
        print(f"{path.name}: {len(got)} stages ({skipped} skipped)", file=sys.stderr)
    return samples, sources


def report(fit: FitResult, before: SimulatedCost, samples: Sequence[Sample],
           sources: list[dict[str, Any]], profile: str) -> dict[str, Any]:
    after = fit.cost()
    err0, err1 = relative_errors(samples, before), relative_errors(samples, after)
    return {
        "profile": profile,
        "date": datetime.date.today().isoformat(),
        "sources": sources,
        "fitted": fit.params,
        "start": fit.start,
        "preset": after.params,
        "loss": {"before": fit.loss_before, "after": fit.loss_after, "evals": fit.evals},
        "error_before": error_summary(err0),
        "error_after": error_summary(err1),
        "by_kind_before": breakdown(samples, err0, "kind"),
        "by_kind_after": breakdown(samples, err1, "kind"),
        "by_model_after": breakdown(samples, err1, "model"),
    }


def markdown(r: dict[str, Any]) -> str:
    def row(name: str, e: dict[str, float]) -> str:
        return (f"| {name} | {e['n']} | {100 * e['median']:.1f} % | {100 * e['p90']:.1f} % | "
                f"{100 * e['bias']:+.1f} % |")

    head = "| stages | n | median abs. error | p90 abs. error | median signed error |"
    rule = "|---|---|---|---|---|"
    lines = [f"# Calibration of simulated:h100 against profile:{r['profile']}", "",
             f"{r['date']}. Per-stage relative error |simulated − measured| / measured over "
             f"every measured stage of the shipped databases; the fit minimises the mean squared "
             f"log ratio (loss {r['loss']['before']:.3f} → {r['loss']['after']:.3f}, "
             f"{r['loss']['evals']} evaluations).", "",
             "## Error", "", head, rule,
             row("all, current preset", r["error_before"]),
             row("all, fitted preset", r["error_after"]), "",
             "By stage kind, fitted preset (the current preset's median in brackets):", "",
             head, rule]
    for kind, e in r["by_kind_after"].items():
        b = r["by_kind_before"].get(kind, {}).get("median", float("nan"))
        lines.append(row(f"{kind} ({100 * b:.0f} %)", e))
    lines += ["", "By model (fitted):", "", head, rule]
    lines += [row(m, e) for m, e in r["by_model_after"].items()]
    lines += ["", "## Fitted parameters", "", "| parameter | current preset | fitted |",
              "|---|---|---|"]
    lines += [f"| {k} | {r['start'][k]} | {v} |" for k, v in r["fitted"].items()]
    lines += ["", "## Sources", "", "| file | batch | entries | used | skipped |",
              "|---|---|---|---|---|"]
    lines += [f"| {s['file']} | {s['batch']} | {s['entries']} | {s['used']} | {s['skipped']} |"
              for s in r["sources"]]
    return "\n".join(lines) + "\n"


def preset_snippet(r: dict[str, Any]) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in r["fitted"].items())
    return f'PRESETS["h100"] = replace(PRESETS["h100"], {fields})  # fitted: calibration.md'


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="h100", help="profile name in data/profiles")
    p.add_argument("--params", nargs="+", default=None, choices=sorted(FIT_BOUNDS),
                   help="parameters to fit (default: all fittable)")
    p.add_argument("--max-samples", type=int, default=4000,
                   help="fit on at most this many stages (seeded sample); errors use all")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "calibration.md"))
    args = p.parse_args(argv)
    samples, sources = load_samples(args.profile)
    subset = samples if len(samples) <= args.max_samples else random.Random(0).sample(
        samples, args.max_samples)
    fit = fit_preset(subset, "h100", args.params or list(FIT_BOUNDS))
    result = report(fit, SimulatedCost("h100"), samples, sources, args.profile)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(result))
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    b, a = result["error_before"], result["error_after"]
    print(f"per-stage error over {a['n']} stages: median {100 * b['median']:.1f} % -> "
          f"{100 * a['median']:.1f} %, p90 {100 * b['p90']:.1f} % -> {100 * a['p90']:.1f} %")
    print(preset_snippet(result))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
