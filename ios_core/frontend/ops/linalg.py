"""Matrix products: ``linear`` (a constant weight) and ``matmul`` (two input-dependent tensors).

``nn.Linear`` (not subclassed in its forward) or ``F.linear`` with a constant weight becomes a
``linear`` node (attrs ``in_features``, ``out_features``, ``activation``: it takes a fused one);
``matmul`` / ``@`` / ``mm`` / ``bmm`` of two tensors a ``matmul`` node. FLOPs: 2 x MACs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.exprs import Const
from ios_core.frontend.op_tables import MATMUL_FUNCTIONS, MATMUL_METHODS, member
from ios_core.frontend.ops.args import bind_static
from ios_core.frontend.replay import Apply
from ios_core.frontend.shapes import META, is_dynamic, is_tensor_node

__all__ = ["emit_linear", "emit_matmul"]


def emit_linear(b: Builder, node: fx.Node) -> bool:
    """Rule: a linear layer with a constant weight on an input-dependent tensor."""
    src = node.args[0] if node.args else None
    if node.op == "call_module":
        m = b.modules[node.target]
        if not (isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward) or (
                len(node.args) != 1 or node.kwargs):
            return False
        weight = b.constant(f"{node.target}.weight", m.weight)
        bias = None if m.bias is None else b.constant(f"{node.target}.bias", m.bias)
    elif node.op == "call_function" and node.target is F.linear:
        bound = bind_static(node, ("input", "weight", "bias"), {"bias": None})
        if bound is None or not isinstance(bound["weight"], torch.Tensor):
            return False
        args = dict(zip(("input", "weight", "bias"), node.args, strict=False)) | node.kwargs
        weight, bias = b.arg(args["weight"]), b.arg(args.get("bias"))
    else:
        return False
    if not is_dynamic(src) or not isinstance(weight, Const):
        return False
    w = b.consts[weight.key]
    expr = Apply(F.linear, (b.sym[src], weight, bias), {}, "torch.nn.functional.linear")
    attrs = {"in_features": w.shape[1], "out_features": w.shape[0], "activation": "none"}
    b.emit(node, "linear", expr, attrs, 2 * node.meta[META].numel * w.shape[1])
    return True


def emit_matmul(b: Builder, node: fx.Node) -> bool:
    """Rule: a matrix product of two tensors is a ``matmul`` node."""
    is_matmul = (node.op == "call_method" and node.target in MATMUL_METHODS) or (
        node.op == "call_function" and member(node.target, MATMUL_FUNCTIONS))
    if not is_matmul or len(node.args) != 2 or node.kwargs:
        return False
    a, c = node.args
    if not (is_tensor_node(a) and is_tensor_node(c)):
        return False
    k = a.meta[META].shape[-1]
    b.emit(node, "matmul", b.call_expr(node), {}, 2 * node.meta[META].numel * k)
    return True
