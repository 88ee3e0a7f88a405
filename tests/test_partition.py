"""Cut points, blocks and parts."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
from ios_core.ir.partition import count_downsets, cut_points, find_blocks, split_block, split_parts

from .toy_graphs import conv, graph_of, random_dag

X = TensorSpec("x", (1, 8, 8, 8))


def act(name, *ins):
    return OpNode(name, "act" if len(ins) <= 1 else "add", ins or ("x",), X.shape)


def inception_like() -> OpGraph:
    """stem chain → module (3 branches, concat) → module → head chain."""
    nodes = [act("s1"), act("s2", "s1")]
    for m, src in (("m1", "s2"), ("m2", "m1_cat")):
        nodes += [act(f"{m}_a", src), act(f"{m}_b1", src), act(f"{m}_b2", f"{m}_b1"),
                  act(f"{m}_c", src), act(f"{m}_cat", f"{m}_a", f"{m}_b2", f"{m}_c")]
    nodes += [act("h1", "m2_cat"), act("h2", "h1")]
    return OpGraph("inc", (X,), tuple(nodes), ("h2",))


def dominators_of_sink(graph: OpGraph) -> list[str]:
    """Brute force: ops whose removal disconnects the inputs from the outputs."""
    g = graph.to_networkx()
    g.add_edges_from(("SRC", s.name) for s in graph.inputs)
    g.add_edges_from(("SRC", n.name) for n in graph.nodes if not n.inputs)
    g.add_edges_from((o, "SNK") for o in graph.outputs)
    g.add_edges_from((n.name, "SNK") for n in graph.nodes if not graph.consumers(n.name))
    found = []
    for node in graph.nodes:
        h = g.copy()
        h.remove_node(node.name)
        if not nx.has_path(h, "SRC", "SNK"):
            found.append(node.name)
    return found


def test_cut_points_of_an_inception_like_net():
    g = inception_like()
    assert cut_points(g) == ["s1", "s2", "m1_cat", "m2_cat", "h1", "h2"]
    assert find_blocks(g) == [
        ["s1", "s2"],  # a chain of one-op blocks is one block
        ["m1_a", "m1_b1", "m1_b2", "m1_c", "m1_cat"],
        ["m2_a", "m2_b1", "m2_b2", "m2_c", "m2_cat"],
        ["h1", "h2"],
    ]


def test_cut_points_equal_brute_force_on_random_dags():
    for seed in range(150):
        rng = random.Random(seed)
        g = random_dag(rng, rng.randint(3, 12))
        assert cut_points(g) == dominators_of_sink(g), seed


def test_a_skip_connection_removes_cut_points():
    nodes = [act("a"), act("b", "a"), act("c", "b"), act("d", "c", "a")]
    g = OpGraph("skip", (X,), tuple(nodes), ("d",))
    assert cut_points(g) == ["a", "d"]  # a → d bypasses b and c


def test_an_extra_output_bypasses_later_ops():
    nodes = [act("a"), act("b", "a"), act("c", "b")]
    g = OpGraph("aux", (X,), tuple(nodes), ("a", "c"))  # a is also returned
    assert cut_points(g) == ["a"]  # the edge a → output bypasses b and c
    assert find_blocks(g) == [["a"], ["b", "c"]]
    assert dominators_of_sink(g) == ["a"]


def test_blocks_cover_the_graph_in_order():
    for seed in range(50):
        g = random_dag(random.Random(seed), 10)
        flat = [n for block in find_blocks(g) for n in block]
        assert flat == [n.name for n in g.nodes]


def test_parts_respect_both_bounds_and_order():
    for seed in range(40):
        rng = random.Random(100 + seed)
        g = random_dag(rng, 14)
        max_ops, max_states = rng.randint(1, 8), rng.choice((None, 2, 5, 20))
        parts = split_parts(g, max_ops, max_states)
        assert [n for p in parts for n in p] == [n.name for n in g.nodes]
        blocks = find_blocks(g)
        block_of = {n: i for i, b in enumerate(blocks) for n in b}
        for part in parts:
            assert 1 <= len(part) <= max_ops
            assert len({block_of[n] for n in part}) == 1  # a part never spans blocks
            if max_states is not None and len(part) > 1:
                assert count_downsets(g, part, max_states) <= max_states


def test_level_parts_are_a_topological_order_within_the_bounds():
    for seed in range(40):
        rng = random.Random(300 + seed)
        g = random_dag(rng, 14)
        max_ops, max_states = rng.randint(1, 8), rng.choice((None, 2, 5, 20))
        parts = split_parts(g, max_ops, max_states, order="level")
        flat = [n for p in parts for n in p]
        assert sorted(flat) == sorted(n.name for n in g.nodes)
        done: set[str] = set()
        for name in flat:  # every op after all it reads
            assert all(p in done for p in g.predecessors(name)), (seed, name)
            done.add(name)
        for part in parts:
            assert 1 <= len(part) <= max_ops
            if max_states is not None and len(part) > 1:
                assert count_downsets(g, part, max_states) <= max_states


def test_level_parts_keep_parallel_branches_together():
    # two chains of three written one after the other; parts of at most 2 ops
    g = graph_of([conv("a0", "x"), conv("a1", "a0"), conv("a2", "a1"),
                  conv("b0", "x"), conv("b1", "b0"), conv("b2", "b1")])
    assert split_parts(g, 2) == [["a0", "a1"], ["a2", "b0"], ["b1", "b2"]]
    assert split_parts(g, 2, order="level") == [["a0", "b0"], ["a1", "b1"], ["a2", "b2"]]
    with pytest.raises(ValueError, match="order must be one of"):
        split_parts(g, 2, order="bfs")


def test_parts_are_the_longest_fits():
    chain = [conv(f"c{i}", f"c{i-1}" if i else "x") for i in range(7)]
    wide = graph_of([*(conv(f"w{i}", "x") for i in range(4))])
    g = graph_of(chain)
    names = [n.name for n in g.nodes]
    assert split_block(g, names, 3) == [names[:3], names[3:6], names[6:]]
    # four independent ops: 2**k downsets for k ops, so a bound of 8 states fits three
    wide_names = [n.name for n in wide.nodes]
    assert count_downsets(wide, wide_names, 100) == 16
    assert split_block(wide, wide_names, 50, 8) == [wide_names[:3], wide_names[3:]]


def test_count_downsets_matches_brute_force():
    for seed in range(20):
        g = random_dag(random.Random(seed), 8)
        names = [n.name for n in g.nodes]
        dag = g.to_networkx()
        brute = 0
        for mask in range(1 << len(names)):
            chosen = {n for i, n in enumerate(names) if mask >> i & 1}
            brute += all(p in chosen for n in chosen for p in dag.predecessors(n) if p in names)
        assert count_downsets(g, names, 10**6) == brute
        assert count_downsets(g, names, 3) == min(brute, 4)


def test_bad_part_size_is_rejected():
    with pytest.raises(ValueError, match="max_part_ops must be at least 1"):
        split_parts(inception_like(), 0)
