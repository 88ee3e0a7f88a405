"""Activations: fused into the op that produced their input, else an ``act`` node.

relu, relu6, sigmoid, tanh, silu, gelu (exact) and hardswish, as module, function or method, in
place or not (:data:`~ios_core.frontend.op_tables.ACT_MODULES` and friends), are fused into the
``conv``, ``add``, ``pool`` or ``linear`` that produced their input (attr ``activation``, applied
by the kernel after its op; its FLOPs, one per element, added) when that producer has no other
reader and no activation yet. Otherwise they become an ``act`` node (attr ``fn``).
"""

from __future__ import annotations

import math

from torch import fx

from ios_core.frontend.builder import Builder
from ios_core.frontend.exprs import localise
from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.op_tables import ACT_FUNCTIONS, ACT_METHODS, ACT_MODULES, FUSIBLE, lookup
from ios_core.frontend.replay import Replay
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["activation_name", "emit_activation", "fuse_activation"]


def activation_name(b: Builder, node: fx.Node) -> str | None:
    """The ACTIVATIONS name of an activation op on one tensor, else None."""
    if not node.args or not is_tensor_node(node.args[0]):
        return None
    if node.op == "call_module":
        m = b.modules[node.target]
        if len(node.args) != 1 or node.kwargs or getattr(m, "approximate", "none") != "none":
            return None
        return ACT_MODULES.get(type(m))
    if node.op == "call_method":
        plain = len(node.args) == 1 and not node.kwargs
        return ACT_METHODS.get(node.target) if plain else None
    name = lookup(ACT_FUNCTIONS, node.target)
    extra = {k: v for k, v in node.kwargs.items() if k != "inplace"}
    if name == "gelu" and extra.get("approximate", "none") == "none":
        extra.pop("approximate", None)
    if name is None or extra or any(type(a) is not bool for a in node.args[1:]):
        return None
    return name


def fuse_activation(b: Builder, node: fx.Node) -> bool:
    """Rule: an activation whose producer has no other reader becomes that op's activation."""
    fn = activation_name(b, node)
    op = b.sole_producer(node.args[0], node) if fn else None
    if op is None or op.kind not in FUSIBLE or op.attrs.get("activation", "none") != "none":
        return False
    op.attrs["activation"] = fn
    op.kernel.activation = fn  # ConvKernel and FnKernel both apply it after their op
    op.flops += math.prod(op.shape)
    b.rebind(op, node)
    return True


def emit_activation(b: Builder, node: fx.Node) -> bool:
    """Rule: any other activation is an ``act`` node."""
    fn = activation_name(b, node)
    if fn is None:
        return False
    inputs, body, tensors = localise(b.sym[node.args[0]], b.consts)
    kernel = FnKernel(Replay(body), tensors, activation=fn)
    b.add(node, "act", inputs, kernel, {"fn": fn}, node.meta[META].numel, tensors.values())
    return True
