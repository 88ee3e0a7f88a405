"""Kernel bodies: small expression trees that replay one traced op (``FnKernel.fn``).

The frontend compiles each OpGraph node that is not a plain convolution into a :class:`Replay`:
an expression over the node's input tensors (:class:`In`) and its captured tensors
(:class:`Captured`, looked up in ``FnKernel.tensors`` so that ``Kernel.to()`` moves them), where
:class:`Apply` calls a function. Folded views sit inside as nested calls, e.g. a linear after a
flatten is ``F.linear(torch.flatten(in0, 1), weight, bias)``. ``repr`` shows the expression.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "Apply", "Captured", "CloneFirst", "In", "Method", "ModuleCall", "Replay", "add_all",
    "evaluate", "map_tree", "show",
]


@dataclass(frozen=True)
class In:
    """Kernel-time: the kernel's ``index``-th input tensor."""

    index: int


@dataclass(frozen=True)
class Captured:
    """Kernel-time: the captured tensor ``FnKernel.tensors[key]``."""

    key: str


@dataclass(frozen=True, eq=False)
class Apply:
    """``fn(*args, **kwargs)`` evaluated when the kernel runs; args may hold other expressions."""

    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    label: str  # the op's qualified name, for repr and for materialised nodes


def map_tree(tree: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to every leaf of nested tuples, lists, dicts and slices (fx argument trees)."""
    if isinstance(tree, list):
        return [map_tree(t, fn) for t in tree]
    if isinstance(tree, tuple):
        items = [map_tree(t, fn) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)  # torch.Size too
    if isinstance(tree, dict):
        return {k: map_tree(v, fn) for k, v in tree.items()}
    if isinstance(tree, slice):
        return slice(map_tree(tree.start, fn), map_tree(tree.stop, fn), map_tree(tree.step, fn))
    return fn(tree)


def evaluate(expr: Any, inputs: tuple, tensors: dict[str, torch.Tensor]) -> Any:
    """The value of ``expr`` for these input tensors and captured tensors."""
    def leaf(x: Any) -> Any:
        if isinstance(x, In):
            return inputs[x.index]
        if isinstance(x, Captured):
            return tensors[x.key]
        if isinstance(x, Apply):
            return x.fn(*map_tree(x.args, leaf), **map_tree(x.kwargs, leaf))
        return x

    return map_tree(expr, leaf)


def show(expr: Any) -> str:
    """``expr`` as readable code: inputs are ``in0``, ``in1``...; captured tensors by key."""
    def leaf(x: Any) -> Any:
        if isinstance(x, In):
            return _Raw(f"in{x.index}")
        if isinstance(x, Captured):
            return _Raw(x.key)
        if isinstance(x, Apply):
            args = [repr(a) for a in map_tree(x.args, leaf)]
            args += [f"{k}={v!r}" for k, v in map_tree(x.kwargs, leaf).items()]
            return _Raw(f"{x.label}({', '.join(args)})")
        return x

    return repr(map_tree(expr, leaf))


class _Raw(str):
    def __repr__(self) -> str:
        return str(self)


class Replay:
    """A kernel body: an expression over the node's inputs and captured tensors (``FnKernel.fn``).

    ``repr`` shows it, e.g. ``torch.nn.functional.linear(torch.flatten(in0, 1), weight, bias)``.
    """

    def __init__(self, expr: Any) -> None:
        self.expr = expr

    def __call__(self, *inputs: torch.Tensor, **tensors: torch.Tensor) -> Any:
        return evaluate(self.expr, inputs, tensors)

    def __repr__(self) -> str:
        return show(self.expr)


def add_all(*terms: torch.Tensor) -> torch.Tensor:
    """``terms[0] + terms[1] + ...``, left to right (as the chain of adds it replaces)."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


@dataclass(frozen=True)
class Method:
    """``tensor.name(*args)``: a Tensor method call, as fx records it."""

    name: str

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(obj, self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tensor.{self.name}"


@dataclass(frozen=True)
class CloneFirst:
    """An in-place op with no out-of-place twin writes into a copy of its input instead."""

    fn: Callable[..., Any]

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return self.fn(x.clone(), *args, **kwargs)


class ModuleCall:
    """Calls a (leaf) module with its parameters passed in, so ``Kernel.to()`` moves them."""

    def __init__(self, module: nn.Module) -> None:
        if getattr(module, "inplace", False) is True:  # never write into a shared input
            module = copy.copy(module)
            module.inplace = False
        self.module = module

    def __call__(self, params: dict[str, torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        if not params:
            return self.module(*args, **kwargs)
        return torch.func.functional_call(self.module, params, args, kwargs)
