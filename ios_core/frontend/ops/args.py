"""Reading an op's arguments: by parameter name, as constants, and as (height, width) pairs."""

from __future__ import annotations

from typing import Any

from torch import fx

from ios_core.frontend.shapes import static_value

__all__ = ["bind_static", "pair"]


def pair(v: Any) -> tuple[int, int]:
    """A 2-d size argument as ``(h, w)``: an int, or a sequence of one or two.

    >>> pair(3), pair([2]), pair((1, 2))
    ((3, 3), (2, 2), (1, 2))
    """
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


def bind_static(node: fx.Node, names: tuple[str, ...], defaults: dict) -> dict | None:
    """Arguments of a functional op by name, all but the input static; None if not possible.

    ``names`` are the op's positional parameters, the input first (e.g.
    :data:`~ios_core.frontend.op_tables.CONV_ARGS`); the result maps the others to their values.
    """
    if len(node.args) > len(names) or not set(node.kwargs) <= set(names):
        return None
    bound = {**defaults, **dict(zip(names, node.args, strict=False)), **node.kwargs}
    out = {}
    for key in names[1:]:
        if key not in bound:
            return None
        ok, out[key] = static_value(bound[key])
        if not ok:
            return None
    return out
