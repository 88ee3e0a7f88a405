"""Measured searches on the GPU from a cold cache: the GPU columns of issue 14's search-cost table.

    python -m benchmarks.search_gpu --models inception_v3 zoo:googlenet --out-dir $OUT
    python -m benchmarks.search_gpu --models randwire --compare-r 1     # r=3 against r=1
    python -m benchmarks.search_gpu --smoke --models ios_demo           # CPU check, no figures

Per model (a sample model by name, a zoo model as ``zoo:NAME``; batch 1): ios-both at ``--r``,
s=8, with the measured cost model, a new one per model, so nothing is measured before the search
starts (a cold cache). A row holds the DP's states, transitions and stages costed, the distinct
stages timed on the GPU (isomorphic stages share one timing), the endings that only the fitted
envelope skipped (:mod:`ios_core.search.envelope`), the search's wall seconds split into
measuring (and its build, capture and replay phases) and the rest (the DP itself), then the
schedule compiled into one CUDA graph and timed (median of ``--iters`` replays) against its
prediction. ``--search-limit`` stops a search and keeps its best schedule so far (``stopped``).

``--envelope-quantile Q`` fits the search's envelope to the Q-quantile of the measured/calibrated
ratios it has seen instead of the lowest, and ``--envelope-margin M`` (default 0.9) scales it
(:mod:`ios_core.search.envelope`): Q=0.5, M=1 times only the endings whose calibrated prior, at
the median ratio, could still win.

``--compare-r R`` also searches each model at r=R, reusing the first search's measurements (so
its seconds are not a cold figure), and times both schedules side by side in the same process:
issue 14 asks that RandWire's and NASNet's ios-both be faster at r=3 than at r=1.

``--lazy OPTIMISM`` measures lazily instead (:mod:`ios_core.search.lazy`): the DP runs on the
simulated device calibrated to each op measured alone, times OPTIMISM, and only the stages of the
plans it picks are timed, until a plan is timed throughout.

``--smoke`` runs the same path on the CPU with the simulated H100 as cost model (a check that the
script works). Writes ``<gpu>-search.json`` and ``.md`` into ``--out-dir`` (default ``$OUT``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import (
    ModelRun,
    add_gpu_run_options,
    attempt,
    device_stem,
    free,
    gpu_run_environment,
)
from benchmarks.report import Report, Row, argument_parser, log, num, out_dir, table
from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.factory import default_measured
from ios_core.ir.schedule import Schedule
from ios_core.runtime import executor
from ios_core.runtime.timing import time_samples
from ios_core.search import SearchConfig, SearchObserver, SearchProgress, optimize
from ios_core.search.envelope import DEFAULT_MARGIN

STRATEGY = "ios-both"
ZOO_TARGET_S = 60.0  # issue 14: every zoo model's measured search from a cold cache
BIG_TARGET_S = 600.0  # ... and RandWire's and NASNet's at r=3, s=8


class Deadline(SearchObserver):
    """Logs progress every ``every`` seconds and asks the search to stop after ``limit``."""

    def __init__(self, what: str, limit: float | None, every: float = 30.0) -> None:
        self.what, self.limit, self.every = what, limit, every
        self.start = time.perf_counter()
        self.last = self.start

    def on_search_progress(self, progress: SearchProgress) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            log(f"{self.what}: {progress.describe()}")

    def should_stop(self) -> bool:
        return self.limit is not None and time.perf_counter() - self.start > self.limit


def load(ref: str) -> ModelRun:
    run = ModelRun("sample_models.zoo:" + ref[4:] if ref.startswith("zoo:") else ref, 1)
    run.name = ref
    return run


def search(run: ModelRun, cost: Any, r: int, limit: float | None,
           quantile: float = 0.0, margin: float = DEFAULT_MARGIN,
           lazy: float = 0.0) -> tuple[Schedule, Row]:
    """One search and what it cost (``lazy`` > 0: measured lazily with that optimism);
    ``cost``'s counters are read before and after."""
    measured0 = getattr(cost, "measured", 0)
    seconds0 = getattr(cost, "seconds", 0.0)
    phases0 = dict(getattr(cost, "phase_s", {}))
    t0 = time.perf_counter()
    config = SearchConfig(r=r, s=8, envelope_quantile=quantile, envelope_margin=margin,
                          lazy=lazy > 0, lazy_optimism=lazy or 1.0)
    schedule = optimize(run.graph, STRATEGY, cost, config,
                        observer=Deadline(f"{run.name} r={r}", limit), model_name=run.name)
    search_s = time.perf_counter() - t0
    st = schedule.search.stats
    measure_s = getattr(cost, "seconds", 0.0) - seconds0
    row: Row = {
        # a stopped search's finished parts hold st["states"]; the part under way solved more
        "r": r, "envelope_quantile": quantile, "envelope_margin": margin, "lazy": lazy,
        "ops": len(run.graph.nodes),
        "parts": len(st["parts"]),
        "states": st.get("states_solved", st["states"]), "states_total": st["states_total"],
        "transitions": st["transitions"], "stages_costed": st["stages_costed"],
        "stages_measured": getattr(cost, "measured", 0) - measured0,
        "envelope_pruned": st.get("envelope_pruned"),
        "envelope_factor": st.get("envelope_factor"), "search_s": search_s,
        "measure_s": measure_s, "dp_s": search_s - measure_s,
        "stopped": bool(st.get("stopped")), "predicted_ms": schedule.predicted_ms,
        "stages": len(schedule.stages)}
    for phase, secs in getattr(cost, "phase_s", {}).items():
        row[f"{phase}_s"] = secs - phases0.get(phase, 0.0)
    return schedule, row


def timed_rows(run: ModelRun, found: list[tuple[Schedule, Row]], device: str,
               args: Any) -> None:
    """Compile every schedule, then time them one after another in this process."""
    compiled = []
    for schedule, row in found:
        fn = executor.compile_schedule(run.traced, schedule, device)
        out = fn(*(t.to(device) for t in run.inputs))
        outs = out if isinstance(out, list | tuple) else [out]
        row["rel_err"] = run.rel_err([o.detach().cpu() for o in outs])
        compiled.append(fn)
    for fn, (schedule, row) in zip(compiled, found, strict=True):
        t = time_samples(fn, args.warmup, args.iters, device)
        row["ms"] = t.median_ms
        row["pred_err"] = schedule.predicted_ms / t.median_ms - 1


def model_rows(report: Report, ref: str, args: Any) -> None:
    device = "cpu" if args.smoke else "cuda"
    key = {"model": ref}
    state: dict[str, Any] = {}

    def first() -> Row:
        run = state["run"] = load(ref)
        cost = state["cost"] = SimulatedCost("h100") if args.smoke else default_measured(run.traced)
        q, m, lazy = args.envelope_quantile, args.envelope_margin, args.lazy
        schedule, row = search(run, cost, args.r, args.search_limit, q, m, lazy)
        state["found"] = [(schedule, row)]
        if args.compare_r:
            state["found"].append(search(run, cost, args.compare_r, args.search_limit, q, m,
                                         lazy))
        timed_rows(run, state["found"], device, args)
        return {**key, **row}

    attempt(report, first, **key, r=args.r)
    for _, row in state.get("found", [])[1:]:
        report.add({**key, **row, "warm_cache": True})
    free()


def markdown(data: dict[str, Any]) -> str:
    head = f"{data['device']}, torch {data['torch']}, cuDNN {data['cudnn']}, {data['date']}"
    rows = [[r["model"], f"{r.get('r')}" + (f" (lazy {r['lazy']:g})" if r.get("lazy") else ""),
             _states(r),
             f"{r['transitions']:,}" if "transitions" in r else "",
             f"{r['stages_costed']:,}" if "stages_costed" in r else "",
             f"{r['stages_measured']:,}" if "stages_measured" in r else "",
             f"{r['envelope_pruned']:,}" if r.get("envelope_pruned") is not None else "",
             num(r.get("dp_s"), 1), num(r.get("measure_s"), 1),
             num(r.get("search_s"), 1) + (" (warm cache)" if r.get("warm_cache") else "")
             + (" (stopped)" if r.get("stopped") else ""),
             _target(r), num(r.get("predicted_ms")), num(r.get("ms")),
             f"{100 * r['pred_err']:+.1f} %" if r.get("pred_err") is not None else "",
             r.get("error", "")[:80]] for r in data["rows"]]
    lines = [f"# Measured searches from a cold cache on {data['device']}", "", head, "",
             data["note"], "",
             *table(["model", "r", "states", "transitions", "stages costed", "stages timed",
                     "skipped by envelope", "DP s", "measuring s", "search s", "target",
                     "predicted ms", "measured ms", "prediction error", "error"], rows)]
    return "\n".join(lines) + "\n"


def _states(r: Row) -> str:
    """States solved, and of how many when the search was stopped."""
    if "states" not in r:
        return ""
    if r.get("stopped") and r.get("states_total"):
        return f"{r['states']:,} of {r['states_total']:,}"
    return f"{r['states']:,}"


def _target(r: Row) -> str:
    if r.get("warm_cache") or r.get("search_s") is None:
        return ""
    big = not str(r["model"]).startswith("zoo:")
    limit = BIG_TARGET_S if big else ZOO_TARGET_S
    met = r["search_s"] <= limit and not r.get("stopped")
    return f"{'met' if met else 'missed'} (≤ {limit:.0f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.search_gpu", __doc__)
    p.add_argument("--models", nargs="+", default=["inception_v3"])
    p.add_argument("--r", type=int, default=3)
    p.add_argument("--compare-r", type=int, default=0, help="also search at this r (warm cache)")
    p.add_argument("--search-limit", type=float, default=None,
                   help="seconds per search, then its best schedule so far")
    p.add_argument("--envelope-quantile", type=float, default=0.0,
                   help="fit the envelope to this quantile of the ratios seen (0: the lowest)")
    p.add_argument("--envelope-margin", type=float, default=DEFAULT_MARGIN,
                   help=f"the envelope's factor on that ratio, in (0, 1] ({DEFAULT_MARGIN})")
    p.add_argument("--lazy", type=float, default=0.0, metavar="OPTIMISM",
                   help="measure lazily (ios_core/search/lazy.py) with this optimism in (0, 1]; "
                        "0: the DP with its envelope (default)")
    add_gpu_run_options(p)
    args = p.parse_args(argv)
    if not 0 <= args.lazy <= 1:
        p.error(f"--lazy must be in [0, 1] (got {args.lazy})")
    if not 0 <= args.envelope_quantile < 1:
        p.error(f"--envelope-quantile must be in [0, 1) (got {args.envelope_quantile})")
    if not 0 < args.envelope_margin <= 1:
        p.error(f"--envelope-margin must be in (0, 1] (got {args.envelope_margin})")
    env = gpu_run_environment(p, args, "a measured search")
    gpu = device_stem(env)
    note = (f"{STRATEGY} at s=8, batch 1, fp32 (TF32 convs); "
            f"{'simulated H100 (smoke: no figures)' if args.smoke else 'measured cost model'}, "
            f"a new one per model (cold cache); schedules timed as one CUDA graph, median of "
            f"{args.iters} replays")
    report = Report(out_dir(args.out_dir), f"{gpu}-search{args.tag}", {**env, "note": note},
                    markdown)
    for ref in args.models:
        model_rows(report, ref, args)
    print(markdown(report.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
