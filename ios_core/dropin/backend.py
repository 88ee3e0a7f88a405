"""The ``ios`` backend of ``torch.compile``: Dynamo captures, IOS schedules each captured graph.

::

    fast = torch.compile(model, backend="ios", options={"strategy": "ios-both", "r": 3, "s": 8})

Dynamo does the capture the PyTorch way: data-dependent Python and unsupported code split the
forward into several graphs (graph breaks), run in between by the Python interpreter. Each graph
reaches :func:`ios_backend` as an ``fx.GraphModule`` with example inputs; the module's parameters
and buffers arrive as graph inputs too (Dynamo lifts them). :func:`freeze` turns those into
constants of the graph and the symbolic sizes of a dynamic-shape graph into the call's numbers,
so that our frontend sees what it sees in a plain module: convs with weights, BatchNorms to
fold. The frozen graph then goes through the same path as ``optimize_module``
(:class:`~ios_core.dropin.module.OptimizedModule`: trace, schedule cache or search, executor,
check against the graph's own output). ``options`` are the fields of
:class:`~ios_core.dropin.settings.DropinSettings`.

A graph the drop-in cannot take (our frontend cannot trace it, it writes into its inputs, its
schedule does not reproduce its output...) runs as Dynamo gave it, eagerly, after one
:class:`~ios_core.dropin.settings.DropinWarning` that says why: the user's program never fails
because of the backend. As in ``optimize_module``, weights are read when a graph is compiled.

Registration: the package declares the entry point ``ios`` in the ``torch_dynamo_backends``
group (pyproject.toml), which torch reads when it meets an unknown backend name, so an installed
package needs no import at all; importing :mod:`ios_core.dropin` (``ios_core.optimize_module``
does) registers it too, for a checkout on ``PYTHONPATH``.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx, nn

from ios_core.dropin.module import OptimizedModule
from ios_core.dropin.settings import DropinSettings, DropinWarning

__all__ = ["BACKEND_NAME", "GraphRunner", "freeze", "ios_backend", "mutation_problem",
           "register_backend"]

BACKEND_NAME = "ios"
CONST, INT, TENSOR = "const", "int", "tensor"
_WARNED: set[str] = set()  # reasons already warned about (once each per process)


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, DropinWarning, stacklevel=3)


# ---- what each graph input is -------------------------------------------------------------------
def _source_kinds(node: fx.Node) -> list[str]:
    """Class names along a Dynamo placeholder's source chain (``L['self']._modules['c']...``)."""
    source = getattr(node.meta.get("grapharg"), "source", None)
    names = []
    while source is not None and len(names) < 64:
        names.append(type(source).__name__)
        source = getattr(source, "base", None)
    return names


def input_kinds(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> list[str]:
    """Per graph input: ``const`` (a parameter or a module's tensor), ``int`` (a size, any
    number), or ``tensor`` (data the caller passes); a ValueError for anything else."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(example_inputs):
        raise ValueError(f"the graph has {len(placeholders)} inputs, Dynamo gave "
                         f"{len(example_inputs)} examples")
    kinds = []
    for node, value in zip(placeholders, example_inputs, strict=True):
        if isinstance(value, torch.Tensor):
            module_owned = any("NNModule" in k or "ParamBuffer" in k for k in _source_kinds(node))
            kinds.append(CONST if isinstance(value, nn.Parameter) or module_owned else TENSOR)
        elif isinstance(value, (int, float, bool, torch.SymInt, torch.SymFloat, torch.SymBool)):
            kinds.append(INT)
        else:
            raise ValueError(f"graph input {node.name!r} is a {type(value).__name__}")
    return kinds


def mutation_problem(gm: fx.GraphModule) -> str | None:
    """Why the graph cannot be scheduled because it writes into one of its inputs, or None: the
    executor computes out of place, so such a write would be lost to the caller."""
    placeholders = {n for n in gm.graph.nodes if n.op == "placeholder"}
    for node in gm.graph.nodes:
        if node.op not in ("call_function", "call_method"):
            continue
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        in_place = (name.endswith("_") and not name.endswith("__")) or node.target in (
            operator.setitem, operator.iadd, operator.imul, operator.isub, operator.itruediv)
        if in_place and node.args and node.args[0] in placeholders:
            return f"it writes into its input {node.args[0].name!r} in place ({name})"
    return None


# ---- a graph with constants and numbers in place of inputs -----------------------------------
def freeze(gm: fx.GraphModule, args: Sequence[Any], kinds: Sequence[str]) -> fx.GraphModule:
    """A GraphModule whose only inputs are the ``tensor`` ones: ``const`` inputs become buffers
    (sharing storage with ``args``), ``int`` inputs the numbers in ``args``."""
    graph = fx.Graph()
    env: dict[fx.Node, Any] = {}
    for i, node in enumerate(gm.graph.nodes):
        if node.op != "placeholder":
            env[node] = graph.node_copy(node, lambda n: env[n])
            continue
        kind = kinds[i]
        if kind == TENSOR:
            env[node] = graph.placeholder(node.name)
        elif kind == INT:
            env[node] = _concrete(args[i])
        else:
            attr = f"_ios_const_{i}"
            if not hasattr(gm, attr):
                gm.register_buffer(attr, args[i].detach(), persistent=False)
            env[node] = graph.get_attr(attr)
    return fx.GraphModule(gm, graph)


# ---- the compiled callable ----------------------------------------------------------------------
class GraphRunner:
    """What the backend returns for one graph: the graph's schedule(s), or the graph itself."""

    def __init__(self, gm: fx.GraphModule, example_inputs: Sequence[Any],
                 settings: DropinSettings, index: int) -> None:
        self.gm = gm
        self.settings = settings
        self.index = index  # in warnings; cache files are named by their key, not by order
        self.name = "dynamo_graph"
        self.kinds = input_kinds(gm, example_inputs)
        self.ints = [i for i, k in enumerate(self.kinds) if k == INT]
        self.tensors = [i for i, k in enumerate(self.kinds) if k == TENSOR]
        # one optimized module per value of the graph's numbers (None: that value runs eagerly)
        self.modules: dict[tuple[Any, ...], OptimizedModule | None] = {}
        problem = mutation_problem(gm)
        self.eager = problem is not None  # the whole graph, whatever its numbers
        if problem:
            self._fallback(problem)
        else:
            self._module_for([_concrete(x) for x in example_inputs])

    def __call__(self, *args: Any) -> Any:
        if self.eager:
            return self.gm(*args)
        key = tuple(args[i] for i in self.ints)
        module = self.modules[key] if key in self.modules else self._module_for(args)
        if module is None:
            return self.gm(*args)
        try:
            return module(*(args[i] for i in self.tensors))
        except Exception as e:  # noqa: BLE001 - the user's program must go on: run it eagerly
            self._fallback(f"{type(e).__name__}: {e}", key)
            return self.gm(*args)

    def _module_for(self, args: Sequence[Any]) -> OptimizedModule | None:
        key = tuple(args[i] for i in self.ints)
        try:
            frozen = freeze(self.gm, args, self.kinds)
            inputs = tuple(args[i] for i in self.tensors)
            module: OptimizedModule | None = OptimizedModule(frozen, inputs, self.settings,
                                                             name=self.name)
        except Exception as e:  # noqa: BLE001 - any failure: this graph runs as Dynamo gave it
            self._fallback(f"{type(e).__name__}: {e}", key)
            module = None
        self.modules[key] = module
        return module

    def _fallback(self, why: str, key: tuple[Any, ...] = ()) -> None:
        self.modules[key] = None
        first = why.strip().splitlines()[0] if why.strip() else why
        _warn_once(f"torch.compile backend 'ios': captured graph {self.index} "
                   f"({len(self.gm.graph.nodes)} fx nodes) runs eagerly, not scheduled, because "
                   + first)


def _concrete(value: Any) -> Any:
    """A symbolic size as the number it had when Dynamo captured the graph (its hint)."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        hint = value.node.hint
        return hint if hint is not None else value.node.require_hint()
    return value


_GRAPHS = [0]  # graphs compiled so far (names them in the cache and in warnings)


def ios_backend(gm: fx.GraphModule, example_inputs: Sequence[Any],
                options: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The Dynamo backend (module docstring): ``options`` are :class:`DropinSettings` fields."""
    settings = DropinSettings.from_options({**(options or {}), "on_new_shape": "search"})
    _GRAPHS[0] += 1
    return GraphRunner(gm, example_inputs, settings, _GRAPHS[0])


def register_backend() -> None:
    """Make ``backend="ios"`` known to torch.compile (idempotent; module docstring)."""
    from torch._dynamo.backends import registry

    if BACKEND_NAME in getattr(registry, "_COMPILER_FNS", {}):
        return
    # an entry point of that name found by torch loads us and registers itself: leave it
    if getattr(registry, "_BACKENDS", {}).get(BACKEND_NAME) is not None:
        return
    registry.register_backend(ios_backend, name=BACKEND_NAME)
