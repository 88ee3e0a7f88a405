"""How the frontend names what an fx node calls, and where in the model it sits.

These names reach the OpGraph (the ``target`` attr of ``call`` nodes, hashed into fingerprints;
kernel labels) and error messages, so they must not depend on the torch release or on the run:

* :func:`target_name`: the qualified name of what a node calls (``torch.nn.functional.relu``,
  ``torch.Tensor.view``, ``torch.nn.Conv2d``, ``mypkg.blocks.Gate``);
* :func:`scope`: the path of the module whose forward created the node (``Mixed_5b.branch1x1``);
* :func:`describe`: both, as error messages name an op: ``'relu_1' (torch.relu) in module 'a'``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import cache

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["class_name", "describe", "function_name", "known_functions", "scope", "target_name"]


@cache
def known_functions() -> dict[int, str]:
    """``id(fn)`` -> public name of every function in ``operator``, ``torch`` and ``F``."""
    names: dict[int, str] = {}
    for prefix, ns in (("operator", operator), ("torch", torch), ("torch.nn.functional", F)):
        for key, value in vars(ns).items():
            if callable(value) and not key.startswith("_"):
                names[id(value)] = f"{prefix}.{key}"  # later namespaces win: F.x over torch.x
    names[id(getattr)] = "getattr"
    return names


def function_name(fn: Callable) -> str:
    """The public name of a function, else its module and qualified name.

    >>> function_name(torch.cat), function_name(F.relu), function_name(operator.add)
    ('torch.cat', 'torch.nn.functional.relu', 'operator.add')
    >>> function_name(len)
    'builtins.len'
    """
    known = known_functions().get(id(fn))
    if known:
        return known
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def class_name(cls: type) -> str:
    """``torch.nn.X`` for the classes ``torch.nn`` exports, else module and qualified name.

    >>> class_name(nn.Conv2d)
    'torch.nn.Conv2d'
    """
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def target_name(n: fx.Node) -> str:
    """The qualified name of what ``n`` calls; its fx op (``placeholder``...) for other nodes."""
    if n.op == "call_module":
        return class_name(type(n.graph.owning_module.get_submodule(n.target)))
    if n.op == "call_method":
        return f"torch.Tensor.{n.target}"
    if n.op == "call_function":
        return function_name(n.target)
    return n.op


def scope(n: fx.Node) -> str:
    """Qualified name of the module whose forward created ``n`` ('' at top level)."""
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, value = list(stack.items())[-1]
    # torch >= 2.1 stores (path, type); older versions key by path
    return value[0] if isinstance(value, tuple) and isinstance(value[0], str) else str(key)


def describe(n: fx.Node) -> str:
    """How error messages name an op: ``'name' (target) in module 'scope'``."""
    path = scope(n)
    where = f" in module '{path}'" if path else ""
    return f"'{n.name}' ({target_name(n)}){where}"
