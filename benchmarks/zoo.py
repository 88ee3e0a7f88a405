"""The public zoo on the GPU: our schedules against the model's own CUDA graph and torch.compile.

    python -m benchmarks.zoo --models mobilenet_v3_large resnet50 --out-dir $OUT
    python -m benchmarks.zoo --smoke --models mobilenet_v3_large   # CPU, end to end, no GPU

Per model (``sample_models.zoo:<name>``, random weights, batch ``--batch``), all methods in one
run: ``eager`` (the module), ``cudagraph`` (the module's own forward captured in one CUDA graph,
one stream), ``compile-ro`` (``torch.compile(mode="reduce-overhead")``), ``compile-max-autotune``
(``mode="max-autotune"``; its row says so where it does not build within ``--compile-limit``
seconds), ``greedy`` (IOS's greedy wavefronts, default levers) and ios-both searched with the
measured cost model from a cold cache (``--r``, s=8), side by side: ``ios-both`` on today's
graph with the default levers, and ``ios-both+epi`` on the graph with fused regions
(:func:`ios_core.frontend.regions.fuse_regions`) and the ``fuse_epilogues`` lever,
``ios-both+epi+gapmv``: that, and global average pools as one matrix-vector product,
``ios-both+epi+gapc``: as one compiled reduction, ``ios-both+epi+gapmv+layouts``: grouped
convs in NCHW where that timed faster (:mod:`ios_core.runtime.conv_layouts`), and
``...+gapfuse``: global average pools computed in their producer's compiled epilogue
(:mod:`ios_core.runtime.fused_means`; the rest as a matrix-vector product). Rows:
``{model, batch, method, ms, search_s, predicted_ms, peak_mb, rel_err}`` (median ms from CUDA
events; ``peak_mb``: ``torch.cuda.max_memory_allocated`` over the timed replays (from a reset
after the method is built) less what was allocated before the method began (earlier methods'
leftovers): its weights, the CUDA graph pools, inputs and outputs; ``build_peak_mb`` the same
over the build, cuDNN's benchmark workspaces included; ``rel_err`` against the
module's float64 output on the CPU, fp32 with TF32 convs as run). Writes ``<gpu>-zoo.json``
and ``<gpu>-zoo.md``.

``--smoke`` runs the same path on the CPU with the simulated H100 as cost model and host timing
(no CUDA graph, no compile): a check that the script works, not a measurement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from benchmarks.harness import (
    ALARM,
    GuardedCost,
    ModelRun,
    add_gpu_run_options,
    attempt,
    device_stem,
    free,
    gpu_run_environment,
)
from benchmarks.report import Report, Row, argument_parser, num, out_dir, sci, table
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.factory import default_measured
from ios_core.frontend.regions import fuse_regions
from ios_core.frontend.tracing import TracedModel
from ios_core.runtime import executor
from ios_core.runtime.conv_layouts import layout_pairs, plan_layouts
from ios_core.runtime.options import DEFAULT_OPTIONS, EngineOptions, options_from_label
from ios_core.runtime.timing import time_samples
from ios_core.search import SearchConfig, optimize

EPI_OPTIONS = options_from_label("default+epi")
# ios-both method on the graph with fused regions -> its engine levers
FUSED_METHODS = {
    "ios-both+epi": EPI_OPTIONS,
    "ios-both+epi+gapmv": options_from_label("default+epi+gapmv"),  # pools as a product
    "ios-both+epi+gapc": options_from_label("default+epi+gapc"),  # pools compiled
    # and grouped convs NCHW where their pair timed faster (runtime.conv_layouts)
    "ios-both+epi+gapmv+layouts": options_from_label("default+epi+gapmv+layouts"),
    # and global average pools inside their producer's epilogue (runtime.fused_means)
    "ios-both+epi+gapmv+gapfuse": options_from_label("default+epi+gapmv+gapfuse"),
    "ios-both+epi+gapmv+layouts+gapfuse": options_from_label("default+epi+gapmv+layouts+gapfuse"),
}
COMPILE_MODES = {"compile-ro": "reduce-overhead", "compile-max-autotune": "max-autotune"}
METHODS = ("eager", "cudagraph", *COMPILE_MODES, "greedy", "ios-both", *FUSED_METHODS)


def _allocated(device: str) -> int:
    """Bytes allocated on the GPU now (0 off CUDA): a method's baseline, taken after ``free()``
    and before the method puts anything on the GPU."""
    if device != "cuda":
        return 0
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def _peak(device: str, base: int) -> Callable[[], float | None]:
    """Start a peak-memory span; the returned function gives its peak in MB above ``base``
    (None off CUDA). Whatever earlier methods and models left allocated sits in ``base`` and is
    not counted: a run of several models once read 1,067 MB for mobilenet_v3_large's own CUDA
    graph (87.7 MB alone)."""
    if device != "cuda":
        return lambda: None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    return lambda: (torch.cuda.max_memory_allocated() - base) / 2**20


def _timed(fn: Any, device: str, args: Any) -> dict[str, float]:
    t = time_samples(fn, args.warmup, args.iters, device)
    return {"ms": t.median_ms, "p10_ms": t.percentile_ms(10), "p90_ms": t.percentile_ms(90)}


def module_row(run: ModelRun, method: str, device: str, args: Any) -> Row:
    if method in COMPILE_MODES:  # before the baseline: a reset frees what earlier compiles held
        torch._dynamo.reset()
        free()
    base = _allocated(device)  # the module's weights come to the GPU inside the span
    try:
        return _module_row(run, method, device, args, base)
    finally:
        run.module.to("cpu")  # in place: the next method's baseline holds none of its weights
        free()


def _module_row(run: ModelRun, method: str, device: str, args: Any, base: int) -> Row:
    module = run.module.to(device).eval()
    x = [t.to(device) for t in run.inputs]
    peak = _peak(device, base)
    with torch.no_grad():
        if method == "eager":
            fn: Callable[[], Any] = lambda: module(*x)  # noqa: E731
        elif method == "cudagraph":
            fn = _own_graph(module, x)
        else:
            compiled = torch.compile(module, mode=COMPILE_MODES[method])
            fn = lambda: compiled(*x)  # noqa: E731
        t0 = time.perf_counter()
        limit = args.compile_limit if method in COMPILE_MODES else None
        with ALARM.limit(limit, f"{run.name} {method} compile"):  # max-autotune can take long
            fn()
        build_s = time.perf_counter() - t0
        build_peak = peak()
        peak = _peak(device, base)  # what a replay holds, as for our schedules
        timing = _timed(fn, device, args)
        # the output of a fresh call: reduce-overhead's CUDA graphs overwrite earlier outputs
        err = run.rel_err([o.detach().cpu() for o in _tensors(fn())])
    return {"method": method, **timing, "build_s": build_s, "peak_mb": peak(),
            "build_peak_mb": build_peak, "rel_err": err}


def _own_graph(module: torch.nn.Module, x: list[torch.Tensor]) -> Callable[[], Any]:
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            module(*x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = module(*x)

    def replay() -> Any:
        graph.replay()
        return out
    return replay


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _tensors(o)]


def ios_row(run: ModelRun, traced: TracedModel, method: str, options: EngineOptions,
            device: str, args: Any, strategy: str = "ios-both") -> Row:
    config = SearchConfig(r=args.r, s=8)
    base = _allocated(device)
    peak_search = _peak(device, base)
    if device == "cuda":
        cost: Any = GuardedCost(default_measured(traced, options=options))
    else:
        cost = SimulatedCost("h100")
    t0 = time.perf_counter()
    with ALARM.limit(args.search_limit, f"{run.name} {method} search"):
        schedule = optimize(traced.graph, strategy, cost, config, model_name=run.name)
    search_s = time.perf_counter() - t0
    search_peak = peak_search()
    del cost
    free()
    left = _allocated(device) - base  # what the search left allocated: counted below too
    build = _peak(device, base)
    compiled = executor.compile_schedule(traced, schedule, device, options=options)
    out = compiled(*(t.to(device) for t in run.inputs))
    err = run.rel_err([o.detach().cpu() for o in _tensors(out)])
    build_peak = build()
    peak = _peak(device, base)  # what a replay holds: weights, the graph's pool, inputs, outputs
    timing = _timed(compiled, device, args)
    # the grouped convs that run NCHW (the same answers the lowering got: cached per pair)
    plan = plan_layouts(traced.graph, traced.kernels, torch.device(device), torch.float32,
                        options)
    return {"method": method, **timing, "search_s": search_s, "predicted_ms": schedule.predicted_ms,
            "peak_mb": peak(), "build_peak_mb": build_peak, "search_peak_mb": search_peak,
            "search_left_mb": left / 2**20,
            "rel_err": err,
            "ops": len(traced.graph.nodes), "stages": len(schedule.stages),
            "streams": compiled.num_streams, "options": options.label(),
            "layout_pairs": len(layout_pairs(traced.graph, traced.kernels)),
            "nchw_convs": len(plan.reads_nchw),
            "fused_means": compiled.lever_report().get("fused_means", 0),
            # each pair's (conv, NHWC µs, NCHW µs) as timed for the lever
            "pairs_us": [(c, 1e3 * a, 1e3 * b) for c, a, b in plan.timed]}


def model_rows(report: Report, name: str, args: Any) -> None:
    device = "cpu" if args.smoke else "cuda"
    run = ModelRun(f"sample_models.zoo:{name}", args.batch)
    run.name = name
    key = {"model": name, "batch": args.batch}
    fused = fuse_regions(run.traced)
    for method in args.methods:
        if args.smoke and method in ("cudagraph", *COMPILE_MODES):
            continue
        if method in ("ios-both", "greedy"):
            fn = lambda m=method: ios_row(run, run.traced, m, DEFAULT_OPTIONS, device, args,  # noqa: E731
                                          strategy=m)
        elif method in FUSED_METHODS:
            fn = lambda m=method: ios_row(run, fused, m, FUSED_METHODS[m], device, args)  # noqa: E731
        else:
            fn = lambda m=method: module_row(run, m, device, args)  # noqa: E731
        row = attempt(report, lambda f=fn: {**key, **f()}, **key, method=method)
        print({k: v for k, v in row.items() if k != "options"}, flush=True)
        free()


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    head = (f"{data['device']}, torch {data['torch']}, cuDNN {data['cudnn']}, {data['date']}; "
            f"{data['note']}")
    lines = [f"# The zoo on {data['device']}", "", head, "",
             *table(["model", "batch", "method", "ms", "vs compile-ro", "search s",
                     "predicted ms", "peak MB", "rel_err"],
                    [[r["model"], r["batch"], r["method"], num(r.get("ms")), _ratio(r, rows),
                      num(r.get("search_s"), 1), num(r.get("predicted_ms")),
                      num(r.get("peak_mb"), 1), sci(r.get("rel_err"))
                      + (f" ({r['error'][:80]})" if r.get("error") else "")] for r in rows])]
    return "\n".join(lines) + "\n"


def _ratio(r: Row, rows: Sequence[Row]) -> str:
    ref = [x for x in rows if x["model"] == r["model"] and x["batch"] == r["batch"]
           and x["method"] == "compile-ro" and x.get("ms")]
    if not ref or not r.get("ms"):
        return ""
    return f"{ref[0]['ms'] / r['ms']:.2f}x"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.zoo", __doc__)
    p.add_argument("--models", nargs="+", default=["mobilenet_v3_large"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--r", type=int, default=3, help="ops per group in the search (IOS: 3)")
    p.add_argument("--search-limit", type=float, default=240.0, help="seconds per search")
    p.add_argument("--compile-limit", type=float, default=300.0,
                   help="seconds a torch.compile method may take to build (its row says so)")
    add_gpu_run_options(p)
    args = p.parse_args(argv)
    env = gpu_run_environment(p, args, "the zoo benchmark")
    gpu = device_stem(env)
    note = (f"batch {args.batch}, fp32 (TF32 convs), ios-both searched with "
            f"{'the simulated H100 (smoke)' if args.smoke else '`measured`'} at r={args.r}, s=8; "
            f"{args.warmup} warm-up and {args.iters} timed replays per method")
    header = {**env, "note": note, "engine": DEFAULT_OPTIONS.label(),
              "engine_epi": EPI_OPTIONS.label()}
    report = Report(out_dir(args.out_dir), f"{gpu}-zoo{args.tag}", header, markdown)
    for name in args.models:
        model_rows(report, name, args)
    print(markdown(report.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
