"""Elementwise binaries: a sum of two input-dependent tensors is an ``add``; the rest a ``mul``.

``+``, ``torch.add`` and ``.add`` (and in-place forms; no ``alpha``) of two input-dependent
tensors become an ``add`` node; a chain ``a + b + c`` whose partial sums nobody else reads becomes
one ``add`` of all its terms (RandWire sums all inputs of a node), left to right. An ``add`` takes
a fused activation. Other binaries (sub, mul, div, maximum, minimum, and ``+`` with a scalar or a
constant) become a ``mul`` node with attr ``op``. FLOPs: one per output element and addition.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from ios_core.frontend.builder import Builder
from ios_core.frontend.op_tables import BINARY_FUNCTIONS, BINARY_METHODS, lookup
from ios_core.frontend.replay import Apply, add_all
from ios_core.frontend.shapes import META, TensorMeta, is_dynamic, is_tensor_node, static_value

__all__ = ["emit_binary", "emit_sum", "static_operand"]


def emit_binary(b: Builder, node: fx.Node) -> bool:
    """Rule: an elementwise binary of known operands is an ``add`` or a ``mul`` node."""
    if node.op == "call_method":
        op = BINARY_METHODS.get(node.target)
    else:
        op = lookup(BINARY_FUNCTIONS, node.target) if node.op == "call_function" else None
    if op is None or len(node.args) != 2 or node.kwargs:
        return False
    dynamic = [a for a in node.args if is_dynamic(a)]
    if not all(is_dynamic(a) or static_operand(a) for a in node.args):
        return False
    if op == "add" and len(dynamic) == 2 and all(is_tensor_node(a) for a in dynamic):
        emit_sum(b, node)
    else:
        b.emit(node, "mul", b.call_expr(node), {"op": op}, node.meta[META].numel)
    return True


def emit_sum(b: Builder, node: fx.Node) -> None:
    """One ``add`` node for a chain ``a + b + c``: an inner sum that only this one reads is
    absorbed (RandWire sums all inputs of a node), keeping the left-to-right order."""
    terms: list[tuple[Any, TensorMeta]] = []
    for arg in node.args:
        inner = b.sole_producer(arg, node)
        plain_sum = inner is not None and inner.attrs.get("activation") == "none"
        if plain_sum and inner.name in b.sums:
            terms += b.sums.pop(inner.name)
            del b.ops[inner.name]
        else:
            terms.append((b.sym[arg], arg.meta[META]))
    out = node.meta[META]
    expr = Apply(add_all, tuple(t for t, _ in terms), {}, "sum")
    name = b.emit(node, "add", expr, {"activation": "none"}, (len(terms) - 1) * out.numel)
    b.ops[name].bytes = sum(m.nbytes for _, m in terms) + out.nbytes
    b.sums[name] = terms


def static_operand(x: Any) -> bool:
    """A constant operand: a tensor or a Python number.

    >>> static_operand(2.0), static_operand(torch.ones(1)), static_operand("a")
    (True, True, False)
    """
    ok, value = static_value(x)
    return ok and (isinstance(value, torch.Tensor) or type(value) in (int, float, bool))
