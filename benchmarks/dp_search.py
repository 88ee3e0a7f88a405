"""Search speed of the schedulers on the sample models with the simulated H100 (CPU only).

    PYTHONPATH=. python3 benchmarks/dp_search.py                       # all models, ios-both
    PYTHONPATH=. python3 benchmarks/dp_search.py --models inception_v3 --strategies all
    PYTHONPATH=. python3 benchmarks/dp_search.py --states 2048 4096 8192   # the part-size sweep

For each (model, strategy, max_part_states) it records DP states, transitions, distinct stages
costed, memo hits, parts, search seconds (wall and process CPU: the machine may be shared) and
the predicted latency. Tracing is not timed. Writes ``dp_search.json`` and ``dp_search.md`` into
``--out-dir`` (default ``$OUT`` when set, else benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.search import SearchConfig, optimize

MODELS = ("inception_v3", "squeezenet", "randwire", "nasnet")


def measure(graph, strategy: str, config: SearchConfig, cost: SimulatedCost) -> dict:
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


def markdown(rows: list[dict]) -> str:
    keys = ["model", "strategy", "max_part_states", "ops", "blocks", "parts", "states",
            "transitions", "stages_costed", "wall_s", "cpu_s", "predicted_ms"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--strategies", nargs="+", default=["ios-both"])
    parser.add_argument("--states", nargs="+", type=int, default=[SearchConfig().max_part_states])
    parser.add_argument("-r", type=int, default=3)
    parser.add_argument("-s", type=int, default=8)
    parser.add_argument("--out-dir", default=os.environ.get("OUT") or "benchmarks/results")
    args = parser.parse_args()
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
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dp_search.json").write_text(json.dumps(rows, indent=1))
    (out / "dp_search.md").write_text(markdown(rows))


if __name__ == "__main__":
    main()
