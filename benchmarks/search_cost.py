"""The search-cost table of issue 14: every sample and zoo model's IOS DP at r=3, s=8 on the CPU.

    python -m benchmarks.search_cost                      # every sample and zoo model
    python -m benchmarks.search_cost --models nasnet      # some of them (zoo ones as zoo:NAME)

For each model, ios-both with the simulated H100 (``simulated:h100``): DP parts, states,
transitions (endings tried), distinct stages costed (what a measured search would time on the
GPU), and the whole search's seconds (partition, state counts and DP; tracing excluded) as process
CPU seconds and wall seconds, the least of ``--repeat`` runs (the machine is shared: CPU seconds
are the steadier figure). Each row checks issue 14's target: the DP alone at most
:data:`TARGET_S` seconds, Inception V3 at most :data:`INCEPTION_TARGET_S`; it also records the
time of the size estimate shown before a search (:mod:`ios_core.search.estimate`) and its guess.
Measuring seconds on a GPU are not measured here ("not measured"); IOS's own search times
(V100, measured search, from the paper: /work/shared/REFERENCE.md) stand beside, as theirs.
Writes ``search-cost.json`` and ``search-cost.md`` into ``--out-dir`` (default ``$OUT`` when set,
else benchmarks/results/).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from typing import Any

import torch

from benchmarks.dp_search import ZOO, _cores, timed
from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, timestamp
from ios_core.cost import make_cost_model
from ios_core.frontend.models import list_models, load_model
from ios_core.frontend.tracing import trace_model
from ios_core.ir.graph import OpGraph
from ios_core.search import SearchConfig
from ios_core.search.estimate import estimate_search

COST = "simulated:h100"
STRATEGY = "ios-both"
TARGET_S = 10.0  # issue 14: every sample and zoo model's DP at most this on the 2-core CPU
INCEPTION_TARGET_S = 0.2  # ... and Inception V3's at most this (0.12 s before the issue)
# IOS's search of IOS-Both at r=3, s=8 on a V100 (measured stages), seconds, and its DP states
# where the paper gives them: their figures (REFERENCE.md), for scale, not our results
IOS_SEARCH_S = {"inception_v3": 48, "squeezenet": 1, "nasnet": 3653, "randwire": 4407}
IOS_STATES = {"inception_v3": "1,206", "nasnet": "≈ 43,000"}
NOT_MEASURED = "not measured"


def load(ref: str) -> OpGraph:
    """A sample model by name, or a zoo model by ``zoo:NAME``, traced with no option (as
    benchmarks/results/zoo-cpu.md found every zoo model traces)."""
    module_ref = "sample_models.zoo:" + ref[4:] if ref.startswith("zoo:") else ref
    loaded = load_model(module_ref)
    return trace_model(loaded.module, loaded.example_input, name=ref).graph


def row_for(name: str, graph: OpGraph, repeat: int) -> Row:
    """One model's search cost, the least CPU and wall seconds of ``repeat`` searches."""
    config = SearchConfig(r=3, s=8)
    cost = make_cost_model(COST, batch=graph.batch)
    t0 = time.process_time()
    estimate = estimate_search(graph, STRATEGY, config)
    estimate_cpu = time.process_time() - t0
    runs = [timed(graph, STRATEGY, cost, config) for _ in range(max(repeat, 1))]
    sched = runs[0][0]
    if any(r[0].stages != sched.stages for r in runs):
        raise SystemExit(f"{name}: two runs of the same search picked different stages")
    stats = sched.search.stats
    parts = stats.get("parts", [])
    cpu, wall = min(r[1] for r in runs), min(r[2] for r in runs)
    target = INCEPTION_TARGET_S if name in ("inception_v3", "zoo:inception_v3") else TARGET_S
    base = name.removeprefix("zoo:")
    return {
        "model": name,
        "ops": len(graph.nodes),
        "engine": "/".join(sorted({p.get("engine", "python") for p in parts})) or "-",
        "parts": len(parts),
        "states": stats["states"],
        "transitions": stats["transitions"],
        "stages_costed": stats["stages_costed"],
        "dp_cpu_s": round(cpu, 3),
        "dp_wall_s": round(wall, 3),
        "target_s": target,
        "meets_target": cpu <= target,
        "estimate_cpu_s": round(estimate_cpu, 3),
        "estimate_guess_s": round(estimate.guess_s(bulk=True) or 0.0, 2),
        "predicted_ms": round(sched.predicted_ms, 4),
        "gpu_measuring_s": NOT_MEASURED,
        "ios_search_s": IOS_SEARCH_S.get(base, "") if not name.startswith("zoo:") else "",
        "ios_states": IOS_STATES.get(base, "") if not name.startswith("zoo:") else "",
    }


COLUMNS = ("model", "ops", "parts", "states", "transitions", "stages_costed", "dp_cpu_s",
           "dp_wall_s", "meets_target", "gpu_measuring_s", "ios_search_s", "ios_states")
HEADS = ("model", "ops", "DP parts", "states", "transitions (endings tried)",
         "distinct stages costed", "DP CPU s", "DP wall s", "target met", "GPU measuring s",
         "IOS search s (V100, theirs)", "IOS states (theirs)")


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    missed = [r["model"] for r in rows if not r["meets_target"]]
    verdict = ("every model meets it" if not missed
               else f"missed by: {', '.join(missed)}")
    head = (
        "# Search cost: the IOS DP on the CPU (issue 14)\n\n"
        f"{data['device']} ({data['cost']}), {STRATEGY} at r=3, s=8, "
        f"batch 1; torch {data['torch']}, Python {data['python']}, {data['date']}; "
        "`python -m benchmarks.search_cost`.\n\n"
        "DP seconds: the whole search (parts, state counts, DP; tracing excluded), as process "
        f"CPU seconds and wall seconds, the least of {data['repeat']} runs. The machine is "
        "shared by several engineers, so wall seconds carry other work; CPU seconds are the "
        f"steadier figure and the one checked. Target (issue 14): DP ≤ {TARGET_S:g} s for "
        f"every model, Inception V3 ≤ {INCEPTION_TARGET_S:g} s: {verdict}. Distinct stages "
        "costed is what a measured search would time on the GPU; the GPU's measuring seconds "
        "are not measured here. IOS's columns are their figures (V100, IOS-Both r=3 s=8, a "
        "measured search of the whole model, from the paper: /work/shared/REFERENCE.md), not "
        "ours; their IR is not ours (their RandWire has 120 schedulable units, ours 342 "
        "operators), so states differ.\n\n")
    lines = table(HEADS, ([_cell(row.get(k, "")) for k in COLUMNS] for row in rows))
    est = table(("model", "states", "estimate CPU s", "guessed DP s", "DP CPU s"),
                ([r["model"], _cell(r["states"]), r["estimate_cpu_s"], r["estimate_guess_s"],
                  r["dp_cpu_s"]] for r in rows))
    tail = ("\n\nThe size estimate shown before a search (`ios_core.search.estimate`: states "
            "per part, counted without solving) and its time guess (states × "
            "`CPU_SECONDS_PER_STATE`) beside the search itself:\n\n")
    return head + "\n".join(lines) + tail + "\n".join(est) + "\n"


def _cell(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.search_cost", __doc__)
    parser.add_argument("--models", nargs="+", default=None,
                        help="sample model names or zoo:NAME (default: every sample and zoo "
                             "model)")
    parser.add_argument("--repeat", type=int, default=3, help="searches per model (least time)")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    models = args.models or ([name for name, _, _ in list_models()] +
                             [f"zoo:{m}" for m in ZOO])
    cores = _cores()
    header = {"device": f"{cores}-core {platform.machine()} CPU, simulated H100", "cores": cores,
              "cost": COST, "torch": torch.__version__, "python": platform.python_version(),
              "date": timestamp(), "repeat": args.repeat}
    report = Report(out_dir(args.out_dir), "search-cost", header, markdown,
                    describe=lambda row: " ".join(f"{k}={row[k]}" for k in
                                                  ("model", "states", "dp_cpu_s", "dp_wall_s")))
    for name in models:
        report.add(row_for(name, load(name), args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
