"""``optimize``'s progress, its size estimate, and Ctrl-C that keeps the best schedule so far."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ios_core.cli import main as cli
from ios_core.cli.search_progress import ProgressPrinter, stop_on_interrupt
from ios_core.ir.schedule import Schedule
from ios_core.search.observer import SearchProgress

ROOT = Path(__file__).resolve().parents[1]
SMALL, LONG = "tests._search_models:small_chains", "tests._search_models:parallel_chains"


def _progress(eta: float | None) -> SearchProgress:
    return SearchProgress(part_index=0, n_parts=2, part_states_done=10, part_states_total=100,
                          states_done=10, states_total=200, transitions=999, stages_costed=77,
                          elapsed_s=1.0, eta_s=eta)


def test_the_size_is_said_before_the_search_and_progress_has_counts_and_eta(tmp_path, capsys,
                                                                            monkeypatch) -> None:
    seen: list[SearchProgress] = []
    monkeypatch.setattr(ProgressPrinter, "on_search_progress",
                        lambda self, p: seen.append(p))
    rc = cli.main(["optimize", "--model", SMALL, "--out", str(tmp_path / "s.json")])
    out, err = capsys.readouterr()
    assert rc == 0 and "STOPPED" not in out
    assert "search size: 1 DP part, 626 states (per part: 626)" in err
    assert err.index("search size") < err.index("searching part 1/1")
    last = seen[-1]
    assert last.states_done == last.states_total == 626 and last.stages_costed > 0
    assert last.eta_s == 0.0 and all(p.states_total == 626 for p in seen)


def test_the_live_line_shows_stages_measured_and_time_left() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    printer = ProgressPrinter(verb="measured")
    printer.line._stream = Terminal()
    printer.on_search_progress(_progress(None))
    printer.line._last = -1e9
    printer.on_search_progress(_progress(75.0))
    text = printer.line._stream.getvalue()
    assert "10/200 states (5 %)" in text and "77 stages measured" in text
    assert "estimating time left" in text and "1 min 15 s left" in text
    assert text.startswith("\r\033[K")


def test_a_stop_request_writes_the_best_schedule_so_far_marked_partial(tmp_path, capsys,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(ProgressPrinter, "should_stop", lambda self: True)
    out_path = tmp_path / "s.json"
    rc = cli.main(["optimize", "--model", SMALL, "--out", str(out_path)])
    out, err = capsys.readouterr()
    assert rc == cli.EXIT_INTERRUPTED == 130 and "Traceback" not in out + err
    assert "STOPPED before the end" in out and "PARTIAL" in out
    stats = json.loads(out_path.read_text())["search"]["stats"]
    assert stats["stopped"] is True and stats["parts_solved"] == 0 and stats["parts_total"] == 1
    schedule = Schedule.load(out_path)  # a whole, valid schedule: every op, greedy stages
    assert len(schedule.ops) == 17 and "STOPPED" in cli.summary(schedule)


@pytest.fixture
def sigint_default():
    """SIGINT handled as Python does by default, whatever the test runner was started with (CI
    runs in the background, where SIGINT is ignored), and put back afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_once_asks_to_stop_and_twice_aborts(sigint_default) -> None:
    printer = ProgressPrinter(enabled=False)
    said: list[str] = []
    with stop_on_interrupt(printer, said.append):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs between bytecodes of the main thread
        assert printer.should_stop() and "keeping the best schedule" in said[0]
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        except KeyboardInterrupt:
            aborted = True
        else:
            aborted = False
    assert aborted
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        printer = ProgressPrinter(enabled=False)
        with stop_on_interrupt(printer, print):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert not printer.should_stop() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.slow  # a fresh process imports torch and traces: 4 s when quiet, 25 s when busy
def test_sigint_during_a_search_exits_130_with_the_partial_schedule(tmp_path) -> None:
    """A real Ctrl-C, sent to a CLI process searching a model of many DP parts."""
    out_path = tmp_path / "s.json"
    # profile:h100 has no bulk latencies: the plain DP, seconds per part on this model
    proc = subprocess.Popen(
        [sys.executable, "-m", "ios_core", "optimize", "--model", LONG, "--cost", "profile:h100",
         "--out", str(out_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    err_lines = []
    for line in proc.stderr:  # wait until the search runs
        err_lines.append(line)
        if line.startswith("searching"):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = "".join(err_lines) + err
    assert proc.returncode == 130, err
    assert "search size: 3 DP parts" in err and "keeping the best schedule so far" in err
    assert "Traceback" not in out + err and "STOPPED before the end" in out
    stats = json.loads(out_path.read_text())["search"]["stats"]
    assert stats["stopped"] is True and stats["parts_total"] == 3
