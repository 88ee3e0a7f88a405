"""Aliases and views: folded into their readers, never nodes of their own.

* aliases (the reader gets the tensor itself, and fusions look through them): ``nn.Identity``,
  dropout modules and ``F.dropout*`` in eval (``training=False``), ``Tensor.detach``, and
  stochastic depth / drop path (torchvision's ``stochastic_depth``, timm's ``drop_path``) when
  not training or with drop probability 0;
* views (the reader's kernel applies them to the tensor it is given): ``flatten`` /
  ``nn.Flatten``, ``unflatten`` / ``nn.Unflatten``, ``reshape``, ``view``, ``view_as``,
  ``squeeze``, ``unsqueeze``, ``contiguous``, ``narrow``, ``expand``, the permutes
  (``transpose``, ``swapaxes``, ``permute``, ``movedim``...; a channel shuffle written as
  view-transpose-view is three views), basic indexing ``x[...]`` (ints, slices, None, Ellipsis),
  and the ``getitem`` that picks a piece of ``split`` / ``chunk`` / ``unbind`` /
  ``tensor_split``;
* memory movement that is no view, replayed by readers the same way: ``nn.ChannelShuffle`` /
  ``channel_shuffle``.

A folded view that a ``conv`` reads (its kernel takes a plain tensor, so merged convs can share
it) or that the model returns is materialised once as a zero-FLOP ``call`` node (attr
``view: True``) by :meth:`~ios_core.frontend.builder.Builder.plain`: memory movement, priced by
the bytes it reads and writes.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any

import torch
from torch import fx, nn

from ios_core.frontend.builder import Builder
from ios_core.frontend.exprs import Ref
from ios_core.frontend.naming import target_name
from ios_core.frontend.op_tables import (
    DROP_PATH_FNS,
    DROPOUT_FNS,
    DROPOUTS,
    MOVE_FNS,
    MOVE_MODULES,
    SPLIT_FNS,
    SPLIT_METHODS,
    VIEW_FNS,
    VIEW_METHODS,
    member,
)
from ios_core.frontend.replay import Apply, Method
from ios_core.frontend.shapes import META, TensorMeta, is_dynamic, static_value

__all__ = ["basic_index", "channel_slice", "fold_view", "view_kind"]


def fold_view(b: Builder, node: fx.Node) -> bool:
    """Rule: an alias reads as its input; a view as a call folded into its readers."""
    kind = view_kind(b, node)
    if kind is None:
        return False
    if kind == "alias":
        b.alias(node, node.args[0])
    else:
        b.sym[node] = b.call_expr(node)
    return True


def view_kind(b: Builder, node: fx.Node) -> str | None:
    """"alias" (identity), "view" (folded into readers) or None (not a view)."""
    if not node.args or not is_dynamic(node.args[0]):
        return None
    if node.op == "call_module":
        m = b.modules[node.target]
        if isinstance(m, nn.Identity) or (isinstance(m, DROPOUTS) and not m.training):
            return "alias"
        moves = isinstance(m, (nn.Flatten, nn.Unflatten, *MOVE_MODULES))
        return "view" if moves and len(node.args) == 1 and not node.kwargs else None
    if node.op == "call_method":
        if node.target == "detach":
            return "alias"
        return "view" if node.target in VIEW_METHODS else None
    fn = node.target
    if member(fn, DROPOUT_FNS):
        bound = inspect.signature(fn).bind(*node.args, **node.kwargs)
        bound.apply_defaults()
        return "alias" if static_value(bound.arguments["training"]) == (True, False) else None
    if member(fn, VIEW_FNS) or member(fn, MOVE_FNS):
        return "view"
    if target_name(node) in DROP_PATH_FNS:
        return _drop_path_kind(node)
    if fn is operator.getitem:
        return _getitem_kind(b, node)
    return None


def _drop_path_kind(node: fx.Node) -> str | None:
    """Stochastic depth is the identity when not training or with drop probability 0."""
    names, defaults = DROP_PATH_FNS[target_name(node)]
    if len(node.args) > len(names) or not set(node.kwargs) <= set(names):
        return None
    bound = {**defaults, **dict(zip(names, node.args, strict=False)), **node.kwargs}
    training = static_value(bound.get("training"))
    prob = static_value(bound.get(names[1]))
    return "alias" if training == (True, False) or prob in ((True, 0), (True, 0.0)) else None


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


def channel_slice(b: Builder, node: fx.Node) -> tuple[str, int, int] | None:
    """``(name, start, stop)`` where the folded view ``node`` is channels ``start:stop`` of the
    4-d tensor ``name`` yields (a node or graph input), else None.

    It recognises a piece of ``split`` / ``split_with_sizes`` / ``chunk`` / ``tensor_split`` on
    dim 1, ``narrow`` on dim 1, and ``x[:, a:b]`` (step 1, trailing ``:`` or ``...``).
    """
    if not isinstance(node, fx.Node) or node.op not in ("call_function", "call_method"):
        return None
    if isinstance(b.sym.get(node), Ref):
        return None  # not a folded view
    if node.target is operator.getitem:
        src, index = node.args
        if isinstance(src.meta[META], TensorMeta):
            return _sliced(b, src, index)
        return _split_piece(b, src, index)
    if node.target == "narrow" or node.target is torch.narrow:
        values = [static_value(a) for a in node.args[1:]]
        if len(values) != 3 or node.kwargs or not all(ok for ok, _ in values):
            return None
        dim, start, length = (v for _, v in values)
        if not (type(start) is int and type(length) is int):
            return None
        return _span(b, node.args[0], dim, start, start + length)
    return None


def _span(b: Builder, src: Any, dim: Any, start: Any, stop: Any) -> tuple[str, int, int] | None:
    """``(name, start, stop)`` for channels start:stop of ``src`` where ``src`` is a node's
    4-d output (not a folded view) and ``dim`` is the channel dim."""
    sym = b.sym.get(src) if isinstance(src, fx.Node) else None
    if not isinstance(sym, Ref) or not isinstance(src.meta[META], TensorMeta):
        return None
    shape = src.meta[META].shape
    if len(shape) != 4 or type(dim) is not int or dim % 4 != 1:
        return None
    if not (type(start) is int and type(stop) is int and 0 <= start < stop <= shape[1]):
        return None
    return sym.name, start, stop


def _sliced(b: Builder, src: fx.Node, index: Any) -> tuple[str, int, int] | None:
    items = index if isinstance(index, tuple) else (index,)
    if len(items) < 2 or items[0] != slice(None) or not isinstance(items[1], slice):
        return None
    if any(i != slice(None) and i is not Ellipsis for i in items[2:]):
        return None
    values = [static_value(v) for v in (items[1].start, items[1].stop, items[1].step)]
    if not all(ok for ok, _ in values) or len(src.meta[META].shape) != 4:
        return None
    start, stop, step = (v for _, v in values)
    if step not in (None, 1) or not all(v is None or type(v) is int for v in (start, stop)):
        return None
    start, stop, _ = slice(start, stop).indices(src.meta[META].shape[1])
    return _span(b, src, 1, start, stop)


def _split_piece(b: Builder, split: fx.Node, i: Any) -> tuple[str, int, int] | None:
    fn = split.target
    is_split = (split.op == "call_method" and fn in SPLIT_METHODS - {"unbind"}) or (
        split.op == "call_function" and member(fn, SPLIT_FNS) and fn is not torch.unbind)
    if not is_split or type(i) is not int or not split.args:
        return None
    pieces = split.meta[META]
    dims = [p.shape for p in pieces if isinstance(p, TensorMeta)]
    src = split.args[0]
    if len(dims) != len(pieces) or not isinstance(src, fx.Node) or not is_dynamic(src):
        return None
    full = src.meta[META].shape if isinstance(src.meta[META], TensorMeta) else ()
    if len(full) != 4 or any(tuple(d[:1]) + tuple(d[2:]) != (full[0], *full[2:]) for d in dims):
        return None  # not pieces along the channels
    if sum(d[1] for d in dims) != full[1]:
        return None
    start = sum(d[1] for d in dims[:i])
    return _span(b, src, 1, start, start + dims[i][1]) if dims[i][1] else None
