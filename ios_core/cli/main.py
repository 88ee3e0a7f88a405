"""`python -m ios_core ...` (or `ios-explorer ...`): list models, optimize, run and check, export
and show schedules, profile a GPU, start the app.

Every command checks its arguments (files to read exist, files to write can be written, the
memory the work needs is there) before any long work starts, reports progress and status lines
on stderr and results on stdout, and ends in one plain message, never a traceback. Exit status:
0 done; 1 ``run --check`` found the schedule's output wrong; 2 the command could not do what was
asked (the message says why and what to do); 70 an internal error (a bug: ``IOS_DEBUG=1`` shows
where); 130 interrupted (Ctrl-C during ``optimize``'s search stops it and still writes the best
schedule found so far, marked ``"stopped": true`` in its search statistics and in the summary:
:mod:`ios_core.cli.search_progress`); 141 stdout was closed early (``... | head``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ios_core.cli.app import add_app_parser
from ios_core.cli.errors import CliError
from ios_core.cli.loading import (
    add_fuse_epilogues_option,
    add_leaf_module_option,
    load_traced,
    refuse_if_too_big,
    to_device,
)
from ios_core.cli.paths import check_writable
from ios_core.cli.profile import add_profile_parser
from ios_core.cli.search_progress import ProgressPrinter, estimate_lines, stop_on_interrupt
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule, ScheduleError
from ios_core.search.config import SearchConfig

if TYPE_CHECKING:  # the executor imports the runtime: loaded only where a command runs one
    from ios_core.runtime.executor import CheckResult

__all__ = ["CliError", "ProgressPrinter", "build_parser", "main", "summary"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_BUG = 0, 1, 2, 70
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # as a shell reports SIGINT, SIGPIPE


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


def _optimism(value: float | None) -> float:
    """``--lazy``: the optimism of lazy measuring, in (0, 1]."""
    if value is None:
        return SearchConfig.lazy_optimism
    if not 0 < value <= 1:
        raise CliError(f"--lazy wants an optimism in (0, 1], such as 0.8 (got {value:g})")
    return value


def cmd_optimize(args: argparse.Namespace) -> int:
    from ios_core.cost import make_cost_model
    from ios_core.search import optimize
    from ios_core.search.batch import concurrent_batch
    from ios_core.search.estimate import estimate_search

    check_writable(args.out, "--out")
    try:
        config = SearchConfig(r=args.r, s=args.s, max_part_ops=args.max_part_ops,
                              max_part_states=args.max_part_states, stream_cap=args.stream_cap,
                              bound_slack=_slack(args.bound_slack), lazy=args.lazy is not None,
                              lazy_optimism=_optimism(args.lazy))
    except ValueError as e:
        raise CliError(str(e)) from None
    measured = args.cost.strip().lower().startswith("measured")
    cost = None
    if measured:
        _need_cuda("--cost measured times every stage on a CUDA GPU",
                   "use --cost profile:h100 (shipped measurements) or simulated:h100")
    else:  # a wrong cost spec or profile fails now, not after the trace
        cost = make_cost_model(args.cost, batch=args.batch)
    say = _sayer(args)
    t0 = time.perf_counter()
    loaded, traced = load_traced(args, args.model, args.batch, say)
    say(f"traced {loaded.name}: {len(traced.graph)} operators "
        f"({time.perf_counter() - t0:.1f} s)")
    traced = _fuse(traced, args.fuse_epilogues, say)
    graph = traced.graph
    if cost is None:
        from ios_core.cli.memory import measure_need, module_bytes
        from ios_core.runtime.fuse_switch import engine_options

        need = measure_need(graph, module_bytes(loaded.module), loaded.name)
        refuse_if_too_big(need, "cuda", "use a smaller --batch")
        cost = make_cost_model(args.cost, traced=traced,
                               options=engine_options(None, args.fuse_epilogues))
    for line in estimate_lines(estimate_search(graph, args.strategy, config),
                               bulk=concurrent_batch(cost, graph) is not None, measured=measured):
        say(line)
    if config.lazy and args.strategy in ("ios-merge", "ios-parallel", "ios-both"):
        say(f"lazy measuring (optimism {config.lazy_optimism:g}): only the stages of the plans "
            "the DP picks are asked for")
    observer = ProgressPrinter(enabled=not args.quiet, verb="measured" if measured else "costed")
    with stop_on_interrupt(observer, say):
        schedule = optimize(graph, args.strategy, cost, config, observer=observer,
                            model_name=loaded.name, leaf_modules=traced.leaf_modules)
    observer.finish()
    schedule = _record(schedule, args.fuse_epilogues)
    schedule.save(args.out)
    print(summary(schedule))
    if getattr(cost, "hits", None) == 0 and getattr(cost, "derived", 0) == 0:
        print(f"  {cost.name} holds no measurement of {loaded.name} at batch {args.batch}: it "
              "was measured on other models; profile this one (`profile`) or use simulated:...")
    if schedule.search.stats.get("stopped"):
        print(f"wrote {args.out} (PARTIAL: the search was stopped; run it again to finish)")
        return EXIT_INTERRUPTED
    print(f"wrote {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from ios_core.cli.memory import module_bytes, run_need

    schedule = Schedule.load(args.schedule)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        _need_cuda("--device cuda needs a CUDA GPU", "use --device cpu")
    if args.time and device != "cuda":
        if args.device == "cpu":
            raise CliError("--time times CUDA-graph replays on a GPU; drop --device cpu, "
                           "or drop --time")
        _need_cuda("--time times CUDA-graph replays on a GPU", "drop --time")
    say = _sayer(args)

    def plan(graph: Any, weights: int) -> list[tuple[str, Any]]:
        return run_need(graph, schedule.stages, weights, check=args.check, device=device,
                        name=graph.name)

    loaded, traced = _load_for(args, schedule, say, plan)
    name = loaded.name
    options = _engine_options(args)
    print(summary(schedule))
    for where, need in plan(traced.graph, module_bytes(loaded.module)):
        refuse_if_too_big(need, where, f"the schedule is for batch {schedule.target.batch} and "
                          "runs only at that batch: optimize a smaller batch, or run it where "
                          "there is more memory")
    if args.check:
        from ios_core.runtime.executor import check

        say(f"checking the schedule on {device} against {name}'s own forward (float64, CPU)")
        result = check(traced, schedule, device=device, seed=args.seed, options=options)
        if result.note:
            print(f"check on {device}: cannot tell: {result.note}")
            return EXIT_ERROR
        verdict = "matches" if result.ok else "DOES NOT match"
        print(f"check on {device}: schedule output {verdict} the model's own "
              f"(relative error {result.rel_err:.2e}, tolerance {result.tolerance:.0e}"
              f"{_conditioning(result)})")
        if not result.ok:
            return EXIT_CHECK_FAILED
    else:
        from ios_core.runtime.executor import compile_schedule

        say(f"compiling the schedule on {device}")
        compiled = compile_schedule(traced, schedule, device=device, options=options)
        say(f"running it on {device}")
        out = compiled(*to_device(loaded.example_input, device))
        print(f"ran on {device}: {describe_outputs(out)}")
    if args.time:
        from ios_core.runtime.executor import compile_schedule
        from ios_core.runtime.timing import time_ms

        say("timing CUDA-graph replays")
        compiled = compile_schedule(traced, schedule, device=device, options=options)
        print(f"measured on {torch.cuda.get_device_name()}: {time_ms(compiled):.3f} ms "
              "(median of CUDA-graph replays)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from ios_core.export import to_chrome_trace, to_csv, to_dot

    outputs = [(opt, path) for opt, path in (("--trace", args.trace), ("--dot", args.dot),
                                             ("--csv", args.csv)) if path]
    if not outputs:
        raise CliError("nothing to export: give --trace FILE, --dot FILE and/or --csv FILE")
    for opt, path in outputs:
        check_writable(path, opt)
    resolved = [os.path.realpath(p) for _, p in outputs]
    if len(set(resolved)) < len(resolved):
        raise CliError("--trace, --dot and --csv must name different files")
    schedule = Schedule.load(args.schedule)
    graph = None
    if args.dot or args.model:  # DOT draws the model's edges, so it needs the graph
        _, traced = _load_for(args, schedule, _sayer(args))
        graph = traced.graph
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
    for i, stage in enumerate(schedule.stages, 1):  # numbered from 1, as CSV and the app do
        mark = " (estimated)" if stage.estimated else ""
        groups = " | ".join(", ".join(g) for g in stage.groups)
        print(f"  stage {i:3d} {stage.strategy:<10} {stage.predicted_ms:8.4f} ms{mark}  {groups}")
    return 0


# ---- shared steps -------------------------------------------------------------------------------
def _need_cuda(what: str, instead: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise CliError(f"{what}, and torch sees none on this machine; {instead}")


def _load_for(args: argparse.Namespace, schedule: Schedule, say: Any,
              plan: Any = None) -> tuple[Any, Any]:
    """The model ``schedule`` was made for (``--model`` overrides the name in the file), traced
    at the schedule's batch and checked against it; errors name the schedule file. ``plan``: as
    for :func:`~ios_core.cli.loading.load_traced`."""
    from ios_core.frontend.models import UnknownModelError, list_models
    from ios_core.ir.schedule import validate_schedule

    path, recorded = args.schedule, schedule.model.name
    ref = args.model or recorded
    if not getattr(args, "leaf_module", None):  # the leaf modules the schedule was traced with
        args.leaf_module = list(schedule.model.leaf_modules)
    try:
        loaded, traced = load_traced(args, ref, schedule.target.batch, say, plan)
    except UnknownModelError:
        if args.model:
            raise
        names = ", ".join(name for name, _, _ in list_models())
        raise CliError(
            f"{path} names its model {recorded!r}, which is neither a sample model ({names}) nor "
            "package.module:callable (a schedule saved by the library records the name it was "
            "traced with); say which model it is with --model NAME or --model "
            "package.module:callable") from None
    from ios_core.runtime.fuse_switch import recorded_switch

    # the file's record rebuilds the region graph it was searched on; the flag, where it has none
    args.fuse_epilogues = bool(getattr(args, "fuse_epilogues", False)) or recorded_switch(schedule)
    plain, traced = traced, _fuse(traced, args.fuse_epilogues, say)
    try:
        validate_schedule(schedule, traced.graph)
    except ScheduleError as e:
        _refuse_switch(schedule, plain, args.fuse_epilogues, path, ref)
        hint = "" if args.model else " (--model names the model to use)"
        raise ScheduleError(f"schedule file {path} does not fit {ref} at batch "
                            f"{schedule.target.batch}: {e}{hint}") from None
    return loaded, traced


def _fuse(traced: Any, on: bool, say: Any) -> Any:
    """``traced`` with fused regions when ``on`` (``--fuse-epilogues``), saying how many ops."""
    if not on:
        return traced
    from ios_core.runtime.fuse_switch import with_regions

    fused = with_regions(traced, True)
    say(f"fused regions (--fuse-epilogues): {len(traced.graph)} -> {len(fused.graph)} operators")
    return fused


def _engine_options(args: argparse.Namespace) -> Any:
    """The engine's levers for a rebuilt schedule: the default, plus ``fuse_epilogues`` when the
    schedule was made with it (None: the default, as everywhere)."""
    if not getattr(args, "fuse_epilogues", False):
        return None
    from ios_core.runtime.fuse_switch import engine_options

    return engine_options(None, True)


def _record(schedule: Schedule, on: bool) -> Schedule:
    from ios_core.runtime.fuse_switch import record_switch

    return record_switch(schedule, on)


def _refuse_switch(schedule: Schedule, plain: Any, on: bool, path: str, ref: str) -> None:
    """Raise a ScheduleError that says to pass (or drop) ``--fuse-epilogues`` when that is why
    ``schedule`` does not fit the model; return when it is not."""
    from ios_core.runtime.fuse_switch import fitting_switch

    fits = fitting_switch(schedule, plain)
    if fits is True and not on:
        raise ScheduleError(
            f"schedule file {path} was made for {ref} with fused regions (`optimize "
            "--fuse-epilogues`), and its file does not record that; pass --fuse-epilogues to "
            "rebuild the same graph")
    if fits is False and on:
        raise ScheduleError(
            f"schedule file {path} was made for {ref} without fused regions; drop "
            "--fuse-epilogues")


def describe_outputs(out: Any) -> str:
    """``output shape (1, 10)``, or ``2 outputs, shapes (1, 8) and (1, 4)`` for several.

    >>> import torch
    >>> describe_outputs((torch.zeros(1, 8), torch.zeros(1, 4)))
    '2 outputs, shapes (1, 8) and (1, 4)'
    """
    if isinstance(out, (tuple, list)):
        shapes = [str(tuple(t.shape)) for t in out]
        if len(shapes) == 1:
            return f"output shape {shapes[0]}"
        return f"{len(shapes)} outputs, shapes {', '.join(shapes[:-1])} and {shapes[-1]}"
    return f"output shape {tuple(out.shape)}"


# ---- output helpers -----------------------------------------------------------------------------
def summary(schedule: Schedule) -> str:
    """What a schedule is for, how it was found, and how far its prediction is measured."""
    stats = schedule.search.stats
    target, search = schedule.target, schedule.search
    source = (search.cost if search.cost == target.device
              else f"{search.cost} ({target.device})")
    lines = [
        f"{schedule.model.name} batch {target.batch}: {search.strategy} (r={search.r}, "
        f"s={search.s}), stage costs from {source}",
        f"  {len(schedule.stages)} stages, {len(schedule.ops)} operators, "
        f"predicted {schedule.predicted_ms:.3f} ms",
    ]
    if stats.get("fuse_epilogues") is True:  # ios_core.runtime.fuse_switch.FUSE_EPILOGUES
        lines.append("  fused regions with compiled epilogues (made with --fuse-epilogues)")
    note = schedule.estimate_note()
    if note:
        lines.append(f"  {note}")
    if "states" in stats:
        lines.append(
            f"  search: {stats.get('states')} states, {stats.get('transitions')} transitions, "
            f"{stats.get('stages_costed')} stages costed, {_seconds(stats.get('seconds')):.2f} s"
        )
    if stats.get("stopped"):
        solved, total = stats.get("parts_solved", "?"), stats.get("parts_total", "?")
        lines.append(
            f"  STOPPED before the end (a partial search): the DP solved {solved} of {total} "
            f"parts, the other operators run in {stats.get('greedy_stages', '?')} greedy stages; "
            "the best schedule found so far, not the search's answer")
    return "\n".join(lines)


def _seconds(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _conditioning(result: CheckResult) -> str:
    """Why the tolerance is wider than the device's own, where it is ("" otherwise)."""
    from ios_core.runtime.executor import TYPICAL_OWN_ERROR

    if result.own_rel_err <= TYPICAL_OWN_ERROR:
        return ""
    return (f", widened: the model's own float32 forward is {result.own_rel_err:.1e} off "
            "float64")


def _sayer(args: argparse.Namespace):
    """A function that prints a status line on stderr unless ``--quiet``."""
    def say(text: str) -> None:
        if not getattr(args, "quiet", False) and sys.stderr is not None:
            print(text, file=sys.stderr, flush=True)
    return say


# ---- argument parsing ---------------------------------------------------------------------------
def _prog() -> str:
    """How the user called us: ``ios-explorer`` (the console script) or ``python -m ios_core``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name.startswith("ios-explorer") else "python -m ios_core"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog or _prog(),
        description="Find, run and export IOS inter-operator schedules of CNNs.",
        epilog="Exit status: 0 done, 1 `run --check` found a wrong output, 2 the command could "
               "not do what was asked (the message says why), 130 interrupted (Ctrl-C during "
               "`optimize`'s search writes the best schedule so far, marked as stopped).",
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
    o.add_argument("--lazy", type=float, default=None, metavar="OPTIMISM",
                   help="measure lazily (a heuristic, ios_core/search/lazy.py): the DP runs on "
                        "the simulated device calibrated to each op measured alone, times "
                        "OPTIMISM in (0, 1], and only the stages of the plans it picks are "
                        "measured. On the H200's own Inception V3 profile, 0.8 asked 3.2x fewer "
                        "stages for a schedule 0.44 %% slower (benchmarks/results/search-lazy.md)")
    o.add_argument("--stream-cap", type=int, default=8,
                   help="greedy only: max concurrent operators per stage (default 8)")
    o.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    o.add_argument("--cost", default="simulated:h100",
                   help="cost source: simulated:<h100|a100|v100>, profile:<name|path>, measured")
    o.add_argument("--seed", type=int, default=0, help="seed of the model's weights (default 0)")
    o.add_argument("--out", required=True, help="schedule JSON to write")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    add_leaf_module_option(o)
    add_fuse_epilogues_option(o)
    o.set_defaults(func=cmd_optimize)

    r = sub.add_parser("run", help="run a schedule file, optionally checking it against the model")
    r.add_argument("schedule", help="schedule JSON written by `optimize` (or Schedule.save)")
    r.add_argument("--check", action="store_true",
                   help="compare the schedule's output with the model's own on random input")
    r.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run (default: cuda if available, else cpu)")
    r.add_argument("--time", action="store_true",
                   help="time CUDA-graph replays (needs a CUDA GPU)")
    r.add_argument("--model", default=None,
                   help="rebuild this model instead of the one named in the file")
    r.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    r.add_argument("-q", "--quiet", action="store_true", help="no status lines on stderr")
    add_leaf_module_option(r, rebuilds=True)
    add_fuse_epilogues_option(r, rebuilds=True)
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("export", help="write a schedule as Chrome trace, DOT or CSV")
    e.add_argument("schedule", help="schedule JSON")
    e.add_argument("--trace", help="Chrome trace JSON to write (opens in Perfetto)")
    e.add_argument("--dot", help="Graphviz DOT file to write (rebuilds the model)")
    e.add_argument("--csv", help="CSV file to write (one row per operator)")
    e.add_argument("--model", default=None,
                   help="the model of the schedule, where the file's name for it is not one "
                        "(sample model name or package.module:callable)")
    e.add_argument("--seed", type=int, default=0, help="seed of the model's weights (default 0)")
    e.add_argument("-q", "--quiet", action="store_true", help="no status lines on stderr")
    add_leaf_module_option(e, rebuilds=True)
    add_fuse_epilogues_option(e, rebuilds=True)
    e.set_defaults(func=cmd_export)

    s = sub.add_parser("show", help="print a schedule's stages")
    s.add_argument("schedule", help="schedule JSON")
    s.set_defaults(func=cmd_show)

    add_profile_parser(sub)
    add_app_parser(sub)
    return p


@functools.lru_cache(maxsize=4)
def _parser(prog: str) -> argparse.ArgumentParser:
    """The parser, built once per process: building it costs ~30 ms (argparse's gettext calls),
    which callers that run many commands in-process (the app's tests, the fuzz test) notice."""
    return build_parser(prog)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser(_prog())
    args, extra = parser.parse_known_args(argv)
    if args.command == "app":
        args.streamlit_args = extra  # `app` passes the rest to `streamlit run`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "max_part_ops", 0) is None:
        args.max_part_ops = SearchConfig().max_part_ops
    if getattr(args, "batch", 1) < 1:
        parser.error("--batch must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (module docstring). Never raises, but for
    SystemExit from ``--help``, which it returns as a status too."""
    try:
        args = _parse(argv)
    except SystemExit as e:  # --help, or a usage error argparse printed
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, while we can still handle it
        return status
    except BrokenPipeError:  # `... | head` closed stdout: stop quietly, as `cat` would
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _error("interrupted", prefix="\n")
        return EXIT_INTERRUPTED
    except (CliError, ValueError) as e:
        # every library error is a ValueError subclass with a plain-words message
        _error(f"error: {e}")
        return EXIT_ERROR
    except (MemoryError, RuntimeError, OSError) as e:
        message = _known_failure(e)
        if message is None:
            return _bug(e)
        _error(f"error: {message}")
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the last net: a bug, said in one line
        return _bug(e)


def _known_failure(e: BaseException) -> str | None:
    """The message of an error that is the situation's, not a bug: memory, files, ours."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(
            k in text for k in ("out of memory", "can't allocate memory", "not enough memory"))):
        return (f"ran out of memory ({text}); use a smaller --batch, or a machine with more "
                "memory")
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or text}"
    if type(e).__module__.startswith("ios_core."):  # CaptureError, CudaUnavailableError...
        return str(e)
    return None


def _bug(e: BaseException) -> int:
    if os.environ.get("IOS_DEBUG"):
        traceback.print_exception(e)
    _error(f"error: internal error ({type(e).__name__}: {e}). This is a bug in IOS Explorer; "
           "run again with IOS_DEBUG=1 to see where, and report it")
    return EXIT_BUG


def _error(text: str, prefix: str = "") -> None:
    try:
        print(f"{prefix}{text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr itself is gone: nothing left to tell
        pass


def _silence_stdout() -> None:
    """Point stdout at the null device, so that Python's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # captured or replaced stdout: nothing to do
        pass
