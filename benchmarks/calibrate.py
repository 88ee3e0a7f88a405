"""Fit the simulated H100 to the shipped H100 stage profiles and report its per-stage error.

    python -m benchmarks.calibrate                 # profile:h100, all batch sizes
    python -m benchmarks.calibrate --profile h100 --params launch_us compute_eff

Runs on the CPU (it traces the sample models to rebuild the measured stages). Writes
benchmarks/results/calibration.md and .json, and prints the fitted preset to paste into
``ios_core/cost/analytic.py`` (``PRESETS["h100"]``).
"""

from __future__ import annotations

import datetime
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, argument_parser, table, write_json
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.calibrate import (
    FIT_BOUNDS,
    FitResult,
    Sample,
    breakdown,
    error_summary,
    fit_preset,
    relative_errors,
    samples_from_db,
)
from ios_core.cost.profile_db import ProfileDB, list_profiles
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph


def load_samples(profile: str) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Samples from every database named ``profile``, with the graphs traced on the CPU."""
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    found = [(p, key) for name, key, p in list_profiles() if name == profile]
    if not found:
        raise SystemExit(f"no profile named {profile!r} in ios_core/data/profiles "
                         "(run the benchmark)")
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
    def errors(named: Sequence[tuple[str, dict[str, float]]]) -> list[str]:
        return table(["stages", "n", "median abs. error", "p90 abs. error", "median signed error"],
                     ([name, e["n"], f"{100 * e['median']:.1f} %", f"{100 * e['p90']:.1f} %",
                       f"{100 * e['bias']:+.1f} %"] for name, e in named))

    before = r["by_kind_before"]
    lines = [f"# Calibration of simulated:h100 against profile:{r['profile']}", "",
             f"{r['date']}. Per-stage relative error |simulated − measured| / measured over "
             f"every measured stage of the shipped databases; the fit minimises the mean squared "
             f"log ratio (loss {r['loss']['before']:.3f} → {r['loss']['after']:.3f}, "
             f"{r['loss']['evals']} evaluations).", "",
             "## Error", "",
             *errors([("all, current preset", r["error_before"]),
                      ("all, fitted preset", r["error_after"])]), "",
             "By stage kind, fitted preset (the current preset's median in brackets):", "",
             *errors([(f"{kind} ({100 * before.get(kind, {}).get('median', float('nan')):.0f} %)",
                       e) for kind, e in r["by_kind_after"].items()]),
             "", "By model (fitted):", "", *errors(list(r["by_model_after"].items())),
             "", "## Fitted parameters", "",
             *table(["parameter", "current preset", "fitted"],
                    ([k, r["start"][k], v] for k, v in r["fitted"].items())),
             "", "## Sources", "",
             *table(["file", "batch", "entries", "used", "skipped"],
                    ([s["file"], s["batch"], s["entries"], s["used"], s["skipped"]]
                     for s in r["sources"]))]
    return "\n".join(lines) + "\n"


def preset_snippet(r: dict[str, Any]) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in r["fitted"].items())
    return f'PRESETS["h100"] = replace(PRESETS["h100"], {fields})  # fitted: calibration.md'


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.calibrate", __doc__)
    p.add_argument("--profile", default="h100", help="profile name in ios_core/data/profiles")
    p.add_argument("--params", nargs="+", default=None, choices=sorted(FIT_BOUNDS),
                   help="parameters to fit (default: all fittable)")
    p.add_argument("--max-samples", type=int, default=4000,
                   help="fit on at most this many stages (seeded sample); errors use all")
    p.add_argument("--out", default=str(RESULTS / "calibration.md"),
                   help="Markdown report; the JSON goes beside it (default "
                        "benchmarks/results/calibration.md)")
    args = p.parse_args(argv)
    samples, sources = load_samples(args.profile)
    subset = samples if len(samples) <= args.max_samples else random.Random(0).sample(
        samples, args.max_samples)
    fit = fit_preset(subset, "h100", args.params or list(FIT_BOUNDS))
    result = report(fit, SimulatedCost("h100"), samples, sources, args.profile)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, markdown(result))
    write_json(out.with_suffix(".json"), result)
    b, a = result["error_before"], result["error_after"]
    print(f"per-stage error over {a['n']} stages: median {100 * b['median']:.1f} % -> "
          f"{100 * a['median']:.1f} %, p90 {100 * b['p90']:.1f} % -> {100 * a['p90']:.1f} %")
    print(preset_snippet(result))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
