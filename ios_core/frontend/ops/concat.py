"""Concatenation: ``torch.cat`` / ``concat`` / ``concatenate`` of tensors on a constant dim.

It becomes a ``concat`` node (attr ``dim``, made non-negative) with no FLOPs.
"""

from __future__ import annotations

from torch import fx

from ios_core.frontend.builder import Builder
from ios_core.frontend.op_tables import CAT_FUNCTIONS, member
from ios_core.frontend.shapes import META, is_tensor_node, static_value

__all__ = ["emit_concat"]


def emit_concat(b: Builder, node: fx.Node) -> bool:
    """Rule: a concatenation of tensors on a constant dim is a ``concat`` node."""
    if node.op != "call_function" or not member(node.target, CAT_FUNCTIONS):
        return False
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    if not isinstance(tensors, (list, tuple)) or not all(is_tensor_node(t) for t in tensors):
        return False
    ok, dim = static_value(node.args[1] if len(node.args) > 1 else
                           node.kwargs.get("dim", node.kwargs.get("axis", 0)))
    if not ok or type(dim) is not int:
        return False
    dim %= len(node.meta[META].shape)
    b.emit(node, "concat", b.call_expr(node), {"dim": dim}, 0)
    return True
