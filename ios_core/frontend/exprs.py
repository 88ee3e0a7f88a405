"""Builder-time expressions: what an fx node's value is while the OpGraph is being built.

The builder maps every fx node to an expression (``Builder.sym``):

* :class:`Ref`: the output of an OpGraph node (or graph input), by name;
* :class:`Const`: a captured tensor (parameter, buffer or trace-time constant), by key;
* :class:`~ios_core.frontend.replay.Apply`: a call not (yet) made a node of its own: a folded
  view, a tuple-valued op, or the body of the node being emitted;
* anything else: a literal (an int, a shape, a dtype...).

:func:`localise` turns one of these into a kernel body of :mod:`~ios_core.frontend.replay`: each
:class:`Ref` becomes the kernel's input ``In(i)``, each :class:`Const` a ``Captured`` tensor under
a short key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from ios_core.frontend.replay import Apply, Captured, In, map_tree

__all__ = ["Const", "Ref", "localise"]


@dataclass(frozen=True)
class Ref:
    """Builder-time: the output of op node (or graph input) ``name``."""

    name: str


@dataclass(frozen=True)
class Const:
    """Builder-time: a captured tensor (parameter, buffer or trace-time constant), by key."""

    key: str


def localise(expr: Any, consts: dict[str, torch.Tensor]) -> tuple[tuple[str, ...], Any, dict]:
    """Builder expression -> (input names, kernel body, captured tensors by short key).

    >>> w = torch.ones(2)
    >>> inputs, body, tensors = localise(Apply(torch.add, (Ref("a"), Const("fc.weight")), {},
    ...                                        "torch.add"), {"fc.weight": w})
    >>> inputs, body.args, list(tensors)
    (('a',), (In(index=0), Captured(key='weight')), ['weight'])
    """
    inputs: list[str] = []
    keys: dict[str, str] = {}
    tensors: dict[str, torch.Tensor] = {}

    def leaf(x: Any) -> Any:
        if isinstance(x, Ref):
            if x.name not in inputs:
                inputs.append(x.name)
            return In(inputs.index(x.name))
        if isinstance(x, Const):
            if x.key not in keys:
                short = re.sub(r"\W", "_", x.key.rsplit(".", 1)[-1]) or "c"
                while short in tensors:
                    short += "_"
                keys[x.key] = short
                tensors[short] = consts[x.key]
            return Captured(keys[x.key])
        if isinstance(x, Apply):
            return Apply(x.fn, map_tree(x.args, leaf), map_tree(x.kwargs, leaf), x.label)
        return x

    body = map_tree(expr, leaf)
    return tuple(inputs), body, tensors
