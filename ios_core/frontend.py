"""nn.Module -> OpGraph via torch.fx: fold BatchNorm, fuse activations, fold views, record shapes.

Pipeline (``trace_model``):

1. **trace** with ``torch.fx`` (standard leaf modules: everything in ``torch.nn`` but containers,
   plus ``leaf_modules``); a failure names the module (qualified name) and source line that broke it;
2. **functionalise in-place ops**: readers of a tensor that come after an in-place op on it
   (``relu_``, ``ReLU(inplace=True)``, ``x.add_(y)``, ``operator.iadd``) read that op's result, and
   every kernel runs the out-of-place variant, because the executor may run two readers of one
   tensor concurrently;
3. **record shapes**: an fx ``Interpreter`` runs the model once on the example input (eval mode,
   no grad) and notes every value's shape and whether it depends on the input;
4. **build** the OpGraph, one fx node at a time, in fx (topological) order.

What becomes what:

* ``Conv2d`` (module, or ``F.conv2d`` with a constant weight) -> ``conv`` with a :class:`ConvKernel`;
  a following eval-mode ``BatchNorm2d`` module is folded into its weight and bias when the conv's
  output has no other reader.
* Activations (relu, relu6, sigmoid, tanh, silu, gelu, hardswish; as module, function or method,
  in-place or not) are fused into the ``conv``, ``add``, ``pool`` or ``linear`` that produced their
  input when that producer has no other reader and no activation yet (attr ``activation``);
  otherwise they become an ``act`` node.
* max/avg pooling (module or functional) -> ``pool``; adaptive pooling to 1x1 -> mode
  ``global_avg`` / ``global_max``, to other sizes -> ``adaptive_avg`` / ``adaptive_max``.
* ``torch.cat`` / ``concat`` -> ``concat``; a sum of two input-dependent tensors (``+``,
  ``torch.add``, ``.add``, in-place forms; no ``alpha``) -> ``add``; other elementwise binaries
  (sub, mul, div, maximum, minimum, and ``+`` with a scalar or constant) -> ``mul`` (attr ``op``);
  ``Linear`` / ``F.linear`` with constant weight -> ``linear``; matmul / mm / bmm -> ``matmul``.
* Every other op (function, method or module) -> ``call`` (attr ``target``), whose kernel replays
  it exactly; nothing is dropped.

Folded away (never nodes; whoever reads them applies them to the tensor it is given):

* aliases: ``nn.Identity``, dropout modules and ``F.dropout*`` in eval (``training=False``),
  ``Tensor.detach``;
* views: ``flatten`` / ``nn.Flatten``, ``unflatten`` / ``nn.Unflatten``, ``reshape``, ``view``,
  ``squeeze``, ``unsqueeze``, ``contiguous``, basic indexing ``x[...]`` (ints, slices, None,
  Ellipsis), and ``split`` / ``chunk`` / ``unbind`` / ``tensor_split`` together with the
  ``getitem`` that picks a piece. A folded view that a ``conv`` reads (its kernel takes a plain
  tensor, so merged convs can share it) or that the model returns is materialised once as a
  zero-FLOP ``call`` node (attr ``view: True``).
* shape arithmetic (``x.size()``, ``x.shape``, ``x.dim()``, ...) and anything computed from
  parameters and constants alone is evaluated once on the example input and baked into the kernels,
  so the graph is specific to the example input's shape, as its recorded shapes are.

Other tuple-valued ops (``topk``, a leaf module returning a pair, ...) stay lazy: each ``getitem``
on them becomes a ``call`` node that recomputes the op and picks its piece (correct, counted once
per piece). Mutating a tensor through a view (``x[:, 0] = 0``, ``x[:2].relu_()``) is not supported.
"""

from __future__ import annotations

import copy
import inspect
import math
import operator
import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from .ir import OpGraph, OpNode, TensorSpec
from .kernels import ConvKernel, FnKernel, Kernel


class TraceError(ValueError):
    """A model could not be turned into an OpGraph; the message says where and what to do."""


@dataclass
class TracedModel:
    """An OpGraph with one kernel per node, and the module and input it was traced from."""

    graph: OpGraph
    kernels: dict[str, Kernel]  # node name -> kernel(*input tensors) -> output tensor
    module: nn.Module  # the traced model, left in eval mode
    example_input: torch.Tensor  # a tuple of tensors for a model with several inputs


LeafSpec = type[nn.Module] | str  # a module class, or a module's qualified name


def trace(
    model: nn.Module, example_input: torch.Tensor, name: str = "model",
    *, leaf_modules: Iterable[LeafSpec] = (),
) -> OpGraph:
    """The OpGraph of ``model`` (see :func:`trace_model`)."""
    return trace_model(model, example_input, name, leaf_modules=leaf_modules).graph


def trace_model(
    model: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...], name: str = "model",
    *, leaf_modules: Iterable[LeafSpec] = (),
) -> TracedModel:
    """Trace ``model`` (switched to eval mode) on ``example_input`` into an OpGraph and kernels.

    ``leaf_modules`` (classes or qualified names) are kept whole, each call one ``call`` node: the
    way to get past a submodule whose control flow depends on tensor values.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    model.eval()
    gm = _symbolic_trace(model, tuple(leaf_modules))
    _functionalise_inplace(gm)
    with torch.no_grad():
        _ShapeRecorder(gm).run(*[t.clone() for t in inputs])  # clone: in-place ops may write
        graph, kernels = _Builder(gm, name).build()
    graph.validate()
    return TracedModel(graph, kernels, model, example_input)


@torch.no_grad()
def run_graph(traced: TracedModel, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Reference run: every node's kernel in graph order (a tuple when there are several outputs)."""
    graph = traced.graph
    env: dict[str, torch.Tensor] = dict(zip(graph.input_names, inputs, strict=True))
    for node in graph.nodes:
        env[node.name] = traced.kernels[node.name](*(env[i] for i in node.inputs))
    outs = tuple(env[o] for o in graph.outputs)
    return outs[0] if len(outs) == 1 else outs


# ---- 1. tracing ---------------------------------------------------------------------------------
class _Failure(Exception):
    """Carries the innermost module whose forward raised during tracing."""

    def __init__(self, path: str, module: nn.Module, exc: BaseException) -> None:
        super().__init__(path)
        self.path, self.module, self.exc = path, module, exc


class _Tracer(fx.Tracer):
    def __init__(self, leaves: tuple[LeafSpec, ...]) -> None:
        super().__init__()
        self.leaf_types = tuple(t for t in leaves if isinstance(t, type))
        self.leaf_paths = {t for t in leaves if isinstance(t, str)}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, self.leaf_types) or module_qualified_name in self.leaf_paths:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):  # noqa: ANN001 - fx's own signature
        try:
            return super().call_module(m, forward, args, kwargs)
        except _Failure:
            raise
        except Exception as exc:  # the innermost module on the way out is the one that broke
            try:
                path = self.path_of_module(m)
            except Exception:  # a module that is not registered as a submodule
                path = f"<unregistered {type(m).__name__}>"
            raise _Failure(path, m, exc) from exc


def _symbolic_trace(model: nn.Module, leaves: tuple[LeafSpec, ...]) -> fx.GraphModule:
    tracer = _Tracer(leaves)
    try:
        graph = tracer.trace(model)
    except _Failure as f:
        raise TraceError(_failure_text(f.path, f.module, f.exc)) from f.exc
    except Exception as exc:
        raise TraceError(_failure_text("", model, exc)) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _failure_text(path: str, module: nn.Module, exc: BaseException) -> str:
    cls = type(module).__name__
    where = f"module '{path}' ({cls})" if path else f"the top-level model ({cls})"
    text = f"torch.fx cannot trace {where}: {type(exc).__name__}: {exc}"
    line = _user_frame(exc)
    if line:
        text += f"\n  failing op: {line}"
    text += (
        "\nWhat to do: make its forward() static (no Python if/while/for or int()/bool() on tensor "
        "values; use torch.where or a fixed structure instead)"
    )
    if path:
        text += (
            f", or keep the module whole as one opaque op: "
            f"trace_model(model, x, leaf_modules=['{path}']) (or leaf_modules=[{cls}])"
        )
    else:
        text += ", or move the data-dependent part into a submodule and pass it as a leaf_modules"
    return text + "."


def _user_frame(exc: BaseException) -> str:
    """The innermost traceback line outside torch and this file: the user's op that failed."""
    skip = (str(Path(torch.__file__).parent), __file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"


# ---- 2. in-place ops ----------------------------------------------------------------------------
_INPLACE_OPERATORS: dict[Callable, Callable] = {
    operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
    operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
    operator.imod: operator.mod, operator.ipow: operator.pow, operator.imatmul: operator.matmul,
    operator.iand: operator.and_, operator.ior: operator.or_, operator.ixor: operator.xor,
    operator.ilshift: operator.lshift, operator.irshift: operator.rshift,
}


def _is_inplace_name(name: str) -> bool:
    return name.endswith("_") and not name.endswith("__")


def _inplace_position(fn: Callable) -> int | None:
    """Index of a Python function's ``inplace`` parameter, if it has one."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        return None
    return params.index("inplace") if "inplace" in params else None


def _writes_first_arg(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return getattr(modules[node.target], "inplace", False) is True
    if node.op == "call_method":
        return _is_inplace_name(node.target)
    if node.op != "call_function":
        return False
    fn = node.target
    if fn in _INPLACE_OPERATORS or _is_inplace_name(getattr(fn, "__name__", "")):
        return True
    if node.kwargs.get("inplace") is True:
        return True
    pos = _inplace_position(fn)
    return pos is not None and len(node.args) > pos and node.args[pos] is True


def _functionalise_inplace(gm: fx.GraphModule) -> None:
    """Readers of ``a`` after ``b = op_(a)`` read ``b``: the value they saw in eager mode."""
    modules = dict(gm.named_modules())
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in gm.graph.nodes:
        target = node.args[0] if node.args else None
        if not isinstance(target, fx.Node) or not _writes_first_arg(node, modules):
            continue
        for user in list(target.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(target, node)


# ---- 3. shape recording -------------------------------------------------------------------------
@dataclass(frozen=True)
class _TMeta:
    """What the builder needs to know about a tensor value."""

    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


_META, _DYN, _VALUE = "ios_meta", "ios_dynamic", "ios_value"  # keys in fx node.meta
_SHAPE_METHODS = {"size", "dim", "numel", "nelement", "ndimension", "is_contiguous", "get_device"}
_SHAPE_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "layout", "requires_grad"}


def _summarise(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _TMeta(tuple(value.shape), value.dtype)
    if isinstance(value, (tuple, list)):
        return tuple(_summarise(v) for v in value)
    return value


def _has_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (tuple, list)) and any(_has_tensor(v) for v in value)


def _is_shape_query(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in _SHAPE_METHODS
    return node.op == "call_function" and node.target is getattr and node.args[1] in _SHAPE_ATTRS


class _ShapeRecorder(fx.Interpreter):
    """Runs the module once; notes per node its value summary, whether it depends on the input
    (``dynamic``), and the value itself where it does not (a constant to bake into kernels)."""

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as exc:
            raise TraceError(
                f"op {_describe(n)} failed on the example input: {type(exc).__name__}: {exc}"
            ) from exc
        reads_input = any(m.meta.get(_DYN) for m in n.all_input_nodes)
        if reads_input and not _has_tensor(result) and not _is_shape_query(n) and n.op != "output":
            what = "writes into a tensor in place" if n.target is operator.setitem else (
                "turns tensor data into a Python value (data-dependent)")
            raise TraceError(
                f"op {_describe(n)} {what}; IOS Explorer needs a static tensor program. Rewrite it "
                "with tensor ops (torch.where, torch.cat, ...) or keep its module whole with "
                "leaf_modules=[...]."
            )
        n.meta[_META] = _summarise(result)
        n.meta[_DYN] = _has_tensor(result) and (n.op == "placeholder" or reads_input)
        if not n.meta[_DYN]:
            n.meta[_VALUE] = result
        return result


def _describe(n: fx.Node) -> str:
    scope = _scope(n)
    where = f" in module '{scope}'" if scope else ""
    return f"'{n.name}' ({_target_name(n)}){where}"


def _scope(n: fx.Node) -> str:
    """Qualified name of the module whose forward created ``n`` ('' at top level)."""
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, value = list(stack.items())[-1]
    # torch >= 2.1 stores (path, type); older versions key by path
    return value[0] if isinstance(value, tuple) and isinstance(value[0], str) else str(key)
