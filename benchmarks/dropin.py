"""The drop-in on this GPU: optimize_module and torch.compile(backend="ios") in a loop, against the
benchmark's ios-both figure for the same schedule, and the time to first inference.

    python -m benchmarks.dropin                      # googlenet, inception_v3, resnet50 at batch 1
    python -m benchmarks.dropin --models resnet50 sample:inception_v3
    python -m benchmarks.dropin --cpu-smoke          # the whole path on the CPU, tiny, simulated

For each model (torchvision's through ``sample_models.zoo``; ``sample:NAME`` for the project's own
sample models), in one run:

1. **cold start**: a fresh process with an empty schedule cache runs ``optimize_module(model,
   (x,))`` (trace, measured search, compile, check) and its first call; ``first_inference_s`` is
   that span (model built and on the GPU before it starts, imports apart: ``import_s``);
2. **warm start**: the same again, now loading the schedule and its stage profile from the cache;
3. in this process, with the warm cache:

   * ``ios-both``: the benchmark harness's figure: ``compile_schedule`` of that same schedule
     timed by ``ios_core.runtime.timing.time_samples`` (CUDA events around each CUDA-graph replay,
     median of ``--iters`` after ``--warmup``), as ``benchmarks.ios_table`` measures ios-both;
   * ``optimize_module``: ``fast(x)`` timed the same way: input copy, replay, output clone;
   * ``torch.compile ios``: ``torch.compile(model, backend="ios")`` called in a loop, same recipe
     (Dynamo's guards and the backend's dispatch on top), after its first call (``compile_s``).

``x ios-both`` is each row's median over the ios-both median (the issue's target: within 5 %).
``rel_err`` is against the model's float64 output on the CPU. Writes ``<gpu>-dropin.json`` and
``.md`` into ``--out-dir`` (default ``$OUT``, else benchmarks/results/; with ``--cpu-smoke`` a
temporary folder). A failing row records its error and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks import harness
from benchmarks.report import (
    Report,
    Row,
    add_out_dir,
    argument_parser,
    log,
    num,
    out_dir,
    sci,
    table,
    versions,
)
from ios_core.cost.profile_db import device_slug
from ios_core.frontend.models import load_model
from ios_core.runtime import executor
from ios_core.runtime.timing import time_samples

MODELS = ("googlenet", "inception_v3", "resnet50")
SMOKE_MODELS = ("sample:ios_demo",)
SMOKE_COST = "simulated:h100"  # the CPU has nothing to measure stages with
CHILD_LIMIT_S = 240.0  # one cold start (trace + measured search + compile) may take this long


def load(ref: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The module (eval mode) and its seeded example input: zoo name, or ``sample:NAME``."""
    name = ref.removeprefix("sample:") if ref.startswith("sample:") else f"sample_models.zoo:{ref}"
    loaded = load_model(name, batch=batch, seed=0)
    return loaded.module.eval(), loaded.example_input


def cost_of(args: argparse.Namespace) -> str:
    return SMOKE_COST if args.cpu_smoke else "measured"


# ---- one start of a program: the child process -------------------------------------------------
def first_inference(args: argparse.Namespace) -> dict[str, Any]:
    """Build the model, then time optimize_module and its first output (a fresh process)."""
    device = args.device
    module, x = load(args.first_inference, args.batch)
    module, x = module.to(device), x.to(device)
    t0 = time.perf_counter()
    from ios_core.dropin import optimize_module  # registers the backend: imports torch._dynamo

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = optimize_module(module, (x,), cost=cost_of(args), cache=args.cache_dir,
                           name=args.first_inference.replace(":", "_"))
    y = fast(x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    ttfi = time.perf_counter() - t0
    return {"first_inference_s": ttfi, "import_s": import_s, "source": fast.plan.source,
            "build_s": fast.plan.seconds, "check_rel_err": fast.plan.rel_err,
            "stages": len(fast.schedule.stages), "predicted_ms": fast.schedule.predicted_ms,
            "out_shape": list(y.shape)}


def start(args: argparse.Namespace, ref: str, cache_dir: Path) -> dict[str, Any]:
    """Run :func:`first_inference` in a new Python process; its JSON line, or an error."""
    cmd = [sys.executable, "-m", "benchmarks.dropin", "--first-inference", ref,
           "--cache-dir", str(cache_dir), "--batch", str(args.batch)]
    if args.cpu_smoke:
        cmd.append("--cpu-smoke")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_LIMIT_S,
                          cwd=Path(__file__).resolve().parents[1], env=os.environ.copy())
    wall = time.perf_counter() - t0
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"the start of {ref} failed (exit {done.returncode}): "
                           + " | ".join(tail))
    return {**json.loads(lines[-1]), "process_s": wall}


# ---- the loops: this process --------------------------------------------------------------------
class ModelBench:
    """One model: its cold and warm starts, then the three loops on the warm cache."""

    def __init__(self, args: argparse.Namespace, ref: str, cache_dir: Path) -> None:
        self.args, self.ref, self.cache_dir = args, ref, cache_dir
        self.device = args.device
        module, x = load(ref, args.batch)
        self.reference = harness.flatten(executor.reference_outputs(module, [x]))
        self.module, self.x = module.to(self.device), x.to(self.device)
        self.starts: dict[str, dict[str, Any]] = {}
        self.harness_ms: float | None = None

    def row(self, method: str, **fields: Any) -> Row:
        return {"model": self.ref, "batch": self.args.batch, "method": method, "ms": None,
                **fields}

    def timing(self, run: Any) -> dict[str, float]:
        t = time_samples(run, self.args.warmup, self.args.iters, device=self.device)
        return harness.timing_fields(t)

    def rel_err(self, out: Any) -> float:
        return executor.relative_error(harness.flatten(out, cpu=True), self.reference)

    def ratio(self, ms: float) -> float | None:
        return ms / self.harness_ms if self.harness_ms else None

    def start(self, which: str) -> Row:
        info = start(self.args, self.ref, self.cache_dir)
        self.starts[which] = info
        return self.row(f"{which} start", **info)

    def optimized(self) -> Any:
        from ios_core.dropin import optimize_module

        return optimize_module(self.module, (self.x,), cost=cost_of(self.args),
                               cache=self.cache_dir, name=self.ref.replace(":", "_"))

    def harness_figure(self) -> Row:
        fast = self.optimized()
        compiled = executor.compile_schedule(fast.plan.traced, fast.schedule, self.device)
        err = self.rel_err(compiled(self.x))
        timing = self.timing(compiled)
        self.harness_ms = timing["ms"]
        return self.row("ios-both", **timing, rel_err=err, source=fast.plan.source,
                        stages=len(fast.schedule.stages), streams=compiled.num_streams)

    def dropin_loop(self) -> Row:
        fast = self.optimized()
        err = self.rel_err(fast(self.x))
        timing = self.timing(lambda: fast(self.x))
        return self.row("optimize_module", **timing, rel_err=err, source=fast.plan.source,
                        vs_ios_both=self.ratio(timing["ms"]))

    def backend_loop(self) -> Row:
        import torch._dynamo

        from ios_core.dropin import DropinWarning

        torch._dynamo.reset()
        fn = torch.compile(self.module, backend="ios",
                           options={"cost": cost_of(self.args), "cache": str(self.cache_dir)})
        with warnings.catch_warnings(record=True) as caught, torch.no_grad():
            warnings.simplefilter("always", DropinWarning)
            t0 = time.perf_counter()
            out = fn(self.x)
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            compile_s = time.perf_counter() - t0
            err = self.rel_err(out)

            def run() -> None:
                with torch.no_grad():
                    fn(self.x)

            timing = self.timing(run)
        eager = [str(w.message) for w in caught if issubclass(w.category, DropinWarning)]
        return self.row("torch.compile ios", **timing, rel_err=err, compile_s=compile_s,
                        vs_ios_both=self.ratio(timing["ms"]), warnings=eager)


# ---- results file -------------------------------------------------------------------------------
def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    loops = [r for r in rows if "start" not in r["method"]]
    starts = [r for r in rows if "start" in r["method"]]
    lines = [f"# The drop-in on {data['device']}", "", versions(data) + f"; batch {data['batch']}; "
             f"cost {data['cost']}; median ms of CUDA-event-timed runs ({data['iters']} after "
             f"{data['warmup']} warm-ups); `x ios-both`: over the harness's ios-both figure for "
             "the same schedule.", "", "## Latency (ms)", ""]
    lines += table(["model", "method", "ms", "p10", "p90", "x ios-both", "rel. err", "notes"],
                   [[r["model"], r["method"], num(r.get("ms")), num(r.get("p10_ms")),
                     num(r.get("p90_ms")), num(r.get("vs_ios_both")), sci(r.get("rel_err")),
                     _notes(r)] for r in loops])
    lines += ["", "## Time to first inference (s)", ""]
    lines += table(["model", "start", "first inference s", "import s", "process s", "source",
                    "notes"],
                   [[r["model"], r["method"].split()[0], num(r.get("first_inference_s"), 2),
                     num(r.get("import_s"), 2), num(r.get("process_s"), 2), r.get("source", ""),
                     r.get("error", "")] for r in starts])
    return "\n".join(lines) + "\n"


def _notes(r: Row) -> str:
    parts = []
    if r.get("error"):
        parts.append(r["error"])
    if r.get("compile_s") is not None:
        parts.append(f"first call {r['compile_s']:.1f} s")
    if r.get("stages"):
        parts.append(f"{r['stages']} stages, {r.get('streams', 0)} streams")
    if r.get("warnings"):
        parts.append("eager pieces: " + "; ".join(r["warnings"]))
    return ", ".join(parts)


def _describe(r: Row) -> str:
    what = r.get("error") or (f"{r['ms']:.3f} ms" if r.get("ms") is not None else
                              f"first inference {r.get('first_inference_s', 0):.2f} s")
    return f"{r['model']} {r['method']}: {what}"


# ---- command line -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argument_parser("benchmarks.dropin", __doc__)
    parser.add_argument("--models", nargs="+", default=None,
                        help="zoo names, or sample:NAME (default: " + " ".join(MODELS) + ")")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run everything on the CPU with the simulated cost, 3 iterations, "
                        "the tiny sample model: a check that the script runs, not a measurement")
    parser.add_argument("--first-inference", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    add_out_dir(parser)
    args = parser.parse_args(argv)
    args.device = "cpu" if args.cpu_smoke else "cuda"
    if args.cpu_smoke:
        args.models = args.models or list(SMOKE_MODELS)
        args.warmup, args.iters = 1, 3
    args.models = args.models or list(MODELS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.first_inference:
        print(json.dumps(first_inference(args)), flush=True)
        return 0
    if not args.cpu_smoke and not harness.require_cuda("benchmarks.dropin (or use --cpu-smoke)"):
        return 2
    header = {**harness.environment(args.device), "batch": args.batch, "cost": cost_of(args),
              "warmup": args.warmup, "iters": args.iters, "models": args.models}
    folder = Path(tempfile.mkdtemp(prefix="dropin-smoke-")) if args.cpu_smoke and not \
        args.out_dir else out_dir(args.out_dir)
    stem = "cpu-smoke-dropin" if args.cpu_smoke else f"{device_slug(header['device'])}-dropin"
    report = Report(folder, stem, header, markdown, _describe)
    caches = Path(tempfile.mkdtemp(prefix="dropin-cache-"))
    for ref in args.models:
        key = {"model": ref, "batch": args.batch}
        try:
            bench = ModelBench(args, ref, caches / ref.replace(":", "_"))
        except Exception as e:  # noqa: BLE001 - e.g. torchvision missing: the next model runs
            report.add({**key, "method": "load", "ms": None, "error": f"{type(e).__name__}: {e}"})
            continue
        harness.attempt(report, lambda b=bench: b.start("cold"), **key, method="cold start")
        harness.attempt(report, lambda b=bench: b.start("warm"), **key, method="warm start")
        harness.attempt(report, bench.harness_figure, **key, method="ios-both")
        harness.attempt(report, bench.dropin_loop, **key, method="optimize_module")
        harness.attempt(report, bench.backend_loop, **key, method="torch.compile ios")
        del bench
        harness.free()
    log(f"wrote {report.md_path} and {report.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
