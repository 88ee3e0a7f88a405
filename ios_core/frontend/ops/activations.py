"""Activations: fused into the op that produced their input, else an ``act`` node.

relu, relu6, leaky_relu (any slope: ``leaky_relu(0.2)``), sigmoid, tanh, silu, gelu (exact, or
``gelu_tanh``), hardswish, hardsigmoid and mish, as module, function or method, in place or not
(:data:`~ios_core.frontend.op_tables.ACT_MODULES` and friends), are fused into the ``conv``,
``add``, ``pool``, ``linear`` or ``norm`` that produced their input (attr ``activation``, applied
by the kernel after its op; its FLOPs, one per element, added) when that producer has no other
reader and no activation yet, looking through aliases (``nn.Identity``, eval dropout) between
them, and through views that nothing else reads (an activation commutes with a permute). After
a channel concat of such producers that nothing else reads, it fuses into each of them (and the
concat yields the activation's value). Otherwise they become an ``act`` node (attr ``fn``).

Swish written out, ``x * sigmoid(x)`` (and ``x * hardsigmoid(x)``), where nothing else reads the
gate, is the activation ``silu`` (``hardswish``) of ``x``, fused or an ``act`` node alike
(:func:`fuse_self_gate`). Every name is a key of :data:`~ios_core.frontend.kernels.ACTIVATIONS`
or a parametrised one (:func:`~ios_core.frontend.kernels.activation_fn`).
"""

from __future__ import annotations

import math
from typing import Any

from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.exprs import Ref, localise
from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.op_tables import (
    ACT_FUNCTIONS,
    ACT_METHODS,
    ACT_MODULES,
    ACT_PARAMS,
    BINARY_FUNCTIONS,
    BINARY_METHODS,
    FUSIBLE,
    SELF_GATES,
    lookup,
)
from ios_core.frontend.ops.concat import concat_parts
from ios_core.frontend.ops.views import view_kind
from ios_core.frontend.replay import Replay
from ios_core.frontend.shapes import META, is_tensor_node, static_value

__all__ = ["activation_name", "emit_activation", "fuse_activation", "fuse_self_gate",
           "parametrised"]


def activation_name(b: Builder, node: fx.Node) -> str | None:
    """The activation name of an activation op on one tensor, else None."""
    if not node.args or not is_tensor_node(node.args[0]):
        return None
    if node.op == "call_module":
        m = b.modules[node.target]
        name = ACT_MODULES.get(type(m))
        if name is None or len(node.args) != 1 or node.kwargs:
            return None
        if isinstance(m, nn.LeakyReLU):
            return parametrised(name, {"negative_slope": m.negative_slope})
        return parametrised(name, {"approximate": getattr(m, "approximate", "none")})
    if node.op == "call_method":
        plain = len(node.args) == 1 and not node.kwargs
        return ACT_METHODS.get(node.target) if plain else None
    name = lookup(ACT_FUNCTIONS, node.target) if node.op == "call_function" else None
    if name is None:
        return None
    params = ACT_PARAMS.get(name, ("inplace",))
    if len(node.args) - 1 > len(params) or not set(node.kwargs) <= set(params):
        return None
    bound = {**dict(zip(params, node.args[1:], strict=False)), **node.kwargs}
    values = {}
    for key, arg in bound.items():
        ok, values[key] = static_value(arg)
        if not ok:
            return None
    if type(values.pop("inplace", False)) is not bool:
        return None
    return parametrised(name, values)


def parametrised(name: str, settings: dict[str, Any]) -> str | None:
    """The activation name for ``name`` with these settings; None where none fits.

    >>> parametrised("leaky_relu", {"negative_slope": 0.2}), parametrised("leaky_relu", {})
    ('leaky_relu(0.2)', 'leaky_relu')
    >>> parametrised("gelu", {"approximate": "tanh"}), parametrised("relu", {"alpha": 1})
    ('gelu_tanh', None)
    """
    settings = dict(settings)
    if name == "leaky_relu":
        slope = settings.pop("negative_slope", 0.01)
        if type(slope) not in (int, float):
            return None
        name = "leaky_relu" if slope == 0.01 else f"leaky_relu({float(slope)!r})"
    elif name == "gelu":
        approximate = settings.pop("approximate", "none")
        if approximate not in ("none", "tanh"):
            return None
        name = "gelu" if approximate == "none" else "gelu_tanh"
    else:
        settings.pop("approximate", None)  # a module attribute of other classes' subclasses
    return None if settings else name


def fuse_activation(b: Builder, node: fx.Node) -> bool:
    """Rule: an activation whose producer has no other reader becomes that op's activation."""
    fn = activation_name(b, node)
    return fn is not None and _fuse(b, node, node.args[0], fn)


def _fuse(b: Builder, node: fx.Node, src: fx.Node, fn: str, also: tuple = ()) -> bool:
    """Fuse activation ``fn``, which ``node`` applies to ``src``, into the producer of ``src``.

    Views between them that nothing else reads (a permute back after a layer norm) are looked
    through: an elementwise activation commutes with them, so the view stays folded and now
    reads the producer's activated output."""
    views, reader = [], node
    while (not also and is_tensor_node(src) and not isinstance(b.sym.get(src), Ref)
           and view_kind(b, src) == "view" and is_tensor_node(src.args[0])
           and list(src.users) == [reader]):
        views.append(src)
        reader, src = src, src.args[0]
    op = b.sole_producer(src, reader, also=also)
    parts = [op] if op is not None else []
    if op is not None and op.kind == "concat" and not also:
        found = concat_parts(b, src, reader)  # an activation after a concat: into each part
        op, parts = found if found is not None else (op, [])
    if not parts or any(p.kind not in FUSIBLE or p.attrs.get("activation", "none") != "none"
                        for p in parts):
        return False
    for part in parts:
        part.attrs["activation"] = fn
        part.kernel.activation = fn  # ConvKernel and FnKernel both apply it after their op
        part.flops += math.prod(part.shape)
    b.rebind(op, node)
    if views:  # node's value is the outermost view of the activated output
        b.sym[node] = b.sym[views[0]]
    return True


def emit_activation(b: Builder, node: fx.Node) -> bool:
    """Rule: any other activation is an ``act`` node."""
    fn = activation_name(b, node)
    if fn is None:
        return False
    _emit(b, node, node.args[0], fn)
    return True


def _emit(b: Builder, node: fx.Node, src: fx.Node, fn: str) -> None:
    inputs, body, tensors = localise(b.sym[src], b.consts)
    kernel = FnKernel(Replay(body), tensors, activation=fn)
    b.add(node, "act", inputs, kernel, {"fn": fn}, node.meta[META].numel, tensors.values())


def fuse_self_gate(b: Builder, node: fx.Node) -> bool:
    """Rule: ``x * sigmoid(x)`` is ``silu(x)`` (``x * hardsigmoid(x)`` ``hardswish(x)``) where
    nothing else reads the gate: fused into the producer of ``x``, else an ``act`` node."""
    if node.op == "call_method":
        op = BINARY_METHODS.get(node.target)
    else:
        op = lookup(BINARY_FUNCTIONS, node.target) if node.op == "call_function" else None
    if op != "mul" or len(node.args) != 2 or node.kwargs:
        return False
    for x, gate in (node.args, node.args[::-1]):
        if not (is_tensor_node(x) and is_tensor_node(gate) and gate.args and gate.args[0] is x):
            continue
        fn = SELF_GATES.get(activation_name(b, gate) or "")
        sym = b.sym.get(gate)
        if fn is None or not isinstance(sym, Ref) or b.owner.get(sym.name) is not gate:
            continue
        if list(gate.users) != [node] or b.ops[sym.name].kind != "act":
            continue
        del b.ops[sym.name]  # the gate's own act node: silu replaces it
        if not _fuse(b, node, x, fn, also=(gate,)):
            _emit(b, node, x, fn)
        return True
    return False
