"""Search speed of the schedulers on the sample models with the simulated H100 (CPU only).

    python -m benchmarks.dp_search                       # all models, ios-both
    python -m benchmarks.dp_search --models inception_v3 --strategies all
    python -m benchmarks.dp_search --states 2048 4096 8192   # the part-size sweep

For each (model, strategy, max_part_states) it records DP states, transitions, distinct stages
costed, memo hits, parts, search seconds (wall and process CPU: the machine may be shared) and
the predicted latency. Tracing is not timed. Writes ``dp_search.json`` and ``dp_search.md`` into
``--out-dir`` (default ``$OUT`` when set, else benchmarks/results/).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from benchmarks.report import Row, add_out_dir, argument_parser, out_dir, table, write_json
from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.search import SearchConfig, optimize

MODELS = ("inception_v3", "squeezenet", "randwire", "nasnet")


def measure(graph: OpGraph, strategy: str, config: SearchConfig, cost: SimulatedCost) -> Row:
    """One search: its statistics, wall and CPU seconds, and the predicted latency."""
    wall, cpu = time.perf_counter(), time.process_time()
    sched = optimize(graph, strategy, cost, config)
    stats = sched.search.stats
    return {
        "strategy": strategy,
        "r": config.r,
        "s": config.s,
        "max_part_ops": config.max_part_ops,
        "max_part_states": config.max_part_states,
        "ops": len(graph.nodes),
        "blocks": stats["blocks"],
        "parts": len(stats["parts"]),
        "states": stats["states"],
        "transitions": stats["transitions"],
        "stages_costed": stats["stages_costed"],
        "cache_hits": stats["cache_hits"],
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "predicted_ms": round(sched.predicted_ms, 4),
        "stages": len(sched.stages),
    }


COLUMNS = ("model", "strategy", "max_part_states", "ops", "blocks", "parts", "states",
           "transitions", "stages_costed", "wall_s", "cpu_s", "predicted_ms")


def markdown(rows: list[Row]) -> str:
    return "\n".join(table(COLUMNS, ([row[k] for k in COLUMNS] for row in rows))) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.dp_search", __doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--strategies", nargs="+", default=["ios-both"])
    parser.add_argument("--states", nargs="+", type=int, default=[SearchConfig().max_part_states])
    parser.add_argument("-r", type=int, default=3)
    parser.add_argument("-s", type=int, default=8)
    add_out_dir(parser)
    args = parser.parse_args(argv)
    strategies = list(SEARCH_STRATEGIES) if args.strategies == ["all"] else args.strategies
    cost = SimulatedCost("h100")
    rows = []
    for name in args.models:
        loaded = load_model(name)
        graph = trace(loaded.module, loaded.example_input)
        for states in args.states:
            config = SearchConfig(r=args.r, s=args.s, max_part_states=states)
            for strategy in strategies:
                row = {"model": name, **measure(graph, strategy, config, cost)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = out_dir(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "dp_search.json", rows)
    atomic_write_text(out / "dp_search.md", markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
