"""Convolutions: a plain 2-d conv becomes a ``conv`` node with a :class:`ConvKernel`.

``nn.Conv2d`` (not subclassed in its forward, zero padding) or ``F.conv2d`` with a constant 4-d
weight, on a 4-d input, with symmetric padding (``"same"`` only where that is symmetric; a
symmetric zero pad before it is added to it, see :mod:`~ios_core.frontend.ops.padding`). Its
input is a plain tensor (a folded view is materialised), so that convs that read one tensor can
be merged into one wide conv; a conv on channels ``a:b`` of a tensor (a piece of a split or
chunk, ``narrow``, ``x[:, a:b]``: timm's ``MixedConv2d``) reads that tensor, attr
``in_slice: (a, b)``, and its kernel takes the channels itself, so that the convs on the pieces
of one tensor can merge into one grouped conv (:mod:`~ios_core.ir.merge`). FLOPs: 2 x MACs;
attrs: channels, kernel, stride, padding, dilation, groups, and ``activation`` (a fused one, see
:mod:`~ios_core.frontend.ops.activations`). Any other conv is an opaque ``call``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.kernels import ConvKernel
from ios_core.frontend.op_tables import CONV_ARGS, CONV_DEFAULTS
from ios_core.frontend.ops.args import bind_static, pair
from ios_core.frontend.ops.padding import absorbed_pad
from ios_core.frontend.ops.views import channel_slice
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["conv_padding", "conv_spec", "emit_conv"]


def emit_conv(b: Builder, node: fx.Node) -> bool:
    """Rule: a plain 2-d conv with a constant weight is a ``conv`` node."""
    spec = conv_spec(b, node)
    if spec is None:
        return False
    src, weight, bias, stride, padding, dilation, groups = spec
    kh, kw = weight.shape[2:]
    pad = conv_padding(padding, (kh, kw), pair(dilation))
    if pad is None or not is_tensor_node(src) or len(src.meta[META].shape) != 4:
        return False
    zeros = absorbed_pad(b, src, 0.0)
    if zeros is not None:  # a symmetric zero pad before it: the conv pads itself
        src, pad = zeros.src, (pad[0] + zeros.top, pad[1] + zeros.left)
    attrs = {
        "in_channels": weight.shape[1] * groups, "out_channels": weight.shape[0],
        "kernel": (kh, kw), "stride": pair(stride), "padding": pad,
        "dilation": pair(dilation), "groups": int(groups), "activation": "none",
    }
    piece = channel_slice(b, src)
    if piece is not None:  # channels a:b of a tensor: read that tensor (merge candidates)
        source, in_slice = piece[0], piece[1:]
        attrs["in_slice"] = in_slice
    else:
        source, in_slice = b.plain(src), None
    kernel = ConvKernel(weight, bias, pair(stride), pad, pair(dilation), int(groups),
                        in_slice=in_slice)
    flops = 2 * node.meta[META].numel * weight.shape[1] * kh * kw  # MACs x 2
    weights = [weight] if bias is None else [weight, bias]
    b.add(node, "conv", (source,), kernel, attrs, flops, weights)
    return True


def conv_spec(b: Builder, node: fx.Node) -> tuple | None:
    """(input node, weight, bias, stride, padding, dilation, groups) of a plain 2-d conv."""
    if node.op == "call_module":
        m = b.modules[node.target]
        plain = (isinstance(m, nn.Conv2d) and type(m).forward is nn.Conv2d.forward
                 and type(m)._conv_forward is nn.Conv2d._conv_forward)
        if not plain or m.padding_mode != "zeros" or len(node.args) != 1 or node.kwargs:
            return None
        bias = None if m.bias is None else m.bias.detach()
        return (node.args[0], m.weight.detach(), bias, m.stride, m.padding, m.dilation,
                m.groups)
    if node.op != "call_function" or node.target is not F.conv2d:
        return None
    bound = bind_static(node, CONV_ARGS, CONV_DEFAULTS)
    if bound is None or not isinstance(bound["weight"], torch.Tensor):
        return None
    if bound["weight"].dim() != 4 or not (bound["bias"] is None or
                                          isinstance(bound["bias"], torch.Tensor)):
        return None
    bias = None if bound["bias"] is None else bound["bias"].detach()
    return (node.args[0], bound["weight"].detach(), bias, bound["stride"], bound["padding"],
            bound["dilation"], bound["groups"])


def conv_padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]
                 ) -> tuple[int, int] | None:
    """Explicit symmetric padding, or None where ``"same"`` needs an asymmetric one.

    >>> conv_padding("same", (3, 5), (1, 1)), conv_padding("same", (2, 2), (1, 1))
    ((1, 2), None)
    >>> conv_padding("valid", (3, 3), (1, 1)), conv_padding(2, (3, 3), (1, 1))
    ((0, 0), (2, 2))
    """
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        return pair(padding)
    totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return None if any(t % 2 for t in totals) else (totals[0] // 2, totals[1] // 2)
