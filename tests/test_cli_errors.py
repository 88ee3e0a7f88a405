"""The CLI never shows a traceback: each problem found on main gets one plain message, the right
exit status, and is found before long work starts. Commands run in-process through
``ios_core.cli.main.main``; the small models are ``ios_demo`` and ``tests._cli_models``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ios_core.cli import loading
from ios_core.cli import main as cli
from ios_core.cli.output import LiveLine
from ios_core.ir.schedule import Schedule

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "ios_core" / "data" / "profiles"
TWO_OUT, TWO_IN = "tests._cli_models:two_outputs", "tests._cli_models:two_inputs"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture(scope="module")
def demo_schedule(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.json"
    assert cli.main(["optimize", "--model", "ios_demo", "--out", str(path), "-q"]) == 0
    return path


def forbid_loading(monkeypatch) -> None:
    """Make any model load fail the test: the command must stop before it."""
    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(cli, "load_traced", boom)
    monkeypatch.setattr(loading, "load_traced", boom)


# ---- models with several outputs or inputs -------------------------------------------------------
def test_run_without_check_on_a_model_with_two_outputs(tmp_path, capsys) -> None:
    out = tmp_path / "two_outputs.json"
    assert run_cli(capsys, "optimize", "--model", TWO_OUT, "--out", out, "-q")[0] == 0
    rc, text, _ = run_cli(capsys, "run", out, "--device", "cpu")
    assert rc == 0, text
    assert "ran on cpu: 2 outputs, shapes (1, 8, 16, 16) and (1, 4)" in text


def test_a_model_with_two_inputs_optimizes_runs_and_exports(tmp_path, capsys) -> None:
    out = tmp_path / "two_inputs.json"
    rc, text, err = run_cli(capsys, "optimize", "--model", TWO_IN, "--batch", "2", "--out", out)
    assert rc == 0, err
    rc, text, err = run_cli(capsys, "run", out, "--device", "cpu", "--check")
    assert rc == 0 and "matches" in text, err
    rc, text, err = run_cli(capsys, "run", out, "--device", "cpu")
    assert rc == 0 and "output shape (2, 8, 16, 16)" in text, err
    rc, _, err = run_cli(capsys, "export", out, "--dot", tmp_path / "g.dot")
    assert rc == 0 and (tmp_path / "g.dot").read_text().startswith("digraph"), err


# ---- memory --------------------------------------------------------------------------------------
def test_run_check_of_a_model_that_outputs_zeros_says_it_cannot_tell(tmp_path, capsys) -> None:
    out = tmp_path / "silent.json"
    assert run_cli(capsys, "optimize", "--model", "tests._cli_models:silent", "--out", out,
                   "-q")[0] == 0
    rc, text, _ = run_cli(capsys, "run", out, "--device", "cpu", "--check")
    assert rc == 2 and "cannot tell" in text and "all zeros" in text, text
    assert "matches" not in text


def test_run_check_widens_the_tolerance_of_an_ill_conditioned_model(tmp_path, capsys) -> None:
    out = tmp_path / "ill.json"
    assert run_cli(capsys, "optimize", "--model", "tests._cli_models:ill_conditioned", "--out",
                   out, "-q")[0] == 0
    rc, text, _ = run_cli(capsys, "run", out, "--device", "cpu", "--check")
    assert rc == 0 and "matches" in text and "widened" in text, text


def test_a_batch_whose_input_cannot_fit_is_refused_before_anything_is_built(capsys,
                                                                           tmp_path) -> None:
    rc, _, err = run_cli(capsys, "optimize", "--model", "inception_v3", "--batch", "100000",
                         "--out", tmp_path / "s.json")
    assert rc == 2
    assert "inception_v3 at batch 100000 needs about" in err and "available memory" in err
    assert "loading" not in err  # refused before the model was built


def test_a_trace_that_cannot_fit_is_refused_from_a_batch_1_probe(monkeypatch, capsys,
                                                                 tmp_path) -> None:
    from ios_core.frontend import tracing

    batches = []
    real = tracing.trace_model

    def counting(module, example, *args, **kwargs):
        batches.append(example.shape[0])
        return real(module, example, *args, **kwargs)

    monkeypatch.setattr(tracing, "trace_model", counting)
    monkeypatch.setattr("ios_core.frontend.trace_model", counting)
    monkeypatch.setattr(loading, "available_bytes", lambda device: 200 * 2**20)  # 200 MiB free
    rc, _, err = run_cli(capsys, "optimize", "--model", "ios_demo", "--batch", "256",
                         "--out", tmp_path / "s.json")
    assert rc == 2
    assert "tracing ios_demo at batch 256 needs about" in err and "200.0 MiB" in err
    assert "use a smaller --batch (at most about" in err
    assert batches == [1]  # only the probe ran; the full batch never started
    assert not (tmp_path / "s.json").exists()


def test_a_run_that_cannot_fit_is_refused_before_the_full_trace(monkeypatch, capsys,
                                                                 tmp_path) -> None:
    from ios_core.frontend import tracing

    path = tmp_path / "b64.json"
    assert cli.main(["optimize", "--model", "ios_demo", "--batch", "64", "--strategy", "greedy",
                     "--out", str(path), "-q"]) == 0
    batches = []
    real = tracing.trace_model

    def counting(module, example, *args, **kwargs):
        batches.append(example.shape[0])
        return real(module, example, *args, **kwargs)

    monkeypatch.setattr("ios_core.frontend.trace_model", counting)
    # the trace at batch 64 (about 99 MiB) fits; running the schedule (about 197 MiB) does not
    monkeypatch.setattr(loading, "available_bytes", lambda device: 150 * 2**20)
    rc, _, err = run_cli(capsys, "run", path, "--device", "cpu")
    assert rc == 2 and "running the schedule of ios_demo on cpu needs about" in err
    assert batches == [1]  # refused from the probe, before the trace at batch 64


def test_run_check_that_cannot_fit_is_refused_before_it_starts(monkeypatch, capsys,
                                                               demo_schedule) -> None:
    from ios_core.runtime import executor

    monkeypatch.setattr(executor, "check", lambda *a, **k: pytest.fail("check started"))
    monkeypatch.setattr(loading, "available_bytes", lambda device: 2 * 2**20)  # 2 MiB
    rc, _, err = run_cli(capsys, "run", demo_schedule, "--check", "--device", "cpu")
    assert rc == 2
    assert "checking the schedule of ios_demo on cpu needs about" in err
    assert "2.0 MiB" in err and "runs only at that batch" in err


def test_an_allocator_failure_is_one_message(monkeypatch, capsys, demo_schedule) -> None:
    def oom(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 107 GB")
    monkeypatch.setattr("ios_core.runtime.executor.compile_schedule", oom)
    rc, _, err = run_cli(capsys, "run", demo_schedule, "--device", "cpu", "-q")
    assert rc == 2 and err.startswith("error: ran out of memory") and len(err.splitlines()) == 1


# ---- arguments checked before long work ----------------------------------------------------------
def test_out_in_a_missing_folder_is_reported_before_the_search(monkeypatch, capsys,
                                                               tmp_path) -> None:
    forbid_loading(monkeypatch)
    rc, _, err = run_cli(capsys, "optimize", "--model", "ios_demo",
                         "--out", tmp_path / "missing" / "s.json")
    assert rc == 2 and "does not exist; create it first" in err


def test_out_that_is_a_folder_and_show_of_a_folder(monkeypatch, capsys, tmp_path,
                                                   demo_schedule) -> None:
    forbid_loading(monkeypatch)
    rc, _, err = run_cli(capsys, "optimize", "--model", "ios_demo", "--out", tmp_path)
    assert rc == 2 and "is a folder; give a file name" in err
    rc, _, err = run_cli(capsys, "show", tmp_path)
    assert rc == 2 and f"{tmp_path} is a folder, not a schedule file" in err
    rc, _, err = run_cli(capsys, "export", demo_schedule, "--dot", tmp_path)
    assert rc == 2 and "--dot" in err and "is a folder" in err
    rc, _, err = run_cli(capsys, "run", tmp_path / "nope.json")
    assert rc == 2 and "does not exist" in err


def test_show_into_a_closed_pipe_stops_quietly(tmp_path, demo_schedule) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ios_core", "show", str(demo_schedule)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_broken_pipe_in_process(monkeypatch, capsys, demo_schedule) -> None:
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert cli.main(["show", str(demo_schedule)]) == 141
    assert capsys.readouterr().err == ""


# ---- schedules saved by the library --------------------------------------------------------------
def test_a_schedule_saved_by_the_library_needs_and_takes_model(tmp_path, capsys) -> None:
    from ios_core import make_cost_model, optimize, trace_model
    from ios_core.frontend.models import load_model

    loaded = load_model("ios_demo")
    traced = trace_model(loaded.module, loaded.example_input)  # named "model"
    path = tmp_path / "lib.json"
    optimize(traced.graph, "greedy", make_cost_model("simulated:h100")).save(str(path))
    assert Schedule.load(path).model.name == "model"
    for argv in (["run", path], ["export", path, "--dot", tmp_path / "g.dot"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and "names its model 'model'" in err and "--model" in err
    rc, text, err = run_cli(capsys, "run", path, "--model", "ios_demo", "--device", "cpu")
    assert rc == 0 and "ran on cpu" in text, err
    rc, _, err = run_cli(capsys, "export", path, "--model", "ios_demo", "--dot", tmp_path / "g.dot")
    assert rc == 0 and (tmp_path / "g.dot").exists(), err
    rc, _, err = run_cli(capsys, "run", path, "--model", TWO_OUT, "-q")
    assert rc == 2 and f"does not fit {TWO_OUT}" in err


# ---- profiles of other models --------------------------------------------------------------------
def test_a_foreign_profile_says_what_it_estimated(tmp_path, capsys) -> None:
    foreign = PROFILES / "h200-squeezenet-b1.json"
    out = tmp_path / "s.json"
    rc, text, err = run_cli(capsys, "optimize", "--model", "ios_demo", "--cost",
                            f"profile:{foreign}", "--out", out, "-q")
    assert rc == 0, err
    sched = Schedule.load(out)
    n = sched.estimated_stages
    assert n == len(sched.stages) > 0
    assert f"{n} stage costs are estimated (of {n}), not measured" in text
    assert "is not a measurement of NVIDIA H200" in text
    assert "holds no measurement of ios_demo" in text
    totals = json.loads(out.read_text())["totals"]
    assert totals["estimated_stages"] == n and "not a measurement" in totals["note"]
    rc, text, _ = run_cli(capsys, "show", out)
    assert "not a measurement of NVIDIA H200" in text


# ---- CUDA-only options ---------------------------------------------------------------------------
def test_run_time_without_cuda_is_refused(monkeypatch, capsys, demo_schedule) -> None:
    import torch

    forbid_loading(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, _, err = run_cli(capsys, "run", demo_schedule, "--time")
    assert rc == 2 and "--time times CUDA-graph replays" in err and "drop --time" in err
    rc, _, err = run_cli(capsys, "run", demo_schedule, "--time", "--device", "cpu")
    assert rc == 2 and "drop --device cpu" in err


# ---- schedule files ------------------------------------------------------------------------------
def test_schedule_file_errors_name_the_file(tmp_path, capsys) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "ios-schedule/1", "model": ')
    for argv in (["show", bad], ["run", bad], ["export", bad, "--csv", tmp_path / "c.csv"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and str(bad) in err and "not valid JSON" in err
        assert "save the schedule again" in err and "export the schedule" not in err
    other = tmp_path / "other.json"
    other.write_text('{"format": "ios-schedule/1", "model": {"name": 3}}')
    rc, _, err = run_cli(capsys, "show", other)
    assert rc == 2 and str(other) in err and "model.name has the wrong type" in err


# ---- progress and status -------------------------------------------------------------------------
def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path, capsys) -> None:
    rc, _, err = run_cli(capsys, "optimize", "--model", "ios_demo", "--out", tmp_path / "s.json")
    assert rc == 0 and "searching part 1/1" in err
    assert "\r" not in err and "\033" not in err
    rc, _, err = run_cli(capsys, "run", tmp_path / "s.json", "--device", "cpu")
    assert rc == 0 and "tracing ios_demo" in err and "compiling the schedule on cpu" in err
    rc, _, err = run_cli(capsys, "export", tmp_path / "s.json", "--dot", tmp_path / "g.dot",
                         "-q")
    assert rc == 0 and err == ""


def test_progress_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    line = LiveLine(stream=term)
    line.show("part 1/2", force=True)
    line.show("part 2/2", force=True)
    line.done()
    assert term.getvalue() == "\r\033[Kpart 1/2\r\033[Kpart 2/2\r\033[K"


# ---- the last net --------------------------------------------------------------------------------
def test_an_unexpected_error_is_one_line_with_status_70(monkeypatch, capsys,
                                                        demo_schedule) -> None:
    monkeypatch.setattr(cli, "summary", lambda s: {}["boom"])
    rc, _, err = run_cli(capsys, "show", demo_schedule)
    assert rc == 70 and "internal error (KeyError" in err and "IOS_DEBUG=1" in err
    assert len(err.strip().splitlines()) == 1


def test_usage_errors_and_help_return_statuses(capsys) -> None:
    assert cli.main(["optimize", "--batch", "0", "--out", "x.json"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
    assert cli.main(["show", "a.json", "--bogus"]) == 2
    assert cli.main(["--help"]) == 0
    capsys.readouterr()
