"""Pooling: 2-d max / avg / adaptive pooling (module or functional) becomes a ``pool`` node.

Windowed pooling has mode ``max`` or ``avg`` (no dilation, no returned indices) with kernel,
stride, padding, ceil_mode (and count_include_pad for avg); FLOPs: output elements x window.
Adaptive pooling to 1x1 has mode ``global_avg`` / ``global_max`` (the kernel is the input's
spatial size), to other sizes ``adaptive_avg`` / ``adaptive_max`` (attr ``output_size``); FLOPs:
input elements. A ``pool`` takes a fused activation (attr ``activation``).
"""

from __future__ import annotations

import math
from typing import Any

from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.op_tables import POOL_ARGS, POOL_FUNCTIONS, lookup
from ios_core.frontend.ops.args import bind_static, pair
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
    b.emit(node, "pool", b.call_expr(node), attrs, flops)
    return True


def pool_attrs(b: Builder, node: fx.Node) -> dict | None:
    """mode/kernel/stride/padding/ceil_mode of a 2-d pooling op (module or function)."""
    if node.op == "call_module":
        return _module_attrs(b.modules[node.target], node)
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
