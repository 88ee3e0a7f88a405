"""Lower bounds: every figure called a bound is below every schedule's predicted latency under the
cost model that priced it, merges included (ios_core/cost/bounds.py proves why)."""

from __future__ import annotations

import doctest
import itertools
import random
from collections.abc import Iterator, Sequence

import pytest

from ios_core.cost import SimulatedCost, StageCost, bounds, critical_path_ms, lower_bounds
from ios_core.cost.bounds import NoBoundError, floors, own_measurements
from ios_core.cost.profile_db import ProfileCost, ProfileDB, ProfileKey, merge_dbs
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.ir.merge import concat_of_merge, mergeable_groups
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule, validate_schedule
from ios_core.search import SearchConfig, optimize, price_schedule

from ._graphs_cost import Builder, inception_block

Stage = tuple[str, tuple[tuple[str, ...], ...]]
EPS = 1e-12


def test_doctest() -> None:
    assert doctest.testmod(bounds).failed == 0


# ---- small graphs, every stage ------------------------------------------------------------------
def random_graph(seed: int) -> OpGraph:
    """6 to 8 ops: a merge class on x (maybe joined by its own concat), a chain, a pool branch."""
    rng = random.Random(seed)
    b = Builder(f"rand{seed}", (rng.choice([1, 4]), rng.choice([16, 96]), 14, 14))
    convs = [b.conv(f"m{i}", "x", rng.choice([16, 64, 192]), k=rng.choice([1, 3]))
             for i in range(rng.randint(2, 3))]
    tail = b.conv("t", convs[0], 32, k=3)
    pool = b.pool("p", "x", mode=rng.choice(["max", "avg"]))
    pc = b.conv("pc", pool, 32)
    if rng.random() < 0.6:
        sinks = [b.concat("cat", convs[1:]) if len(convs) > 2 else convs[1], tail, pc]
    else:  # a concat of the whole merge class: a merge may end in it, for free
        b.nodes = [n for n in b.nodes if n.name != "t"]
        sinks = [b.concat("cat", convs), pc]
    return b.build(sinks)


def all_stages(graph: OpGraph, max_ops: int = 5) -> Iterator[Stage]:
    """Every stage the schedule rules allow on at most ``max_ops`` ops: each partition of a set
    into groups that do not read each other (concurrent), and each merge, with its concat too."""
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    names = list(order)
    for size in range(1, max_ops + 1):
        for subset in itertools.combinations(names, size):
            for parts in _partitions(list(subset)):
                groups = tuple(tuple(sorted(p, key=order.__getitem__)) for p in parts)
                where = {n: gi for gi, g in enumerate(groups) for n in g}
                if all(where.get(s, gi) == gi for gi, g in enumerate(groups)
                       for n in g for s in graph[n].inputs):
                    yield "concurrent", groups
    for members in mergeable_groups(graph):
        for size in range(2, len(members) + 1):
            for subset in itertools.combinations(members, size):
                yield "merge", (subset,)
    for node in graph.nodes:
        convs = concat_of_merge(graph, node.name)
        if convs:
            yield "merge", ((*convs, node.name),)


def _partitions(items: list[str]) -> Iterator[list[list[str]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest):
        for i in range(len(smaller)):
            yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1:]]
        yield [[first], *smaller]


def random_preset(rng: random.Random) -> SimulatedCost:
    """A simulated device with random parameters: the proofs hold for any."""
    return SimulatedCost(rng.choice(["h100", "a100", "v100"]),
                         launch_us=rng.uniform(0, 10), stream_us=rng.uniform(0, 5),
                         overlap_eff=rng.uniform(0, 1), compute_eff=rng.uniform(0.05, 1),
                         mem_eff=rng.uniform(0.05, 1), tile_elems=rng.choice([256, 1723, 8192]))


def adversarial_profile(graph: OpGraph, rng: random.Random, foreign_complete: bool) -> ProfileCost:
    """A profile of random stages at random prices, merges and wide stages far below the sum of
    their members; a part labelled with another model holds identical stages even cheaper."""
    sim = SimulatedCost("h100")
    key = ProfileKey("Test GPU", "0", "0", graph.inputs[0].dtype, graph.batch)
    own, other = ProfileDB(key, name="own"), ProfileDB(key, name="other")
    for strategy, groups in all_stages(graph, max_ops=4):
        if rng.random() < 0.5:
            continue
        sig = stage_signature(graph, strategy, groups)
        ops = sum(len(g) for g in groups)
        scale = rng.uniform(0.01, 0.4) if ops > 1 else rng.uniform(0.2, 2.0)
        ms = sim.stage_cost(graph, strategy, groups).ms * scale
        if rng.random() < 0.2:  # another model measured the same stage
            other.add(sig, ms * 0.5, ("other", strategy, groups))
            for n in (n for g in groups for n in g):  # and, being complete, its ops alone
                alone = ("other", "concurrent", ((n,),))
                other.add(stage_signature(graph, *alone[1:]), sim.op_ms(graph, n), alone)
        else:
            own.add(sig, ms, (graph.name, strategy, groups))
    own.set_model_info(graph.name, complete=False, strategies=["ios-both"])
    other.set_model_info("other", complete=foreign_complete, strategies=["sequential"])
    return ProfileCost(merge_dbs([own, other], name="adversarial"), fallback=sim)


def check_every_stage(graph: OpGraph, cost) -> None:
    fl = floors(graph, cost)
    for strategy, groups in all_stages(graph):
        priced = cost.stage_cost(graph, strategy, groups).ms
        assert priced >= fl.stage_ms_bound(graph, groups) - EPS, (strategy, groups)


def check_every_schedule(graph: OpGraph, cost) -> None:
    lb = lower_bounds(graph, cost)
    n = len(graph)
    full = SearchConfig(r=n, s=n, max_part_ops=n, bound_slack=None)  # the DP's whole space
    for strategy in SEARCH_STRATEGIES:
        for config in (SearchConfig(), full):
            predicted = optimize(graph, strategy, cost, config).predicted_ms
            assert predicted >= lb.lower_ms - EPS, (strategy, predicted, lb)


@pytest.mark.parametrize("seed", range(12))
def test_simulated_floors_hold_for_every_stage_and_schedule(seed: int) -> None:
    graph = random_graph(seed)
    for cost in (SimulatedCost("h100"), random_preset(random.Random(seed))):
        check_every_stage(graph, cost)
        check_every_schedule(graph, cost)


@pytest.mark.parametrize("seed", range(12))
def test_profile_floors_hold_for_adversarial_profiles(seed: int) -> None:
    graph, rng = random_graph(seed), random.Random(100 + seed)
    for complete in (True, False):
        cost = adversarial_profile(graph, rng, foreign_complete=complete)
        check_every_stage(graph, cost)
        check_every_schedule(graph, cost)


def sliced_graph() -> OpGraph:
    """Depthwise convs on channel slices of x (timm's MixedConv2d): they merge into one grouped
    conv that reads x once, not once per conv, and a concat joins them."""
    from ios_core.ir.graph import OpNode, TensorSpec

    def dw(name: str, k: int, start: int, stop: int) -> OpNode:
        c = stop - start
        attrs = dict(kernel=(k, k), stride=(1, 1), padding=(k // 2, k // 2), dilation=(1, 1),
                     groups=c, in_channels=c, out_channels=c, activation="relu",
                     in_slice=(start, stop))
        return OpNode(name, "conv", ("x",), (1, c, 28, 28), attrs, flops=2 * c * 28 * 28 * k * k,
                      bytes=4 * (2 * c * 28 * 28 + c * k * k))

    nodes = (dw("d3", 3, 0, 32), dw("d5", 5, 32, 64), dw("d7", 7, 64, 96),
             OpNode("cat", "concat", ("d3", "d5", "d7"), (1, 96, 28, 28), {"dim": 1}, 0,
                    2 * 4 * 96 * 28 * 28))
    graph = OpGraph("sliced", (TensorSpec("x", (1, 96, 28, 28)),), nodes, ("cat",))
    graph.validate()
    return graph


def test_merges_of_channel_slices_keep_the_bounds() -> None:
    graph = sliced_graph()
    assert mergeable_groups(graph) == [["d3", "d5", "d7"]]
    for cost in (SimulatedCost("h100"), adversarial_profile(graph, random.Random(5), True)):
        check_every_stage(graph, cost)
        check_every_schedule(graph, cost)


def test_profile_labels_that_do_not_match_the_graph_are_not_placed() -> None:
    graph = random_graph(3)
    rng = random.Random(7)
    cost = adversarial_profile(graph, rng, foreign_complete=True)
    part = cost.db.parts[0]
    names = [n.name for n in graph.nodes]
    for sig, (model, strategy, groups) in list(part.stages.items()):  # shuffle the op names
        swap = dict(zip(names, rng.sample(names, len(names)), strict=True))
        part.stages[sig] = (model, strategy, tuple(tuple(swap[n] for n in g) for g in groups))
    check_every_stage(graph, cost)
    check_every_schedule(graph, cost)


def test_merges_beat_the_isolated_critical_path_but_not_the_bounds() -> None:
    """Why the critical path of isolated op times is only a reference: on the simulated device a
    merge ending in its concat runs conv -> concat in one launch."""
    b = Builder("fire", (1, 64, 28, 28))
    b.conv("e1", "x", 64)
    b.conv("e3", "x", 64, k=3)
    b.concat("cat", ["e1", "e3"])
    graph, cost = b.build(), SimulatedCost("h100")
    merged = cost.stage_cost(graph, "merge", (("e1", "e3", "cat"),)).ms
    assert merged < critical_path_ms(graph, cost)
    lb = lower_bounds(graph, cost)
    assert lb.path_ms <= merged and lb.work_ms <= merged
    assert lb.reference_ms == critical_path_ms(graph, cost)


def test_work_bound_dominates_for_big_ops() -> None:
    b = Builder("wide", (1, 128, 112, 112))  # convs that fill the GPU on their own
    for i in range(4):
        b.conv(f"c{i}", "x", 256, k=3)
    graph, cost = b.build([f"c{i}" for i in range(4)]), SimulatedCost()
    lb = lower_bounds(graph, cost)
    assert lb.work_ms > 3 * lb.path_ms
    all_at_once = cost.stage_cost(graph, "concurrent", [[f"c{i}"] for i in range(4)]).ms
    merged = cost.stage_cost(graph, "merge", [[f"c{i}" for i in range(4)]]).ms
    assert min(all_at_once, merged) >= lb.work_ms


def test_chain_path_bound_is_the_sum() -> None:
    b = Builder("chain", (1, 32, 28, 28))
    b.conv("c1", "x", 32)
    b.conv("c2", "c1", 32, k=3)
    b.pool("p", "c2")
    graph, cost = b.build(), SimulatedCost()
    assert lower_bounds(graph, cost).path_ms == pytest.approx(
        sum(cost.op_ms(graph, n) for n in ("c1", "c2", "p")))


class ConstantCost:
    """A cost model with no formulas and no measurements behind it."""

    name, device = "const", "const"

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        return StageCost(float(max(len(g) for g in groups)), estimated=True)


def test_no_bound_without_formulas_or_measurements() -> None:
    graph = inception_block()
    with pytest.raises(NoBoundError, match="no lower bound is known"):
        lower_bounds(graph, ConstantCost())
    live = ConstantCost()
    live.name = "measured"
    with pytest.raises(NoBoundError, match="live GPU"):
        lower_bounds(graph, live)
    assert critical_path_ms(graph, ConstantCost()) == 4.0  # the reference: c1 -> c2 -> c3 -> cat


# ---- the sample models, every strategy and cost model -------------------------------------------
SPECS = ("simulated:h100", "profile:h100", "profile:h200")
SMALL = [("ios_demo", 1), ("squeezenet", 1), ("inception_v3", 1),
         pytest.param("inception_v3", 16, marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def traced_graphs():
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model

    cache: dict[tuple[str, int], OpGraph] = {}

    def get(name: str, batch: int) -> OpGraph:
        if (name, batch) not in cache:
            loaded = load_model(name, batch=batch)
            cache[name, batch] = trace_model(loaded.module, loaded.example_input,
                                             name=loaded.name).graph
        return cache[name, batch]

    return get


def _costs(spec: str, model: str, batch: int):
    from ios_core.cost import make_cost_model
    from ios_core.cost.profile_db import ProfileError

    try:
        cost = make_cost_model(spec, batch=batch)
    except ProfileError:
        pytest.skip(f"no {spec} at batch {batch}")
    mine = own_measurements(cost, model)
    return [cost] if mine is cost else [cost, mine]  # the merged profile is bounded too


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("model", "batch"), SMALL)
def test_sample_models_every_strategy(traced_graphs, model: str, batch: int, spec: str) -> None:
    pytest.importorskip("torch")
    graph = traced_graphs(model, batch)
    for cost in _costs(spec, model, batch):
        lb = lower_bounds(graph, cost)
        assert 0 < lb.path_ms and 0 < lb.work_ms
        for strategy in SEARCH_STRATEGIES:
            schedule = optimize(graph, strategy, cost)
            assert schedule.predicted_ms >= lb.lower_ms - EPS, (strategy, cost.name)
            fl = floors(graph, cost)
            for stage in schedule.stages:  # and each stage against its own bound
                assert stage.predicted_ms >= fl.stage_ms_bound(graph, stage.groups) - EPS


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["profile:h100", "profile:h200"])
@pytest.mark.parametrize("model", ["randwire", "nasnet"])
def test_zoo_models_shipped_schedules(traced_graphs, model: str, spec: str) -> None:
    """The big models' DP takes minutes on a CPU: their shipped GPU schedules, priced again."""
    from ios_core.cost.profile_db import PROFILE_DIR

    pytest.importorskip("torch")
    graph = traced_graphs(model, 1)
    device = spec.split(":")[1]
    for cost in _costs(spec, model, 1):
        lb = lower_bounds(graph, cost)
        for strategy in SEARCH_STRATEGIES:
            path = PROFILE_DIR / f"{device}-{model}-b1.{strategy}.schedule.json"
            if strategy in ("sequential", "greedy"):
                schedule = optimize(graph, strategy, cost)
            elif path.exists():
                shipped = Schedule.load(str(path))
                validate_schedule(shipped, graph, check_fingerprint=False)
                schedule = price_schedule(shipped, graph, cost)
            else:
                continue
            assert schedule.predicted_ms >= lb.lower_ms - EPS, (strategy, cost.name)
