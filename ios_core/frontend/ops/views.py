"""Aliases and views: folded into their readers, never nodes of their own.

* aliases (the reader gets the tensor itself): ``nn.Identity``, dropout modules and
  ``F.dropout*`` in eval (``training=False``), ``Tensor.detach``;
* views (the reader's kernel applies them to the tensor it is given): ``flatten`` /
  ``nn.Flatten``, ``unflatten`` / ``nn.Unflatten``, ``reshape``, ``view``, ``squeeze``,
  ``unsqueeze``, ``contiguous``, basic indexing ``x[...]`` (ints, slices, None, Ellipsis), and
  the ``getitem`` that picks a piece of ``split`` / ``chunk`` / ``unbind`` / ``tensor_split``.

A folded view that a ``conv`` reads (its kernel takes a plain tensor, so merged convs can share
it) or that the model returns is materialised once as a zero-FLOP ``call`` node (attr
``view: True``) by :meth:`~ios_core.frontend.builder.Builder.plain`.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any

from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.op_tables import (
    DROPOUT_FNS,
    DROPOUTS,
    SPLIT_FNS,
    SPLIT_METHODS,
    VIEW_FNS,
    VIEW_METHODS,
    member,
)
from ios_core.frontend.replay import Apply, Method
from ios_core.frontend.shapes import META, TensorMeta, is_dynamic, static_value

__all__ = ["basic_index", "fold_view", "view_kind"]


def fold_view(b: Builder, node: fx.Node) -> bool:
    """Rule: an alias reads as its input; a view as a call folded into its readers."""
    kind = view_kind(b, node)
    if kind is None:
        return False
    b.sym[node] = b.sym[node.args[0]] if kind == "alias" else b.call_expr(node)
    return True


def view_kind(b: Builder, node: fx.Node) -> str | None:
    """"alias" (identity), "view" (folded into readers) or None (not a view)."""
    if not node.args or not is_dynamic(node.args[0]):
        return None
    if node.op == "call_module":
        m = b.modules[node.target]
        if isinstance(m, nn.Identity) or (isinstance(m, DROPOUTS) and not m.training):
            return "alias"
        return "view" if isinstance(m, (nn.Flatten, nn.Unflatten)) else None
    if node.op == "call_method":
        if node.target == "detach":
            return "alias"
        return "view" if node.target in VIEW_METHODS else None
    fn = node.target
    if member(fn, DROPOUT_FNS):
        bound = inspect.signature(fn).bind(*node.args, **node.kwargs)
        bound.apply_defaults()
        return "alias" if static_value(bound.arguments["training"]) == (True, False) else None
    if member(fn, VIEW_FNS):
        return "view"
    if fn is operator.getitem:
        return _getitem_kind(b, node)
    return None


def _getitem_kind(b: Builder, node: fx.Node) -> str | None:
    """``x[index]`` with a basic index, or a piece of a split, is a view."""
    src = node.args[0]
    if isinstance(src.meta[META], TensorMeta):
        return "view" if basic_index(node.args[1]) else None
    sym = b.sym[src]  # a piece of split/chunk/... is a view too
    fn = sym.fn if isinstance(sym, Apply) else None
    is_method = isinstance(fn, Method) and fn.name in SPLIT_METHODS
    is_split = is_method or member(fn, SPLIT_FNS)
    return "view" if is_split else None


def basic_index(index: Any) -> bool:
    """``x[index]`` is a view: ints, slices of ints, None and Ellipsis only.

    >>> basic_index((slice(None), 0, None, Ellipsis)), basic_index((slice(0, 2), [0, 1]))
    (True, False)
    """
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        parts = (item.start, item.stop, item.step) if isinstance(item, slice) else (item,)
        for part in parts:
            ok, value = static_value(part)
            if not ok or not (value is None or value is Ellipsis or type(value) is int):
                return False
    return True
