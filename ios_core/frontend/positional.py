"""Pass 1b: a function's tensor input passed by keyword is moved to the front of its arguments.

Every lowering rule and :mod:`~ios_core.frontend.functionalize` read an op's input as
``node.args[0]``; ``F.conv2d(input=x, weight=w)`` or ``torch.relu(input=x)`` record it as a
keyword, and would otherwise lower as if the op had no input. Only the first parameter moves, and
only when no argument is positional, so the call binds exactly as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import fx
from torch.fx.operator_schemas import get_signature_for_torch_op

__all__ = ["first_parameter", "positional_inputs"]


def first_parameter(target: Callable) -> str | None:
    """The name of a callable's first parameter, for Python functions and torch builtins.

    >>> import torch, torch.nn.functional as F
    >>> first_parameter(F.relu), first_parameter(torch.conv2d), first_parameter(print)
    ('input', 'input', None)
    """
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):  # a builtin: torch's schemas know its overloads
        params = []
        for sig in get_signature_for_torch_op(target) or ():
            params = list(sig.parameters.values())
            if params:
                break
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            inspect.Parameter.POSITIONAL_ONLY):
        return None
    return params[0].name


def positional_inputs(gm: fx.GraphModule) -> None:
    """Move a call's first argument from its keywords into ``args`` wherever it was named."""
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.args or not node.kwargs:
            continue
        name = first_parameter(node.target)
        if name is not None and name in node.kwargs:
            kwargs = dict(node.kwargs)
            node.args = (kwargs.pop(name),)
            node.kwargs = kwargs
