"""Pooling: 2-d max / avg / adaptive pooling (module or functional) becomes a ``pool`` node.

Windowed pooling has mode ``max`` or ``avg`` (no dilation, no returned indices) with kernel,
stride, padding, ceil_mode (and count_include_pad for avg); FLOPs: output elements x window.
Adaptive pooling to 1x1, and ``mean`` / ``amax`` over both spatial dims (``keepdim`` or not: the
node's shape says), have mode ``global_avg`` / ``global_max`` (the kernel is the input's spatial
size); adaptive pooling to other sizes ``adaptive_avg`` / ``adaptive_max`` (attr
``output_size``); FLOPs: input elements. A constant pad before a max or avg pool is folded into
its padding where that is exact (:mod:`~ios_core.frontend.ops.padding`). A ``pool`` takes a fused
activation (attr ``activation``).
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.op_tables import POOL_ARGS, POOL_FUNCTIONS, REDUCE_FUNCTIONS, lookup, member
from ios_core.frontend.ops.args import bind_static, pair
from ios_core.frontend.ops.padding import absorbed_pad
from ios_core.frontend.replay import Apply
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["adaptive", "emit_pool", "pool_attrs", "window"]


def emit_pool(b: Builder, node: fx.Node) -> bool:
    """Rule: 2-d pooling on a 4-d tensor is a ``pool`` node."""
    attrs = pool_attrs(b, node)
    src = node.args[0] if node.args else None
    if attrs is None or not is_tensor_node(src) or len(src.meta[META].shape) != 4:
        return False
    in_meta, out_meta = src.meta[META], node.meta[META]
    if attrs["mode"] in ("max", "avg"):
        flops = out_meta.numel * math.prod(attrs["kernel"])
    else:  # global / adaptive: every input element is read once
        flops = in_meta.numel
    if attrs["mode"] in ("global_avg", "global_max"):
        attrs.update(kernel=tuple(in_meta.shape[2:]), stride=(1, 1), padding=(0, 0))
    elif attrs["mode"].startswith("adaptive"):
        attrs["output_size"] = tuple(out_meta.shape[2:])
    attrs["activation"] = "none"
    expr = b.call_expr(node)
    folded = _absorb_pad(b, node, attrs, src)
    if folded is not None:  # a pad before it: the pool pads itself
        attrs, expr = folded
    b.emit(node, "pool", expr, attrs, flops)
    return True


def pool_attrs(b: Builder, node: fx.Node) -> dict | None:
    """mode/kernel/stride/padding/ceil_mode of a 2-d pooling op (module or function)."""
    if node.op == "call_module":
        return _module_attrs(b.modules[node.target], node)
    if node.op == "call_method" or member(node.target, REDUCE_FUNCTIONS):
        return _reduce_attrs(node)
    mode = lookup(POOL_FUNCTIONS, node.target) if node.op == "call_function" else None
    bound = bind_static(node, *POOL_ARGS[mode]) if mode else None
    if bound is None or bound.get("return_indices"):
        return None
    if pair(bound.get("dilation", 1)) != (1, 1):
        return None
    if mode == "max":
        return window("max", bound["kernel_size"], bound["stride"], bound["padding"],
                      bound["ceil_mode"])
    if mode == "avg":
        attrs = window("avg", bound["kernel_size"], bound["stride"], bound["padding"],
                       bound["ceil_mode"])
        return {**attrs, "count_include_pad": bool(bound["count_include_pad"])}
    return adaptive(mode.removeprefix("adaptive_"), node)


def _module_attrs(m: nn.Module, node: fx.Node) -> dict | None:
    if len(node.args) != 1 or node.kwargs:
        return None
    if type(m) is nn.MaxPool2d and not m.return_indices and pair(m.dilation) == (1, 1):
        return window("max", m.kernel_size, m.stride, m.padding, m.ceil_mode)
    if type(m) is nn.AvgPool2d:
        attrs = window("avg", m.kernel_size, m.stride, m.padding, m.ceil_mode)
        return {**attrs, "count_include_pad": bool(m.count_include_pad)}
    if type(m) is nn.AdaptiveAvgPool2d:
        return adaptive("avg", node)
    if type(m) is nn.AdaptiveMaxPool2d and not m.return_indices:
        return adaptive("max", node)
    return None


def _reduce_attrs(node: fx.Node) -> dict | None:
    """``mean`` / ``amax`` over both spatial dims of a 4-d tensor: global pooling."""
    name = node.target if node.op == "call_method" else lookup(REDUCE_FUNCTIONS, node.target)
    mode = {"mean": "global_avg", "amax": "global_max"}.get(name)
    src = node.args[0] if node.args else None
    if mode is None or not is_tensor_node(src) or len(src.meta[META].shape) != 4:
        return None
    bound = bind_static(node, ("input", "dim", "keepdim"), {"keepdim": False})
    if bound is None or type(bound["keepdim"]) is not bool:
        return None
    dims = bound["dim"]
    dims = (dims,) if type(dims) is int else dims
    if not isinstance(dims, (tuple, list)) or not all(type(d) is int for d in dims):
        return None
    return {"mode": mode} if sorted(d % 4 for d in dims) == [2, 3] else None


def _absorb_pad(b: Builder, node: fx.Node, attrs: dict, src: fx.Node) -> tuple[dict, Any] | None:
    """Attrs and kernel expression of the pool with the pad before it folded into its padding,
    where that is exact (see :mod:`~ios_core.frontend.ops.padding`); else None."""
    mode = attrs["mode"]
    if mode not in ("max", "avg") or attrs["ceil_mode"]:
        return None
    spec = absorbed_pad(b, src, -math.inf if mode == "max" else 0.0)
    if spec is None:
        return None
    if mode == "avg" and (_divisor_override(b, node) is not None or (
            attrs["padding"] != (0, 0) and not attrs["count_include_pad"])):
        return None  # the pool would not count the pad in its divisor
    padding = (attrs["padding"][0] + spec.top, attrs["padding"][1] + spec.left)
    if any(2 * p > k for p, k in zip(padding, attrs["kernel"], strict=True)):
        return None  # PyTorch refuses padding over half the kernel
    attrs = {**attrs, "padding": padding}
    x = b.sym[spec.src]
    if mode == "max":
        expr = Apply(F.max_pool2d, (x, attrs["kernel"], attrs["stride"], padding), {},
                     "torch.nn.functional.max_pool2d")
    else:
        attrs["count_include_pad"] = True
        expr = Apply(F.avg_pool2d, (x, attrs["kernel"], attrs["stride"], padding),
                     {"count_include_pad": True}, "torch.nn.functional.avg_pool2d")
    return attrs, expr


def _divisor_override(b: Builder, node: fx.Node) -> Any:
    if node.op == "call_module":
        return getattr(b.modules[node.target], "divisor_override", None)
    bound = bind_static(node, *POOL_ARGS["avg"])
    return None if bound is None else bound["divisor_override"]


def window(mode: str, kernel: Any, stride: Any, padding: Any, ceil_mode: bool) -> dict:
    """Attrs of windowed pooling; no stride means the kernel's size.

    >>> window("max", 3, None, 1, False)
    {'mode': 'max', 'kernel': (3, 3), 'stride': (3, 3), 'padding': (1, 1), 'ceil_mode': False}
    """
    kernel = pair(kernel)
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride)
    return {"mode": mode, "kernel": kernel, "stride": stride, "padding": pair(padding),
            "ceil_mode": bool(ceil_mode)}


def adaptive(kind: str, node: fx.Node) -> dict:
    """Mode of adaptive pooling (``kind``: avg or max) by its recorded output size."""
    out = tuple(node.meta[META].shape[2:])
    return {"mode": f"global_{kind}" if out == (1, 1) else f"adaptive_{kind}"}
