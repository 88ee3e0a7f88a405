"""When several convolutions can run as one wide convolution (the IOS *merge* strategy).

Convolutions merge when they read the very same tensor with the same stride, dilation, output
spatial size and activation, are ordinary (``groups == 1``) and zero-padded. The wide convolution
takes the largest kernel; a smaller kernel is zero-padded in the centre of it, which is exact only
when every convolution's padding is "same"-centred (``padding == (k - 1) / 2 * dilation`` per
dimension). Convolutions with equal kernels also merge with any equal padding.

Convolutions on channel slices of one tensor (attr ``in_slice``: the pieces of a split, as in
timm's ``MixedConv2d``) merge into one *grouped* convolution over those slices, gathered in the
merge's order: they must agree in channels per group, in and out (``in_channels / groups`` and
``out_channels / groups``: depthwise convs on any pieces, or plain convs on equal pieces), besides
stride, dilation, output size, activation and centred kernels as above. A conv on a slice never
merges with one on the whole tensor.

These rules make "can merge" an equivalence relation: two convolutions merge iff their
:func:`merge_key` is equal, and a set merges iff its members pairwise do.

A merge stage may also end with the concat that joins exactly its convolutions (SqueezeNet's fire
modules, Inception's 1x3 | 3x1 pairs): the wide convolution's output channels are put in the
concat's order, so the concat is a view of that output and costs nothing, while a concat in a
stage of its own, measured alone, copies its inputs (:func:`merge_stage_problem`).

>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> def conv(name, k, pad, act="relu", src="x"):
...     attrs = dict(kernel=(k, k), stride=(1, 1), padding=(pad, pad), dilation=(1, 1),
...                  groups=1, in_channels=8, out_channels=16, activation=act)
...     return OpNode(name, "conv", (src,), (1, 16, 8, 8), attrs)
>>> g = OpGraph("m", (TensorSpec("x", (1, 8, 8, 8)),),
...             (conv("a", 1, 0), conv("b", 3, 1), conv("c", 3, 1, act="none")), ("a", "b", "c"))
>>> merge_problem(g, ["a", "b"]) is None
True
>>> merge_problem(g, ["a", "c"])
"'c' applies activation 'none' but 'a' applies 'relu'"
>>> mergeable_groups(g, ["a", "b", "c"])
[['a', 'b']]
>>> cat = OpNode("cat", "concat", ("b", "a"), (1, 32, 8, 8), {"dim": 1})
>>> g2 = OpGraph("m", g.inputs, g.nodes + (cat,), ("c", "cat"))
>>> merge_stage_problem(g2, ["a", "b", "cat"]) is None
True
>>> merge_stage_problem(g2, ["a", "cat"])
"the concat 'cat' reads 'b', which the merge does not compute"
>>> def dw(name, k, start, stop):  # depthwise convs on channels start:stop of x
...     c = stop - start
...     attrs = dict(kernel=(k, k), stride=(1, 1), padding=(k // 2, k // 2), dilation=(1, 1),
...                  groups=c, in_channels=c, out_channels=c, activation="relu",
...                  in_slice=(start, stop))
...     return OpNode(name, "conv", ("x",), (1, c, 8, 8), attrs)
>>> g3 = OpGraph("m", g.inputs, (dw("d3", 3, 0, 4), dw("d5", 5, 4, 8)), ("d3", "d5"))
>>> merge_problem(g3, ["d3", "d5"]) is None
True
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from ios_core.ir.graph import OpGraph, OpNode


def _pair(value: Any, default: int) -> tuple[int, int]:
    """Normalize an int-or-pair attribute to a pair of ints."""
    if value is None:
        return (default, default)
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _conv_attrs(node: OpNode) -> dict[str, Any]:
    """The conv attributes the merge rules look at, normalized (kernel, stride, ... as pairs)."""
    a = node.attrs
    kernel = _pair(a.get("kernel"), 1)
    dilation = _pair(a.get("dilation"), 1)
    padding = a.get("padding", 0)
    if padding == "same":
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    elif padding == "valid":
        padding = (0, 0)
    return {
        "kernel": kernel,
        "stride": _pair(a.get("stride"), 1),
        "padding": _pair(padding, 0),
        "dilation": dilation,
        "groups": int(a.get("groups", 1)),
        "padding_mode": str(a.get("padding_mode", "zeros")),
        "in_slice": tuple(a["in_slice"]) if a.get("in_slice") is not None else None,
    }


def _per_group(node: OpNode, attrs: dict[str, Any]) -> tuple[int, int]:
    """(input, output) channels per group of a conv."""
    groups = max(attrs["groups"], 1)
    a = node.attrs
    return int(a.get("in_channels", 0)) // groups, int(a.get("out_channels", 0)) // groups


def _centred(attrs: dict[str, Any]) -> bool:
    """Padding keeps the kernel centred, so it can sit zero-padded inside a larger one."""
    return all(
        k % 2 == 1 and p * 2 == (k - 1) * d
        for k, p, d in zip(attrs["kernel"], attrs["padding"], attrs["dilation"], strict=True)
    )


def _lone_problem(graph: OpGraph, name: str) -> str | None:
    """Why ``name`` can never take part in a merge, or None."""
    if name not in graph:
        return f"{name!r} is not an operator of the model"
    node = graph[name]
    if node.kind != "conv":
        return f"{name!r} is a {node.kind} operator; only convolutions merge"
    if len(node.inputs) != 1:
        return f"{name!r} reads {len(node.inputs)} tensors; a mergeable convolution reads one"
    attrs = _conv_attrs(node)
    if attrs["groups"] != 1 and attrs["in_slice"] is None:
        return (f"{name!r} is a grouped convolution (groups={attrs['groups']}); only groups=1 "
                "merge, or convolutions on channel slices of one tensor")
    if attrs["padding_mode"] != "zeros":
        return f"{name!r} pads with {attrs['padding_mode']!r}; only zero padding merges"
    if node.attrs.get("epilogue"):  # a fused region (frontend.regions): its epilogue is its own
        return f"{name!r} is a fused region with an epilogue ({', '.join(node.attrs['epilogue'])})"
    return None


def merge_key(graph: OpGraph, name: str) -> Hashable | None:
    """A key equal for exactly the convolutions that merge with each other; None if none can.

    The kernel and padding enter the key only when the padding is not centred.
    """
    if _lone_problem(graph, name) is not None:
        return None
    node = graph[name]
    attrs = _conv_attrs(node)
    shape = ("centred",) if _centred(attrs) else (attrs["kernel"], attrs["padding"])
    key = (node.inputs[0], attrs["stride"], attrs["dilation"], tuple(node.shape[2:]),
           node.activation, shape)
    return key if attrs["in_slice"] is None else (*key, "slices", _per_group(node, attrs))


def _pair_problem(graph: OpGraph, first: str, name: str) -> str | None:
    """Why ``name`` cannot merge with ``first`` (both pass :func:`_lone_problem`), or None."""
    a, b = graph[first], graph[name]
    fa, fb = _conv_attrs(a), _conv_attrs(b)
    if b.inputs[0] != a.inputs[0]:
        return f"{name!r} reads {b.inputs[0]!r} but {first!r} reads {a.inputs[0]!r}"
    for knob in ("stride", "dilation"):
        if fa[knob] != fb[knob]:
            return f"{name!r} has {knob} {fb[knob]} but {first!r} has {fa[knob]}"
    if tuple(a.shape[2:]) != tuple(b.shape[2:]):
        return (f"{name!r} outputs spatial size {tuple(b.shape[2:])} but {first!r} "
                f"outputs {tuple(a.shape[2:])}")
    if a.activation != b.activation:
        return (f"{name!r} applies activation {b.activation!r} but {first!r} applies "
                f"{a.activation!r}")
    if (fa["in_slice"] is None) != (fb["in_slice"] is None):
        sliced, whole = (first, name) if fb["in_slice"] is None else (name, first)
        return (f"{sliced!r} reads a channel slice of {a.inputs[0]!r} but {whole!r} reads all "
                "of it")
    if fa["in_slice"] is not None and _per_group(a, fa) != _per_group(b, fb):
        return (f"{name!r} has {_per_group(b, fb)} (input, output) channels per group but "
                f"{first!r} has {_per_group(a, fa)}; convolutions on channel slices merge into "
                "one grouped convolution only when they agree")
    if fa["kernel"] == fb["kernel"] and fa["padding"] == fb["padding"]:
        return None
    for n, f in ((first, fa), (name, fb)):
        if not _centred(f):
            return (f"kernels differ ({fa['kernel']} vs {fb['kernel']}) and {n!r} has padding "
                    f"{f['padding']}, which does not keep its kernel centred, so it cannot be "
                    "zero-padded into a larger kernel")
    return None


def merge_problem(graph: OpGraph, names: Sequence[str]) -> str | None:
    """None if the operators can legally run as one wide convolution, else the reason in words."""
    names = list(names)
    if len(names) < 2:
        return "a merge needs at least two convolutions"
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        return f"{dup!r} is listed twice"
    for name in names:
        problem = _lone_problem(graph, name)
        if problem:
            return problem
    for name in names[1:]:  # pairwise legality with one member is enough: it is an equivalence
        problem = _pair_problem(graph, names[0], name)
        if problem:
            return problem
    return None


def mergeable_groups(graph: OpGraph, names: Iterable[str] | None = None) -> list[list[str]]:
    """The classes of two or more ``names`` (default: all operators) that merge together.

    Each class lists its operators in topological order; any two or more of one class form a
    legal merge stage (when they are all ready at once).
    """
    wanted = None if names is None else set(names)
    classes: dict[Hashable, list[str]] = {}
    for node in graph.nodes:
        if wanted is not None and node.name not in wanted:
            continue
        key = merge_key(graph, node.name)
        if key is not None:
            classes.setdefault(key, []).append(node.name)
    return [members for members in classes.values() if len(members) >= 2]


def trailing_concat(graph: OpGraph, names: Sequence[str]) -> tuple[list[str], str | None]:
    """A merge stage's convolutions and the concat it ends with, if its last op is a concat."""
    names = list(names)
    if names and names[-1] in graph and graph[names[-1]].kind == "concat":
        return names[:-1], names[-1]
    return names, None


def concat_of_merge(graph: OpGraph, name: str) -> list[str] | None:
    """The convolutions a concat joins, when they could all merge and end in it; else None.

    Each input must be a distinct operator, and all must share one :func:`merge_key`.
    """
    node = graph[name]
    inputs = list(node.inputs)
    if node.kind != "concat" or len(inputs) < 2 or len(set(inputs)) != len(inputs):
        return None
    if any(s not in graph for s in inputs):
        return None  # reads a graph input: nothing to merge
    keys = {merge_key(graph, s) for s in inputs}
    return inputs if len(keys) == 1 and None not in keys else None


def merge_stage_problem(graph: OpGraph, names: Sequence[str]) -> str | None:
    """None if ``names`` is a legal merge stage: convolutions that merge (:func:`merge_problem`),
    optionally followed by the one concat that reads exactly them; else the reason in words."""
    convs, cat = trailing_concat(graph, names)
    if cat is not None:
        inputs = list(graph[cat].inputs)
        for s in inputs:
            if s not in convs:
                return f"the concat {cat!r} reads {s!r}, which the merge does not compute"
        if len(inputs) != len(convs) or len(set(inputs)) != len(inputs):
            extra = [n for n in convs if n not in inputs]
            return (f"the concat {cat!r} must read each merged convolution once"
                    + (f"; it does not read {extra[0]!r}" if extra else ""))
    return merge_problem(graph, convs)
