"""Profile databases, the profile cost model, profiling bookkeeping (CPU, no torch needed).

The last test replays the GPU searches stored beside the shipped H100 databases on the CPU; it
runs once `ios_core/data/profiles/*.schedule.json` exist (the benchmark writes them on the H100).
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import StageCost
from ios_core.cost.cached import CachedCost
from ios_core.cost.profile_db import (
    SCHEDULE_SUFFIX,
    ProfileCost,
    ProfileDB,
    ProfileError,
    ProfileKey,
    list_profiles,
    merge_dbs,
    profile_dirs,
    resolve_profile,
)
from ios_core.cost.recording import RecordingCost
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec, stage_signature
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule
from ios_core.profiling import collect_stages, profile_model
from ios_core.search import SearchConfig, optimize

KEY = ProfileKey("Fake GPU", "2.13.0", "91900", "float32", 1)


# ---- a small graph: two identical Inception-like cells, so signatures repeat --------------------
def _conv(name: str, src: str, shape: tuple[int, ...], cout: int, k: int) -> OpNode:
    n, cin, h, w = shape
    attrs = dict(in_channels=cin, out_channels=cout, kernel=(k, k), stride=(1, 1),
                 padding=(k // 2, k // 2), dilation=(1, 1), groups=1, activation="relu")
    out = (n, cout, h, w)
    flops = 2 * math.prod(out) * cin * k * k
    return OpNode(name, "conv", (src,), out, attrs, flops, 4 * (math.prod(shape) + math.prod(out)))


def two_cells(batch: int = 1, c: int = 32, hw: int = 16) -> OpGraph:
    shape = (batch, c, hw, hw)
    nodes: list[OpNode] = []
    src = "x"
    for i in range(2):
        p = f"c{i}_"
        nodes += [
            _conv(p + "a", src, shape, c // 4, 1),
            _conv(p + "b1", src, shape, c // 4, 1),
            _conv(p + "b2", p + "b1", (batch, c // 4, hw, hw), c // 4, 3),
            OpNode(p + "pool", "pool", (src,), shape,
                   dict(mode="max", kernel=(3, 3), stride=(1, 1), padding=(1, 1)),
                   9 * math.prod(shape), 8 * math.prod(shape)),
            _conv(p + "c", p + "pool", shape, c // 4, 1),
            _conv(p + "d", src, shape, c // 4, 3),
        ]
        cat = OpNode(p + "cat", "concat", (p + "a", p + "b2", p + "c", p + "d"), shape,
                     {"dim": 1}, 0, 8 * math.prod(shape))
        nodes.append(cat)
        src = cat.name
    graph = OpGraph("two_cells", (TensorSpec("x", shape),), tuple(nodes), (src,))
    graph.validate()
    return graph


class FakeMeasured:
    """A deterministic stand-in for MeasuredCost: simulated time times a signature-seeded factor,
    so its schedules differ from the simulated model's."""

    name = "measured"
    device = "Fake GPU"

    def __init__(self, fail_after: int | None = None) -> None:
        self.sim = SimulatedCost("h100")
        self.calls = 0
        self.fail_after = fail_after

    def stage_cost(self, graph, strategy, groups) -> StageCost:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-profile
        self.calls += 1
        jitter = int(stage_signature(graph, strategy, groups)[:6], 16) / 0xFFFFFF
        return StageCost(self.sim.stage_cost(graph, strategy, groups).ms * (0.6 + 0.8 * jitter))


class Traced:  # the part of frontend.TracedModel that profiling reads
    def __init__(self, graph: OpGraph) -> None:
        self.graph = graph


def stage_list(schedule: Schedule) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
    return [(st.strategy, st.groups) for st in schedule.stages]


def small_db(key: ProfileKey = KEY, **entries: float) -> ProfileDB:
    db = ProfileDB(key, name="t")
    for sig, ms in entries.items():
        db.add(sig, ms, ("m", "concurrent", (("a",),)))
    return db


# ---- the file format ----------------------------------------------------------------------------
def test_round_trip(tmp_path: Path) -> None:
    db = small_db(aaa=0.25, bbb=1.0 / 3.0)
    db.set_model_info("m", fingerprint="f", r=3, s=8, complete=True)
    db.measure = {"warmup": 3, "iters": 20}
    path = tmp_path / "h100-m-b1.json"
    db.save(path)
    back = ProfileDB.load(path)
    assert back.key == db.key
    assert back.entries == db.entries  # floats survive exactly (repr round trip)
    assert back.stages == db.stages
    assert back.models == db.models and back.measure == db.measure
    assert back.name == "h100-m-b1" and back.path == str(path)
    assert json.loads(path.read_text())["format"] == "ios-profile/1"
    assert not list(tmp_path.glob("*.tmp"))  # the atomic save leaves no temp file


def test_empty_db_round_trip(tmp_path: Path) -> None:
    ProfileDB(KEY).save(tmp_path / "e.json")
    assert len(ProfileDB.load(tmp_path / "e.json")) == 0


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON"),
    ('{"format": "ios-profile/9"}', "format"),
    ('{"format": "ios-profile/1", "key": {"device": "x"}}', "key"),
    ('{"format": "ios-profile/1", "key": {"device": "d", "torch": "t", "cudnn": "c", '
     '"dtype": "float32", "batch": 1}, "entries": {"s": -1}}', "non-negative"),
    ('{"format": "ios-profile/1", "key": {"device": "d", "torch": "t", "cudnn": "c", '
     '"dtype": "float32", "batch": 1}, "entries": {"s": "fast"}}', "not a number"),
])
def test_bad_files_are_named(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=words):
        ProfileDB.load(path)


def test_merge_unions_and_first_wins() -> None:
    a = small_db(s1=1.0, s2=2.0)
    a.set_model_info("ma")
    b = small_db(s2=9.0, s3=3.0)
    b.set_model_info("mb")
    m = merge_dbs([a, b], name="both")
    assert m.entries == {"s1": 1.0, "s2": 2.0, "s3": 3.0}
    assert [x["name"] for x in m.models] == ["ma", "mb"]
    assert m.name == "both"
    assert a.entries == {"s1": 1.0, "s2": 2.0}  # inputs untouched


def test_merge_refuses_other_conditions() -> None:
    other = small_db(ProfileKey("Fake GPU", "2.11.0", "91900", "float32", 1), s1=1.0)
    with pytest.raises(ProfileError, match="torch '2.13.0' vs '2.11.0'"):
        merge_dbs([small_db(s1=1.0), other])


# ---- the cost model -----------------------------------------------------------------------------
def test_profile_cost_hits_and_estimates() -> None:
    graph = two_cells()
    sig = stage_signature(graph, "concurrent", (("c0_a",),))
    cost = ProfileCost(small_db(**{sig: 0.123}))
    assert cost.name == "profile:t" and cost.device == "Fake GPU"
    assert cost.stage_cost(graph, "concurrent", [["c0_a"]]) == StageCost(0.123, False)
    # the second cell's identical conv shares the entry
    assert cost.stage_cost(graph, "concurrent", [["c1_a"]]) == StageCost(0.123, False)
    miss = cost.stage_cost(graph, "concurrent", [["c0_d"]])
    assert miss.estimated
    assert miss.ms == SimulatedCost("h100").stage_cost(graph, "concurrent", [["c0_d"]]).ms
    assert (cost.hits, cost.misses) == (1, 1)


def test_profile_cost_remembers_stages_by_name_for_one_graph(monkeypatch) -> None:
    import ios_core.cost.profile_db as profile_db

    graph = two_cells()
    sig = stage_signature(graph, "concurrent", (("c0_a",),))
    cost = ProfileCost(small_db(**{sig: 0.123}))
    signed = []
    monkeypatch.setattr(profile_db, "stage_signature",
                        lambda *a: signed.append(a) or stage_signature(*a))
    for _ in range(3):
        assert cost.stage_cost(graph, "concurrent", [["c0_a"]]) == StageCost(0.123, False)
        assert cost.stage_cost(graph, "concurrent", (("c0_d",),)).estimated
    assert len(signed) == 2  # once per stage
    other = two_cells()  # another graph object: its names may mean other ops
    assert cost.stage_cost(other, "concurrent", [["c0_a"]]) == StageCost(0.123, False)
    assert len(signed) == 3
    assert (cost.hits, cost.misses) == (1, 1)


def test_merge_ending_in_its_concat_takes_its_measured_merge() -> None:
    from .toy_graphs import conv, graph_of

    cat = OpNode("cat", "concat", ("a", "b"), (1, 16, 8, 8), {"dim": 1})
    graph = graph_of([conv("a", "x"), conv("b", "x", k=3), cat])
    merged = stage_signature(graph, "merge", (("a", "b"),))
    cost = ProfileCost(small_db(**{merged: 0.007}))
    assert cost.stage_cost(graph, "merge", [["a", "b", "cat"]]) == StageCost(0.007, False)
    assert (cost.hits, cost.derived, cost.misses) == (0, 1, 0)
    without = ProfileCost(small_db())  # no merge measured: the simulated device estimates it
    assert without.stage_cost(graph, "merge", [["a", "b", "cat"]]).estimated


def test_profile_cost_refuses_other_batch() -> None:
    cost = ProfileCost(small_db(), fallback=SimulatedCost("h100"))
    with pytest.raises(ProfileError, match="batch 1.*batch 4"):
        cost.stage_cost(two_cells(batch=4), "concurrent", [["c0_a"]])


def test_missing_stages_are_marked_in_schedule_and_cli() -> None:
    from ios_core.cli.main import summary

    graph = two_cells()
    # profile only the single-op stages: every multi-op stage the DP picks is an estimate
    db = ProfileDB(KEY, name="partial")
    fake = FakeMeasured()
    for node in graph:
        db.add(stage_signature(graph, "concurrent", ((node.name,),)),
               fake.stage_cost(graph, "concurrent", ((node.name,),)).ms)
    sched = optimize(graph, "ios-both", ProfileCost(db), SearchConfig())
    flags = [(len(st.ops) > 1, st.estimated) for st in sched.stages]
    assert all(multi == est for multi, est in flags)
    assert any(est for _, est in flags), "the test needs at least one multi-op stage"
    back = Schedule.loads(sched.dumps())
    assert back.estimated_stages == sched.estimated_stages > 0
    assert sched.search.cost == "profile:partial" and sched.target.device == "Fake GPU"
    assert f"{sched.estimated_stages} stage costs are estimated" in summary(back)


# ---- finding shipped databases ------------------------------------------------------------------
def _ship(folder: Path, stem: str, batch: int, **entries: float) -> None:
    key = ProfileKey(KEY.device, KEY.torch, KEY.cudnn, KEY.dtype, batch)
    small_db(key, **entries).save(folder / f"{stem}.json")


def test_resolve_by_name_merges_same_batch(tmp_path: Path) -> None:
    _ship(tmp_path, "h100-a-b1", 1, s1=1.0)
    _ship(tmp_path, "h100-b-b1", 1, s2=2.0)
    _ship(tmp_path, "h100-a-b16", 16, s1=5.0)
    _ship(tmp_path, "a100-a-b1", 1, s9=9.0)
    (tmp_path / f"h100-a-b1{SCHEDULE_SUFFIX}").write_text("{}")  # not a database: skipped
    db = resolve_profile("h100", 1, dirs=[tmp_path])
    assert db.entries == {"s1": 1.0, "s2": 2.0} and db.name == "h100"
    assert resolve_profile("profile:h100", 16, dirs=[tmp_path]).entries == {"s1": 5.0}
    with pytest.raises(ProfileError, match="no measurements at batch 4.*1, 16"):
        resolve_profile("h100", 4, dirs=[tmp_path])
    with pytest.raises(ProfileError, match="no profile named 'v100'"):
        resolve_profile("v100", 1, dirs=[tmp_path])
    assert {name for name, _, _ in list_profiles([tmp_path])} == {"h100", "a100"}


def test_resolve_file_folder_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ship(tmp_path, "mine", 1, s1=1.0)
    assert resolve_profile(str(tmp_path / "mine.json"), 1).entries == {"s1": 1.0}
    with pytest.raises(ProfileError, match="batch 1, not 2"):
        resolve_profile(str(tmp_path / "mine.json"), 2)
    assert resolve_profile(str(tmp_path), 1).entries == {"s1": 1.0}
    with pytest.raises(ProfileError, match="does not exist"):
        resolve_profile(str(tmp_path / "nope.json"), 1)
    monkeypatch.setenv("IOS_PROFILE_PATH", str(tmp_path))
    assert resolve_profile("mine", 1).entries == {"s1": 1.0}


def test_make_cost_model_kinds(tmp_path: Path) -> None:
    from ios_core.cost.factory import make_cost_model

    _ship(tmp_path, "mine", 1, s1=1.0)
    cost = make_cost_model(f"profile:{tmp_path / 'mine.json'}", Traced(two_cells()))
    assert isinstance(cost, ProfileCost) and cost.device == "Fake GPU"
    assert make_cost_model("simulated:a100").name == "simulated:a100"
    with pytest.raises(ValueError, match="unknown cost source"):
        make_cost_model("guess")


# ---- profiling ----------------------------------------------------------------------------------
def test_collect_stages_covers_every_search() -> None:
    graph, config = two_cells(), SearchConfig(r=2, s=3)
    stages = collect_stages(graph, config, "all")
    sigs = {st.signature for st in stages}
    assert len(sigs) == len(stages)  # distinct
    for strategy in SEARCH_STRATEGIES:
        recorder = RecordingCost(SimulatedCost("v100"))  # another device asks the same stages
        optimize(graph, strategy, recorder, config)
        assert set(recorder.requests) <= sigs, strategy
    # the second cell repeats the first: fewer signatures than stages named by their ops
    by_name = _ByName()
    optimize(graph, "ios-both", by_name, config)
    assert len(collect_stages(graph, config, "ios-both")) < len(by_name.seen)


class _ByName(SimulatedCost):
    """Counts the distinct stages asked by op names (what one measurement per signature saves)."""

    def __init__(self) -> None:
        super().__init__("h100")
        self.seen: set[tuple] = set()

    def stage_cost(self, graph, strategy, groups):
        self.seen.add((strategy, tuple(tuple(g) for g in groups)))
        return super().stage_cost(graph, strategy, groups)


def test_profile_then_optimize_equals_measured(tmp_path: Path) -> None:
    graph, config = two_cells(), SearchConfig()
    fake = FakeMeasured()
    path = tmp_path / "fake-two_cells-b1.json"
    db = profile_model(Traced(graph), config, path, cost=fake, model_name="two_cells")
    assert ProfileDB.load(path).entries == db.entries
    assert db.model_info("two_cells")["complete"] is True
    for strategy in SEARCH_STRATEGIES:
        direct = optimize(graph, strategy, FakeMeasured(), config)
        replay = optimize(graph, strategy, ProfileCost(ProfileDB.load(path)), config)
        assert stage_list(replay) == stage_list(direct), strategy
        assert replay.estimated_stages == 0
        assert replay.predicted_ms == pytest.approx(direct.predicted_ms, rel=1e-12)
    # the fake costs differ from the simulated device's, so the replay is not a tautology
    sims = [stage_list(optimize(graph, s, SimulatedCost("h100"), config))
            for s in ("ios-both", "ios-parallel")]
    fakes = [stage_list(optimize(graph, s, FakeMeasured(), config))
             for s in ("ios-both", "ios-parallel")]
    assert sims != fakes


def test_profiling_resumes_after_interrupt(tmp_path: Path) -> None:
    graph, config = two_cells(), SearchConfig(r=2, s=4)
    path = tmp_path / "p.json"
    total = len(collect_stages(graph, config, "all"))
    with pytest.raises(KeyboardInterrupt):
        profile_model(Traced(graph), config, path, cost=FakeMeasured(fail_after=7), save_every=3)
    kept = ProfileDB.load(path)
    assert len(kept) == 7  # saved on the way out, not only every 3
    assert kept.models[0]["complete"] is False
    fake = FakeMeasured()
    db = profile_model(Traced(graph), config, path, cost=fake)
    assert fake.calls == total - 7 and len(db) == total
    assert db.models[0]["complete"] is True


def test_profiling_refuses_a_file_of_other_conditions(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    small_db(ProfileKey("Other GPU", "", "", "float32", 1), s1=1.0).save(path)
    with pytest.raises(ProfileError, match="other conditions"):
        profile_model(Traced(two_cells()), SearchConfig(), path, cost=FakeMeasured())


def test_cached_cost_measures_each_signature_once() -> None:
    graph = two_cells()
    db, fake = ProfileDB(KEY), FakeMeasured()
    cached = CachedCost(db, fake, "two_cells")
    first = optimize(graph, "ios-both", cached, SearchConfig())
    assert fake.calls == len(db) == len(cached.asked)
    calls = fake.calls
    again = optimize(graph, "ios-both", CachedCost(db, fake, "two_cells"), SearchConfig())
    assert fake.calls == calls  # a warm database measures nothing
    assert stage_list(again) == stage_list(first)
    assert cached.cold_seconds(cached.asked) >= 0.0


def test_cached_cost_estimates_failures_and_past_deadline() -> None:
    class Broken(FakeMeasured):
        def stage_cost(self, graph, strategy, groups):
            if len([n for g in groups for n in g]) > 1:
                raise RuntimeError("cannot capture")
            return super().stage_cost(graph, strategy, groups)

    graph = two_cells()
    db = ProfileDB(KEY)
    cached = CachedCost(db, Broken(), "m", fallback=SimulatedCost("h100"))
    sched = optimize(graph, "ios-both", cached, SearchConfig())
    assert cached.failures and all(len(db.stages[s][2]) == 1 for s in db.entries)
    assert all(st.estimated == (len(st.ops) > 1) for st in sched.stages)
    late = CachedCost(ProfileDB(KEY), FakeMeasured(), "m", fallback=SimulatedCost("h100"),
                      deadline=0.0)
    assert late.stage_cost(graph, "concurrent", [["c0_a"]]).estimated
    assert len(late.db) == 0


# ---- the shipped H100 databases reproduce the GPU's searches ------------------------------------
# IOS_PROFILE_PATH adds folders: a fresh benchmark output can be checked before it is shipped
SHIPPED = sorted(p for d in profile_dirs() for p in d.glob(f"*{SCHEDULE_SUFFIX}"))
BIG_SEARCH = 20_000  # DP states above which a CPU replay takes minutes: run with IOS_SLOW=1


# The default run replays each (GPU, model, batch)'s ios-both search, the one that exercises the
# whole DP; the other strategies' replays (about 3 minutes on 2 cores) run with -m slow.
DEFAULT_REPLAY = "ios-both"


def _shipped_param(path: Path):
    try:
        search = json.loads(path.read_text())["search"]
        states, strategy = int(search["stats"].get("states", 0)), search["strategy"]
    except (OSError, ValueError, KeyError, TypeError):
        states, strategy = 0, DEFAULT_REPLAY  # unreadable: let the test itself report it
    marks = [] if strategy == DEFAULT_REPLAY else [pytest.mark.slow]
    if states > BIG_SEARCH:
        marks = [pytest.mark.slow, pytest.mark.skipif(not os.environ.get("IOS_SLOW"), reason=(
            f"{states} DP states: set IOS_SLOW=1 to replay this search"))]
    return pytest.param(path, id=path.name, marks=marks)


@functools.cache
def _traced(name: str, batch: int):
    """A sample model traced once per module: the replays of one model share it (read only)."""
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    loaded = models.load_model(name, batch=batch)
    return loaded.name, frontend.trace_model(loaded.module, loaded.example_input,
                                             name=loaded.name)


@pytest.mark.skipif(not SHIPPED, reason="no GPU schedules shipped in ios_core/data/profiles yet")
@pytest.mark.parametrize("path", [_shipped_param(p) for p in SHIPPED])
def test_shipped_profile_reproduces_gpu_schedule(path: Path) -> None:
    from ios_core.cost.factory import make_cost_model

    gpu = Schedule.load(str(path))
    name, traced = _traced(gpu.model.name, gpu.target.batch)
    assert traced.graph.fingerprint() == gpu.model.fingerprint, (
        "the frontend now builds another graph for this model: re-measure the shipped profiles")
    # the GPU search estimated what it could not measure with the simulated H100 of that day
    fallback_params = dict(gpu.search.stats.get("fallback_params") or {})
    fallback_params.pop("name", None)
    fallback = SimulatedCost("h100", **fallback_params)
    # complete coverage: `profile:h100` (all databases merged, what users run) must reproduce
    # the GPU's search; when the GPU run ran out of measuring time and estimated some stages, a
    # later model of that run may have measured them, so replay from this model's own database
    if gpu.search.stats.get("estimated_signatures", 0):
        stem = path.name.removesuffix(f".{gpu.search.strategy}{SCHEDULE_SUFFIX}")
        spec = str(path.with_name(stem + ".json"))
    else:
        spec = path.name.split("-")[0]
    cost = make_cost_model(f"profile:{spec}", traced, fallback=fallback)
    config = SearchConfig.from_search(gpu.search)
    cpu = optimize(traced.graph, gpu.search.strategy, cost, config, model_name=name)
    assert stage_list(cpu) == stage_list(gpu)
    assert cpu.estimated_stages == gpu.estimated_stages


# ---- the command line ----------------------------------------------------------------------------
def test_cli_optimize_with_a_partial_profile_marks_estimates(tmp_path: Path, capsys) -> None:
    from ios_core.cli import main as cli
    from ios_core.frontend import models
    from ios_core.frontend import tracing as frontend

    loaded = models.load_model("ios_demo")
    graph = frontend.trace(loaded.module, loaded.example_input, name=loaded.name)
    db, fake = ProfileDB(KEY, name="partial"), FakeMeasured()
    for node in graph:  # single ops only: every multi-op stage chosen must be an estimate
        db.add(stage_signature(graph, "concurrent", ((node.name,),)),
               fake.stage_cost(graph, "concurrent", ((node.name,),)).ms)
    db.save(tmp_path / "partial.json")
    out = tmp_path / "s.json"
    rc = cli.main(["optimize", "--model", "ios_demo", "--cost",
                   f"profile:{tmp_path / 'partial.json'}", "--out", str(out), "-q"])
    assert rc == 0
    sched = Schedule.load(str(out))
    assert sched.search.cost.startswith("profile:") and sched.target.device == "Fake GPU"
    assert sched.estimated_stages == sum(len(st.ops) > 1 for st in sched.stages)
    text = capsys.readouterr().out
    assert (f"{sched.estimated_stages} stage costs are estimated" in text) == bool(
        sched.estimated_stages)


def test_profile_command_parses_and_needs_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    import torch

    from ios_core.cli.main import CliError
    from ios_core.cli.profile import add_profile_parser, cmd_profile, default_profile_path

    parser = argparse.ArgumentParser()
    add_profile_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", "--model", "squeezenet", "--batch", "2"])
    assert (args.model, args.batch, args.r, args.s, args.out) == ("squeezenet", 2, 3, 8, None)
    assert default_profile_path("NVIDIA H100 80GB HBM3", "squeezenet", 2) == (
        "h100-squeezenet-b2.json")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CliError, match="CUDA"):
        cmd_profile(args)


def test_stage_signatures_keep_the_text_shipped_profiles_are_keyed_by() -> None:
    """The signature joins its text by hand for speed; it must equal the plain json.dumps form
    every shipped profile was written with, on real stages of a sample model."""
    import hashlib
    import random

    from ios_core.frontend.models import load_model
    from ios_core.frontend.tracing import trace

    def reference(graph, strategy, groups):
        groups = [list(g) for g in groups]
        group_of = {name: gi for gi, g in enumerate(groups) for name in g}
        described = []
        for gi, g in enumerate(groups):
            position = {name: i for i, name in enumerate(g)}
            described.append([
                f"{graph.describe(name)}<" + json.dumps(
                    [f"@{position[s]}" if group_of.get(s) == gi else list(graph.shape_of(s))
                     for s in graph[name].inputs]) for name in g])
        if strategy == "concurrent":
            described.sort()
        text = json.dumps({"strategy": strategy, "groups": described}, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    loaded = load_model("inception_v3")
    graph = trace(loaded.module, loaded.example_input)
    recorder = RecordingCost(SimulatedCost("h100"))
    optimize(graph, "ios-both", recorder, SearchConfig(r=3, s=8))
    requests = list(recorder.requests.values())
    assert len(requests) > 1000
    for req in random.Random(0).sample(requests, 1000):
        assert req.signature == reference(graph, req.strategy, req.groups)
