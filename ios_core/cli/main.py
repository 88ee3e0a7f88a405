"""`python -m ios_core ...`: list models, optimize, run and check, export schedules."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ios_core.cli.errors import CliError
from ios_core.cli.profile import add_profile_parser
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule, ScheduleError
from ios_core.search.config import SearchConfig
from ios_core.search.observer import SearchObserver


# ---- commands -----------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from ios_core.frontend.models import list_models

    print(f"{'name':<14} {'input':<14} description")
    for name, shape, description in list_models():
        print(f"{name:<14} {'x'.join(map(str, shape)):<14} {description}")
    print("\nYour own model: --model package.module:callable (returns (module, example_input)).")
    return 0


def _slack(text: str) -> float | None:
    """``--bound-slack``: a number, or none/off for the full DP."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise CliError(f"--bound-slack wants a number in (0, 1] or `none` (got {text!r})") from None


def cmd_optimize(args: argparse.Namespace) -> int:
    from ios_core.cost import make_cost_model
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.search import optimize

    try:
        config = SearchConfig(r=args.r, s=args.s, max_part_ops=args.max_part_ops,
                              max_part_states=args.max_part_states, stream_cap=args.stream_cap,
                              bound_slack=_slack(args.bound_slack))
    except ValueError as e:
        raise CliError(str(e)) from None
    loaded = load_model(args.model, batch=args.batch, seed=args.seed)
    t0 = time.perf_counter()
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name)
    graph = traced.graph
    _say(args, f"traced {loaded.name}: {len(graph)} operators ({time.perf_counter() - t0:.1f} s)")
    cost = make_cost_model(args.cost, traced=traced)
    observer = ProgressPrinter(enabled=not args.quiet)
    schedule = optimize(graph, args.strategy, cost, config, observer=observer,
                        model_name=loaded.name)
    observer.finish()
    schedule.save(args.out)
    print(summary(schedule))
    print(f"wrote {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.ir.schedule import validate_schedule
    from ios_core.runtime.executor import check, compile_schedule

    schedule = Schedule.load(args.schedule)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda needs a CUDA GPU, and none is available; use --device cpu")
    loaded = load_model(args.model or schedule.model.name, batch=schedule.target.batch,
                        seed=args.seed)
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name)
    validate_schedule(schedule, traced.graph)
    print(summary(schedule))
    if args.check:
        result = check(traced, schedule, device=device, seed=args.seed)
        verdict = "matches" if result.ok else "DOES NOT match"
        print(f"check on {device}: schedule output {verdict} the model's own "
              f"(relative error {result.rel_err:.2e}, tolerance {result.tolerance:.0e})")
        if not result.ok:
            return 1
    else:
        compiled = compile_schedule(traced, schedule, device=device)
        out = compiled(loaded.example_input.to(device))
        print(f"ran on {device}: output shape {tuple(out.shape)}")
    if device == "cuda" and args.time:
        from ios_core.runtime.timing import time_ms

        compiled = compile_schedule(traced, schedule, device=device)
        print(f"measured on {torch.cuda.get_device_name()}: {time_ms(compiled):.3f} ms "
              "(median of CUDA-graph replays)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from ios_core.export import to_chrome_trace, to_csv, to_dot

    schedule = Schedule.load(args.schedule)
    if not (args.trace or args.dot or args.csv):
        raise CliError("nothing to export: give --trace FILE, --dot FILE and/or --csv FILE")
    graph = None
    if args.dot:  # DOT draws the model's edges, so it needs the graph
        from ios_core.frontend import trace
        from ios_core.frontend.models import load_model
        from ios_core.ir.schedule import validate_schedule

        loaded = load_model(schedule.model.name, batch=schedule.target.batch)
        graph = trace(loaded.module, loaded.example_input, name=loaded.name)
        validate_schedule(schedule, graph)
    if args.trace:
        with open(args.trace, "w") as f:
            json.dump(to_chrome_trace(schedule, graph), f)
        print(f"wrote {args.trace} (open it in https://ui.perfetto.dev)")
    if args.dot:
        with open(args.dot, "w") as f:
            f.write(to_dot(schedule, graph))
        print(f"wrote {args.dot}")
    if args.csv:
        with open(args.csv, "w") as f:
            f.write(to_csv(schedule))
        print(f"wrote {args.csv}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    schedule = Schedule.load(args.schedule)
    print(summary(schedule))
    for i, stage in enumerate(schedule.stages):
        mark = " (estimated)" if stage.estimated else ""
        groups = " | ".join(", ".join(g) for g in stage.groups)
        print(f"  stage {i:3d} {stage.strategy:<10} {stage.predicted_ms:8.4f} ms{mark}  {groups}")
    return 0


# ---- output helpers -----------------------------------------------------------------------------
def summary(schedule: Schedule) -> str:
    stats = schedule.search.stats
    lines = [
        f"{schedule.model.name} batch {schedule.target.batch} on {schedule.target.device}: "
        f"{schedule.search.strategy} (r={schedule.search.r}, s={schedule.search.s})",
        f"  {len(schedule.stages)} stages, {len(schedule.ops)} operators, "
        f"predicted {schedule.predicted_ms:.3f} ms",
    ]
    if schedule.estimated_stages:
        lines.append(f"  {schedule.estimated_stages} stage costs are estimated (not measured)")
    if "states" in stats:
        lines.append(
            f"  search: {stats.get('states')} states, {stats.get('transitions')} transitions, "
            f"{stats.get('stages_costed')} stages costed, {float(stats.get('seconds', 0)):.2f} s"
        )
    return "\n".join(lines)


class ProgressPrinter(SearchObserver):
    """Search observer that keeps one updating progress line on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None
        self._last = 0.0

    def on_part_start(self, part_index: int, n_parts: int, n_ops: int) -> None:
        self._line(f"part {part_index + 1}/{n_parts} ({n_ops} ops)", force=True)

    def on_progress(self, states_done: int, states_total: int, part_index: int,
                    n_parts: int) -> None:
        self._line(f"part {part_index + 1}/{n_parts}: {states_done}/{states_total} states")

    def _line(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._last > 0.2):  # at most 5 redraws a second
            self._last = now
            print(f"\r\033[Ksearching {text}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.enabled:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


# ---- argument parsing ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ios_core",
        description="Find, run and export IOS inter-operator schedules of CNNs.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("models", help="list the sample models").set_defaults(func=cmd_models)

    o = sub.add_parser("optimize", help="search a schedule for a model and save it as JSON",
                       description="Trace a model, cut it into blocks, and search its schedule.")
    o.add_argument("--model", default="inception_v3",
                   help="sample model name (see `models`) or package.module:callable")
    o.add_argument("--strategy", default="ios-both", choices=SEARCH_STRATEGIES,
                   help="scheduler (default: ios-both, the IOS DP with merge and concurrency)")
    o.add_argument("--r", type=int, default=3, help="max operators per group (default 3)")
    o.add_argument("--s", type=int, default=8, help="max groups per stage (default 8)")
    o.add_argument("--max-part-ops", type=int, default=None,
                   help="max operators per DP subproblem (default: the library's)")
    o.add_argument("--max-part-states", type=int, default=SearchConfig.max_part_states,
                   help="max DP states per subproblem; bigger blocks are cut (default "
                   f"{SearchConfig.max_part_states})")
    o.add_argument("--bound-slack", default=str(SearchConfig.bound_slack), metavar="X|none",
                   help="DP branch and bound: a stage is costed only while X times its slowest "
                        "part could still win; `none` costs every stage the DP can ask for "
                        f"(default {SearchConfig.bound_slack})")
    o.add_argument("--stream-cap", type=int, default=8,
                   help="greedy only: max concurrent operators per stage (default 8)")
    o.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    o.add_argument("--cost", default="simulated:h100",
                   help="cost source: simulated:<h100|a100|v100>, profile:<name|path>, measured")
    o.add_argument("--seed", type=int, default=0, help="seed of the model's weights (default 0)")
    o.add_argument("--out", required=True, help="schedule JSON to write")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    o.set_defaults(func=cmd_optimize)

    r = sub.add_parser("run", help="run a schedule file, optionally checking it against the model")
    r.add_argument("schedule", help="schedule JSON written by `optimize`")
    r.add_argument("--check", action="store_true",
                   help="compare the schedule's output with the model's own on random input")
    r.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run (default: cuda if available, else cpu)")
    r.add_argument("--time", action="store_true", help="on cuda: time CUDA-graph replays")
    r.add_argument("--model", default=None,
                   help="rebuild this model instead of the one named in the file")
    r.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("export", help="write a schedule as Chrome trace, DOT or CSV")
    e.add_argument("schedule", help="schedule JSON")
    e.add_argument("--trace", help="Chrome trace JSON to write (opens in Perfetto)")
    e.add_argument("--dot", help="Graphviz DOT file to write")
    e.add_argument("--csv", help="CSV file to write (one row per operator)")
    e.set_defaults(func=cmd_export)

    s = sub.add_parser("show", help="print a schedule's stages")
    s.add_argument("schedule", help="schedule JSON")
    s.set_defaults(func=cmd_show)

    add_profile_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "max_part_ops", 0) is None:
        args.max_part_ops = SearchConfig().max_part_ops
    if getattr(args, "batch", 1) < 1:
        print("error: --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (CliError, ScheduleError, FileNotFoundError, ValueError) as e:
        # every library error is a ValueError subclass with a plain-words message
        print(f"error: {e}", file=sys.stderr)
        return 2
