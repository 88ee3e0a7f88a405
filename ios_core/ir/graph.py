"""The operator DAG that every scheduler, cost model and exporter works on.

An :class:`OpGraph` is a frozen, torch-free description of a CNN's operators. One
:class:`OpNode` per schedulable operator; the graph's inputs are :class:`TensorSpec`
placeholders that nodes may read by name.

Operator kinds (``OpNode.kind``):

``conv``     a 2-d convolution with BatchNorm folded in, its bias, and a following activation fused
             (attrs: in_channels, out_channels, kernel (kh, kw), stride, padding, dilation, groups,
             activation: "none" | "relu" | ...; in_slice (start, stop) where it reads only those
             channels of its input, a piece of a split)
``pool``     max / avg / global pooling (attrs: mode "max" | "avg" | "global_avg" | "global_max",
             kernel, stride, padding, activation)
``concat``   channel (or other dim) concatenation (attrs: dim)
``add``      elementwise sum of its inputs, optionally followed by a fused activation
``mul``      other elementwise binary ops, broadcasting allowed (attrs: op "mul" | "sub" | ...)
``act``      a standalone activation (attrs: fn "relu" | "sigmoid" | "leaky_relu(0.2)" | ...)
``norm``     a normalisation not folded into a conv, optionally followed by a fused activation
             (attrs: mode "batch": eval BatchNorm, a per-channel scale-shift (num_features) |
             "layer": LayerNorm over the last dims (normalized_shape) | "group": GroupNorm
             (num_groups); activation)
``linear``   a fully connected layer (attrs: in_features, out_features, activation)
``matmul``   a matrix product
``call``     any other torch op: kept as an opaque node, scheduled like any other but never merged
             (attrs: target, the op's qualified name)

View-only ops (flatten, reshape, view, permute, transpose, dropout in eval mode, identity) and
pure memory movement (constant pads, channel shuffles) are *folded away* by the frontend: the node
that consumes them reads the view's source and applies the view itself, so they cost nothing.
Where a view must exist as a value of its own (a conv reads it, or the model returns it), it stays
as a zero-FLOP ``call`` node with ``attrs["view"] = True``: memory movement, priced by its bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

OP_KINDS = ("conv", "pool", "concat", "add", "mul", "act", "norm", "linear", "matmul", "call")


class GraphError(ValueError):
    """An OpGraph breaks one of its invariants; the message names the first problem."""


@dataclass(frozen=True)
class TensorSpec:
    """A graph input: its name and shape (batch first)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class OpNode:
    """One schedulable operator."""

    name: str
    kind: str
    inputs: tuple[str, ...]  # names of nodes or graph inputs, in argument order
    shape: tuple[int, ...]  # output shape, batch first
    attrs: Mapping[str, Any] = field(default_factory=dict)
    flops: int = 0  # multiply-adds count as 2
    bytes: int = 0  # bytes read (inputs, weights) plus written (output), float32
    source: str = ""  # where the user wrote it: module path or fx node name

    @property
    def activation(self) -> str:
        return str(self.attrs.get("activation", "none"))


@dataclass(frozen=True)
class OpGraph:
    """A DAG of operators in topological order.

    ``nodes`` are listed so that every node comes after the nodes it reads; ``outputs`` name the
    nodes (or inputs) whose values the model returns.
    """

    name: str
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[OpNode, ...]
    outputs: tuple[str, ...]
    _index: dict[str, OpNode] = field(default_factory=dict, init=False, repr=False, compare=False)
    _consumers: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _described: dict[str, str] = field(  # memo of describe(): stage signatures are hot in a search
        default_factory=dict, init=False, repr=False, compare=False
    )
    _shape_text: dict[str, str] = field(  # memo of shape_text(), for the same reason
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._index.update((n.name, n) for n in self.nodes)
        users: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for spec in self.inputs:
            users.setdefault(spec.name, [])
        for n in self.nodes:
            for src in dict.fromkeys(n.inputs):  # a node reading x twice is one consumer
                users.setdefault(src, []).append(n.name)
        self._consumers.update((k, tuple(v)) for k, v in users.items())

    # ---- lookup -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> OpNode:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[OpNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    def shape_of(self, name: str) -> tuple[int, ...]:
        """Shape of a node's output or of a graph input."""
        if name in self._index:
            return self._index[name].shape
        for spec in self.inputs:
            if spec.name == name:
                return spec.shape
        raise KeyError(name)

    def consumers(self, name: str) -> tuple[str, ...]:
        """Nodes that read ``name`` (a node or a graph input), in topological order."""
        return self._consumers.get(name, ())

    def predecessors(self, name: str) -> tuple[str, ...]:
        """Operator nodes (not graph inputs) that ``name`` reads, without repeats."""
        return tuple(p for p in dict.fromkeys(self._index[name].inputs) if p in self._index)

    def describe(self, name: str) -> str:
        """A node's kind, canonical attrs and output shape as JSON text (memoised)."""
        text = self._described.get(name)
        if text is None:
            n = self._index[name]
            text = json.dumps([n.kind, canonical_attrs(n.attrs), list(n.shape)], sort_keys=True)
            self._described[name] = text
        return text

    def shape_text(self, name: str) -> str:
        """``json.dumps`` of a tensor's shape as a list (memoised): '[1, 64, 28, 28]'."""
        text = self._shape_text.get(name)
        if text is None:
            text = self._shape_text[name] = json.dumps(list(self.shape_of(name)))
        return text

    @property
    def batch(self) -> int:
        return self.inputs[0].shape[0] if self.inputs else 1

    # ---- checks -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`GraphError` naming the first broken invariant.

        Names are unique, every input is defined before it is read (which also makes the graph
        acyclic and the node order topological), kinds are known, and outputs exist.
        """
        if not self.inputs:
            raise GraphError("the graph has no input placeholder")
        seen: set[str] = set()
        for spec in self.inputs:
            if spec.name in seen:
                raise GraphError(f"graph input {spec.name!r} is declared twice")
            seen.add(spec.name)
        for node in self.nodes:
            if node.name in seen:
                raise GraphError(f"operator name {node.name!r} is used twice")
            if node.kind not in OP_KINDS:
                raise GraphError(f"operator {node.name!r} has unknown kind {node.kind!r}")
            for src in node.inputs:
                if src not in seen:
                    raise GraphError(
                        f"operator {node.name!r} reads {src!r}, which is not defined before it "
                        "(missing, or the nodes are not in topological order)"
                    )
            seen.add(node.name)
        for out in self.outputs:
            if out not in seen:
                raise GraphError(f"graph output {out!r} is not a node or input of the graph")

    # ---- identity -----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A hash of kinds, attrs, shapes and edges (not names): equal graphs, equal prints."""
        position = {s.name: f"in{i}" for i, s in enumerate(self.inputs)}
        position.update({n.name: str(i) for i, n in enumerate(self.nodes)})
        payload = {
            "inputs": [list(s.shape) for s in self.inputs],
            "nodes": [
                [n.kind, canonical_attrs(n.attrs), list(n.shape), [position[s] for s in n.inputs]]
                for n in self.nodes
            ],
            "outputs": [position[o] for o in self.outputs],
        }
        return _digest(payload)

    # ---- conversions --------------------------------------------------------------------------
    def subgraph_nodes(self, names: Iterable[str]) -> list[OpNode]:
        """The named nodes in graph (topological) order."""
        wanted = set(names)
        return [n for n in self.nodes if n.name in wanted]

    def to_networkx(self):  # -> networkx.DiGraph, imported lazily to keep this module light
        import networkx as nx

        g = nx.DiGraph()
        for spec in self.inputs:
            g.add_node(spec.name, kind="input", shape=spec.shape)
        for n in self.nodes:
            g.add_node(n.name, kind=n.kind, shape=n.shape)
            for src in n.inputs:
                g.add_edge(src, n.name)
        return g

    def total_flops(self) -> int:
        return sum(n.flops for n in self.nodes)


def canonical_attrs(attrs: Mapping[str, Any]) -> Any:
    """Attrs as plain JSON data with sorted keys, tuples as lists (for hashing and files)."""
    return json.loads(json.dumps(dict(attrs), sort_keys=True, default=str))


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stage_signature(graph: OpGraph, strategy: str, groups: Iterable[Iterable[str]]) -> str:
    """Identify a stage by what it computes, not by names.

    Covers each op's kind, attrs, input shapes and output shape, the edges among the stage's ops,
    the group structure and the strategy; identical cells in different blocks get equal signatures
    so one measurement serves them all.
    """
    groups = [list(g) for g in groups]
    group_of = {name: gi for gi, g in enumerate(groups) for name in g}
    described = []
    for gi, g in enumerate(groups):
        position = {name: i for i, name in enumerate(g)}
        ops = []
        for name in g:
            # an input from the same group is named by its position there; groups of a
            # concurrent stage never read each other, so sorting them below stays sound. The
            # text is json.dumps of that list, joined by hand from memoised shapes: signatures
            # are a measured search's hottest CPU work, and stored profiles are keyed by them
            ins = ", ".join(
                f'"@{position[s]}"' if group_of.get(s) == gi else graph.shape_text(s)
                for s in graph[name].inputs
            )
            ops.append(f"{graph.describe(name)}<[{ins}]")
        described.append(ops)
    if strategy == "concurrent":
        described.sort()  # group order is free
    return _digest({"strategy": strategy, "groups": described})
