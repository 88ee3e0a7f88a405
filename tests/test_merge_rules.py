"""The merge rules: which convolutions may run as one wide convolution."""

from __future__ import annotations

import itertools
import random

import pytest

from ios_core.ir.graph import OpNode
from ios_core.ir.merge import (
    concat_of_merge,
    merge_key,
    merge_problem,
    merge_stage_problem,
    mergeable_groups,
)
from ios_core.ir.schedule import (
    ModelRef,
    Schedule,
    ScheduleError,
    SearchInfo,
    Stage,
    Target,
    validate_schedule,
)

from .toy_graphs import conv, graph_of


def net(*nodes):
    return graph_of(list(nodes))


def test_legal_merges():
    g = net(conv("a", "x", k=1), conv("b", "x", k=3), conv("c", "x", k=5, cout=32),
            conv("d", "x", k=3, pad=0, hw=(6, 6)), conv("e", "x", k=3, pad=0, hw=(6, 6)))
    assert merge_problem(g, ["a", "b"]) is None  # centred kernels of different sizes
    assert merge_problem(g, ["a", "b", "c"]) is None  # out channels may differ
    assert merge_problem(g, ["d", "e"]) is None  # equal kernels, equal (uncentred) padding


@pytest.mark.parametrize(
    "other, words",
    [
        (conv("b", "y"), "reads 'y' but 'a' reads 'x'"),
        (conv("b", "x", stride=2, hw=(4, 4)), "stride (2, 2)"),
        (conv("b", "x", act="none"), "activation 'none'"),
        (conv("b", "x", groups=8), "grouped convolution"),
        (conv("b", "x", k=3, pad=0, hw=(6, 6)), "spatial size (6, 6)"),
        (OpNode("b", "pool", ("x",), (1, 8, 8, 8), {"mode": "max"}), "is a pool operator"),
    ],
)
def test_illegal_merges_name_the_reason(other, words):
    g = net(conv("y", "x"), conv("a", "x"), other)
    problem = merge_problem(g, ["a", "b"])
    assert problem is not None and words in problem


def test_uncentred_padding_with_different_kernels_is_refused():
    # k=3 pad=0 and k=5 pad=1 give equal sizes, but the 3x3 is not centred in "same" style
    g = net(conv("a", "x", k=3, pad=0, hw=(6, 6)), conv("b", "x", k=5, pad=1, hw=(6, 6)))
    problem = merge_problem(g, ["a", "b"])
    assert problem is not None and "does not keep its kernel centred" in problem


def test_dilation_and_same_padding():
    def dconv(name, k, pad):
        node = conv(name, "x", k=k, pad=pad)
        return OpNode(node.name, "conv", node.inputs, node.shape,
                      {**node.attrs, "dilation": (2, 2)})

    g = net(dconv("a", 3, 2), dconv("b", 5, 4), dconv("c", 3, 1))
    assert merge_problem(g, ["a", "b"]) is None  # padding == (k - 1) / 2 * dilation
    assert "centred" in merge_problem(g, ["a", "c"])


def test_fewer_than_two_or_repeated_or_unknown():
    g = net(conv("a", "x"), conv("b", "x"))
    assert "at least two" in merge_problem(g, ["a"])
    assert "listed twice" in merge_problem(g, ["a", "a"])
    assert "not an operator" in merge_problem(g, ["a", "zz"])


def test_key_agrees_with_problem_on_random_convs():
    """merge_key is an equivalence: equal keys iff the pair (and so any set) merges."""
    rng = random.Random(0)
    nodes = []
    for i in range(40):
        k = rng.choice((1, 3, 5))
        pad = rng.choice(((k - 1) // 2, (k - 1) // 2, 0))
        hw = (8 - (k - 1) + 2 * pad,) * 2
        src = rng.choice(("x", "x", "c0")) if i else "x"
        nodes.append(conv(f"c{i}", src, k=k, pad=pad, hw=hw,
                          act=rng.choice(("relu", "relu", "none")),
                          groups=rng.choice((1, 1, 1, 8))))
    g = net(*nodes)
    names = [n.name for n in nodes]
    for a, b in itertools.combinations(names, 2):
        ka, kb = merge_key(g, a), merge_key(g, b)
        legal = merge_problem(g, [a, b]) is None
        assert legal == (ka is not None and ka == kb), (a, b)
    for cls in mergeable_groups(g):
        assert merge_problem(g, cls) is None


def test_validate_schedule_rejects_an_illegal_merge_stage():
    g = net(conv("a", "x"), conv("b", "x", act="none"))
    sched = Schedule(
        model=ModelRef("toy", g.fingerprint(), g.inputs[0].shape),
        target=Target("toy", 1),
        search=SearchInfo("ios-merge", 3, 8, 50, "toy"),
        stages=(Stage("merge", (("a", "b"),)),),
    )
    with pytest.raises(ScheduleError, match="illegal merge in stage 1"):
        validate_schedule(sched, g, check_fingerprint=True)


# ---- merge stages that end in their concat -------------------------------------------------------
def cat(name, ins, cout=16):
    return OpNode(name, "concat", tuple(ins), (1, cout, 8, 8), {"dim": 1})


def fan():
    """a, b (mergeable) joined by cat; c reads x too but applies no activation; d joins a, c."""
    return net(conv("a", "x"), conv("b", "x", k=3), conv("c", "x", act="none"),
               cat("cat", ("b", "a")), cat("d", ("a", "c")), cat("e", ("a", "a")))


def test_merge_stage_may_end_in_the_concat_of_its_convs():
    g = fan()
    assert merge_stage_problem(g, ["a", "b", "cat"]) is None
    assert concat_of_merge(g, "cat") == ["b", "a"]
    assert concat_of_merge(g, "d") is None  # a and c do not merge
    assert concat_of_merge(g, "e") is None  # the same conv twice is no merge


@pytest.mark.parametrize("names,words", [
    (["a", "cat"], "reads 'b', which the merge does not compute"),
    (["a", "b", "c", "cat"], "must read each merged convolution once; it does not read 'c'"),
    (["a", "c", "d"], "applies activation 'none' but 'a' applies 'relu'"),
    (["a", "e"], "must read each merged convolution once"),
])
def test_illegal_merge_stages_with_a_concat_name_the_reason(names, words):
    assert words in merge_stage_problem(fan(), names)


def _schedule(g, stages):
    return Schedule(model=ModelRef("toy", g.fingerprint(), g.inputs[0].shape),
                    target=Target("toy", 1), search=SearchInfo("ios-merge", 3, 8, 50, "toy"),
                    stages=tuple(stages))


def test_validate_schedule_accepts_a_merge_ending_in_its_concat():
    g = fan()
    rest = [Stage("concurrent", (("c",),)), Stage("concurrent", (("d",), ("e",)))]
    validate_schedule(_schedule(g, [Stage("merge", (("a", "b", "cat"),)), *rest]), g)
    with pytest.raises(ScheduleError, match="merges 'cat' with 'b', which it reads"):
        validate_schedule(_schedule(g, [Stage("merge", (("a", "cat", "b"),)), *rest]), g)
