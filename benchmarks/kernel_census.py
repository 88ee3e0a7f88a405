"""Which GPU kernels one inference launches and how long each runs: our schedules and torch.compile.

    python -m benchmarks.kernel_census --models squeezenet --out-dir $OUT

For each model (batch 1; a sample name or ``sample_models.zoo:NAME``): the shipped H100
schedules (``ios_core/data/profiles/h100-<model>-b1.<strategy>.schedule.json``, or one
searched with the simulated H100 where none ships; ``<strategy>+epi`` for fused regions with
compiled epilogues) run by our executor without a CUDA graph, the model's own forward, and
``torch.compile(mode="default")`` (the kernels reduce-overhead replays in its graph) are each run
under ``torch.profiler`` after warm-up. Kernel times do not depend on whether a CUDA graph
launches them, so the census says where a graph's time goes: how many kernels, how long in all,
and which kinds dominate. Writes ``kernel_census.json`` and ``kernel_census.md``.
"""

from __future__ import annotations

import copy
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.harness import environment, require_cuda
from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, versions
from benchmarks.zoo import EPI_OPTIONS  # the zoo's ios-both+epi levers (--epi-levers)
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.profile_db import PROFILE_DIR, SCHEDULE_SUFFIX
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend
from ios_core.frontend.regions import fuse_regions
from ios_core.ir.schedule import Schedule
from ios_core.runtime import executor
from ios_core.runtime.options import DEFAULT_OPTIONS, EngineOptions, options_from_label
from ios_core.search import optimize

RUNS = 10  # profiled inferences; per-run figures are totals divided by this
TOP = 12  # kernel kinds listed per target


def kernel_kind(name: str) -> str:
    """A short family name for a CUDA kernel (templates and arguments stripped)."""
    base = re.sub(r"<.*", "", name)  # template arguments, and the argument list after them
    base = re.sub(r"\([^()]*\)\s*$", "", base).strip()  # an argument list without templates
    base = base.split("::")[-1].split(" ")[-1]  # no namespaces, no return type
    return base[:60] or name[:60]


def census(fn: Callable[[], Any]) -> dict[str, Any]:
    """Kernels per inference of ``fn``: count, summed µs, and the top kinds by time."""
    with torch.no_grad():
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(RUNS):
                fn()
            torch.cuda.synchronize()
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        if e.name.startswith(("Memcpy", "Memset")) and "Kernel" not in e.name:
            kind = e.name.split(" ")[0]
        else:
            kind = kernel_kind(e.name)
        by_kind[kind][0] += 1
        by_kind[kind][1] += e.time_range.elapsed_us()
    kinds = sorted(by_kind.items(), key=lambda kv: -kv[1][1])
    return {"kernels": sum(c for c, _ in by_kind.values()) / RUNS,
            "kernel_us": sum(us for _, us in by_kind.values()) / RUNS,
            "top": [{"kind": k, "count": c / RUNS, "us": us / RUNS} for k, (c, us) in kinds[:TOP]]}


def targets(model: str, strategies: list[str], epi_options: EngineOptions = EPI_OPTIONS
            ) -> dict[str, Callable[[], Any]]:
    """What to count for ``model``: its forward, each strategy's schedule (the shipped H100 one,
    else one searched here with the simulated H100: kernels barely depend on which schedule),
    ``ios-both+epi`` (fused regions, run with ``epi_options``) where asked, and compile-default."""
    loaded = models.load_model(model, batch=1, seed=0)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
    module = copy.deepcopy(loaded.module).cuda().eval()
    x = loaded.example_input.cuda()
    out: dict[str, Callable[[], Any]] = {"module": lambda: module(x)}
    for strategy in strategies:
        epi = strategy.endswith("+epi")
        graph_of = fuse_regions(traced) if epi else traced
        path = PROFILE_DIR / f"h100-{model}-b1.{strategy}{SCHEDULE_SUFFIX}"
        schedule = (Schedule.load(str(path)) if path.exists() else
                    optimize(graph_of.graph, strategy.removesuffix("+epi"), SimulatedCost("h100")))
        compiled = executor.compile_schedule(graph_of, schedule, "cuda", use_cuda_graph=False,
                                             options=epi_options if epi else DEFAULT_OPTIONS)
        out[strategy] = compiled.replay
    torch._dynamo.reset()
    fn = torch.compile(module, mode="default")
    out["compile-default"] = lambda: fn(x)
    return out


def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    lines = [f"# Kernels per inference on {header['device']}", "",
             f"{versions(header)}; batch 1, fp32 "
             f"(TF32 convs); our schedules with `{header['engine']}` (+epi: "
             f"`{header.get('engine_epi', 'default+epi')}`), run without a CUDA graph; "
             f"{RUNS} profiled runs after 3 warm-up runs.", "",
             *table(["model", "target", "kernels", "kernel µs",
                     "top kinds (count × µs per inference)"],
                    ([r["model"], r["target"], f"{r['kernels']:g}", f"{r['kernel_us']:.1f}",
                      "; ".join(f"{t['kind']} {t['count']:g}× {t['us']:.1f}"
                                for t in r["top"][:6])] for r in rows))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.kernel_census", __doc__)
    p.add_argument("--models", nargs="+", default=["squeezenet"])
    p.add_argument("--strategies", nargs="+", default=["sequential", "ios-both"])
    p.add_argument("--epi-levers", default=EPI_OPTIONS.label(),
                   help="engine levers of the +epi strategies (a label, as in the ablation)")
    add_out_dir(p)
    args = p.parse_args(argv)
    if not require_cuda("the kernel census"):
        return 2
    epi_options = options_from_label(args.epi_levers)
    header = {**environment(), "engine": DEFAULT_OPTIONS.label(),
              "engine_epi": epi_options.label()}
    report = Report(out_dir(args.out_dir), "kernel_census", header,
                    lambda data: markdown(data["rows"], data))
    for model in args.models:
        rows = []
        for name, fn in targets(model, args.strategies, epi_options).items():
            try:
                rows.append({"model": model, "target": name, **census(fn)})
            except Exception as e:  # noqa: BLE001 - one failing target must not lose the rest
                print(f"{model} {name}: {type(e).__name__}: {e}", file=sys.stderr)
        report.extend(rows)
    print(markdown(report.rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
