"""Search cost of the IOS DP on the CPU: states, transitions, stages costed, seconds (sample and zoo
models, simulated H100 unless ``--cost`` says otherwise).

    python -m benchmarks.dp_search                            # sample models, ios-both
    python -m benchmarks.dp_search --zoo                      # and the torchvision/timm zoo
    python -m benchmarks.dp_search --models nasnet --plain    # the plain DP beside the arrays
    python -m benchmarks.dp_search --models inception_v3 --strategies all
    python -m benchmarks.dp_search --states 2048 4096 8192    # the part-size sweep

For each (model, strategy, max_part_states) it records the DP's parts, states, transitions and
distinct stages costed (what a measured search would time on the GPU), the search's wall and
process CPU seconds (the machine may be shared: CPU seconds are the steadier figure) and the
predicted latency. ``engine`` says how the parts were solved: ``numpy`` (the DP on arrays,
:mod:`ios_core.search.vectorized`, for cost models with bulk latencies) or ``python`` (the plain
DP). ``--plain`` also runs every search through the plain DP, in the same process on the same
graph (``plain_cpu_s``, ``speedup``), and stops with an error if the two pick different stages.
Tracing is not timed. Writes ``dp_search.json`` and ``dp_search.md`` into ``--out-dir`` (default
``$OUT`` when set, else benchmarks/results/).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, timestamp
from ios_core.cost import make_cost_model
from ios_core.cost.base import CostModel, StageCost
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace_model
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule
from ios_core.search import SearchConfig, optimize

MODELS = ("inception_v3", "squeezenet", "randwire", "nasnet")
ZOO = ("googlenet", "inception_v3", "squeezenet1_1", "resnet50", "mobilenet_v3_large",
       "efficientnet_b0", "densenet121", "regnet_y_400mf", "inception_v4", "nasnetalarge",
       "dpn68", "ghostnet_100")  # sample_models.zoo.MODELS, kept here so --help needs no timm
DP = ("ios-merge", "ios-parallel", "ios-both")


class Plain:
    """``cost`` behind a plain door: the search cannot see that it has bulk latencies, so it
    runs the plain DP (what every search ran before the arrays)."""

    def __init__(self, cost: CostModel) -> None:
        self.cost = cost
        self.name, self.device = cost.name, cost.device

    def stage_cost(self, graph: OpGraph, strategy: str, groups: Any) -> StageCost:
        return self.cost.stage_cost(graph, strategy, groups)


def timed(graph: OpGraph, strategy: str, cost: Any, config: SearchConfig
          ) -> tuple[Schedule, float, float]:
    """A search and its (CPU, wall) seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    sched = optimize(graph, strategy, cost, config)
    return sched, time.process_time() - cpu, time.perf_counter() - wall


def measure(graph: OpGraph, strategy: str, config: SearchConfig, cost: CostModel,
            plain: bool = False) -> Row:
    """One search: its statistics, CPU and wall seconds, the predicted latency; with ``plain``,
    the plain DP's seconds too (and a check that it found the same stages)."""
    sched, cpu, wall = timed(graph, strategy, cost, config)
    stats = sched.search.stats
    parts = stats.get("parts", [])
    row: Row = {
        "strategy": strategy,
        "engine": "/".join(sorted({p.get("engine", "python") for p in parts})) or "-",
        "r": config.r,
        "s": config.s,
        "max_part_states": config.max_part_states,
        "ops": len(graph.nodes),
        "blocks": stats["blocks"],
        "parts": len(parts),
        "states": stats["states"],
        "transitions": stats["transitions"],
        "stages_costed": stats["stages_costed"],
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "predicted_ms": round(sched.predicted_ms, 4),
        "stages": len(sched.stages),
    }
    if plain and strategy in DP:
        old, old_cpu, old_wall = timed(graph, strategy, Plain(cost), config)
        if old.stages != sched.stages:
            raise SystemExit(f"{graph.name} {strategy}: the plain DP picked other stages")
        row.update(plain_cpu_s=round(old_cpu, 3), plain_wall_s=round(old_wall, 3),
                   plain_stages_costed=old.search.stats["stages_costed"],
                   speedup=round(old_cpu / max(cpu, 1e-9), 1), same_stages=True)
    return row


COLUMNS = ("model", "strategy", "engine", "ops", "parts", "states", "transitions",
           "stages_costed", "cpu_s", "wall_s", "predicted_ms")
PLAIN_COLUMNS = ("plain_cpu_s", "speedup")


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    columns = COLUMNS + (PLAIN_COLUMNS if any("plain_cpu_s" in r for r in rows) else ())
    head = (f"DP search cost on {data['cpu']} ({data['cores']} cores), {data['cost']}, "
            f"{data['date']}. CPU and wall seconds of the whole search (tracing excluded).\n\n")
    lines = table(columns, ([row.get(k, "") for k in columns] for row in rows))
    return head + "\n".join(lines) + "\n"


def load(ref: str) -> OpGraph:
    """A sample model by name, or a zoo model by ``zoo:NAME`` (every zoo model traces with no
    option: timm's "same"-padding layers included)."""
    loaded = load_model("sample_models.zoo:" + ref[4:] if ref.startswith("zoo:") else ref)
    return trace_model(loaded.module, loaded.example_input, name=ref).graph


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.dp_search", __doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        help="sample model names, or zoo:NAME (default: the four samples)")
    parser.add_argument("--zoo", action="store_true",
                        help="add every zoo model (torchvision, timm)")
    parser.add_argument("--strategies", nargs="+", default=["ios-both"],
                        help="search strategies, or 'all' (default: ios-both)")
    parser.add_argument("--states", nargs="+", type=int, default=[SearchConfig().max_part_states])
    parser.add_argument("--cost", default="simulated:h100", help="cost model spec")
    parser.add_argument("--plain", action="store_true",
                        help="also time the plain DP on every search and check it agrees")
    parser.add_argument("-r", type=int, default=3)
    parser.add_argument("-s", type=int, default=8)
    add_out_dir(parser)
    args = parser.parse_args(argv)
    strategies = list(SEARCH_STRATEGIES) if args.strategies == ["all"] else args.strategies
    models = list(args.models) + ([f"zoo:{m}" for m in ZOO] if args.zoo else [])
    header = {"cpu": platform.processor() or platform.machine(), "cores": _cores(),
              "cost": args.cost, "date": timestamp(), "python": platform.python_version()}
    report = Report(out_dir(args.out_dir), "dp_search", header, markdown,
                    describe=lambda row: " ".join(f"{k}={row[k]}" for k in
                                                  ("model", "strategy", "states", "cpu_s")))
    for name in models:
        graph = load(name)
        cost = make_cost_model(args.cost, batch=graph.batch)
        for states in args.states:
            config = SearchConfig(r=args.r, s=args.s, max_part_states=states)
            for strategy in strategies:
                report.add({"model": name, **measure(graph, strategy, config, cost, args.plain)})
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
