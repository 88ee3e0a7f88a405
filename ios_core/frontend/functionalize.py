"""Pass 2, functionalisation: in-place ops become out-of-place ones.

The executor may run two readers of one tensor concurrently, so no kernel may write into a tensor
it is given. In eager mode, code after ``b = op_(a)`` (``relu_``, ``ReLU(inplace=True)``,
``x.add_(y)``, ``operator.iadd``...) that reads ``a`` sees the written value: :func:`functionalize`
makes such readers read ``b`` instead, and the builder gives every kernel the out-of-place twin of
its op (:func:`out_of_place`, :func:`out_of_place_method`, :func:`without_inplace_flag`).

A write through a view of a tensor that is read again (``x[:, :2].relu_()``) cannot be expressed
this way and raises :class:`~ios_core.frontend.errors.TraceError`. Then code whose value nobody
reads (an unused ``topk`` index) is dropped.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

from ios_core.frontend.errors import TraceError
from ios_core.frontend.naming import describe
from ios_core.frontend.op_tables import DROPOUT_FNS, DROPOUTS, lookup, member
from ios_core.frontend.replay import CloneFirst, Method

__all__ = [
    "ALIASING", "INPLACE_OPERATORS", "aliases_first_arg", "functionalize", "inplace_position",
    "is_inplace_name", "out_of_place", "out_of_place_method", "without_inplace_flag",
    "writes_first_arg",
]

INPLACE_OPERATORS: dict[Callable, Callable] = {
    operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
    operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
    operator.imod: operator.mod, operator.ipow: operator.pow, operator.imatmul: operator.matmul,
    operator.iand: operator.and_, operator.ior: operator.or_, operator.ixor: operator.xor,
    operator.ilshift: operator.lshift, operator.irshift: operator.rshift,
}

# ops whose result may share memory with their first argument (writing into it writes there too)
ALIASING = {"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze",
            "unsqueeze", "transpose", "permute", "narrow", "select", "expand", "expand_as", "t",
            "diagonal", "unfold", "as_strided", "movedim", "swapaxes", "detach", "contiguous",
            "split", "chunk", "unbind", "tensor_split", "split_with_sizes", "getitem"}


def is_inplace_name(name: str) -> bool:
    """Torch's naming of in-place ops: a trailing underscore, but not a dunder.

    >>> is_inplace_name("relu_"), is_inplace_name("relu"), is_inplace_name("__add__")
    (True, False, False)
    """
    return name.endswith("_") and not name.endswith("__")


def inplace_position(fn: Callable) -> int | None:
    """Index of a Python function's ``inplace`` parameter, if it has one.

    >>> inplace_position(F.relu), inplace_position(torch.relu)
    (1, None)
    """
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        return None
    return params.index("inplace") if "inplace" in params else None


def writes_first_arg(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` writes into its first argument (dropout in eval mode does not)."""
    if node.op == "call_module":
        m = modules[node.target]
        return getattr(m, "inplace", False) is True and not isinstance(m, DROPOUTS)  # eval: no-op
    if node.op == "call_method":
        return is_inplace_name(node.target)
    if node.op != "call_function" or member(node.target, DROPOUT_FNS):
        return False
    fn = node.target
    if lookup(INPLACE_OPERATORS, fn) is not None or is_inplace_name(getattr(fn, "__name__", "")):
        return True
    if node.kwargs.get("inplace") is True:
        return True
    pos = inplace_position(fn)
    return pos is not None and len(node.args) > pos and node.args[pos] is True


def aliases_first_arg(node: fx.Node) -> bool:
    """Whether ``node``'s value may share memory with its first argument (:data:`ALIASING`)."""
    if node.op == "call_method":
        return node.target in ALIASING
    return node.op == "call_function" and getattr(node.target, "__name__", "") in ALIASING


def functionalize(gm: fx.GraphModule) -> None:
    """Readers of ``a`` after ``b = op_(a)`` read ``b``: the value they saw in eager mode.

    A write through a view (``x[:, :2].relu_()``) that a later reader of ``x`` would see cannot
    be expressed this way and raises TraceError. Then code whose result nobody reads is dropped.
    """
    modules = dict(gm.named_modules())
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in gm.graph.nodes:
        target = node.args[0] if node.args else None
        if not isinstance(target, fx.Node) or not writes_first_arg(node, modules):
            continue
        _check_no_write_through_view(node, target, order)
        for user in list(target.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(target, node)
    _drop_dead_code(gm)


def _drop_dead_code(gm: fx.GraphModule) -> None:
    """Erase nodes nobody reads (unused pieces of tuples, etc.), but keep ``x[i] = v``."""
    for node in reversed(list(gm.graph.nodes)):
        if node.op not in ("placeholder", "output") and not node.users and (
                node.target is not operator.setitem):  # kept, so that it is reported
            gm.graph.erase_node(node)


def _check_no_write_through_view(node: fx.Node, target: fx.Node, order: dict) -> None:
    view = target
    while aliases_first_arg(view) and isinstance(view.args[0], fx.Node):
        base = view.args[0]
        if any(order[u] > order[node] for u in base.users):
            raise TraceError(
                f"op {describe(node)} writes in place into {view.name!r}, a view of "
                f"{base.name!r} that is read again later; write it out of place "
                "(e.g. torch.relu instead of relu_, inplace=False) or keep its module whole with "
                "leaf_modules=[...]"
            )
        view = base


# ---- kernel-time twins: what a kernel runs instead of an in-place op ----------------------------
def out_of_place(fn: Callable) -> Callable:
    """The out-of-place twin of an in-place function (``torch.relu_`` -> ``torch.relu``).

    >>> out_of_place(torch.relu_) is torch.relu, out_of_place(operator.iadd) is operator.add
    (True, True)
    """
    twin = lookup(INPLACE_OPERATORS, fn)
    if twin is not None:
        return twin
    name = getattr(fn, "__name__", "")
    if not is_inplace_name(name):
        return fn
    for ns in (torch, F):
        if getattr(ns, name, None) is fn and hasattr(ns, name[:-1]):
            return getattr(ns, name[:-1])
    return CloneFirst(fn)


def out_of_place_method(name: str) -> Callable:
    """The Tensor method call a kernel runs for ``tensor.name(...)``: never in place.

    >>> out_of_place_method("add_"), out_of_place_method("add")
    (Tensor.add, Tensor.add)
    """
    if not is_inplace_name(name):
        return Method(name)
    if hasattr(torch.Tensor, name[:-1]):
        return Method(name[:-1])
    return CloneFirst(Method(name))


def without_inplace_flag(fn: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``fn``'s arguments with ``inplace=True`` (by keyword or position) turned off.

    >>> without_inplace_flag(F.relu, ("x", True), {})
    (('x', False), {})
    """
    if kwargs.get("inplace") is True:
        kwargs = {**kwargs, "inplace": False}
    pos = inplace_position(fn)
    if pos is not None and len(args) > pos and args[pos] is True:
        args = (*args[:pos], False, *args[pos + 1:])
    return args, kwargs
