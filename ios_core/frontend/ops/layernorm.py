"""Layer norm and group norm: a ``norm`` node (attr ``mode`` ``"layer"`` / ``"group"``).

``nn.LayerNorm`` / ``F.layer_norm`` (over the last dims, ``normalized_shape``; a layer norm over
the channels of an NCHW tensor is written as permute, layer norm, permute back: the permutes are
views, see :mod:`~ios_core.frontend.ops.views`) and ``nn.GroupNorm`` / ``F.group_norm``
(``num_groups``), modules not subclassed in their forward, with constant weight, bias and eps.
The kernel replays the op. A ``norm`` takes a fused activation. FLOPs: five per element (mean,
variance, normalise, scale, shift).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.ops.args import bind_static
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["emit_norm", "norm_attrs"]

_LN_ARGS = ("input", "normalized_shape", "weight", "bias", "eps")
_GN_ARGS = ("input", "num_groups", "weight", "bias", "eps")
_DEFAULTS = {"weight": None, "bias": None, "eps": 1e-5}


def emit_norm(b: Builder, node: fx.Node) -> bool:
    """Rule: a layer norm or group norm with constant parameters is a ``norm`` node."""
    attrs = norm_attrs(b, node)
    if attrs is None or not is_tensor_node(node.args[0] if node.args else None):
        return False
    attrs["activation"] = "none"
    b.emit(node, "norm", b.call_expr(node), attrs, 5 * node.meta[META].numel)
    return True


def norm_attrs(b: Builder, node: fx.Node) -> dict | None:
    """``mode`` and its setting (``normalized_shape`` / ``num_groups``), else None."""
    if node.op == "call_module":
        m = b.modules[node.target]
        if len(node.args) != 1 or node.kwargs:
            return None
        if type(m).forward is nn.LayerNorm.forward and isinstance(m, nn.LayerNorm):
            return {"mode": "layer", "normalized_shape": tuple(m.normalized_shape)}
        if type(m).forward is nn.GroupNorm.forward and isinstance(m, nn.GroupNorm):
            return {"mode": "group", "num_groups": int(m.num_groups)}
        return None
    if node.op != "call_function" or node.target not in (F.layer_norm, F.group_norm):
        return None
    layer = node.target is F.layer_norm
    bound = bind_static(node, _LN_ARGS if layer else _GN_ARGS, _DEFAULTS)
    if bound is None or not all(bound[k] is None or isinstance(bound[k], torch.Tensor)
                                for k in ("weight", "bias")):
        return None
    if layer:
        shape = bound["normalized_shape"]
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if not all(type(s) is int for s in shape):
            return None
        return {"mode": "layer", "normalized_shape": shape}
    if type(bound["num_groups"]) is not int:
        return None
    return {"mode": "group", "num_groups": bound["num_groups"]}
