"""Concatenation: ``torch.cat`` / ``concat`` / ``concatenate`` of tensors on a constant dim.

It becomes a ``concat`` node (attr ``dim``, made non-negative) with no FLOPs. An activation after
a channel concat of ops that nothing else reads distributes over it (:func:`concat_parts`): it
fuses into each part, and the concat yields the activation's value.
"""

from __future__ import annotations

from torch import fx

from ios_core.frontend.builder import Builder, Op
from ios_core.frontend.op_tables import CAT_FUNCTIONS, member
from ios_core.frontend.shapes import META, is_tensor_node, static_value

__all__ = ["concat_parts", "emit_concat"]


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


def concat_parts(b: Builder, src: fx.Node, reader: fx.Node) -> tuple[Op, list[Op]] | None:
    """``(concat, parts)`` where ``src`` is a channel concat (dim 1) that only ``reader`` reads,
    of distinct ops that only the concat reads, in cat order; else None."""
    cat = b.sole_producer(src, reader)
    if cat is None or cat.kind != "concat" or cat.attrs.get("dim") != 1:
        return None
    # the cat's own fx node (its owner moves on when it absorbs a batch norm or an activation)
    node = next(n for n in b.gm.graph.nodes if n.name == cat.source)
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    if not isinstance(tensors, (list, tuple)) or len(set(tensors)) != len(tensors):
        return None
    parts = [b.sole_producer(t, node) for t in tensors]
    if any(p is None for p in parts) or len({p.name for p in parts}) != len(parts):
        return None
    return cat, parts  # type: ignore[return-value]
