"""Recognising plain sums and plain concats among the frontend's kernels.

Two levers rewrite what a node computes and so must be sure of it first: an ``add`` is fused into
its conv (:mod:`ios_core.runtime.fused_conv`) or writes into a concat's buffer
(:mod:`ios_core.runtime.concat_views`) only when it is a plain sum of its inputs, and a concat
becomes a view only when it is a plain ``torch.cat`` of them. Both are read off the replayed
expression the frontend recorded; anything else (captured tensors, broadcasting, keyword
arguments) is not recognised, and the plain path runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ios_core.frontend.kernels import FnKernel, Kernel
from ios_core.frontend.replay import Apply, In, Replay, add_all
from ios_core.ir.graph import OpGraph

__all__ = ["cat_order", "sum_terms"]

_CAT_FNS = tuple(getattr(torch, n) for n in ("cat", "concat", "concatenate") if hasattr(torch, n))


def sum_terms(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> tuple[int, ...] | None:
    """For a plain sum node (``add_all`` of its inputs as they are, all of its own shape): the
    input index of each term in order; else None."""
    node, k = graph[name], kernels.get(name)
    if node.kind != "add" or not isinstance(k, FnKernel) or k.tensors:
        return None
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not (isinstance(expr, Apply) and expr.fn is add_all and not expr.kwargs):
        return None
    if len(expr.args) < 2 or not all(isinstance(a, In) for a in expr.args):
        return None
    if any(graph.shape_of(s) != node.shape for s in node.inputs):
        return None  # broadcasting: the output slot / z would not match
    return tuple(a.index for a in expr.args)


def cat_order(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> tuple[str, ...] | None:
    """The input names of a plain ``torch.cat([...], dim)`` node in cat order, else None."""
    node, k = graph[name], kernels.get(name)
    if node.kind != "concat" or not isinstance(k, FnKernel) or k.tensors or k.activation != "none":
        return None
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not (isinstance(expr, Apply) and expr.fn in _CAT_FNS and expr.args):
        return None
    items = expr.args[0]
    if not isinstance(items, (list, tuple)) or not all(isinstance(a, In) for a in items):
        return None
    return tuple(node.inputs[a.index] for a in items)
