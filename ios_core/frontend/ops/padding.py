"""Constant padding: folded into the conv or pool that reads it where that is exact.

``F.pad(x, pad, mode="constant", value)`` with 2 or 4 non-negative pads on a 4-d tensor,
``nn.ZeroPad2d`` and ``nn.ConstantPad2d`` are folded into their readers like a view
(:mod:`~ios_core.frontend.ops.views`): never nodes of their own. A reader absorbs the pad into its
own padding (:func:`absorbed_pad`) where the result is the same:

* a ``conv`` (zero padding mode): the pad is zeros and symmetric (left = right, top = bottom);
* a max ``pool``: the pad is ``-inf``, symmetric, and the pool has no ``ceil_mode`` (which
  counts windows from the padded size) and keeps padding <= half its kernel, as PyTorch asks;
* an avg ``pool``: the pad is zeros, symmetric, no ``ceil_mode``, padding <= half the kernel,
  and the pool counts padding in its divisor (``count_include_pad``, or no padding of its own)
  without a ``divisor_override``: the explicit zeros were counted too.

Where no reader absorbs it (an asymmetric "same" pad before a strided conv), a conv reads it
materialised, a zero-FLOP ``call`` node with attr ``view: True`` (memory movement, priced by its
bytes). Negative pads (cropping) and other modes (reflect, replicate...) are left to the other
rules, which keep them opaque ``call`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.exprs import Ref
from ios_core.frontend.ops.args import bind_static
from ios_core.frontend.shapes import META, is_tensor_node

__all__ = ["PadSpec", "absorbed_pad", "fold_pad", "pad_spec"]


@dataclass(frozen=True)
class PadSpec:
    """A constant pad of the last two dims of a 4-d tensor."""

    src: fx.Node
    left: int
    right: int
    top: int
    bottom: int
    value: float

    @property
    def symmetric(self) -> bool:
        return self.left == self.right and self.top == self.bottom


def pad_spec(b: Builder, node: fx.Node) -> PadSpec | None:
    """The constant non-negative pad ``node`` computes, else None."""
    if node.op == "call_module":
        m = b.modules[node.target]
        if type(m) not in (nn.ZeroPad2d, nn.ConstantPad2d) or len(node.args) != 1 or node.kwargs:
            return None
        pads, value = tuple(m.padding), float(m.value)
    elif node.op == "call_function" and node.target is F.pad:
        bound = bind_static(node, ("input", "pad", "mode", "value"),
                            {"mode": "constant", "value": None})
        if bound is None or bound["mode"] != "constant":
            return None
        pads, value = bound["pad"], 0.0 if bound["value"] is None else bound["value"]
        if not isinstance(pads, (tuple, list)) or type(value) not in (int, float):
            return None
        pads = tuple(pads)
    else:
        return None
    src = node.args[0] if node.args else None
    if not is_tensor_node(src) or len(src.meta[META].shape) != 4 or len(pads) not in (2, 4):
        return None
    if not all(type(p) is int and p >= 0 for p in pads):
        return None
    left, right, top, bottom = (*pads, 0, 0)[:4]
    return PadSpec(src, left, right, top, bottom, float(value))


def fold_pad(b: Builder, node: fx.Node) -> bool:
    """Rule: a constant non-negative pad is folded into its readers (see the module docstring)."""
    if pad_spec(b, node) is None:
        return False
    b.sym[node] = b.call_expr(node)
    return True


def absorbed_pad(b: Builder, src: object, value: float) -> PadSpec | None:
    """The pad ``src`` is, where its reader can absorb it: folded (not a node), symmetric and of
    ``value``; else None."""
    if not isinstance(src, fx.Node) or isinstance(b.sym.get(src), Ref):
        return None
    spec = pad_spec(b, src)
    return spec if spec is not None and spec.symmetric and spec.value == value else None
