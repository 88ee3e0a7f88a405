"""The engine's speed levers side by side on this GPU: what each one buys, per model, in one run.

    PYTHONPATH=. python3 benchmarks/ablation.py --out-dir $OUT     # 4 models, <= ~4 min on an H100
    PYTHONPATH=. python3 benchmarks/ablation.py --models squeezenet --configs baseline,+fused
    PYTHONPATH=. python3 benchmarks/ablation.py --cost measured    # schedules from measured stages

Per model (batch 1): trace; search ios-both and sequential on the simulated H100 (``--cost
measured``: on measured stages, plain engine); then for each configuration (a schedule, a dtype and
:class:`ios_core.runtime.levers.EngineOptions`) compile it into one CUDA graph and time its replays
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
import datetime
import gc
import json
import os
import platform
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python3 benchmarks/ablation.py` works without PYTHONPATH

import torch  # noqa: E402

from ios_core.ir.files import atomic_write_text  # noqa: E402
from ios_core.runtime import executor  # noqa: E402
from ios_core.runtime.executor import tf32_mode  # noqa: E402
from ios_core.runtime.levers import DEFAULT_OPTIONS, EngineOptions  # noqa: E402
from ios_core.runtime.timing import time_samples  # noqa: E402

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
class Report:
    """Header plus rows, rewritten as JSON and Markdown after every row (a cut run keeps them)."""

    def __init__(self, out_dir: Path, header: dict[str, Any]) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.json_path, self.md_path = out_dir / "ablation.json", out_dir / "ablation.md"
        self.header = header
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.write()
        _log(_row_line(row))

    def write(self) -> None:
        data = {**self.header, "rows": self.rows}
        atomic_write_text(self.json_path, json.dumps(data, indent=1, default=str) + "\n")
        atomic_write_text(self.md_path, markdown(data))



def markdown(data: dict[str, Any]) -> str:
    h = data
    lines = [f"# Engine levers on {h['device']}", "",
             f"torch {h['torch']}, CUDA {h['cuda']}, cuDNN {h['cudnn']}, {h['date']}; batch "
             f"{h['batch']}; schedules searched on {h['cost']}; TF32 convs "
             f"{'on' if h['tf32_cudnn'] else 'off'}; median ms of {h['iters']} {h['timed']} "
             f"after {h['warmup']} warm-ups (ios_core.runtime.timing.time_samples).", "",
             "## Latency (ms)", "", *short_table(data["rows"]), "",
             "## Speed-up over baseline (geomean over the models that ran both)", "",
             *geomean_table(data["rows"]), "", "## Details", "",
             "| model | config | ms | p10 | p90 | x base | rel. err | ok | drift | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['model']} | {r['config']} | {_num(r.get('ms'))} | "
                     f"{_num(r.get('p10_ms'))} | {_num(r.get('p90_ms'))} | "
                     f"{_num(r.get('speedup'), 2)} | {_sci(r.get('rel_err'))} | "
                     f"{_ok(r.get('ok'))} | {_sci(r.get('drift'))} | {_notes(r)} |")
    lines += ["", "rel. err: fp32 rows run eagerly with TF32 off, 16-bit rows as timed, "
              "against the module in float64 on the CPU; ok: fp32 within 5e-4, 16-bit within 2x "
              "the module's own error in that dtype (module_err) or the executor's tolerance. "
              "drift: the timed graph's output against the baseline graph's (TF32 as torch has "
              "it).", ""]
    return "\n".join(lines)


def short_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    models = list(dict.fromkeys(r["model"] for r in rows))
    configs = list(dict.fromkeys(r["config"] for r in rows))
    cell = {(r["model"], r["config"]): r for r in rows}
    out = ["| config | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for c in configs:
        vals = [_cell(cell.get((m, c))) for m in models]
        out.append(f"| {c} | " + " | ".join(vals) + " |")
    return out


def geomean_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    out = ["| config | speed-up | models |", "|---|---|---|"]
    for c in dict.fromkeys(r["config"] for r in rows):
        ups = [r["speedup"] for r in rows if r["config"] == c and r.get("speedup")]
        if ups:
            geo = statistics.geometric_mean(ups)
            out.append(f"| {c} | {geo:.3f} | {len(ups)} |")
    return out


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row.get("ms") is None:
        return "skipped" if str(row.get("error", "")).startswith("skipped") else "error"
    text = f"{row['ms']:.3f}"
    return text + ("" if row.get("ok", True) else " (!)")


def _num(x: Any, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _sci(x: Any) -> str:
    return "" if x is None else f"{x:.1e}"


def _ok(x: Any) -> str:
    return "" if x is None else ("yes" if x else "NO")


def _notes(r: dict[str, Any]) -> str:
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


def _row_line(r: dict[str, Any]) -> str:
    if r.get("ms") is None:
        return f"{r['model']} {r['config']}: {r.get('error', 'no time')}"
    up = f" ({r['speedup']:.3f}x)" if r.get("speedup") else ""
    return f"{r['model']} {r['config']}: {r['ms']:.3f} ms{up}, rel_err {_sci(r.get('rel_err'))}"


_T0 = time.perf_counter()


def _log(text: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f} s] {text}", flush=True)


class SearchTimeout(BaseException):
    """A schedule search ran past its limit (a BaseException: no ``except Exception`` on the way
    through the search may swallow it)."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise SearchTimeout in the block after ``seconds`` (SIGALRM; no limit where absent)."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise SearchTimeout

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- one model --------------------------------------------------------------------------------
class ModelRun:
    """A traced model, its schedules, its float64 reference and the baseline graph's output."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        from ios_core.frontend import models
        from ios_core.frontend import tracing as frontend

        self.name, self.args, self.device = name, args, torch.device(args.device)
        t0 = time.perf_counter()
        loaded = models.load_model(name, batch=args.batch, seed=0)
        self.module = loaded.module
        self.traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
        self.trace_s = time.perf_counter() - t0
        self.inputs = executor.random_inputs(self.traced.graph, seed=0)  # CPU, as check() draws
        t0 = time.perf_counter()
        self.reference = _flatten(executor.reference_outputs(loaded.module, self.inputs))
        self.reference_s = time.perf_counter() - t0
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
                with time_limit(limit):
                    found = optimize(self.traced.graph, strategy, cost, SearchConfig(),
                                     model_name=self.name)
            except SearchTimeout:
                _log(f"{self.name}: {strategy} search passed {limit:.0f} s; using greedy")
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

    def run_config(self, cfg: Config) -> dict[str, Any]:
        sched = self.schedule(cfg.schedule)
        row: dict[str, Any] = {"model": self.name, "config": cfg.name, "schedule": cfg.schedule,
                               "dtype": str(cfg.dtype).removeprefix("torch."),
                               "options": asdict(cfg.options), "label": cfg.options.label(),
                               "ms": None, "stages": len(sched.stages),
                               "predicted_ms": sched.predicted_ms}
        if cfg.schedule in self.substituted:
            row["schedule_used"] = self.substituted[cfg.schedule]
        compiled = executor.compile_schedule(self.traced, sched, self.device, cfg.dtype,
                                             options=cfg.options)
        try:
            out = _flatten(compiled(*self.inputs))
            timing = time_samples(compiled, self.args.warmup, self.args.iters, self.device)
            row.update(ms=timing.median_ms, p10_ms=timing.percentile_ms(10),
                       p90_ms=timing.percentile_ms(90), streams=compiled.num_streams,
                       levers=compiled.lever_report())
        finally:
            del compiled
            _free()
        self._compare(cfg, row, out)
        return row

    def _compare(self, cfg: Config, row: dict[str, Any], out: list[torch.Tensor]) -> None:
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
                out = _flatten(compiled(*self.inputs))
            finally:
                del compiled
                _free()
        return executor.relative_error(out, self.reference)

    def _module_error(self, dtype: torch.dtype) -> float:
        if dtype not in self.module_err:
            module = copy.deepcopy(self.module).to(self.device, dtype).eval()
            with torch.no_grad():
                out = module(*(x.to(self.device, dtype) for x in self.inputs))
            self.module_err[dtype] = executor.relative_error(_flatten(out), self.reference)
            del module
            _free()
        return self.module_err[dtype]

    def info(self) -> dict[str, Any]:
        return {"model": self.name, "ops": len(self.traced.graph), "trace_s": self.trace_s,
                "reference_s": self.reference_s, "search_s": self.search_s,
                "stages": {k: len(s.stages) for k, s in self.schedules.items()},
                "substituted": self.substituted,
                "predicted_ms": {k: s.predicted_ms for k, s in self.schedules.items()}}


def _flatten(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj.detach().cpu()]
    if isinstance(obj, dict):
        obj = list(obj.values())
    return [t for v in obj for t in _flatten(v)]


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # surface (and drop) asynchronous errors here, not in a later row
        torch.cuda.empty_cache()


# ---- the whole run ----------------------------------------------------------------------------
def attempt(report: Report, model: str, cfg_name: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one configuration; on failure record the error in its row and go on."""
    try:
        row = fn()
    except Exception as e:  # noqa: BLE001 - one failing lever must not end the run
        traceback.print_exc(file=sys.stderr)
        row = {"model": model, "config": cfg_name, "ms": None,
               "error": f"{type(e).__name__}: {e}"}
        try:
            _free()
        except Exception:  # noqa: BLE001 - a sticky CUDA error: later rows will say so
            pass
    report.add(row)


def run_model(report: Report, name: str, configs: Sequence[Config], args: argparse.Namespace,
              end: float) -> None:
    _log(f"{name}: tracing, reference, search")
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
        attempt(report, name, cfg.name, lambda cfg=cfg: run.run_config(cfg))


def header(args: argparse.Namespace) -> dict[str, Any]:
    cuda = torch.cuda.is_available() and torch.device(args.device).type == "cuda"
    return {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "timed": "CUDA-event-timed graph replays" if cuda else "host-timed runs",
        "torch": torch.__version__, "cuda": torch.version.cuda or "",
        "cudnn": str(torch.backends.cudnn.version()) if cuda else "",
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "batch": args.batch, "cost": args.cost, "iters": args.iters, "warmup": args.warmup,
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "budget_s": args.budget_s,
        "configs": {c.name: {"schedule": c.schedule, "dtype": str(c.dtype).removeprefix("torch."),
                             "options": c.options.label()} for c in CONFIGS},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    p.add_argument("--out-dir", default=os.environ.get("OUT") or str(ROOT / "benchmarks/results"))
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
    report = Report(Path(args.out_dir), header(args))
    report.write()
    _log(f"{report.header['device']}, torch {torch.__version__}: {len(args.models)} models x "
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
    sys.exit(main())
