"""The IOS table on this GPU: every method for every model, measured in one run.

    python -m benchmarks.ios_table            # the full table (<= ~9 min, H100)
    python -m benchmarks.ios_table --quick    # smoke test: squeezenet, no compile
    python -m benchmarks.ios_table --models inception_v3 --batch 1 16

Methods per (model, batch): eager; cudagraph (the model's own forward captured in one CUDA graph on
one stream); sequential, greedy, ios-merge, ios-parallel, ios-both (searched with the measured
cost model, run by our executor: streams + one CUDA graph); critical-path (the longest path of
measured op times: a reference, not a bound, since a merged stage beats its members' path); and
last, when time is left, torch.compile default and reduce-overhead.

Stage measurements go through one database per batch size shared by all strategies and models
(identical stages measured once); ``search_s`` is what the search would have cost from a cold
cache: DP seconds plus the measuring seconds of every distinct stage it asked for. A stage left
unmeasured when a model's share of the time budget runs out is estimated by the simulated H100
(and so marked in its schedule); the row counts such stages. A DP search that outlives the run's
share is stopped (never inside a stage measurement) and its row records that. ``--rs nasnet=1,3``
prunes one model harder where r=3, s=8 would not fit the budget (its rows say r and s).

Written incrementally into ``--out-dir`` (default ``$OUT`` when set, else benchmarks/results/):
``<gpu>.json`` / ``<gpu>.md``, and under ``profiles/`` one ``ios-profile/1`` database per model and
batch plus the GPU's schedules (``<db stem>.<strategy>.schedule.json``), ready for
ios_core/data/profiles/.
A failing method records its error in its row; the run goes on.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks import harness
from benchmarks.harness import ALARM, GuardedCost, attempt, environment, require_cuda, timing_fields
from benchmarks.report import (
    Report,
    Row,
    add_out_dir,
    argument_parser,
    latency_cell,
    log,
    num,
    out_dir,
    pivot,
    sci,
    table,
    versions,
)
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.cached import CachedCost
from ios_core.cost.factory import default_measured
from ios_core.cost.profile_db import (
    SCHEDULE_SUFFIX,
    ProfileDB,
    ProfileError,
    ProfileKey,
    device_slug,
)
from ios_core.cost.recording import StageRequest
from ios_core.ir.schedule import Schedule
from ios_core.profiling import measure_settings, model_subset
from ios_core.runtime.options import EngineOptions, options_from_label
from ios_core.runtime.timing import time_samples
from ios_core.search import SearchConfig, optimize

# sequential first: it measures every single-op stage, which every other search needs; then
# ios-both, so that when a run's measuring time runs out its stages were measured first
STRATEGIES = ("sequential", "greedy", "ios-both", "ios-parallel", "ios-merge")
METHODS = ("eager", "cudagraph", "compile-default", "compile-reduce-overhead", "sequential",
           "greedy", "ios-merge", "ios-parallel", "ios-both", "critical-path")
DEFAULT_RUNS = (("squeezenet", 1), ("inception_v3", 1), ("inception_v3", 16), ("randwire", 1),
                ("nasnet", 1))  # cheapest first: a run cut short still has most of the table
# per measured stage: few replays, thousands of stages (profiling.default_measured says why)
STAGE_WARMUP, STAGE_ITERS = 2, 10
SEARCH_SHARE = 0.75  # of the time budget for everything but torch.compile
COMPILE_LIMIT_S = 150.0  # one torch.compile call may take at most this long
MIN_SEARCH_S = 10.0  # a DP search always gets this long, even when its run's share is spent


# ---- results file -----------------------------------------------------------------------------
def new_report(folder: Path, header: dict[str, Any]) -> Report:
    """``<slug>.json`` / ``<slug>.md`` with the stage profiles saved so far (``profiles``)."""
    return Report(folder, header["slug"], header, markdown, describe=_row_line,
                  extra={"profiles": []})


def markdown(data: dict[str, Any]) -> str:
    details = table(
        ["model", "batch", "method", "ms", "search s", "predicted ms", "predicted / measured",
         "rel. err", "notes"],
        ([r["model"], r["batch"], r["method"], num(r.get("ms")), num(r.get("search_s"), 1),
          num(r.get("predicted_ms")), _ratio(r.get("predicted_ms"), r.get("ms")),
          sci(r.get("rel_err")), _notes(r, data["config"])] for r in data["rows"]))
    lines = [f"# IOS table on {data['device']}", "",
             f"{versions(data)}; fp32 "
             f"(TF32 convs {'on' if data['settings'].get('tf32_cudnn') else 'off'}); "
             f"r={data['config']['r']}, s={data['config']['s']}; median ms of CUDA-event-timed "
             f"runs ({data['config']['iters']} after {data['config']['warmup']} warm-ups).", "",
             "## Latency (ms)", "", *pivot_table(data["rows"]), "",
             "## ios-both against the others", "", *ratio_table(data["rows"]), "",
             "## Details", "", *details]
    if data.get("profiles"):
        lines += ["", "## Stage profiles", "",
                  *table(["file", "stages", "measuring s", "estimated"],
                         ([p["file"], p["entries"], f"{p['measure_s']:.1f}", p["estimated"]]
                          for p in data["profiles"]))]
    lines += ["", "search s: profiling + DP seconds from a cold stage cache; rel. err: output vs. "
              "the model's own forward in float64 on the CPU; critical path: longest path of "
              "measured op latencies, a reference (not a bound: merged stages beat it).", ""]
    return "\n".join(lines)


RATIO_TO = ("cudagraph", "compile-reduce-overhead", "sequential", "greedy")
IOS_MODELS = ("squeezenet", "inception_v3", "randwire", "nasnet")  # the paper's four benchmarks
REFERENCE = "critical-path"  # the longest path of measured op times: no bound (see cost.bounds)


def _method(row: Row) -> str:
    """A row's method; rows written before 2026-12-03 called the critical path "bound"."""
    return REFERENCE if row["method"] == "bound" else row["method"]


def ratio_table(rows: Sequence[Row]) -> list[str]:
    """Speed-up of ios-both over each other method (other ms / ios-both ms), its distance from
    the critical-path reference (ios-both / critical path), and the geometric mean over the IOS
    benchmarks at batch 1. Results written before 2026-12-03 call the reference "bound"."""
    ms = {(r["model"], r["batch"], _method(r)): r.get("ms") for r in rows}
    runs = list(dict.fromkeys((r["model"], r["batch"]) for r in rows))
    per_method: dict[str, list[float]] = {m: [] for m in (*RATIO_TO, REFERENCE)}
    lines = []
    for model, batch in runs:
        ios = ms.get((model, batch, "ios-both"))
        cells = []
        for m in (*RATIO_TO, REFERENCE):
            other = ms.get((model, batch, m))
            if not ios or not other:
                cells.append("")
                continue
            value = ios / other if m == REFERENCE else other / ios
            cells.append(f"{value:.2f}")
            if batch == 1 and model in IOS_MODELS:
                per_method[m].append(value)
        lines.append([model, batch, num(ios), *cells])
    geo = [f"{statistics.geometric_mean(v):.2f} ({len(v)})" if v else ""
           for v in per_method.values()]
    lines.append(["geomean, IOS benchmarks at batch 1 (models)", "", "", *geo])
    return table(["model", "batch", "ios-both ms", *(f"x {m}" for m in RATIO_TO),
                  "/ critical path"],
                 lines)


def pivot_table(rows: Sequence[Row]) -> list[str]:
    """Milliseconds per (model, batch) and method."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    return pivot(rows, ("model", "batch"), "method", latency_cell, methods)


def _ratio(pred: float | None, ms: float | None) -> str:
    return num(pred / ms) if pred is not None and ms else ""


def _notes(r: Row, config: dict[str, Any]) -> str:
    notes = []
    if "r" in r and (r["r"], r["s"]) != (config["r"], config["s"]):
        notes.append(f"r={r['r']}, s={r['s']}")
    if r.get("estimated_stages"):
        notes.append(f"{r['estimated_stages']} stages estimated")
    if r.get("compile_s") is not None:
        notes.append(f"compiled in {r['compile_s']:.0f} s")
    if r.get("error"):
        notes.append(str(r["error"]).replace("|", "/").splitlines()[0][:120])
    return "; ".join(notes)


def _row_line(r: Row) -> str:
    what = f"{r['ms']:.3f} ms" if r.get("ms") is not None else f"FAILED {r.get('error', '')}"
    extra = f", search {r['search_s']:.1f} s" if r.get("search_s") is not None else ""
    return f"{r['model']} b{r['batch']} {r['method']}: {what}{extra}"


# ---- one model at one batch size --------------------------------------------------------------
class ModelRun(harness.ModelRun):
    """Everything measured for one (model, batch): the traced graph, the GPU copy of the model,
    the reference output, and the stage cache shared with the other runs of this batch."""

    def __init__(self, name: str, batch: int, args: argparse.Namespace, db: ProfileDB,
                 measure_s: dict[str, float]) -> None:
        super().__init__(name, batch)
        self.args = args
        r, s = args.rs.get(name, (args.r, args.s))
        self.config = SearchConfig(r=r, s=s)
        # a copy on the GPU: moving the traced module itself could move tensors its kernels share
        self.module = copy.deepcopy(self.module).cuda().eval()
        self.cuda_inputs = [x.cuda() for x in self.inputs]
        self.db, self.measure_s = db, measure_s
        self.fallback = SimulatedCost("h100")
        self.measured = GuardedCost(_measured_cost(self.traced, args.engine))
        self.requests: dict[str, StageRequest] = {}  # every stage this model's searches asked
        self.estimated: set[str] = set()
        self.deadline: float | None = None  # measuring stops (stages get estimated) after this
        self.search_end = float("inf")  # a DP search is stopped after this (or MIN_SEARCH_S)

    def row(self, method: str, **fields: Any) -> Row:
        return {"model": self.name, "batch": self.batch, "method": method, "ms": None, **fields}

    def timing(self, target: Any, iters: int | None = None) -> dict[str, float]:
        return timing_fields(time_samples(target, self.args.warmup, iters or self.args.iters))

    # ---- baselines -----------------------------------------------------------------------------
    def eager(self) -> dict[str, Any]:
        with torch.no_grad():
            out = self.module(*self.cuda_inputs)

            def run() -> None:
                self.module(*self.cuda_inputs)

            timing = self.timing(run, iters=min(self.args.iters, 30))  # slow and launch-bound
        return self.row("eager", **timing, rel_err=self.rel_err(out))

    def cudagraph(self) -> dict[str, Any]:
        from ios_core.runtime.engine import capture

        with torch.no_grad():
            graph, out = capture(lambda: self.module(*self.cuda_inputs))
            graph.replay()
            err = self.rel_err(out)
            timing = self.timing(graph)
        return self.row("cudagraph", **timing, rel_err=err)

    def compiled(self, mode: str, limit_s: float) -> dict[str, Any]:
        method = "compile-default" if mode == "default" else f"compile-{mode}"
        torch._dynamo.reset()  # a fresh cache per model and mode: no recompile-limit surprises
        fn = torch.compile(self.module, mode=mode)
        t0 = time.perf_counter()
        with ALARM.limit(limit_s, "torch.compile"), torch.no_grad():
            for _ in range(3):  # compiles on the first call; reduce-overhead records graphs later
                out = fn(*self.cuda_inputs)
            compile_s = time.perf_counter() - t0
            # reduce-overhead reuses its output buffers
            err = self.rel_err([t.clone() for t in harness.flatten(out)])

            def run() -> None:
                fn(*self.cuda_inputs)

            timing = self.timing(run)
        return self.row(method, **timing, rel_err=err, compile_s=compile_s)

    # ---- our schedules -------------------------------------------------------------------------
    def cached_cost(self) -> CachedCost:
        return CachedCost(self.db, self.measured, self.name, self.fallback,
                          deadline=self.deadline, measure_s=self.measure_s)

    def schedule(self, strategy: str) -> tuple[Schedule, dict[str, Any]]:
        cost = self.cached_cost()
        spent = sum(self.measure_s.values())
        # the DP searches may not run past the run's share of the budget; the cheap ones may
        dp = strategy not in ("sequential", "greedy")
        limit = max(self.search_end - time.perf_counter(), MIN_SEARCH_S) if dp else None
        t0 = time.perf_counter()
        with ALARM.limit(limit, f"the {strategy} search"):
            sched = optimize(self.graph, strategy, cost, self.config, model_name=self.name)
        wall = time.perf_counter() - t0
        dp_s = wall - (sum(self.measure_s.values()) - spent)
        # stages measured by an earlier (resumed) run count at this run's mean time per stage
        earlier = [sig for sig in cost.asked if sig in self.db and sig not in self.measure_s]
        profile_s = cost.cold_seconds(cost.asked) + len(earlier) * self.mean_measure_s()
        self.requests.update(cost.asked)
        self.estimated |= cost.estimated
        stats = {**sched.search.stats, "stream_cap": self.config.stream_cap, "dp_s": dp_s,
                 "profile_s": profile_s, "fallback_params": self.fallback.params,
                 "measure_failures": len(cost.failures),
                 "estimated_signatures": len(cost.estimated)}
        sched = replace(sched, search=replace(sched.search, stats=stats),
                        target=replace(sched.target, cudnn=str(torch.backends.cudnn.version())))
        info = {"search_s": dp_s + profile_s, "dp_s": dp_s, "profile_s": profile_s,
                "predicted_ms": sched.predicted_ms, "stages": len(sched.stages),
                "estimated_stages": sched.estimated_stages, "distinct_stages": len(cost.asked)}
        if earlier:
            info["resumed_stages"] = len(earlier)
        return sched, info

    def mean_measure_s(self) -> float:
        if self.measure_s:
            return sum(self.measure_s.values()) / len(self.measure_s)
        return float(self.db.measure.get("mean_measure_s", 0.0))

    def ios(self, strategy: str, out_stem: Path) -> dict[str, Any]:
        from ios_core.runtime.executor import compile_schedule

        sched, info = self.schedule(strategy)
        sched.save(str(out_stem.with_name(f"{out_stem.name}.{strategy}.schedule.json")))
        compiled = compile_schedule(self.traced, sched, device="cuda", options=self.args.engine)
        err = self.rel_err(compiled(*self.inputs))
        timing = self.timing(compiled)
        return self.row(strategy, **timing, **info, rel_err=err, streams=compiled.num_streams,
                        r=self.config.r, s=self.config.s)

    def critical_path(self) -> dict[str, Any]:
        from ios_core.cost.bounds import critical_path_ms

        cost = self.cached_cost()
        ms = critical_path_ms(self.graph, cost)
        self.requests.update(cost.asked)
        return self.row(REFERENCE, ms=ms, estimated_stages=len(cost.estimated))

    def save_profile(self, path: Path) -> dict[str, Any]:
        sub = model_subset(self.db, self.requests.values(), self.name)
        sub.set_model_info(self.name, fingerprint=self.graph.fingerprint(), r=self.config.r,
                           s=self.config.s, max_part_ops=self.config.max_part_ops,
                           strategies=list(self.args.strategies), stages=len(self.requests),
                           complete=not (set(self.requests) - set(sub.entries)))
        sub.measure["mean_measure_s"] = self.mean_measure_s()  # for a resumed run's search_s
        sub.measure.update(measure_settings(self.measured))  # engine levers, cold or warm weights
        sub.save(path)
        secs = sum(self.measure_s.get(s, 0.0) for s in self.requests)
        return {"file": path.name, "model": self.name, "batch": self.batch, "entries": len(sub),
                "measure_s": secs, "estimated": len(self.estimated - set(sub.entries))}


def _measured_cost(traced: Any, options: EngineOptions) -> Any:
    return default_measured(traced, STAGE_WARMUP, STAGE_ITERS, options=options)


# ---- the whole table --------------------------------------------------------------------------
def search_phase(report: Report, runs: Sequence[tuple[str, int]], args: argparse.Namespace,
                 folder: Path, phase_end: float) -> list[ModelRun]:
    """Baselines, searches, our executor and the critical-path reference for every run; profiles
    saved per run."""
    dbs: dict[int, ProfileDB] = {}
    measure_s: dict[int, dict[str, float]] = {}
    done: list[ModelRun] = []
    for i, (model, batch) in enumerate(runs):
        try:
            run = setup_run(model, batch, args, dbs, measure_s)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            for method in args.methods:
                report.add({"model": model, "batch": batch, "method": method, "ms": None,
                            "error": f"setup failed: {type(e).__name__}: {e}"})
            continue
        # later runs inherit what earlier ones did not use of the time; the searches may run a
        # little past the end of measuring (new stages are then estimated, so they go fast)
        share = max(10.0, (phase_end - time.perf_counter()) / (len(runs) - i))
        run.deadline = time.perf_counter() + 0.8 * share
        run.search_end = time.perf_counter() + share
        stem = folder / "profiles" / f"{report.header['slug']}-{model}-b{batch}"
        for method, fn in (("eager", run.eager), ("cudagraph", run.cudagraph)):
            if method in args.methods:
                attempt(report, fn, model=model, batch=batch, method=method)
        for strategy in args.strategies:
            attempt(report, partial(run.ios, strategy, stem), model=model, batch=batch,
                    method=strategy)
        if REFERENCE in args.methods:
            attempt(report, run.critical_path, model=model, batch=batch, method=REFERENCE)
        if not run.requests:
            done.append(run)
            continue  # nothing measured: no profile to write
        try:
            report.extra["profiles"].append(run.save_profile(stem.with_name(stem.name + ".json")))
            report.write()
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
        done.append(run)
    return done


def setup_run(model: str, batch: int, args: argparse.Namespace, dbs: dict[int, ProfileDB],
              measure_s: dict[int, dict[str, float]]) -> ModelRun:
    log(f"{model} b{batch}: tracing")
    if batch not in dbs:
        dbs[batch] = ProfileDB(current_key(batch), name=f"b{batch}",
                               measure={**measure_settings(), "warmup": STAGE_WARMUP,
                                        "iters": STAGE_ITERS})
        measure_s[batch] = {}
        if args.resume:
            dbs[batch] = resume(dbs[batch], Path(args.resume))
    return ModelRun(model, batch, args, dbs[batch], measure_s[batch])


def resume(db: ProfileDB, folder: Path) -> ProfileDB:
    """``db`` plus every database in ``folder`` measured under its very key (a cut run's)."""
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(SCHEDULE_SUFFIX):
            continue
        try:
            other = ProfileDB.load(path)
        except ProfileError:
            continue
        if other.key == db.key:
            db = db.merged(other)
            db.measure.setdefault("mean_measure_s", other.measure.get("mean_measure_s", 0.0))
            log(f"resumed {len(other)} stages from {path}")
    return db


def current_key(batch: int) -> ProfileKey:
    return ProfileKey(torch.cuda.get_device_name(), torch.__version__,
                      str(torch.backends.cudnn.version()), "float32", batch)


def compile_phase(report: Report, runs: Sequence[ModelRun], modes: Sequence[str],
                  end: float) -> None:
    """torch.compile rows last: they take longest to build and matter least to this project."""
    for run in runs:
        for mode in modes:
            method = "compile-default" if mode == "default" else f"compile-{mode}"
            left = end - time.perf_counter()
            if left < 20:
                report.add(run.row(method, error="skipped: time budget used up"))
                continue
            attempt(report, partial(run.compiled, mode, min(left, COMPILE_LIMIT_S)),
                    model=run.name, batch=run.batch, method=method)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argument_parser("benchmarks.ios_table", __doc__)
    p.add_argument("--models", nargs="+", default=None,
                   help="sample models (default: squeezenet inception_v3 randwire nasnet at "
                        "batch 1, and inception_v3 at batch 16)")
    p.add_argument("--batch", nargs="+", type=int, default=None,
                   help="batch sizes, each with every --models (default: see --models)")
    p.add_argument("--runs", nargs="+", default=None, metavar="MODEL@BATCH",
                   help="exact (model, batch) runs in order, e.g. squeezenet@1 inception_v3@16; "
                        "overrides --models and --batch")
    add_out_dir(p)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: squeezenet unless --models, 20 timed runs, no torch.compile")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="methods to measure (default: all)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--compile-share", type=float, default=1 - SEARCH_SHARE,
                   help="part of the budget kept for the torch.compile rows, which run last "
                        f"(default {1 - SEARCH_SHARE:.2f})")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="reuse the stage databases in DIR measured on this GPU/torch/cuDNN "
                        "(e.g. the profiles/ of a run that was cut short)")
    p.add_argument("--rs", nargs="+", default=[], metavar="MODEL=R,S",
                   help="other pruning for some models, e.g. nasnet=2,4 (its rows say r and s)")
    p.add_argument("--engine", default="default", metavar="LEVERS",
                   help="executor levers for measuring and running our schedules: default, "
                        "plain, or changes such as default+sviews (ios_core.runtime.options)")
    p.add_argument("--r", type=int, default=3, help="max ops per group (default 3)")
    p.add_argument("--s", type=int, default=8, help="max groups per stage (default 8)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up runs per timing (default 10)")
    p.add_argument("--iters", type=int, default=100, help="timed runs per timing (default 100)")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="wall-clock budget; stages not measured by a run's share of it are "
                        "estimated, torch.compile rows are skipped when it is spent (default 480)")
    args = p.parse_args(argv)
    if args.quick:
        args.iters, args.no_compile = min(args.iters, 20), True  # compiling takes minutes
    args.runs = runs_from(args)
    args.strategies = [s for s in STRATEGIES if s in args.methods]
    # reduce-overhead first: the baseline that matters (one CUDA graph, like our executor)
    args.compile_modes = [] if args.no_compile else [
        m for m in ("reduce-overhead", "default") if f"compile-{m}" in args.methods]
    args.rs = parse_rs(args.rs)
    try:
        args.engine = options_from_label(args.engine)
    except ValueError as e:
        raise SystemExit(f"--engine: {e}") from None
    return args


def parse_rs(items: Sequence[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for item in items:
        try:
            model, _, pair = item.partition("=")
            r, s = (int(v) for v in pair.split(","))
        except ValueError:
            raise SystemExit(f"--rs wants MODEL=R,S (got {item!r})") from None
        out[model] = (r, s)
    return out


def runs_from(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.runs:
        try:
            return [(m, int(b)) for m, _, b in (item.partition("@") for item in args.runs)]
        except ValueError:
            raise SystemExit(f"--runs wants MODEL@BATCH items (got {args.runs})") from None
    if args.models is None and args.batch is None:
        return [("squeezenet", 1)] if args.quick else list(DEFAULT_RUNS)
    models = args.models or [m for m, _ in DEFAULT_RUNS if m != "inception_v3"] + ["inception_v3"]
    return [(m, b) for b in (args.batch or [1]) for m in dict.fromkeys(models)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not require_cuda("the IOS table"):
        return 2
    start = time.perf_counter()
    folder = out_dir(args.out_dir)
    (folder / "profiles").mkdir(parents=True, exist_ok=True)
    env = environment()
    header = {**env, "slug": device_slug(env["device"]), "settings": measure_settings(),
              "config": {"r": args.r, "s": args.s, "warmup": args.warmup, "iters": args.iters,
                         "engine": args.engine.label(),
                         "stage_warmup": STAGE_WARMUP, "stage_iters": STAGE_ITERS,
                         "budget_s": args.budget_s}}
    report = new_report(folder, header)
    report.write()
    log(f"{env['device']}: {len(args.runs)} runs -> {folder}")
    share = 1 - args.compile_share if args.compile_modes else 1.0
    runs = search_phase(report, args.runs, args, folder, start + share * args.budget_s)
    if args.compile_modes:
        compile_phase(report, runs, args.compile_modes, start + args.budget_s)
    report.header["elapsed_s"] = round(time.perf_counter() - start, 1)
    report.write()
    print("\n".join(["", *pivot_table(report.rows)]))
    print(f"\nwrote {report.json_path}, {report.md_path} and {folder / 'profiles'}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
