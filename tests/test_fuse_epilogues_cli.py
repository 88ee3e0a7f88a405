"""The ``fuse_epilogues`` switch where users run schedules: the CLI's ``--fuse-epilogues``
(optimize records it, run/export/show follow the record, a file without the record is refused
with a message that says which flag fits) and the drop-in's ``fuse_epilogues=True``. On the CPU
the lever runs its epilogues eagerly; the compiled path is tested in test_regions.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ios_core.cli import main as cli
from ios_core.cost.analytic import SimulatedCost
from ios_core.dropin import optimize_module
from ios_core.dropin.settings import DropinSettings
from ios_core.frontend import trace_model
from ios_core.frontend.regions import fuse_regions
from ios_core.ir.schedule import Schedule, ScheduleError
from ios_core.runtime.fuse_switch import FUSE_EPILOGUES, recorded_switch
from ios_core.search import optimize
from tests._epilogue_models import tiny_mobilenet

MODEL = "tests._epilogue_models:tiny_mobilenet"


def run_cli(capsys, *argv: object) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A schedule made with --fuse-epilogues, one made without, and the first without its record
    (as the library's optimize() saves a schedule of a region graph)."""
    folder = tmp_path_factory.mktemp("epi")
    fused, plain = folder / "fused.json", folder / "plain.json"
    assert cli.main(["optimize", "--model", MODEL, "--out", str(fused), "--fuse-epilogues",
                     "-q"]) == 0
    assert cli.main(["optimize", "--model", MODEL, "--out", str(plain), "-q"]) == 0
    data = json.loads(fused.read_text())
    del data["search"]["stats"][FUSE_EPILOGUES]
    bare = folder / "bare.json"
    bare.write_text(json.dumps(data))
    return {"fused": fused, "plain": plain, "bare": bare}


def test_optimize_records_the_switch_and_run_checks_against_the_model(files, capsys) -> None:
    fused, plain = Schedule.load(files["fused"]), Schedule.load(files["plain"])
    assert recorded_switch(fused) and not recorded_switch(plain)
    assert len(fused.ops) < len(plain.ops)  # regions absorbed the elementwise ops
    rc, out, _ = run_cli(capsys, "run", files["fused"], "--check", "--device", "cpu")
    assert rc == 0, out
    assert "made with --fuse-epilogues" in out
    assert "check on cpu: schedule output matches the model's own" in out
    rc, out, _ = run_cli(capsys, "run", files["fused"], "--device", "cpu", "-q")
    assert rc == 0 and "ran on cpu: output shape (1, 10)" in out
    rc, out, _ = run_cli(capsys, "show", files["fused"])
    assert rc == 0 and "fused regions" in out


def test_a_file_without_the_record_says_to_pass_the_flag(files, tmp_path, capsys) -> None:
    rc, _, err = run_cli(capsys, "run", files["bare"], "--check", "--device", "cpu", "-q")
    assert rc == 2
    assert "made for" in err and "with fused regions" in err and "pass --fuse-epilogues" in err
    rc, _, err = run_cli(capsys, "export", files["bare"], "--dot", tmp_path / "g.dot", "-q")
    assert rc == 2 and "pass --fuse-epilogues" in err
    rc, out, _ = run_cli(capsys, "run", files["bare"], "--check", "--device", "cpu", "-q",
                         "--fuse-epilogues")
    assert rc == 0 and "matches" in out
    rc, _, err = run_cli(capsys, "run", files["plain"], "--device", "cpu", "-q",
                         "--fuse-epilogues")
    assert rc == 2 and "without fused regions; drop --fuse-epilogues" in err


def test_profile_takes_the_flag() -> None:
    args = cli.build_parser("ios").parse_args(["profile", "--fuse-epilogues"])
    assert args.fuse_epilogues is True


# ---- drop-in ---------------------------------------------------------------------------------
def _model_and_input() -> tuple[torch.nn.Module, torch.Tensor]:
    model, shape = tiny_mobilenet(seed=1)
    return model, torch.randn(2, *shape, generator=torch.Generator().manual_seed(3))


def test_optimize_module_with_fused_epilogues_matches_and_keys_apart(tmp_path) -> None:
    model, x = _model_and_input()
    common = dict(cost="simulated:h100", cache=tmp_path)
    fast = optimize_module(model, x, fuse_epilogues=True, **common)
    plain = optimize_module(model, x, **common)
    assert fast.plan.source == plain.plan.source == "search"
    assert fast.plan.compiled.options.fuse_epilogues
    assert not plain.plan.compiled.options.fuse_epilogues
    assert recorded_switch(fast.schedule) and len(fast.schedule.ops) < len(plain.schedule.ops)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
    key, plain_key = (Schedule.load(m.plan.cache_path).search.stats["cache_key"]
                      for m in (fast, plain))
    assert key["engine"].endswith("+epi") and "epi" not in plain_key["engine"]
    assert key["fingerprint"] != plain_key["fingerprint"]
    again = optimize_module(model, x, fuse_epilogues=True, **common)
    assert again.plan.source == "cache"


def test_a_given_schedule_of_a_region_graph_needs_the_switch() -> None:
    model, x = _model_and_input()
    fused = fuse_regions(trace_model(model, x, name="tiny"))
    schedule = optimize(fused.graph, "ios-both", SimulatedCost("h100"))  # records nothing
    with pytest.raises(ScheduleError, match="pass fuse_epilogues=True"):
        optimize_module(model, x, cache=False, schedule=schedule)
    ran = optimize_module(model, x, cache=False, schedule=schedule, fuse_epilogues=True)
    assert ran.plan.source == "file" and ran.plan.rel_err is not None


def test_the_torch_compile_options_take_the_switch() -> None:
    assert DropinSettings.from_options({"fuse_epilogues": True}).engine_options.fuse_epilogues
    with pytest.raises(ValueError, match="fuse_epilogues must be True or False"):
        DropinSettings(fuse_epilogues="yes")  # type: ignore[arg-type]
