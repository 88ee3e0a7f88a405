"""Join IOS tables measured in several runs on the same GPU and software into one.

    python -m benchmarks.merge_tables run1/h100.json run2/h100.json --out benchmarks/results

A device call is limited to ten minutes, so the full table is measured as a few runs, each
holding every method of its models (ratios are only ever taken within one run). Refuses runs
from different devices, torch or cuDNN versions, and runs that measured the same model and batch.
Writes ``<slug>.json`` and ``<slug>.md`` (the same format as :mod:`benchmarks.ios_table`), with
one entry per run under ``runs`` in the header. ``--ablation`` adds the latency tables of
:mod:`benchmarks.ablation` results (each measured side by side in its own run) to the Markdown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.ablation import geomean_table, short_table
from benchmarks.ios_table import markdown
from benchmarks.report import RESULTS, argument_parser, table, write_json
from ios_core.ir.files import atomic_write_text

SAME = ("device", "slug", "torch", "cudnn")


def merge(tables: list[dict[str, Any]], replace: bool = False) -> dict[str, Any]:
    """One table from runs of one setup; each model and batch comes from one run. ``replace``:
    a later run that measured a model and batch again replaces all of the earlier run's rows
    of it (the model was re-measured after a change), instead of being refused."""
    if not tables:
        raise ValueError("no tables to merge")
    first = tables[0]
    seen: dict[tuple[str, int], int] = {}
    kept: list[set[tuple[str, int]]] = []  # per run: the models and batches it contributes
    for i, run_table in enumerate(tables):
        for key in SAME:
            if run_table.get(key) != first.get(key):
                raise ValueError(f"run {i + 1} has {key} {run_table.get(key)!r}, run 1 has "
                                 f"{first.get(key)!r}: only runs of one setup can be merged")
        mine = {(r["model"], r["batch"]) for r in run_table["rows"]}
        for run in mine:
            if run in seen and not replace:
                raise ValueError(f"{run[0]} at batch {run[1]} is in runs {seen[run] + 1} and "
                                 f"{i + 1}: each model and batch must come from one run")
            if run in seen:
                kept[seen[run]].discard(run)
            seen[run] = i
        kept.append(mine)
    rows = [r for run_table, mine in zip(tables, kept, strict=True) for r in run_table["rows"]
            if (r["model"], r["batch"]) in mine]
    runs = [{"date": t.get("date"), "elapsed_s": t.get("elapsed_s"), "config": t.get("config"),
             "runs": sorted(f"{m} b{b}" for m, b in mine)}
            for t, mine in zip(tables, kept, strict=True)]
    merged = {**first, "rows": rows, "runs": runs,
              "profiles": [p for t in tables for p in t.get("profiles", [])]}
    merged["date"] = max(str(t.get("date")) for t in tables)
    merged.pop("elapsed_s", None)
    return merged


def runs_section(runs: list[dict[str, Any]]) -> str:
    """Which run measured which models, when, and with which engine levers."""
    lines = table(["run", "date", "models", "engine levers", "budget s"],
                  ([i, run.get("date"), ", ".join(run["runs"]),
                    (run.get("config") or {}).get("engine", ""),
                    (run.get("config") or {}).get("budget_s", "")]
                   for i, run in enumerate(runs, 1)))
    return "\n".join(["## Runs", "", *lines]) + "\n"


def ablation_section(ablations: list[tuple[str, dict[str, Any]]]) -> str:
    """The engine levers' latency and geomean speed-up tables, one pair per ablation run."""
    lines = ["## Engine levers (ablation)", ""]
    for name, data in ablations:
        lines += [f"### {name}: {data.get('date')}, schedules searched on {data.get('cost')}, "
                  f"batch {data.get('batch')}", "", "Latency (ms):", "",
                  *short_table(data["rows"]), "", "Speed-up over baseline (geomean):", "",
                  *geomean_table(data["rows"]), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.merge_tables", __doc__)
    p.add_argument("tables", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=RESULTS,
                   help="folder of the merged table (default benchmarks/results)")
    p.add_argument("--ablation", nargs="*", type=Path, default=[],
                   help="ablation.json files whose tables go into the Markdown")
    p.add_argument("--replace", action="store_true",
                   help="a later run's model and batch replaces an earlier run's rows of it")
    args = p.parse_args(argv)
    try:
        data = merge([json.loads(t.read_text()) for t in args.tables], args.replace)
        ablations = [(a.name, json.loads(a.read_text())) for a in args.ablation]
    except (ValueError, KeyError, json.JSONDecodeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if ablations:
        data["ablation_files"] = [name for name, _ in ablations]
    slug = data.get("slug") or "gpu"
    text = markdown(data) + "\n" + runs_section(data["runs"])
    if ablations:
        text += "\n" + ablation_section(ablations)
    write_json(args.out / f"{slug}.json", data)
    atomic_write_text(args.out / f"{slug}.md", text)
    print(f"wrote {args.out / (slug + '.json')} and {args.out / (slug + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
