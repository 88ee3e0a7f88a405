"""Batch norm in eval mode: folded into the conv before it, else a per-channel scale-shift.

An eval-mode batch norm with running statistics, as a module (``BatchNorm1d/2d/3d``, not
subclassed in its forward) or as ``F.batch_norm(..., training=False)`` with constant statistics,
weight and bias (timm's ``BatchNormAct2d`` calls it), computes ``x * scale + shift`` per channel
(dim 1). Where it follows a conv whose output nothing else reads and that has no fused activation
yet (aliases such as ``nn.Identity`` or eval dropout in between are looked through), it becomes
part of that conv node: its :class:`ConvKernel` gets the folded weight and bias (computed in
float64: one rounding). Any other one is a ``norm`` node (attr ``mode: "batch"``) whose kernel
runs the batch norm in eval mode; it takes a fused activation (densenet's BN-ReLU before a conv).
FLOPs: two per element.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder, Op
from ios_core.frontend.exprs import Const
from ios_core.frontend.kernels import ConvKernel
from ios_core.frontend.ops.args import bind_static
from ios_core.frontend.replay import Apply
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["BatchNormSpec", "batchnorm_spec", "emit_batchnorm", "fold_batchnorm"]

_BN_ARGS = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
            "eps")
_BN_DEFAULTS = {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5}


@dataclass
class BatchNormSpec:
    """An eval-mode batch norm: its input and its parameters as builder expressions."""

    src: fx.Node
    mean: Any  # Const expressions (weight and bias may be None)
    var: Any
    weight: Any
    bias: Any
    eps: float


def batchnorm_spec(b: Builder, node: fx.Node) -> BatchNormSpec | None:
    """The eval-mode batch norm ``node`` computes, else None."""
    if node.op == "call_module":
        m = b.modules[node.target]
        plain = (isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and type(m).forward is nn.modules.batchnorm._BatchNorm.forward)
        if (not plain or m.training or m.running_mean is None or m.running_var is None
                or len(node.args) != 1 or node.kwargs):
            return None
        state = {k: getattr(m, k) for k in ("running_mean", "running_var", "weight", "bias")}
        exprs = {k: None if v is None else b.constant(f"{node.target}.{k}", v)
                 for k, v in state.items()}
        spec = BatchNormSpec(node.args[0], exprs["running_mean"], exprs["running_var"],
                             exprs["weight"], exprs["bias"], float(m.eps))
    elif node.op == "call_function" and node.target is F.batch_norm:
        bound = bind_static(node, _BN_ARGS, _BN_DEFAULTS)
        if bound is None or bound["training"] is not False:
            return None
        if not all(isinstance(bound[k], torch.Tensor) for k in ("running_mean", "running_var")):
            return None
        if not all(bound[k] is None or isinstance(bound[k], torch.Tensor)
                   for k in ("weight", "bias")):
            return None
        args = {**_BN_DEFAULTS, **dict(zip(_BN_ARGS, node.args, strict=False)), **node.kwargs}
        exprs = {k: b.arg(args[k]) for k in ("running_mean", "running_var", "weight", "bias")}
        spec = BatchNormSpec(node.args[0], exprs["running_mean"], exprs["running_var"],
                             exprs["weight"], exprs["bias"], float(bound["eps"]))
    else:
        return None
    if not is_tensor_node(spec.src) or len(spec.src.meta[META].shape) < 2:
        return None
    if not all(e is None or isinstance(e, Const) for e in (spec.mean, spec.var, spec.weight,
                                                             spec.bias)):
        return None
    return spec


def fold_batchnorm(b: Builder, node: fx.Node) -> bool:
    """Rule: an eval batch norm after a conv that nothing else reads scales and shifts it."""
    spec = batchnorm_spec(b, node)
    op = b.sole_producer(spec.src, node) if spec is not None else None
    if op is None or spec is None or op.kind != "conv" or op.attrs["activation"] != "none":
        return False

    def tensor(e: Any) -> torch.Tensor | None:
        return None if e is None else b.consts[e.key].detach().double()

    # in float64, so that folding adds no more than one rounding to the weights
    scale = tensor(spec.var).add(spec.eps).rsqrt()
    weight, bias = tensor(spec.weight), tensor(spec.bias)
    if weight is not None:
        scale = scale * weight
    shift = -tensor(spec.mean) * scale
    if bias is not None:
        shift = shift + bias
    _scale_shift(op, scale, shift)
    b.rebind(op, node)
    return True


def _scale_shift(op: Op, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """Make conv ``op`` compute ``conv(x) * scale + shift`` per output channel."""
    k = op.kernel
    assert isinstance(k, ConvKernel)
    new_bias = shift if k.bias is None else k.bias.double() * scale + shift
    if k.bias is None:
        op.bytes += new_bias.numel() * k.weight.element_size()
    new_weight = k.weight.double() * scale.view(-1, 1, 1, 1)
    op.kernel = replace(k, weight=new_weight.to(k.weight.dtype),
                        bias=new_bias.to(k.weight.dtype))


def emit_batchnorm(b: Builder, node: fx.Node) -> bool:
    """Rule: any other eval batch norm is a ``norm`` node, a per-channel scale-shift."""
    spec = batchnorm_spec(b, node)
    if spec is None:
        return False
    expr = Apply(F.batch_norm, (b.sym[spec.src], spec.mean, spec.var, spec.weight, spec.bias,
                                False, 0.0, spec.eps), {}, "torch.nn.functional.batch_norm")
    channels = node.meta[META].shape[1]
    attrs = {"mode": "batch", "num_features": channels, "activation": "none"}
    b.emit(node, "norm", expr, attrs, 2 * node.meta[META].numel)
    return True
