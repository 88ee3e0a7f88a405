"""Every other op: an opaque ``call`` node whose kernel replays it exactly (nothing is dropped).

Functions, methods and modules the rules do not take (``pixel_shuffle``, a reflection pad, a
``ZeroPad2d`` that crops, a BatchNorm without running statistics, a leaf module...) become a
``call`` node, attr ``target``: the op's qualified name, plus for a module its settings
(:func:`module_settings`), so that two calls differ in the fingerprint when the modules do. The
kernel replays the op out of place. FLOPs are a guess: one per element read or written,
whichever is more. A ``getitem`` on a tuple-valued op (``topk``, a leaf module returning a
pair...) recomputes the op and picks its piece.
"""

from __future__ import annotations

import operator
from typing import Any

from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.naming import target_name
from ios_core.frontend.shapes import META, TensorMeta, is_tensor_node

__all__ = ["emit_call", "module_settings"]


def emit_call(b: Builder, node: fx.Node) -> None:
    """Fallback: any other op, replayed as is (out of place); nothing is dropped."""
    target = target_name(node)
    if node.target is operator.getitem and not isinstance(node.args[0].meta[META], TensorMeta):
        target = f"{target_name(node.args[0])}[{node.args[1]}]"  # a piece of a tuple op
    attrs: dict[str, Any] = {"target": target}
    if node.op == "call_module":
        attrs.update(module_settings(b.modules[node.target]))
    # a guess of 1 FLOP per element read or written: reductions read more than they write
    reads = sum(m.meta[META].numel for m in node.all_input_nodes if is_tensor_node(m))
    b.emit(node, "call", b.call_expr(node), attrs, max(reads, node.meta[META].numel))


def module_settings(module: nn.Module) -> dict[str, Any]:
    """What tells two opaque modules of one class apart, stable across torch releases.

    Numeric settings (padding, eps, num_features...) and the shapes of parameters and buffers;
    not ``extra_repr()``, whose wording changes between releases and would change fingerprints.

    >>> module_settings(nn.ZeroPad2d(1))
    {'padding': (1, 1, 1, 1), 'value': 0.0}
    >>> module_settings(nn.LayerNorm(4))
    {'eps': 1e-05, 'normalized_shape': (4,), 'tensors': {'weight': [4], 'bias': [4]}}
    """
    settings: dict[str, Any] = {
        k: v for k, v in sorted(vars(module).items())
        if not k.startswith("_") and not isinstance(v, bool)
        and (isinstance(v, (int, float)) or (isinstance(v, tuple) and all(
            isinstance(i, (int, float)) and not isinstance(i, bool) for i in v)))
    }
    state = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    if state:
        settings["tensors"] = {k: list(v.shape) for k, v in state if v is not None}
    return settings
