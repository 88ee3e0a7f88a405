"""`python -m ios_core profile`: measure every stage a search can ask for into a profile database.

Registered by ``cli.build_parser`` through :func:`add_profile_parser`. Rerunning with the same
``--out`` resumes: stages already in the file are not measured again.
"""

from __future__ import annotations

import argparse
import sys
import time

from ios_core.cli.errors import CliError
from ios_core.cli.loading import add_fuse_epilogues_option, add_leaf_module_option, load_traced
from ios_core.cli.output import LiveLine
from ios_core.cli.paths import check_writable
from ios_core.cost.profile_db import PROFILE_DIR, device_slug, file_slug
from ios_core.cost.recording import StageRequest
from ios_core.ir.schedule import SEARCH_STRATEGIES
from ios_core.profiling import ProfileObserver


def add_profile_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "profile", help="measure a model's stages on this GPU into a profile database (resumable)",
        description="Measure, on this CUDA GPU, every stage the chosen searches can ask for, and "
                    "save them (by stage signature) in a profile database that `optimize --cost "
                    "profile:<file>` reads on any machine. An interrupted run keeps what it "
                    "measured; run the same command again to resume.")
    p.add_argument("--model", default="inception_v3",
                   help="sample model name (see `models`) or package.module:callable")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--out", default=None,
                   help="database file to write or resume (default: "
                        "<gpu>-<model>-b<batch>.json in the current folder)")
    p.add_argument("--r", type=int, default=3, help="max operators per group (default 3)")
    p.add_argument("--s", type=int, default=8, help="max groups per stage (default 8)")
    p.add_argument("--max-part-ops", type=int, default=None,
                   help="max operators per DP subproblem (default: the library's)")
    p.add_argument("--stream-cap", type=int, default=8,
                   help="greedy's max concurrent operators per stage (default 8)")
    p.add_argument("--strategies", default="all",
                   help="comma-separated searches whose stages to measure, or `all` (default: "
                        + ",".join(SEARCH_STRATEGIES) + ")")
    p.add_argument("--warmup", type=int, default=2, help="CUDA-graph replays before timing")
    p.add_argument("--iters", type=int, default=10, help="timed replays per stage (median)")
    p.add_argument("--save-every", type=int, default=50, help="save after this many new stages")
    p.add_argument("--seed", type=int, default=0, help="seed of the model's weights (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    add_leaf_module_option(p)
    add_fuse_epilogues_option(p)
    p.set_defaults(func=cmd_profile)
    return p


def cmd_profile(args: argparse.Namespace) -> int:
    import torch

    from ios_core.profiling import collect_stages, profile_model
    from ios_core.search import SearchConfig

    if not torch.cuda.is_available():
        raise CliError("profiling measures stages on a CUDA GPU, and torch sees none here; "
                       "use --cost profile:h100 or simulated:h100 with `optimize` instead")
    try:
        config = SearchConfig(r=args.r, s=args.s, max_part_ops=args.max_part_ops,
                              stream_cap=args.stream_cap)
    except ValueError as e:
        raise CliError(str(e)) from None
    strategies = ("all" if args.strategies == "all"
                  else [s.strip() for s in args.strategies.split(",") if s.strip()])
    if args.out:
        check_writable(args.out, "--out")

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    loaded, traced = load_traced(args, args.model, args.batch, say)
    options = None
    if args.fuse_epilogues:  # the stages of the region graph, measured with the lever
        from ios_core.runtime.fuse_switch import engine_options, with_regions

        traced, options = with_regions(traced, True), engine_options(None, True)
    out = args.out or default_profile_path(torch.cuda.get_device_name(), loaded.name, args.batch)
    check_writable(out, "--out")
    t0 = time.perf_counter()
    stages = collect_stages(traced.graph, config, strategies)
    if not args.quiet:
        print(f"{loaded.name}: {len(traced.graph)} operators, {len(stages)} distinct stages "
              f"to cover ({time.perf_counter() - t0:.1f} s to enumerate)", file=sys.stderr)
    bar = ProgressBar(enabled=not args.quiet)
    db = profile_model(traced, config, out, bar, model_name=loaded.name, strategy=strategies,
                       stages=stages, save_every=args.save_every, warmup=args.warmup,
                       iters=args.iters, options=options)
    bar.finish()
    print(f"{out}: {len(db)} stages of {db.key.describe()}; "
          f"{bar.measured} measured now, {bar.already} were already there"
          + (f", {bar.failed} could not be measured (searches estimate them)" if bar.failed
             else ""))
    print(f"use it with --cost profile:{out}; to ship it with the package, put it in "
          f"{PROFILE_DIR} (then --cost profile:{device_slug(torch.cuda.get_device_name())})")
    return 0


def default_profile_path(device_name: str, model: str, batch: int) -> str:
    """``<gpu>-<model>-b<batch>.json`` in the current folder; ``<gpu>`` is short (h100, a100,
    rtx4090). Not the shipped folder: that may be an installed package's, not to be written.

    >>> default_profile_path("NVIDIA H100 80GB HBM3", "squeezenet", 2)
    'h100-squeezenet-b2.json'
    """
    return f"{device_slug(device_name)}-{file_slug(model)}-b{batch}.json"


class ProgressBar(ProfileObserver):
    """A one-line progress bar on stderr: done/total, rate and time left (redrawn on a terminal,
    a plain line now and then elsewhere: :class:`~ios_core.cli.output.LiveLine`)."""

    def __init__(self, enabled: bool = True, width: int = 30) -> None:
        self.line = LiveLine(enabled=enabled)
        self.width = width
        self.measured = self.failed = self.already = 0
        self._t0 = time.monotonic()
        self._first = 0

    def on_start(self, total: int, done: int) -> None:
        self.already = self._first = done
        self._t0 = time.monotonic()
        self._draw(done, total, force=True)

    def on_stage(self, done: int, total: int, request: StageRequest, ms: float | None) -> None:
        if ms is None:
            self.failed += 1
        else:
            self.measured += 1
        self._draw(done, total)

    def on_end(self, done: int, total: int, seconds: float) -> None:
        self._draw(done, total, force=True)

    def _draw(self, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        rate = (done - self._first) / max(now - self._t0, 1e-9)
        left = f"{(total - done) / rate:5.0f} s left" if rate > 0 and done < total else ""
        self.line.show(f"profiling [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} "
                       f"stages {rate:6.1f}/s {left}", force=force)

    def finish(self) -> None:
        self.line.done(keep=True)
