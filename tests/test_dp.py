"""The IOS DP against brute force, its pruning, statistics and the optimize() front door."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from functools import cache

import networkx as nx
import numpy as np
import pytest

from ios_core.cost.analytic import SimulatedCost
from ios_core.ir.merge import merge_problem, merge_stage_problem
from ios_core.ir.schedule import Schedule, validate_schedule
from ios_core.search import SearchConfig, SearchObserver, dp, optimize, search_parts
from ios_core.search.batch import concurrent_batch
from ios_core.search.bitsets import bits, downsets
from ios_core.search.dp import solve_part
from ios_core.search.endings import index_part

from .toy_graphs import ToyCost, conv, graph_of, random_dag

DP_STRATEGIES = ("ios-merge", "ios-parallel", "ios-both")
BIG = 99  # r and s that prune nothing on these graphs


# ---- an independent brute force: every subset of every remaining set -------------------------
def stage_options(graph, names, sub, strategy, r, s, merge_concat=False):
    """Every legal (strategy, groups) running exactly ``sub``, by the definitions;
    ``merge_concat``: a merge stage may end in the concat of its convs."""
    order = {n: i for i, n in enumerate(names)}
    ops = sorted(sub, key=order.__getitem__)
    options = []
    dag = nx.DiGraph()
    dag.add_nodes_from(ops)
    dag.add_edges_from((p, n) for n in ops for p in graph.predecessors(n) if p in sub)
    comps = [sorted(c, key=order.__getitem__) for c in nx.weakly_connected_components(dag)]
    comps.sort(key=lambda c: order[c[0]])
    if strategy != "ios-merge" or len(ops) == 1:
        if max(map(len, comps)) <= r and len(comps) <= s:
            options.append(("concurrent", tuple(map(tuple, comps))))
    legal = merge_stage_problem if merge_concat else merge_problem
    if strategy != "ios-parallel" and len(ops) >= 2 and legal(graph, ops) is None:
        options.append(("merge", (tuple(ops),)))
    return options


def endings_brute(graph, names, state, r, s, strategy, merge_concat=False):
    """Every (strategy, ops) ending of ``state`` (a frozenset of names)."""
    found = []
    for k in range(1, len(state) + 1):
        for sub in itertools.combinations(sorted(state), k):
            sub = frozenset(sub)
            if any(c in state and c not in sub for x in sub for c in graph.consumers(x)):
                continue  # not closed under successors inside the state
            for option in stage_options(graph, names, sub, strategy, r, s, merge_concat):
                found.append((option, sub))
    return found


def brute_force(graph, strategy, cost, r=BIG, s=BIG, merge_concat=False) -> float:
    names = [n.name for n in graph.nodes]

    @cache
    def best(state: frozenset) -> float:
        if not state:
            return 0.0
        return min(
            best(state - sub) + cost.latency(*option)
            for option, sub in endings_brute(graph, names, state, r, s, strategy, merge_concat)
        )

    return best(frozenset(names))


def every_schedule(graph, strategy, cost):
    """Literally every schedule (no memo): yields the cost of each sequence of stages."""
    names = [n.name for n in graph.nodes]

    def walk(state, acc):
        if not state:
            yield acc
            return
        for option, sub in endings_brute(graph, names, state, BIG, BIG, strategy):
            yield from walk(state - sub, acc + cost.latency(*option))

    yield from walk(frozenset(names), 0.0)


def dp_cost(graph, strategy, cost, r=BIG, s=BIG):
    names = [n.name for n in graph.nodes]
    result = solve_part(graph, names, strategy, cost_fn(cost), r, s)
    return result


def cost_fn(cost):
    return lambda strategy, groups: cost.stage_cost(None, strategy, groups)


# ---- the DP equals brute force -------------------------------------------------------------
@pytest.mark.parametrize("chunk", range(4))
def test_dp_equals_brute_force_on_random_dags(chunk):
    """200+ seeded DAGs of 4..8 ops, every strategy, no pruning."""
    merges_seen = 0
    for seed in range(chunk * 55, (chunk + 1) * 55):
        rng = random.Random(seed)
        graph = random_dag(rng, rng.randint(4, 8))
        cost = ToyCost.random(graph, seed)
        for strategy in DP_STRATEGIES:
            result = dp_cost(graph, strategy, cost)
            expect = brute_force(graph, strategy, cost)
            assert result.cost_ms == pytest.approx(expect, abs=1e-9), (seed, strategy)
            again = sum(cost.latency(st, g) for st, g, _ in result.stages)
            assert again == pytest.approx(result.cost_ms, abs=1e-9)
            assert all(c.ms == pytest.approx(cost.latency(st, g)) for st, g, c in result.stages)
            merges_seen += sum(st == "merge" for st, _, _ in result.stages)
    assert merges_seen > 0  # the random graphs do exercise merge stages


def test_dp_equals_every_schedule_on_tiny_dags():
    """No memo at all in the reference: the minimum over literally every stage sequence."""
    for seed in range(30):
        rng = random.Random(1000 + seed)
        graph = random_dag(rng, rng.randint(3, 5))
        cost = ToyCost.random(graph, seed)
        for strategy in DP_STRATEGIES:
            expect = min(every_schedule(graph, strategy, cost))
            assert dp_cost(graph, strategy, cost).cost_ms == pytest.approx(expect, abs=1e-9)


@pytest.mark.parametrize("r,s", [(1, 1), (1, 3), (2, 2), (3, 1), (3, 3), (2, 8)])
def test_pruned_dp_equals_pruned_brute_force(r, s):
    for seed in range(25):
        rng = random.Random(5000 + seed)
        graph = random_dag(rng, rng.randint(4, 8))
        cost = ToyCost.random(graph, seed)
        for strategy in ("ios-parallel", "ios-both"):
            expect = brute_force(graph, strategy, cost, r, s)
            assert dp_cost(graph, strategy, cost, r, s).cost_ms == pytest.approx(expect, abs=1e-9)


@pytest.mark.parametrize("fans", [False, True])
def test_endings_are_exact_and_unique(fans):
    """Per state, the enumerated endings are the brute-force endings, each once (``fans``:
    graphs with concats of mergeable convs, searched with merge stages that end in them)."""
    for seed in range(40):
        rng = random.Random(7000 + seed)
        graph = random_dag(rng, rng.randint(3, 6) if fans else rng.randint(4, 8), fans=fans)
        names = [n.name for n in graph.nodes]
        if len(names) > 10:
            continue  # the brute force looks at every subset
        r, s = rng.randint(1, 4), rng.randint(1, 4)
        ix = index_part(graph, names, r, s, merges=True, merge_concat=fans)
        for state, sinks in downsets(ix.pred).items():
            if not state:
                continue
            named = frozenset(names[i] for i in bits(state))
            want = endings_brute(graph, names, named, r, s, "ios-both", merge_concat=fans)
            conc = ix.concurrent_endings(state, sinks)
            merge = ix.merge_endings(state, sinks)
            assert len(conc) == len(set(conc)) and len(merge) == len(set(merge))
            got = {("concurrent", m) for m in conc} | {("merge", m) for m in merge}
            mask = {n: 1 << i for i, n in enumerate(names)}
            assert got == {(opt[0], sum(mask[n] for n in sub)) for opt, sub in want}


def test_states_are_the_downsets():
    for seed in range(20):
        graph = random_dag(random.Random(seed), 7)
        names = [n.name for n in graph.nodes]
        ix = index_part(graph, names, 3, 8, merges=False)
        closed = [
            m for m in range(1 << len(names))
            if all(ix.pred[i] & m == ix.pred[i] for i in bits(m))
        ]
        assert sorted(downsets(ix.pred)) == closed


# ---- merge stages that end in their concat (SearchConfig.merge_concat) ------------------------
def _fan_graphs(base: int, count: int, most_ops: int = 10):
    """Seeded random DAGs with concats of mergeable convs, small enough for the brute force."""
    for seed in range(base, base + count):
        rng = random.Random(seed)
        graph = random_dag(rng, rng.randint(2, 5), fans=True)
        if len(graph.nodes) <= most_ops:
            yield seed, graph


def _joined(stages, graph) -> int:
    """Merge stages that end in a concat."""
    return sum(st == "merge" and graph[g[0][-1]].kind == "concat" for st, g, _ in stages)


@pytest.mark.parametrize("chunk", range(2))
def test_merge_concat_dp_equals_brute_force(chunk):
    joined = tried = 0
    for seed, graph in _fan_graphs(30000 + chunk * 60, 60):
        cost = ToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in ("ios-merge", "ios-both"):
            got = solve_part(graph, names, strategy, cost_fn(cost), BIG, BIG, merge_concat=True)
            expect = brute_force(graph, strategy, cost, merge_concat=True)
            assert got.cost_ms == pytest.approx(expect, abs=1e-9), (seed, strategy)
            plain = solve_part(graph, names, strategy, cost_fn(cost), BIG, BIG)
            assert got.cost_ms <= plain.cost_ms + 1e-12  # more endings never cost more
            joined += _joined(got.stages, graph)
            tried += 1
    assert tried > 40 and joined > 0  # the fans were searched and joined


def test_bounded_merge_concat_dp_finds_the_full_dps_schedule():
    joined = 0
    for seed, graph in _fan_graphs(31000, 80, most_ops=14):
        cost = BoundedToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in ("ios-merge", "ios-both"):
            full = solve_part(graph, names, strategy, cost_fn(cost), 3, 8, merge_concat=True)
            bounded = solve_part(graph, names, strategy, cost_fn(cost), 3, 8, bound_slack=0.9,
                                 merge_concat=True)
            assert _stages(bounded) == _stages(full), (seed, strategy)
            joined += _joined(full.stages, graph)
    assert joined > 0


def test_merge_concat_is_on_by_default_and_replayed_as_searched():
    graph = graph_of([conv("a", "x"), conv("b", "x", k=3), _concat("cat", ("b", "a"))])
    cost = ToyCost({"a": 1.0, "b": 1.0, "cat": 1.0})
    sched = optimize(graph, "ios-merge", cost)
    assert [(st.strategy, st.groups) for st in sched.stages] == [("merge", (("a", "b", "cat"),))]
    validate_schedule(sched, graph)
    assert SearchConfig.from_search(sched.search).merge_concat is True
    old = optimize(graph, "ios-merge", cost, SearchConfig(merge_concat=False))
    assert [st.groups for st in old.stages] == [(("a", "b"),), (("cat",),)]
    del old.search.stats["merge_concat"]  # a schedule searched before the option existed
    assert SearchConfig.from_search(old.search).merge_concat is False


def test_part_order_is_recorded_and_replayed():
    graph = random_dag(random.Random(5), 12)
    cost = ToyCost.random(graph, 5)
    tight = SearchConfig(max_part_ops=3)
    level = optimize(graph, "ios-both", cost, tight)
    assert level.search.stats["part_order"] == "level"  # the default
    assert SearchConfig.from_search(level.search).part_order == "level"
    topo = optimize(graph, "ios-both", cost, replace(tight, part_order="topo"))
    validate_schedule(level, graph)
    validate_schedule(topo, graph)
    del topo.search.stats["part_order"]  # searched before the option existed: program order
    assert SearchConfig.from_search(topo.search).part_order == "topo"
    with pytest.raises(ValueError, match="part_order must be one of"):
        SearchConfig(part_order="bfs")


# ---- the multi-root group IOS missed --------------------------------------------------------
def multi_root_graph():
    a, b = conv("a", "x", k=3), conv("b", "x", k=1, act="none")
    return graph_of([a, b, conv("c", "x", k=5), _concat("d", ("a", "b"))])


def _concat(name, ins):
    from ios_core.ir.graph import OpNode

    return OpNode(name, "concat", ins, (1, 8 * len(ins), 8, 8), {"dim": 1})


def test_multi_root_ending_is_found():
    """{a, b, d} with a→d, b→d is one group of two roots: a legal, enumerated ending."""
    graph = multi_root_graph()
    names = [n.name for n in graph.nodes]
    ix = index_part(graph, names, 3, 8, merges=False)
    full = (1 << len(names)) - 1
    sinks = downsets(ix.pred)[full]
    abd = 0b1011
    assert abd in ix.concurrent_endings(full, sinks)
    assert ix.group_names(abd) == (("a", "b", "d"),)
    # a cost that rewards few stages and long groups makes it the best last stage
    cost = ToyCost({"a": 1.0, "b": 1.0, "c": 3.0, "d": 1.0}, overhead=5.0)
    result = dp_cost(graph, "ios-parallel", cost, r=3, s=8)
    assert [stage[:2] for stage in result.stages] == [("concurrent", (("a", "b", "d"), ("c",)))]


# ---- optimize(): pruning, validity, never worse than sequential ------------------------------
@pytest.mark.parametrize("r,s", list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_pruned_schedules_are_valid_and_beat_sequential(r, s):
    config = SearchConfig(r=r, s=s, max_part_ops=6)
    for seed in range(12):
        rng = random.Random(9000 + seed)
        graph = random_dag(rng, rng.randint(4, 8))
        cost = ToyCost.random(graph, seed)
        seq = optimize(graph, "sequential", cost, config)
        for strategy in (*DP_STRATEGIES, "greedy"):
            sched = optimize(graph, strategy, cost, config)
            validate_schedule(sched, graph, check_fingerprint=True)
            if strategy != "greedy":
                assert sched.predicted_ms <= seq.predicted_ms + 1e-9
                for st in sched.stages:
                    assert len(st.groups) <= s
                    assert st.strategy == "merge" or max(map(len, st.groups)) <= r


def test_optimize_records_model_target_and_stats():
    graph = random_dag(random.Random(3), 8)
    cost = ToyCost.random(graph, 3)
    sched = optimize(graph, "ios-both", cost, SearchConfig(r=2, s=3), model_name="toy-net")
    assert sched.model.name == "toy-net"
    assert sched.model.fingerprint == graph.fingerprint()
    assert sched.model.input_shape == graph.inputs[0].shape
    assert sched.target.device == "toy-device" and sched.target.batch == 1
    assert (sched.search.r, sched.search.s, sched.search.cost) == (2, 3, "toy")
    stats = sched.search.stats
    assert stats["states"] == sum(p["states"] for p in stats["parts"]) > 0
    assert stats["transitions"] >= stats["states"] - len(stats["parts"])
    assert stats["stages_costed"] == len(set(cost.calls))  # each distinct stage costed once
    assert stats["cache_hits"] >= 0 and stats["seconds"] >= 0
    for st in sched.stages:
        assert st.predicted_ms == pytest.approx(cost.latency(st.strategy, st.groups))
    assert Schedule.loads(sched.dumps()) == sched  # JSON round trip


def test_sequential_and_greedy_shapes():
    graph = multi_root_graph()
    cost = ToyCost({"a": 1.0, "b": 1.0, "c": 3.0, "d": 1.0})
    seq = optimize(graph, "sequential", cost)
    assert [st.groups for st in seq.stages] == [(("a",),), (("b",),), (("c",),), (("d",),)]
    greedy = optimize(graph, "greedy", cost, SearchConfig(stream_cap=2))
    assert [st.groups for st in greedy.stages] == [(("a",), ("b",)), (("c",), ("d",))]
    for sched in (seq, greedy):
        assert all(st.strategy == "concurrent" for st in sched.stages)


def test_r_or_s_below_one_is_rejected():
    with pytest.raises(ValueError, match="r must be an integer of at least 1"):
        SearchConfig(r=0)
    with pytest.raises(ValueError, match="s must be an integer of at least 1"):
        SearchConfig(s=0)
    graph = multi_root_graph()
    with pytest.raises(ValueError, match="r and s must be at least 1"):
        solve_part(graph, [n.name for n in graph.nodes], "ios-both", lambda *a: None, 3, 0)


def test_unknown_strategy_is_rejected():
    graph = multi_root_graph()
    with pytest.raises(ValueError, match="unknown strategy"):
        optimize(graph, "ios-fast", ToyCost({}))


def test_deterministic():
    graph = random_dag(random.Random(11), 8)
    runs = [optimize(graph, "ios-both", ToyCost.random(graph, 1)).stages for _ in range(2)]
    assert runs[0] == runs[1]


def test_observer_sees_parts_progress_and_steps():
    class Recorder(SearchObserver):
        def __init__(self):
            self.events = []

        def on_part_start(self, part_index, n_parts, n_ops):
            self.events.append(("start", part_index, n_parts, n_ops))

        def on_progress(self, states_done, states_total, part_index, n_parts):
            self.events.append(("progress", states_done, states_total))

        def on_part_end(self, part_index, stats):
            self.events.append(("end", part_index, stats["states"]))

        def on_transition(self, part_index, remaining, strategy, groups, stage_ms, total_ms):
            self.events.append(("transition", remaining, strategy, groups))

        def on_state(self, part_index, remaining, cost_ms, best):
            self.events.append(("state", remaining, cost_ms, best))

    graph = multi_root_graph()
    obs = Recorder()
    sched = optimize(graph, "ios-both", ToyCost.random(graph, 0), observer=obs)
    kinds = [e[0] for e in obs.events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("transition") == sched.search.stats["transitions"]
    assert kinds.count("state") == sched.search.stats["states"] - 1  # the empty state is free
    last_state = [e for e in obs.events if e[0] == "state"][-1]
    assert last_state[1] == ("a", "b", "c", "d")
    assert math.isclose(last_state[2], sched.predicted_ms)


# ---- branch and bound (SearchConfig.bound_slack) ---------------------------------------------
class BoundedToyCost(ToyCost):
    """ToyCost whose merges also take at least their slowest op alone: the DP's bound holds."""

    def latency(self, strategy, groups):
        if strategy != "merge":
            return super().latency(strategy, groups)
        ops = [self.weights[n] for g in groups for n in g]
        return max(ops) + 0.2 * (sum(ops) - max(ops)) + self.overhead


def _stages(result):
    return [(st, g) for st, g, _ in result.stages]


@pytest.mark.parametrize("slack", [1.0, 0.9, 0.5])
def test_bounded_dp_finds_the_full_dps_schedule(slack):
    costed = {"full": 0, "bounded": 0}
    for seed in range(60):
        rng = random.Random(12000 + seed)
        graph = random_dag(rng, rng.randint(4, 9))
        cost = BoundedToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in DP_STRATEGIES:
            full = solve_part(graph, names, strategy, cost_fn(cost), 3, 8)
            bounded = solve_part(graph, names, strategy, cost_fn(cost), 3, 8, bound_slack=slack)
            assert bounded.cost_ms == pytest.approx(full.cost_ms, abs=1e-12), (seed, strategy)
            assert _stages(bounded) == _stages(full), (seed, strategy)  # ties broken alike
            costed["full"] += full.stats["stages_costed"]
            costed["bounded"] += bounded.stats["stages_costed"]
    assert costed["bounded"] < costed["full"]  # and it did skip stages


@pytest.mark.parametrize("r,s", [(1, 3), (2, 2), (3, 8)])
def test_bounded_dp_equals_brute_force(r, s):
    for seed in range(25):
        rng = random.Random(13000 + seed)
        graph = random_dag(rng, rng.randint(4, 8))
        cost = BoundedToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in DP_STRATEGIES:
            expect = brute_force(graph, strategy, cost, r, s)
            got = solve_part(graph, names, strategy, cost_fn(cost), r, s, bound_slack=0.9)
            assert got.cost_ms == pytest.approx(expect, abs=1e-9), (seed, strategy)


def test_bounded_search_prunes_and_records_its_slack():
    graph = random_dag(random.Random(21), 9)
    cost = BoundedToyCost.random(graph, 21)
    sched = optimize(graph, "ios-both", cost, SearchConfig(bound_slack=0.9))
    full = optimize(graph, "ios-both", BoundedToyCost.random(graph, 21),
                    SearchConfig(bound_slack=None))
    assert sched.stages == full.stages
    stats = sched.search.stats
    assert stats["bound_slack"] == 0.9 and stats["transitions_pruned"] > 0
    assert stats["stages_costed"] < full.search.stats["stages_costed"]
    assert SearchConfig.from_search(sched.search).bound_slack == 0.9
    assert SearchConfig.from_search(full.search).bound_slack is None
    assert SearchConfig().bound_slack == 0.9  # the default


@pytest.mark.parametrize("slack", [0, -0.5, 1.5, "0.9"])
def test_bound_slack_outside_0_1_is_rejected(slack):
    with pytest.raises(ValueError, match="bound_slack must be in"):
        SearchConfig(bound_slack=slack)


def test_bounded_search_still_shows_every_transition():
    class Transitions(SearchObserver):
        def __init__(self):
            self.seen = []

        def on_transition(self, part_index, remaining, strategy, groups, stage_ms, total_ms):
            self.seen.append(stage_ms)

    graph = random_dag(random.Random(5), 8)
    cost = BoundedToyCost.random(graph, 5)
    obs = Transitions()
    sched = optimize(graph, "ios-both", cost, SearchConfig(bound_slack=0.9), observer=obs)
    assert len(obs.seen) == sched.search.stats["transitions"]
    assert all(ms > 0 for ms in obs.seen)


def test_cli_bound_slack_option(tmp_path, capsys):
    from ios_core.cli import main as cli

    runs = {}
    for slack in ("none", "0.9"):
        out = tmp_path / f"{slack}.json"
        assert cli.main(["optimize", "--model", "ios_demo", "--bound-slack", slack,
                         "--out", str(out), "-q"]) == 0
        runs[slack] = Schedule.load(str(out))
    assert runs["none"].search.stats["bound_slack"] is None
    assert runs["0.9"].search.stats["bound_slack"] == 0.9
    assert runs["none"].stages == runs["0.9"].stages
    for bad in ("fast", "1.5"):
        assert cli.main(["optimize", "--model", "ios_demo", "--bound-slack", bad,
                         "--out", str(tmp_path / "x.json"), "-q"]) == 2
        assert "bound" in capsys.readouterr().err


def test_teaching_path_shows_merge_stages_that_end_in_their_concat():
    class Merges(SearchObserver):
        def __init__(self):
            self.seen = []

        def on_transition(self, part_index, remaining, strategy, groups, stage_ms, total_ms):
            if strategy == "merge":
                self.seen.append(groups)

    graph = graph_of([conv("a", "x"), conv("b", "x", k=3), _concat("cat", ("b", "a"))])
    obs = Merges()
    optimize(graph, "ios-both", BoundedToyCost({"a": 1.0, "b": 1.0, "cat": 1.0}), observer=obs)
    assert (("a", "b", "cat"),) in obs.seen and (("a", "b"),) in obs.seen


# ---- the DP on arrays (search/vectorized.py) equals the plain DP --------------------------------
@pytest.fixture
def arrays_always(monkeypatch):
    """Solve every part on arrays, however small (the search leaves parts under
    ``dp.ARRAYS_FROM`` states to the plain DP, which is faster there)."""
    monkeypatch.setattr(dp, "ARRAYS_FROM", 0)


class ToyBatch:
    """ToyCost's concurrent latencies in bulk, folded as ``ToyCost.latency`` sums: ties abound
    (weights of three decimals, stages of equal sums), which is what the tie rule must survive."""

    def __init__(self, cost: ToyCost, names, groups):
        self.cost = cost
        self.sums = np.array([sum(cost.weights[names[i]] for i in bits(g)) for g in groups])
        self._alone = np.array([cost.latency("concurrent", [[names[i] for i in bits(g)]])
                                for g in groups])

    def alone(self):
        return self._alone

    def start(self, groups):
        zero = np.zeros(len(groups))
        return self.add((zero, zero), groups)

    def add(self, sums, groups):
        longest, total = sums
        s = self.sums[groups]
        return np.maximum(longest, s), total + s

    def finish(self, sums, c):
        longest, total = sums
        return longest + 0.3 * (total - longest) + self.cost.overhead


def toy_batch(cost):
    return lambda names, groups: ToyBatch(cost, names, groups)


def _solve_both(graph, strategy, cost, batch, r, s, slack, merge_concat=False):
    names = [n.name for n in graph.nodes]
    kwargs = dict(bound_slack=slack, merge_concat=merge_concat)
    plain = solve_part(graph, names, strategy, cost_fn(cost), r, s, **kwargs)
    fast = solve_part(graph, names, strategy, cost_fn(cost), r, s, batch=batch, **kwargs)
    return plain, fast


def _sweep(seeds, r, s):
    """The arrays against the plain DP: same stages (ties broken alike), same cost to the bit,
    same counts, with and without the bound; ToyCost's ties and SimulatedCost's float sums."""
    for seed in seeds:
        rng = random.Random(40000 + seed)
        graph = random_dag(rng, rng.randint(4, 9), fans=seed % 2 == 0)
        toy = BoundedToyCost.random(graph, seed)
        sim = SimulatedCost("h100")
        for strategy in DP_STRATEGIES:
            for cost, batch in ((toy, toy_batch(toy)), (sim, concurrent_batch(sim, graph))):
                for slack in (None, 0.9):
                    plain, fast = _solve_both(graph, strategy, _Priced(cost, graph), batch, r, s,
                                              slack, merge_concat=seed % 3 == 0)
                    assert fast.stats["engine"] == "numpy", (seed, strategy)
                    assert _stages(fast) == _stages(plain), (seed, strategy, slack)
                    assert fast.cost_ms == plain.cost_ms
                    assert fast.stats["transitions"] == plain.stats["transitions"]
                    if slack is None:  # the full DP costs each distinct stage once
                        assert fast.stats["stages_costed"] == plain.stats["stages_costed"]


def test_vectorized_dp_picks_the_plain_dps_stages(arrays_always):
    _sweep(range(6), 3, 8)


@pytest.mark.slow  # minutes on a 2-core machine: 1,800 plain and vectorised DPs per r, s
@pytest.mark.parametrize("r,s", [(1, 1), (2, 2), (3, 3), (3, 8), (BIG, BIG)])
def test_vectorized_dp_picks_the_plain_dps_stages_everywhere(r, s, arrays_always):
    _sweep(range(30), r, s)


def test_vectorized_dp_equals_brute_force(arrays_always):
    for seed in range(40):
        rng = random.Random(41000 + seed)
        graph = random_dag(rng, rng.randint(4, 8))
        cost = ToyCost.random(graph, seed)
        names = [n.name for n in graph.nodes]
        for strategy in DP_STRATEGIES:
            got = solve_part(graph, names, strategy, cost_fn(cost), BIG, BIG,
                             batch=toy_batch(cost))
            assert got.stats["engine"] == "numpy"
            assert got.cost_ms == pytest.approx(brute_force(graph, strategy, cost), abs=1e-9)


class _Priced:
    """A cost model as solve_part's callable sees it, for any model (graph bound)."""

    def __init__(self, cost, graph):
        self.cost, self.graph = cost, graph
        self.weights = getattr(cost, "weights", None)

    def stage_cost(self, _graph, strategy, groups):
        return self.cost.stage_cost(self.graph, strategy, groups)


def test_a_merge_below_the_bound_sends_the_part_to_the_plain_dp(arrays_always):
    """ToyCost's merges (0.6 x their ops) can cost less than 0.9 x an op alone: the bound does
    not hold, so the arrays give way to the plain DP and its (bounded) answer."""
    fell_back = 0
    for seed in range(20):
        graph = random_dag(random.Random(42000 + seed), 7)
        cost = ToyCost.random(graph, seed)
        plain, fast = _solve_both(graph, "ios-both", cost, toy_batch(cost), 3, 8, 0.9)
        assert _stages(fast) == _stages(plain) and fast.cost_ms == plain.cost_ms
        fell_back += fast.stats["engine"] == "python"
    assert fell_back > 0


@pytest.mark.slow  # 15 s: every concurrent ending of six Inception V3 parts
def test_simulated_batch_is_stage_cost_to_the_bit():
    """Every concurrent ending of Inception V3's parts: the bulk latency is the scalar one."""
    from ios_core.frontend.models import load_model
    from ios_core.frontend.tracing import trace
    from ios_core.search.vectorized import stage_groups, transitions

    loaded = load_model("inception_v3")
    graph = trace(loaded.module, loaded.example_input)
    cost = SimulatedCost("h100")
    checked = 0
    for names in search_parts(graph, SearchConfig())[:6]:
        ix = index_part(graph, names, 3, 8, merges=False)
        groups = [g for table in ix.groups_by_top for g, _ in table]
        batch = concurrent_batch(cost, graph)(names, groups)
        tr = transitions(ix, downsets(ix.pred), True, False, batch, lambda m: 0.0)
        for block in tr.blocks:
            endings = tr.states[block.state] ^ tr.states[block.rest]
            for mask, ms in zip(endings.tolist(), block.latency.tolist(), strict=True):
                want = cost.stage_cost(graph, "concurrent", stage_groups(ix, mask, False)).ms
                assert ms == want, (names, mask)
                checked += 1
    assert checked > 5_000  # the first six parts of Inception V3 hold 6,276 endings


def test_optimize_uses_the_arrays_for_the_simulated_device_and_not_for_steps(arrays_always):
    graph = random_dag(random.Random(8), 9)
    cost = SimulatedCost("h100")
    fast = optimize(graph, "ios-both", cost)
    assert {p["engine"] for p in fast.search.stats["parts"]} == {"numpy"}

    class Steps(SearchObserver):
        def on_state(self, part_index, remaining, cost_ms, best):
            pass

    slow = optimize(graph, "ios-both", cost, observer=Steps())
    assert {p["engine"] for p in slow.search.stats["parts"]} == {"python"}
    assert slow.stages == fast.stages


def test_a_part_wider_than_int64_runs_the_plain_dp():
    from ios_core.search.vectorized import MAX_OPS

    chain = [conv("c0", "x")] + [conv(f"c{i}", f"c{i - 1}") for i in range(1, MAX_OPS + 3)]
    graph = graph_of(chain)
    config = SearchConfig(max_part_ops=MAX_OPS + 3, max_part_states=1000)
    sched = optimize(graph, "ios-both", SimulatedCost("h100"), config)
    [part] = sched.search.stats["parts"]
    assert part["ops"] > MAX_OPS and part["engine"] == "python"
    validate_schedule(sched, graph)


# ---- progress with an ETA, and stopping with the best schedule so far --------------------------
def test_search_progress_counts_every_state_and_gives_an_eta():
    class Watch(SearchObserver):
        def __init__(self):
            self.seen = []

        def on_search_progress(self, progress):
            self.seen.append(progress)

    graph = random_dag(random.Random(2), 12)
    obs = Watch()
    sched = optimize(graph, "ios-both", ToyCost.random(graph, 2), SearchConfig(max_part_ops=4),
                     observer=obs)
    stats = sched.search.stats
    last = obs.seen[-1]
    assert last.states_done == last.states_total == stats["states"] == stats["states_total"]
    assert last.part_index == last.n_parts - 1 == len(stats["parts"]) - 1
    assert last.transitions == stats["transitions"]
    assert last.stages_costed == stats["stages_costed"]
    assert last.eta_s == 0.0 and last.fraction == 1.0
    done = [p.states_done for p in obs.seen]
    assert done == sorted(done) and all(p.eta_s is None or p.eta_s >= 0 for p in obs.seen)
    assert "states" in last.describe() and "left" in last.describe()


@pytest.mark.parametrize("cost_of", [lambda g: ToyCost.random(g, 4), lambda g: SimulatedCost()],
                         ids=["plain", "arrays"])
def test_a_stopped_search_keeps_its_solved_parts_and_finishes_greedily(cost_of, arrays_always):
    class StopAfter(SearchObserver):
        def __init__(self, parts):
            self.parts = parts
            self.ended = 0

        def on_part_end(self, part_index, stats):
            self.ended += 1

        def should_stop(self):
            return self.ended >= self.parts

    graph = random_dag(random.Random(4), 14)
    config = SearchConfig(max_part_ops=4)
    full = optimize(graph, "ios-both", cost_of(graph), config)
    n_parts = len(full.search.stats["parts"])
    assert n_parts >= 3
    sched = optimize(graph, "ios-both", cost_of(graph), config, observer=StopAfter(2))
    validate_schedule(sched, graph)  # every op once, in a valid order
    stats = sched.search.stats
    assert stats["stopped"] is True and stats["parts_solved"] == 2 == len(stats["parts"])
    # the states solved count the part under way: more than the finished parts', not all
    assert stats["states"] <= stats["states_solved"] < stats["states_total"]
    solved = sum(len(p) for p in search_parts(graph, config)[:2])
    dp_ops = dp_stages = 0
    while dp_ops < solved:  # the solved parts' stages are the full search's
        assert sched.stages[dp_stages] == full.stages[dp_stages]
        dp_ops += sum(len(g) for g in sched.stages[dp_stages].groups)
        dp_stages += 1
    assert stats["greedy_stages"] == len(sched.stages) - dp_stages > 0
    assert all(len(g) == 1 for st in sched.stages[dp_stages:] for g in st.groups)
    never = optimize(graph, "ios-both", cost_of(graph), config, observer=StopAfter(99))
    assert never.stages == full.stages and "stopped" not in never.search.stats


# ---- the fitted envelope of a measured search (search/envelope.py) ------------------------------
class CalibratedTruth:
    """A stand-in GPU the envelope holds on: each part alone takes 0.5-2x the simulated device's
    time, and a stage of several parts 1.0-1.1x the simulator's estimate calibrated by its parts,
    so a factor of 0.9 times the lowest ratio seen never exceeds a stage's own ratio. The DP's
    branch and bound holds at slack 0.2 (a stage's parts differ by at most 4x, its ratio 1.1x)."""

    name, device, measures = "truth", "truth-device", True

    def __init__(self, graph, seed):
        self.sim, self.seed, self.calls = SimulatedCost("h100"), seed, 0

    def _draw(self, what, lo, hi):
        return lo + (hi - lo) * random.Random(f"{self.seed}{what}").random()

    def _alone(self, graph, group):
        sim = self.sim.stage_cost(graph, "concurrent", (tuple(group),)).ms
        return sim * self._draw(group, 0.5, 2.0), sim

    def stage_cost(self, graph, strategy, groups):
        from ios_core.cost.base import StageCost, calibrated

        self.calls += 1
        groups = tuple(tuple(g) for g in groups)
        parts = groups if strategy == "concurrent" else tuple(
            (n,) for n in groups[0] if graph[n].kind != "concat")
        if strategy == "concurrent" and len(groups) == 1:
            return StageCost(self._alone(graph, groups[0])[0])
        alone = [self._alone(graph, p) for p in parts]
        cal = calibrated(self.sim.stage_cost(graph, strategy, groups).ms,
                         [a for a, _ in alone], [s for _, s in alone])
        return StageCost(cal * self._draw((strategy, groups), 1.0, 1.1))


def test_envelope_that_holds_finds_the_full_dps_schedule_with_fewer_stages():
    from ios_core.search.envelope import Envelope

    sim = SimulatedCost("h100")
    pruned = costed_full = costed_env = 0
    for seed in range(40):
        rng = random.Random(31000 + seed)
        graph = random_dag(rng, rng.randint(4, 8), fans=seed % 2 == 0)
        names = [n.name for n in graph.nodes]
        if len(names) > 11:  # fans add ops; the unbounded DP of 20 ops takes seconds
            continue

        def prior(kind, groups, graph=graph):
            return sim.stage_cost(graph, kind, groups).ms

        for strategy in DP_STRATEGIES:
            truth = CalibratedTruth(graph, seed)

            def measure(kind, groups, graph=graph, truth=truth):
                return truth.stage_cost(graph, kind, groups)

            full = solve_part(graph, names, strategy, measure, 3, 8, merge_concat=True)
            env = solve_part(graph, names, strategy, measure, 3, 8,
                             bound_slack=0.2, merge_concat=True,
                             envelope=Envelope(margin=0.9, min_samples=2), prior=prior)
            assert env.cost_ms == pytest.approx(full.cost_ms, rel=1e-12), (seed, strategy)
            pruned += env.stats["envelope_pruned"]
            costed_full += full.stats["stages_costed"]
            costed_env += env.stats["stages_costed"]
    assert pruned > 0 and costed_env < costed_full


def test_envelope_only_for_cost_models_that_measure():
    graph = random_dag(random.Random(5), 9)
    measured = optimize(graph, "ios-both", CalibratedTruth(graph, 5), SearchConfig())
    simulated = optimize(graph, "ios-both", SimulatedCost("h100"), SearchConfig())
    assert measured.search.stats["envelope_used"] and "envelope_pruned" in measured.search.stats
    assert not simulated.search.stats["envelope_used"]
    assert "envelope_pruned" not in simulated.search.stats
    for sched in (measured, simulated):  # the knob is recorded as set, and replayed
        assert sched.search.stats["envelope_margin"] == SearchConfig().envelope_margin == 0.9
        assert SearchConfig.from_search(sched.search) == SearchConfig()
    off = optimize(graph, "ios-both", CalibratedTruth(graph, 5), SearchConfig(envelope_margin=None))
    assert not off.search.stats["envelope_used"]
    assert SearchConfig.from_search(off.search).envelope_margin is None
    unbounded = optimize(graph, "ios-both", CalibratedTruth(graph, 5),
                         SearchConfig(bound_slack=None))
    assert not unbounded.search.stats["envelope_used"]  # it works inside the bound only


def test_envelope_quantile_is_the_order_statistic_of_the_ratios_seen():
    import math

    from ios_core.search.envelope import Envelope

    rng = random.Random(7)
    for q in (0.0, 0.01, 0.05, 0.5, 0.9):
        env = Envelope(margin=0.9, min_samples=1, quantile=q)
        seen = []
        for _ in range(400):
            ratio = rng.lognormvariate(0, 0.3)
            env.observe(False, calibrated=2.0, measured=2.0 * ratio)
            seen.append(2.0 * ratio / 2.0)
            expect = sorted(seen)[math.floor(q * (len(seen) - 1))]
            assert env.factor(False) == pytest.approx(0.9 * expect, rel=1e-12), (q, len(seen))
        if q == 0.0:  # the default: the smallest ratio, as the envelope always fitted
            assert env.factor(False) == pytest.approx(0.9 * min(seen), rel=1e-12)
    with pytest.raises(ValueError, match="quantile"):
        Envelope(quantile=1.0)


def test_a_quantile_envelope_times_fewer_stages_where_it_holds_and_is_replayed():
    graphs = [random_dag(random.Random(41000 + seed), 9, fans=True) for seed in range(6)]
    fewer = 0
    for seed, graph in enumerate(graphs):
        lowest = optimize(graph, "ios-both", CalibratedTruth(graph, seed), SearchConfig())
        config = SearchConfig(envelope_quantile=0.25)
        quantile = optimize(graph, "ios-both", CalibratedTruth(graph, seed), config)
        # every stage's ratio is 1.0-1.1 here: 0.9 x any quantile of them stays below each one
        assert quantile.predicted_ms == pytest.approx(lowest.predicted_ms, rel=1e-12)
        stats = quantile.search.stats
        assert stats["stages_costed"] <= lowest.search.stats["stages_costed"]
        fewer += stats["stages_costed"] < lowest.search.stats["stages_costed"]
        assert stats["envelope_quantile"] == 0.25
        assert SearchConfig.from_search(quantile.search) == config
    assert fewer > 0


@pytest.mark.parametrize("q", [-0.1, 1.0, "0.1"])
def test_envelope_quantile_outside_0_1_is_rejected(q):
    with pytest.raises(ValueError, match="envelope_quantile must be in"):
        SearchConfig(envelope_quantile=q)


@pytest.mark.parametrize("margin", [0, 1.5, "0.9"])
def test_envelope_margin_outside_0_1_is_rejected(margin):
    with pytest.raises(ValueError, match="envelope_margin must be in"):
        SearchConfig(envelope_margin=margin)


def test_envelope_needs_a_prior():
    from ios_core.search.envelope import Envelope

    graph = random_dag(random.Random(6), 5)
    names = [n.name for n in graph.nodes]
    with pytest.raises(ValueError, match="needs a prior"):
        solve_part(graph, names, "ios-both", cost_fn(ToyCost.random(graph, 6)), 3, 8,
                   bound_slack=0.9, envelope=Envelope())
