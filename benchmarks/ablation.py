"""The engine's speed levers side by side on this GPU: what each one buys, per model, in one run.

    python -m benchmarks.ablation --out-dir $OUT     # 4 models, <= ~4 min on an H100
    python -m benchmarks.ablation --models squeezenet --configs baseline,+fused
    python -m benchmarks.ablation --cost measured    # schedules from measured stages

Per model (batch 1): trace; search ios-both and sequential on the simulated H100 (``--cost
measured``: on measured stages, plain engine); then for each configuration (a schedule, a dtype and
:class:`ios_core.runtime.options.EngineOptions`) compile it into one CUDA graph and time its replays
with
``ios_core.runtime.timing.time_samples``. Checks per row: fp32 rows run once more eagerly with TF32
off and are compared with the module in float64 on the CPU (``rel_err``, tolerance 5e-4: the
executor's
``check``); the graph's own output (TF32 as torch has it) is compared with the baseline graph's
(``drift``). 16-bit rows are compared with the float64 module, next to the module's own error in
that dtype on the GPU (``module_err``; the random-weight sample models amplify rounding ~800x):
ok when within 2x of it or within the executor's 16-bit tolerance.

Rows are written after each one into ``--out-dir`` (default ``$OUT`` when set, else
benchmarks/results/): ``ablation.json`` and ``ablation.md``. A failing configuration records its
error in its row and the run goes on; configurations past the time budget are marked skipped
(the core ones, ``CORE``, always run). The short table printed last is the same as in the .md.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from benchmarks import harness
from benchmarks.harness import ALARM, TimeLimit, attempt, environment, flatten, free, timing_fields
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
from ios_core.runtime import executor
from ios_core.runtime.executor import tf32_mode
from ios_core.runtime.options import DEFAULT_OPTIONS, EngineOptions
from ios_core.runtime.timing import time_samples

MODELS = ("squeezenet", "inception_v3", "randwire", "nasnet")  # cheapest first
F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16
ALL = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True, concat="inplace",
                    cudnn_benchmark=True, order="longest-first")


@dataclass(frozen=True)
class Config:
    name: str
    schedule: str  # "ios-both" | "sequential"
    dtype: torch.dtype
    options: EngineOptions


CONFIGS = (
    Config("baseline", "ios-both", F32, EngineOptions()),
    Config("+fused", "ios-both", F32, EngineOptions(fuse_conv_relu=True)),
    Config("all", "ios-both", F32, ALL),
    Config("+fused+add", "ios-both", F32,
           EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True)),
    Config("+concat-view", "ios-both", F32, EngineOptions(concat="view")),
    Config("+concat-inplace", "ios-both", F32, EngineOptions(concat="inplace")),
    Config("+bench", "ios-both", F32, EngineOptions(cudnn_benchmark=True)),
    Config("+longest-first", "ios-both", F32, EngineOptions(order="longest-first")),
    Config("+priority", "ios-both", F32,
           EngineOptions(order="longest-first", stream_priority=True)),
    Config("cap1", "ios-both", F32, EngineOptions(stream_cap=1)),
    Config("cap2", "ios-both", F32, EngineOptions(stream_cap=2)),
    Config("cap4", "ios-both", F32, EngineOptions(stream_cap=4)),
    Config("all+priority", "ios-both", F32, replace(ALL, stream_priority=True)),
    Config("all+cap4", "ios-both", F32, replace(ALL, stream_cap=4)),
    Config("sequential", "sequential", F32, EngineOptions()),
    Config("sequential+all", "sequential", F32, ALL),
    Config("all+nhwc", "ios-both", F32, replace(ALL, channels_last=True)),
    Config("all+nhwc+pack", "ios-both", F32, replace(ALL, channels_last=True, pack_slices=True)),
    Config("all+nhwc+pack+sviews", "ios-both", F32,
           replace(ALL, channels_last=True, pack_slices=True, strided_views=True)),
    Config("all+nhwc-bench", "ios-both", F32,
           replace(ALL, channels_last=True, cudnn_benchmark=False)),
    Config("all-bench", "ios-both", F32, replace(ALL, cudnn_benchmark=False)),
    Config("sequential+all+nhwc", "sequential", F32, replace(ALL, channels_last=True)),
    Config("default", "ios-both", F32, DEFAULT_OPTIONS),
    Config("default+sviews", "ios-both", F32, replace(DEFAULT_OPTIONS, strided_views=True)),
    Config("sequential+default", "sequential", F32, DEFAULT_OPTIONS),
    Config("default+pool3d", "ios-both", F32, replace(DEFAULT_OPTIONS, nhwc_pool=True)),
    Config("default+sviews+pool3d", "ios-both", F32,
           replace(DEFAULT_OPTIONS, strided_views=True, nhwc_pool=True)),
    Config("sequential+default+sviews+pool3d", "sequential", F32,
           replace(DEFAULT_OPTIONS, strided_views=True, nhwc_pool=True)),
    Config("fp16 all", "ios-both", F16, ALL),
    Config("fp16 all+nhwc", "ios-both", F16, replace(ALL, channels_last=True)),
    Config("bf16 all+nhwc", "ios-both", BF16, replace(ALL, channels_last=True)),
    Config("baseline (again)", "ios-both", F32, EngineOptions()),  # drift of the clock/noise
)
CORE = ("baseline", "+fused", "all")  # run even when the time budget is spent


# ---- results file -----------------------------------------------------------------------------
def markdown(data: dict[str, Any]) -> str:
    h = data
    details = table(
        ["model", "config", "ms", "p10", "p90", "x base", "rel. err", "ok", "drift", "notes"],
        ([r["model"], r["config"], num(r.get("ms")), num(r.get("p10_ms")), num(r.get("p90_ms")),
          num(r.get("speedup"), 2), sci(r.get("rel_err")), _ok(r.get("ok")),
          sci(r.get("drift")), _notes(r)] for r in data["rows"]))
    lines = [f"# Engine levers on {h['device']}", "",
             f"{versions(h)}; batch "
             f"{h['batch']}; schedules searched on {h['cost']}; TF32 convs "
             f"{'on' if h['tf32_cudnn'] else 'off'}; median ms of {h['iters']} {h['timed']} "
             f"after {h['warmup']} warm-ups (ios_core.runtime.timing.time_samples).", "",
             "## Latency (ms)", "", *short_table(data["rows"]), "",
             "## Speed-up over baseline (geomean over the models that ran both)", "",
             *geomean_table(data["rows"]), "", "## Details", "", *details]
    lines += ["", "rel. err: fp32 rows run eagerly with TF32 off, 16-bit rows as timed, "
              "against the module in float64 on the CPU; ok: fp32 within 5e-4, 16-bit within 2x "
              "the module's own error in that dtype (module_err) or the executor's tolerance. "
              "drift: the timed graph's output against the baseline graph's (TF32 as torch has "
              "it).", ""]
    return "\n".join(lines)


def short_table(rows: Sequence[Row]) -> list[str]:
    """Milliseconds per configuration and model."""
    return pivot(rows, ("config",), "model", latency_cell)


def geomean_table(rows: Sequence[Row]) -> list[str]:
    """Each configuration's geometric-mean speed-up over the baseline."""
    lines = []
    for c in dict.fromkeys(r["config"] for r in rows):
        ups = [r["speedup"] for r in rows if r["config"] == c and r.get("speedup")]
        if ups:
            lines.append([c, f"{statistics.geometric_mean(ups):.3f}", len(ups)])
    return table(["config", "speed-up", "models"], lines)


def _ok(x: Any) -> str:
    return "" if x is None else ("yes" if x else "NO")


def _notes(r: Row) -> str:
    notes = []
    levers = r.get("levers") or {}
    for key in ("conv_relu", "conv_add_relu", "concat", "slots"):
        if key in levers:
            notes.append(f"{key} {_counts(levers[key])}")
    for key in ("conv_relu_refused", "conv_add_relu_refused"):
        if key in levers:
            notes.append(f"{key}: {levers[key][0][:80]}")
    if r.get("streams") is not None:
        notes.append(f"{r['streams']} streams")
    if r.get("schedule_used"):
        notes.append(f"{r['schedule']} search too slow: {r['schedule_used']} schedule")
    if r.get("module_err") is not None:
        notes.append(f"module_err {r['module_err']:.1e}")
    if r.get("error"):
        notes.append(str(r["error"]).splitlines()[0][:160])
    return "; ".join(notes).replace("|", "/")


def _counts(d: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


def _row_line(r: Row) -> str:
    if r.get("ms") is None:
        return f"{r['model']} {r['config']}: {r.get('error', 'no time')}"
    up = f" ({r['speedup']:.3f}x)" if r.get("speedup") else ""
    return f"{r['model']} {r['config']}: {r['ms']:.3f} ms{up}, rel_err {sci(r.get('rel_err'))}"


# ---- one model --------------------------------------------------------------------------------
class ModelRun(harness.ModelRun):
    """A traced model, its schedules, its float64 reference and the baseline graph's output."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        super().__init__(name, args.batch)
        self.args, self.device = args, torch.device(args.device)
        self.schedules: dict[str, Any] = {}
        self.search_s: dict[str, float] = {}
        self.substituted: dict[str, str] = {}  # strategy -> what ran instead (search too slow)
        self.baseline_ms: float | None = None
        self.baseline_out: list[torch.Tensor] | None = None
        self.module_err: dict[torch.dtype, float] = {}

    def schedule(self, strategy: str) -> Any:
        """The model's schedule for ``strategy``; a simulated ios-both search that runs past
        ``--search-limit-s`` is replaced by the greedy schedule (said in the rows' notes)."""
        if strategy not in self.schedules:
            from ios_core.search import SearchConfig, optimize

            t0 = time.perf_counter()
            cost = self._cost()
            limit = self.args.search_limit_s if self.args.cost != "measured" else None
            try:  # never interrupt a measured search: a capture would be left half-done
                with ALARM.limit(limit, f"the {strategy} search"):
                    found = optimize(self.traced.graph, strategy, cost, SearchConfig(),
                                     model_name=self.name)
            except TimeLimit:
                log(f"{self.name}: {strategy} search passed {limit:.0f} s; using greedy")
                found = optimize(self.traced.graph, "greedy", cost, SearchConfig(),
                                 model_name=self.name)
                self.substituted[strategy] = "greedy"
            self.schedules[strategy] = found
            self.search_s[strategy] = time.perf_counter() - t0
        return self.schedules[strategy]

    def _cost(self) -> Any:
        if self.args.cost == "measured":
            from ios_core.cost.measured import MeasuredCost

            return MeasuredCost(self.traced)
        from ios_core.cost import make_cost_model

        return make_cost_model(self.args.cost, self.traced, batch=self.args.batch)

    def run_config(self, cfg: Config) -> Row:
        sched = self.schedule(cfg.schedule)
        row: Row = {"model": self.name, "config": cfg.name, "schedule": cfg.schedule,
                    "dtype": str(cfg.dtype).removeprefix("torch."),
                    "options": asdict(cfg.options), "label": cfg.options.label(),
                    "ms": None, "stages": len(sched.stages), "predicted_ms": sched.predicted_ms}
        if cfg.schedule in self.substituted:
            row["schedule_used"] = self.substituted[cfg.schedule]
        compiled = executor.compile_schedule(self.traced, sched, self.device, cfg.dtype,
                                             options=cfg.options)
        try:
            out = flatten(compiled(*self.inputs), cpu=True)
            timing = time_samples(compiled, self.args.warmup, self.args.iters, self.device)
            row.update(**timing_fields(timing), streams=compiled.num_streams,
                       levers=compiled.lever_report())
        finally:
            del compiled
            free()
        self._compare(cfg, row, out)
        return row

    def _compare(self, cfg: Config, row: Row, out: list[torch.Tensor]) -> None:
        if cfg.dtype == F32:
            if cfg.name == "baseline":
                self.baseline_ms, self.baseline_out = row["ms"], out
            elif self.baseline_out is not None and cfg.schedule == "ios-both":
                row["drift"] = executor.relative_error(out, self.baseline_out)
            if self.args.check:
                row["rel_err"] = self._eager_error(cfg)
                kind = "cuda-no-tf32" if self.device.type == "cuda" else "cpu"
                row["tolerance"] = executor.TOLERANCES[(kind, F32)]
                row["ok"] = row["rel_err"] <= row["tolerance"]
        else:
            row["rel_err"] = executor.relative_error(out, self.reference)
            row["module_err"] = self._module_error(cfg.dtype)
            row["tolerance"] = max(2 * row["module_err"], executor.TOLERANCES[("cuda", cfg.dtype)])
            row["ok"] = row["rel_err"] <= row["tolerance"]
        if self.baseline_ms and row.get("ms"):
            row["speedup"] = self.baseline_ms / row["ms"]

    def _eager_error(self, cfg: Config) -> float:
        """The configuration run eagerly with TF32 off, against the float64 module."""
        # cudnn.benchmark only picks algorithms: leave it off here, it would time them all again
        opts = replace(cfg.options, cudnn_benchmark=False)
        with tf32_mode(False):
            compiled = executor.compile_schedule(self.traced, self.schedule(cfg.schedule),
                                                 self.device, F32, use_cuda_graph=False,
                                                 options=opts)
            try:
                out = flatten(compiled(*self.inputs), cpu=True)
            finally:
                del compiled
                free()
        return executor.relative_error(out, self.reference)

    def _module_error(self, dtype: torch.dtype) -> float:
        if dtype not in self.module_err:
            module = copy.deepcopy(self.module).to(self.device, dtype).eval()
            with torch.no_grad():
                out = module(*(x.to(self.device, dtype) for x in self.inputs))
            self.module_err[dtype] = self.rel_err(out)
            del module
            free()
        return self.module_err[dtype]

    def info(self) -> dict[str, Any]:
        return {"model": self.name, "ops": len(self.traced.graph), "trace_s": self.trace_s,
                "reference_s": self.reference_s, "search_s": self.search_s,
                "stages": {k: len(s.stages) for k, s in self.schedules.items()},
                "substituted": self.substituted,
                "predicted_ms": {k: s.predicted_ms for k, s in self.schedules.items()}}


# ---- the whole run ----------------------------------------------------------------------------
def run_model(report: Report, name: str, configs: Sequence[Config], args: argparse.Namespace,
              end: float) -> None:
    log(f"{name}: tracing, reference, search")
    try:
        run = ModelRun(name, args)
        for strategy in dict.fromkeys(c.schedule for c in configs):
            run.schedule(strategy)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        for cfg in configs:
            report.add({"model": name, "config": cfg.name, "ms": None,
                        "error": f"setup failed: {type(e).__name__}: {e}"})
        return
    report.header.setdefault("models", []).append(run.info())
    for cfg in configs:
        if time.perf_counter() > end and cfg.name not in CORE:
            report.add({"model": name, "config": cfg.name, "ms": None,
                        "error": "skipped: time budget used up"})
            continue
        attempt(report, lambda cfg=cfg: run.run_config(cfg), model=name, config=cfg.name)


def header(args: argparse.Namespace) -> dict[str, Any]:
    cuda = torch.cuda.is_available() and torch.device(args.device).type == "cuda"
    return {
        **environment(args.device),
        "timed": "CUDA-event-timed graph replays" if cuda else "host-timed runs",
        "batch": args.batch, "cost": args.cost, "iters": args.iters, "warmup": args.warmup,
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "budget_s": args.budget_s,
        "configs": {c.name: {"schedule": c.schedule, "dtype": str(c.dtype).removeprefix("torch."),
                             "options": c.options.label()} for c in CONFIGS},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argument_parser("benchmarks.ablation", __doc__)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--configs", default="", help="comma-separated config names (default: all)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--cost", default="simulated:h100",
                   help="cost model of the searches: simulated:<preset>, profile:<name> (the "
                        "shipped GPU profiles: the shipped schedules) or measured")
    p.add_argument("--search-limit-s", type=float, default=45.0,
                   help="a simulated search past this falls back to the greedy schedule")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--budget-s", type=float, default=190.0,
                   help="after this many seconds only the core configs run")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the eager TF32-off accuracy run of fp32 rows")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_out_dir(p)
    return p.parse_args(argv)


def select(names: str) -> list[Config]:
    if not names:
        return list(CONFIGS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {c.name: c for c in CONFIGS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}; choose from {list(known)}")
    if "baseline" not in wanted:
        wanted.insert(0, "baseline")  # speed-ups and drift are relative to it
    return [known[n] for n in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configs = select(args.configs)
    report = Report(out_dir(args.out_dir), "ablation", header(args), markdown,
                    describe=_row_line)
    report.write()
    log(f"{report.header['device']}, torch {torch.__version__}: {len(args.models)} models x "
        f"{len(configs)} configs -> {report.json_path}")
    start = time.perf_counter()
    for i, name in enumerate(args.models):
        # each model may use its share of what is left; the core configs always run
        share = (args.budget_s - (time.perf_counter() - start)) / (len(args.models) - i)
        run_model(report, name, configs, args, time.perf_counter() + max(share, 0.0))
    report.header["total_s"] = time.perf_counter() - start
    report.write()
    print("\n".join(["", *short_table(report.rows), "", *geomean_table(report.rows)]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
