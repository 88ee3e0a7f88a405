"""The public zoo on the CPU: how well the frontend understands each model, and what the DP finds.

    python -m benchmarks.zoo_cpu                          # every model of sample_models.zoo
    python -m benchmarks.zoo_cpu --models googlenet dpn68

For each model (random weights, batch 1, its usual input) this loads it through the same
``package.module:callable`` door as the CLI (``sample_models.zoo:<name>``), traces it with no
option, and records: operators, opaque operators (kind ``call`` that is not a view) and their
share of the sequential schedule's predicted time, the ios-both search's CPU seconds (r=3, s=8,
simulated H100), the predicted latencies of sequential and ios-both and the speed-up, and
``rel_err`` of the ios-both schedule run on the CPU against the model's own forward (the
executor's ``check``). Writes ``zoo-cpu.json`` and ``zoo-cpu.md`` into ``--out-dir``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from benchmarks.report import Row, add_out_dir, argument_parser, out_dir, table, write_json
from ios_core.cost.analytic import SimulatedCost
from ios_core.frontend import trace_model
from ios_core.frontend.models import load_model
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph
from ios_core.runtime.executor import check
from ios_core.search import SearchConfig, optimize
from sample_models.zoo import MODELS


def opaque_share(graph: OpGraph, cost: SimulatedCost) -> tuple[int, float]:
    """(opaque operators, their share of the sum of every operator's time alone)."""
    alone = {n.name: cost.stage_cost(graph, "concurrent", ((n.name,),)).ms for n in graph}
    opaque = [n.name for n in graph if n.kind == "call" and not n.attrs.get("view")]
    return len(opaque), sum(alone[n] for n in opaque) / sum(alone.values())


def measure(name: str, cost: SimulatedCost, config: SearchConfig) -> Row:
    t0 = time.perf_counter()
    loaded = load_model(f"sample_models.zoo:{name}")
    traced = trace_model(loaded.module, loaded.example_input, name=name)
    trace_s = time.perf_counter() - t0
    graph = traced.graph
    n_opaque, share = opaque_share(graph, cost)
    seq = optimize(graph, "sequential", cost, config, model_name=name)
    cpu = time.process_time()
    best = optimize(graph, "ios-both", cost, config, model_name=name)
    dp_s = time.process_time() - cpu
    result = check(traced, best)
    return {
        "model": name,
        "ops": len(graph.nodes),
        "opaque": n_opaque,
        "opaque_share": share,
        "trace_s": trace_s,
        "dp_cpu_s": dp_s,
        "sequential_ms": seq.predicted_ms,
        "ios_both_ms": best.predicted_ms,
        "speedup": seq.predicted_ms / best.predicted_ms,
        "stages": len(best.stages),
        "rel_err": result.rel_err,
        "check_ok": result.ok,
    }


def markdown(rows: Sequence[Row], header: str) -> str:
    lines = [
        "# The public zoo on the CPU (simulated H100, batch 1)", "", header, "",
        "Opaque share: time of operators of kind `call` (not views) in the sequential schedule's "
        "predicted time. DP: CPU seconds of the ios-both search (r=3, s=8). rel_err: the ios-both "
        "schedule run on the CPU against the model's own forward.", "",
        *table(["model", "ops", "opaque", "opaque share", "DP CPU s", "sequential ms",
                "ios-both ms", "speed-up", "rel_err"],
               [[r["model"], r["ops"], r["opaque"], f"{r['opaque_share']:.1%}",
                 f"{r['dp_cpu_s']:.2f}", f"{r['sequential_ms']:.3f}", f"{r['ios_both_ms']:.3f}",
                 f"{r['speedup']:.2f}x", f"{r['rel_err']:.1e}"] for r in rows]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.zoo_cpu", __doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    add_out_dir(parser)
    args = parser.parse_args(argv)
    cost, config = SimulatedCost("h100"), SearchConfig(r=3, s=8)
    rows = []
    for name in args.models:
        rows.append(measure(name, cost, config))
        print(rows[-1], flush=True)
    import platform

    import torch

    header = (f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
              f"{time.strftime('%Y-%m-%d', time.gmtime())}; `python -m benchmarks.zoo_cpu`.")
    target = out_dir(args.out_dir)
    write_json(target / "zoo-cpu.json", {"header": header, "rows": rows})
    atomic_write_text(target / "zoo-cpu.md", markdown(rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
