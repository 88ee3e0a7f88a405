"""Pass 5 (optional), fused regions: a producer and the elementwise chain it feeds become ONE op.

:func:`fuse_regions` rewrites a traced model so that the DP schedules *regions*: a ``conv``,
``linear``, ``pool`` or elementwise op (the head) together with every elementwise op after it
that it alone feeds (its epilogue: a batch norm's scale-shift, any activation, a residual add,
a squeeze-excitation gating multiply...). An elementwise op joins the region of one of its
inputs when that input's value is read by nothing else (a single-reader chain) and is not a
graph output; its other inputs become inputs of the region. Where several inputs qualify (a
residual add of two convs), it joins the head whose own input has no other reader, else the
later one. It never joins a conv that could merge with a sibling (a merge class of
:func:`ios_core.ir.merge.mergeable_groups`): a region with an epilogue does not merge
(:func:`ios_core.ir.merge.merge_problem`), so there the chain becomes a region of its own, one
compiled kernel like the epilogue it would have been, and the DP keeps the choice to merge
(RepVGG-style sums of a 3x3 and a 1x1 conv of one input; branches scaled before their concat).
The one kernel this can cost: a two-term sum + ReLU that cuDNN would have run inside the conv
(``fuse_conv_add_relu``) is a kernel of its own unless the DP merges the two convs. A conv's
activation is no such op: the trace makes it the conv's own.

A region keeps its head's name, kind and attrs, adds attr ``epilogue`` (the labels of the ops it
absorbed, in order), sums their FLOPs, and counts as bytes what the region reads and writes
(the chain's intermediate tensors are never stored). Its kernel is a :class:`RegionKernel` that
runs the head's kernel, then each member's kernel on the running value, eagerly; the runtime's
``fuse_epilogues`` lever runs the epilogue as one compiled kernel instead
(:mod:`ios_core.runtime.epilogue`). A lone elementwise op (densenet's batch norm + ReLU before
a conv) is a region of its own with no members, wrapped too, so that the lever compiles it into
one kernel. Every other node and kernel is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.frontend.tracing import TracedModel
from ios_core.ir.graph import OpGraph, OpNode
from ios_core.ir.merge import mergeable_groups

__all__ = ["ELEMENTWISE_KINDS", "HEAD_KINDS", "Member", "RegionKernel", "elementwise_label",
           "fuse_regions", "is_elementwise"]

ELEMENTWISE_KINDS = ("act", "add", "mul", "norm")  # norm: only batch norm (a scale-shift)
HEAD_KINDS = ("conv", "linear", "pool", *ELEMENTWISE_KINDS)  # never concat (views) nor call


def is_elementwise(node: OpNode, kernel: Kernel | None) -> bool:
    """Whether ``node`` is an elementwise op a region may absorb: an activation, add, binary
    (``mul`` node: mul, sub, div, max, min, scalar ops) or eval batch norm, run by an FnKernel.

    >>> is_elementwise(OpNode("n", "norm", ("x",), (1, 4), {"mode": "batch"}), FnKernel(abs, {}))
    True
    >>> is_elementwise(OpNode("n", "norm", ("x",), (1, 4), {"mode": "layer"}), FnKernel(abs, {}))
    False
    """
    if node.kind not in ELEMENTWISE_KINDS or not isinstance(kernel, FnKernel):
        return False
    return node.kind != "norm" or node.attrs.get("mode") == "batch"


def elementwise_label(node: OpNode) -> str:
    """A short label of an elementwise op for attr ``epilogue``.

    >>> elementwise_label(OpNode("a", "add", ("x", "y"), (1,), {"activation": "relu"}))
    'add+relu'
    >>> elementwise_label(OpNode("m", "mul", ("x", "y"), (1,), {"op": "mul"}))
    'mul'
    """
    base = {"act": node.attrs.get("fn", "act"), "mul": node.attrs.get("op", "mul"),
            "norm": "batch_norm"}.get(node.kind, node.kind)
    act = node.attrs.get("activation", "none")
    return f"{base}+{act}" if act not in ("none", None) and node.kind != "act" else str(base)


@dataclass(frozen=True)
class Member:
    """One absorbed op: its kernel and where each argument comes from: ``None`` is the
    region's running value, an int the index of a region input."""

    kernel: Kernel
    args: tuple[int | None, ...]
    label: str


@dataclass
class RegionKernel(Kernel):
    """A head kernel on the first ``head_arity`` inputs, then each member on the running value.

    ``head_kind`` is the head's op kind (the runtime compiles elementwise heads with their
    members, and runs a conv head's bias and activation in the compiled epilogue)."""

    head: Kernel
    head_arity: int
    head_kind: str
    members: tuple[Member, ...] = ()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        acc = self.head(*inputs[: self.head_arity])
        for m in self.members:
            acc = m.kernel(*(acc if a is None else inputs[a] for a in m.args))
        return acc

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> RegionKernel:
        members = tuple(replace(m, kernel=m.kernel.to(device, dtype)) for m in self.members)
        return RegionKernel(self.head.to(device, dtype), self.head_arity, self.head_kind, members)

    def parameter_numel(self) -> int:
        """Elements of the head's and members' tensors (weights an inference reads)."""
        return sum(_numel(k) for k in (self.head, *(m.kernel for m in self.members)))


def _numel(k: Kernel) -> int:
    if isinstance(k, ConvKernel):
        return k.weight.numel() + (0 if k.bias is None else k.bias.numel())
    return sum(t.numel() for t in k.tensors.values()) if isinstance(k, FnKernel) else 0


@dataclass
class _Region:
    head: OpNode
    inputs: list[str]
    members: list[Member]
    labels: list[str]
    shape: tuple[int, ...]
    flops: int
    bytes: int
    last: str  # the original node whose value the region now yields


def fuse_regions(traced: TracedModel) -> TracedModel:
    """``traced`` with its single-reader elementwise chains fused into regions (module docstring).

    The graph is validated; a node no chain touches keeps its name, node and kernel."""
    graph, kernels = traced.graph, traced.kernels
    merging = frozenset(n for group in mergeable_groups(graph) for n in group)
    regions: dict[str, _Region] = {}  # head name -> region, in order of creation
    owner: dict[str, str] = {}  # original node name -> the head of the region that holds it
    order: dict[str, int] = {}  # head name -> position of the region's last member
    for i, node in enumerate(graph.nodes):
        head = None
        if is_elementwise(node, kernels.get(node.name)):
            head = _pick_head(graph, regions, owner, node, merging)
        if head is None:
            regions[node.name] = _start(node)
            owner[node.name] = node.name
        else:
            _absorb(regions[head], node, kernels[node.name], owner)
            owner[node.name] = head
        order[owner[node.name]] = i
    nodes, new_kernels = [], {}
    for name in sorted(regions, key=order.__getitem__):
        node, kernel = _finish(regions[name], kernels, owner)
        nodes.append(node)
        new_kernels[name] = kernel
    outputs = tuple(owner.get(o, o) for o in graph.outputs)
    fused = OpGraph(graph.name, graph.inputs, tuple(nodes), outputs)
    fused.validate()
    return replace(traced, graph=fused, kernels=new_kernels)


def _pick_head(graph: OpGraph, regions: Mapping[str, _Region], owner: Mapping[str, str],
               node: OpNode, merging: frozenset[str] = frozenset()) -> str | None:
    """The head of the region ``node`` joins, or None (it starts its own). Never a conv of
    ``merging`` (it could merge with a sibling; a region with an epilogue cannot)."""
    found = []
    for pos, src in enumerate(node.inputs):
        head = owner.get(src)
        if (head is None or regions[head].last != src or node.inputs.count(src) != 1
                or graph.consumers(src) != (node.name,) or src in graph.outputs
                or regions[head].head.kind not in HEAD_KINDS or head in merging):
            continue
        shared = any(len(graph.consumers(s)) > 1 for s in regions[head].head.inputs)
        found.append((not shared, pos, head))
    return max(found)[2] if found else None


def _start(node: OpNode) -> _Region:
    return _Region(node, list(node.inputs), [], [], node.shape, node.flops, node.bytes, node.name)


def _absorb(region: _Region, node: OpNode, kernel: Kernel, owner: Mapping[str, str]) -> None:
    args: list[int | None] = []
    for src in node.inputs:
        if src == region.last:
            args.append(None)
            continue
        if src not in region.inputs:
            region.inputs.append(src)
        args.append(region.inputs.index(src))
    label = elementwise_label(node)
    region.members.append(Member(kernel, tuple(args), label))
    region.labels.append(label)
    # the running value is no longer written by its producer nor read by this op
    region.bytes += node.bytes - 2 * 4 * math.prod(region.shape)
    region.flops += node.flops
    region.shape = node.shape
    region.last = node.name


def _finish(region: _Region, kernels: Mapping[str, Kernel], owner: Mapping[str, str]
            ) -> tuple[OpNode, Kernel]:
    head = region.head
    inputs = tuple(owner.get(s, s) for s in region.inputs)
    wrap = bool(region.members) or is_elementwise(head, kernels.get(head.name))
    if not wrap:
        return replace(head, inputs=inputs), kernels[head.name]
    attrs = dict(head.attrs)
    if region.members:
        attrs["epilogue"] = list(region.labels)
    node = OpNode(head.name, head.kind, inputs, region.shape, attrs, region.flops,
                  max(region.bytes, 0), head.source)
    kernel = RegionKernel(kernels[head.name], len(head.inputs), head.kind,
                          tuple(region.members))
    return node, kernel
