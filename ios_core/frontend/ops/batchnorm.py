"""BatchNorm folding: an eval-mode ``BatchNorm2d`` after a conv scales and shifts the conv.

The BatchNorm module must follow a conv whose output nothing else reads and that has no fused
activation yet; it then becomes part of that conv node, whose :class:`ConvKernel` gets the folded
weight and bias (computed in float64: one rounding). Any other BatchNorm is an opaque ``call``.
"""

from __future__ import annotations

from dataclasses import replace

from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.kernels import ConvKernel

__all__ = ["fold_batchnorm"]


def fold_batchnorm(b: Builder, node: fx.Node) -> bool:
    """Rule: eval-mode BatchNorm2d after a conv that nothing else reads scales and shifts it."""
    if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
        return False
    m = b.modules[node.target]
    if not (isinstance(m, nn.BatchNorm2d) and type(m).forward is nn.BatchNorm2d.forward
            and m.running_mean is not None and m.running_var is not None and not m.training):
        return False
    op = b.sole_producer(node.args[0], node)
    if op is None or op.kind != "conv" or op.attrs["activation"] != "none":
        return False
    k = op.kernel
    assert isinstance(k, ConvKernel)
    # in float64, so that folding adds no more than one rounding to the weights
    scale = m.running_var.double().add(m.eps).rsqrt()
    if m.weight is not None:
        scale = scale * m.weight.detach().double()
    shift = -m.running_mean.double() * scale
    if m.bias is not None:
        shift = shift + m.bias.detach().double()
    bias = shift if k.bias is None else k.bias.double() * scale + shift
    if k.bias is None:
        op.bytes += bias.numel() * k.weight.element_size()
    weight = k.weight.double() * scale.view(-1, 1, 1, 1)
    op.kernel = replace(k, weight=weight.to(k.weight.dtype), bias=bias.to(k.weight.dtype))
    b.rebind(op, node)
    return True
