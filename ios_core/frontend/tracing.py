"""nn.Module -> OpGraph via torch.fx: fold BatchNorm, fuse activations, fold views, record shapes.

Pipeline (``trace_model``):

1. **trace** with ``torch.fx`` (standard leaf modules: everything in ``torch.nn`` but containers,
   plus ``leaf_modules``); a failure names the module (qualified name) and the source line that
   broke it;
2. **functionalise in-place ops**: readers of a tensor that come after an in-place op on it
   (``relu_``, ``ReLU(inplace=True)``, ``x.add_(y)``, ``operator.iadd``) read that op's result, and
   every kernel runs the out-of-place variant, because the executor may run two readers of one
   tensor concurrently; then code whose value nobody reads (an unused ``topk`` index) is dropped;
3. **record shapes**: an fx ``Interpreter`` runs the model once on the example input (eval mode,
   no grad) and notes every value's shape and whether it depends on the input;
4. **build** the OpGraph, one fx node at a time, in fx (topological) order.

What becomes what:

* ``Conv2d`` (module, or ``F.conv2d`` with a constant weight) -> ``conv`` with a
  :class:`ConvKernel`; a following eval-mode ``BatchNorm2d`` module is folded into its weight and
  bias when the conv's output has no other reader.
* Activations (relu, relu6, sigmoid, tanh, silu, gelu, hardswish; as module, function or method,
  in-place or not) are fused into the ``conv``, ``add``, ``pool`` or ``linear`` that produced their
  input when that producer has no other reader and no activation yet (attr ``activation``);
  otherwise they become an ``act`` node.
* max/avg pooling (module or functional) -> ``pool``; adaptive pooling to 1x1 -> mode
  ``global_avg`` / ``global_max``, to other sizes -> ``adaptive_avg`` / ``adaptive_max``.
* ``torch.cat`` / ``concat`` -> ``concat``; a sum of two input-dependent tensors (``+``,
  ``torch.add``, ``.add``, in-place forms; no ``alpha``) -> ``add``, a chain ``a + b + c`` whose
  partial sums nobody else reads -> one ``add`` of all its terms; other elementwise binaries
  (sub, mul, div, maximum, minimum, and ``+`` with a scalar or constant) -> ``mul`` (attr ``op``);
  ``Linear`` / ``F.linear`` with constant weight -> ``linear``; matmul / mm / bmm -> ``matmul``.
* Every other op (function, method or module, e.g. ``pixel_shuffle``, ``ZeroPad2d``, a BatchNorm
  that follows no conv) -> ``call`` (attr ``target``: its qualified name), whose kernel
  (:class:`~ios_core.frontend.replay.Replay`) replays it exactly; nothing is dropped.

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
per piece). Writing into a tensor (``x[:, 0] = 0``), or in place through a view of a tensor that
is read again (``x[:2].relu_()``), raises :class:`TraceError` naming the op, as does turning tensor
data into Python values (``.item()``).

Per node: ``shape`` (batch first); ``flops``: 2 x MACs for conv, linear and matmul, one per output
element for elementwise ops and activations (a fused one adds its own), output elements x window
for pooling (input elements for global/adaptive pooling), 0 for concat and materialised views,
and a guess of one per element read or written for ``call``; ``bytes``: the tensors the op reads,
its weights and its output, at their dtype's size. Names are module paths
(``Mixed_5b.branch1x1.conv``, the conv that BN and ReLU were folded into), else the enclosing
module path and the fx op name (``Mixed_5b.cat``), made unique with ``_1``, ``_2``...;
``source`` is the module path or fx node name. Graph inputs are the placeholders (by name);
outputs are the tensors the model returns, a tuple, list or dict of them flattened in order.
"""

from __future__ import annotations

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

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.frontend.replay import (
    Apply,
    Captured,
    CloneFirst,
    In,
    Method,
    ModuleCall,
    Replay,
    add_all,
    map_tree,
)
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec


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
def run_graph(traced: TracedModel, *inputs: torch.Tensor) -> Any:
    """Reference run: each node's kernel in graph order; a tuple where there are several outputs."""
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
    if "item assignment" in str(exc):
        text += ("\nWhat to do: build the tensor without assigning into it (x[...] = v): use "
                 "torch.cat, torch.where or F.pad")
    else:
        text += ("\nWhat to do: make its forward() static (no Python if/while/for or int()/bool() "
                 "on tensor values; use torch.where or a fixed structure instead)")
    if path:
        text += (
            f", or keep the module whole as one opaque op: "
            f"trace_model(model, x, leaf_modules=['{path}']) (or leaf_modules=[{cls}])"
        )
    else:
        text += ", or move that part into a submodule and name it in leaf_modules"
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
        m = modules[node.target]
        return getattr(m, "inplace", False) is True and not isinstance(m, _DROPOUTS)  # eval: no-op
    if node.op == "call_method":
        return _is_inplace_name(node.target)
    if node.op != "call_function" or _member(node.target, _DROPOUT_FNS):
        return False
    fn = node.target
    if _lookup(_INPLACE_OPERATORS, fn) is not None or _is_inplace_name(getattr(fn, "__name__", "")):
        return True
    if node.kwargs.get("inplace") is True:
        return True
    pos = _inplace_position(fn)
    return pos is not None and len(node.args) > pos and node.args[pos] is True


# ops whose result may share memory with their first argument (writing into it writes there too)
_ALIASING = {"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze",
             "unsqueeze", "transpose", "permute", "narrow", "select", "expand", "expand_as", "t",
             "diagonal", "unfold", "as_strided", "movedim", "swapaxes", "detach", "contiguous",
             "split", "chunk", "unbind", "tensor_split", "split_with_sizes", "getitem"}


def _aliases_first_arg(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in _ALIASING
    return node.op == "call_function" and getattr(node.target, "__name__", "") in _ALIASING


def _functionalise_inplace(gm: fx.GraphModule) -> None:
    """Readers of ``a`` after ``b = op_(a)`` read ``b``: the value they saw in eager mode.

    A write through a view (``x[:, :2].relu_()``) that a later reader of ``x`` would see cannot
    be expressed this way and raises TraceError. Then code whose result nobody reads is dropped.
    """
    modules = dict(gm.named_modules())
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in gm.graph.nodes:
        target = node.args[0] if node.args else None
        if not isinstance(target, fx.Node) or not _writes_first_arg(node, modules):
            continue
        _check_no_write_through_view(node, target, order)
        for user in list(target.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(target, node)
    for node in reversed(list(gm.graph.nodes)):  # dead code: unused pieces of tuples, etc.
        if node.op not in ("placeholder", "output") and not node.users and (
                node.target is not operator.setitem):  # kept, so that it is reported
            gm.graph.erase_node(node)


def _check_no_write_through_view(node: fx.Node, target: fx.Node, order: dict) -> None:
    view = target
    while _aliases_first_arg(view) and isinstance(view.args[0], fx.Node):
        base = view.args[0]
        if any(order[u] > order[node] for u in base.users):
            raise TraceError(
                f"op {_describe(node)} writes in place into {view.name!r}, a view of "
                f"{base.name!r} that is read again later; write it out of place "
                "(e.g. torch.relu instead of relu_, inplace=False) or keep its module whole with "
                "leaf_modules=[...]"
            )
        view = base


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

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.extra_traceback = False  # our messages name the op already

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


# ---- builder-time expressions (localised into replay.py expressions per kernel) ---------------
@dataclass(frozen=True)
class _Ref:
    """Builder-time: the output of op node (or graph input) ``name``."""

    name: str


@dataclass(frozen=True)
class _Const:
    """Builder-time: a captured tensor (parameter, buffer or trace-time constant), by key."""

    key: str


def _localise(expr: Any, consts: dict[str, torch.Tensor]) -> tuple[tuple[str, ...], Any, dict]:
    """Builder expression -> (input names, kernel body, captured tensors by short key)."""
    inputs: list[str] = []
    keys: dict[str, str] = {}
    tensors: dict[str, torch.Tensor] = {}

    def leaf(x: Any) -> Any:
        if isinstance(x, _Ref):
            if x.name not in inputs:
                inputs.append(x.name)
            return In(inputs.index(x.name))
        if isinstance(x, _Const):
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


# ---- op names and tables ------------------------------------------------------------------------
@cache
def _known_functions() -> dict[int, str]:
    names: dict[int, str] = {}
    for prefix, ns in (("operator", operator), ("torch", torch), ("torch.nn.functional", F)):
        for key, value in vars(ns).items():
            if callable(value) and not key.startswith("_"):
                names[id(value)] = f"{prefix}.{key}"  # later namespaces win: F.x over torch.x
    names[id(getattr)] = "getattr"
    return names


def _function_name(fn: Callable) -> str:
    known = _known_functions().get(id(fn))
    if known:
        return known
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _class_name(cls: type) -> str:
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _target_name(n: fx.Node) -> str:
    if n.op == "call_module":
        return _class_name(type(n.graph.owning_module.get_submodule(n.target)))
    if n.op == "call_method":
        return f"torch.Tensor.{n.target}"
    if n.op == "call_function":
        return _function_name(n.target)
    return n.op


def _lookup(table: dict, key: Any) -> Any:
    try:
        return table.get(key)
    except TypeError:  # an unhashable callable
        return None


def _member(key: Any, items: set) -> bool:
    try:
        return key in items
    except TypeError:  # an unhashable callable
        return False


def _fns(*names: str, ns: Any = torch) -> set:
    return {getattr(ns, n) for n in names if hasattr(ns, n)}


_ACT_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
    nn.GELU: "gelu", nn.Hardswish: "hardswish",
}
_ACT_FUNCTIONS = {
    **{f: "relu" for f in _fns("relu", "relu_") | _fns("relu", "relu_", ns=F)},
    F.relu6: "relu6", F.silu: "silu", F.gelu: "gelu", F.hardswish: "hardswish",
    **{f: "sigmoid" for f in _fns("sigmoid", "sigmoid_") | _fns("sigmoid", ns=F)},
    **{f: "tanh" for f in _fns("tanh", "tanh_") | _fns("tanh", ns=F)},
}
_ACT_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
                "tanh": "tanh", "tanh_": "tanh"}
_FUSIBLE = ("conv", "add", "pool", "linear")  # producers that take a fused activation

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.FeatureAlphaDropout)
_DROPOUT_FNS = _fns("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                    "feature_alpha_dropout", ns=F)
_VIEW_FNS = _fns("flatten", "unflatten", "reshape", "squeeze", "unsqueeze")
_SPLIT_FNS = _fns("split", "chunk", "unbind", "tensor_split", "split_with_sizes")
_VIEW_METHODS = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "contiguous"}
_SPLIT_METHODS = {"split", "chunk", "unbind", "tensor_split", "split_with_sizes"}

_BINARY_FUNCTIONS = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
    torch.maximum: "maximum", torch.minimum: "minimum",
}
_BINARY_METHODS = {m: m.rstrip("_") for m in ("add", "add_", "sub", "sub_", "mul", "mul_", "div",
                                                "div_", "maximum", "minimum")}
_MATMUL_FUNCTIONS = {torch.matmul, operator.matmul, torch.mm, torch.bmm}
_MATMUL_METHODS = {"matmul", "mm", "bmm"}
_CAT_FUNCTIONS = _fns("cat", "concat", "concatenate")

# positional parameter names of functional ops whose arguments the frontend reads
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
_POOL_ARGS = {
    "max": (("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
             "return_indices"), {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                 "return_indices": False}),
    "avg": (("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
             "divisor_override"), {"stride": None, "padding": 0, "ceil_mode": False,
                                   "count_include_pad": True, "divisor_override": None}),
    "adaptive_avg": (("input", "output_size"), {}),
    "adaptive_max": (("input", "output_size", "return_indices"), {"return_indices": False}),
}
_POOL_FUNCTIONS = {F.max_pool2d: "max", torch.max_pool2d: "max", F.avg_pool2d: "avg",
                   F.adaptive_avg_pool2d: "adaptive_avg", F.adaptive_max_pool2d: "adaptive_max"}


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


def _out_of_place(fn: Callable) -> Callable:
    """The out-of-place twin of an in-place function (``torch.relu_`` -> ``torch.relu``)."""
    twin = _lookup(_INPLACE_OPERATORS, fn)
    if twin is not None:
        return twin
    name = getattr(fn, "__name__", "")
    if not _is_inplace_name(name):
        return fn
    for ns in (torch, F):
        if getattr(ns, name, None) is fn and hasattr(ns, name[:-1]):
            return getattr(ns, name[:-1])
    return CloneFirst(fn)


def _without_inplace_flag(fn: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if kwargs.get("inplace") is True:
        kwargs = {**kwargs, "inplace": False}
    pos = _inplace_position(fn)
    if pos is not None and len(args) > pos and args[pos] is True:
        args = (*args[:pos], False, *args[pos + 1:])
    return args, kwargs


def _meta_bytes(meta: Any) -> int:
    if isinstance(meta, _TMeta):
        return meta.nbytes
    if isinstance(meta, tuple):
        return sum(_meta_bytes(m) for m in meta)
    return 0


def _is_dynamic(x: Any) -> bool:
    return isinstance(x, fx.Node) and bool(x.meta.get(_DYN))


def _is_tensor_node(x: Any) -> bool:
    return isinstance(x, fx.Node) and isinstance(x.meta.get(_META), _TMeta)


def _static_value(x: Any) -> tuple[bool, Any]:
    """(True, value) for a literal or an input-independent fx node, else (False, None)."""
    if isinstance(x, fx.Node):
        return (False, None) if x.meta.get(_DYN) else (True, x.meta.get(_VALUE))
    return True, x


def _basic_index(index: Any) -> bool:
    """``x[index]`` is a view: ints, slices of ints, None and Ellipsis only."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        parts = (item.start, item.stop, item.step) if isinstance(item, slice) else (item,)
        for part in parts:
            ok, value = _static_value(part)
            if not ok or not (value is None or value is Ellipsis or type(value) is int):
                return False
    return True


def _bind_static(node: fx.Node, names: tuple[str, ...], defaults: dict) -> dict | None:
    """Arguments of a functional op by name, all but the input static; None if not possible."""
    if len(node.args) > len(names) or not set(node.kwargs) <= set(names):
        return None
    bound = {**defaults, **dict(zip(names, node.args, strict=False)), **node.kwargs}
    out = {}
    for key in names[1:]:
        if key not in bound:
            return None
        ok, out[key] = _static_value(bound[key])
        if not ok:
            return None
    return out


# ---- 4. building the OpGraph --------------------------------------------------------------------
@dataclass
class _Op:
    """An OpNode under construction: fusion still edits its attrs, kernel and costs."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    flops: int
    bytes: int
    source: str
    kernel: Kernel

    def freeze(self) -> OpNode:
        return OpNode(self.name, self.kind, self.inputs, self.shape, dict(self.attrs),
                      int(self.flops), int(self.bytes), self.source)


class _Builder:
    """Walks the fx graph once, in order, and emits ops (see the module docstring)."""

    def __init__(self, gm: fx.GraphModule, name: str) -> None:
        self.gm, self.name = gm, name
        self.modules = dict(gm.named_modules())
        self.sym: dict[fx.Node, Any] = {}  # fx node -> _Ref | _Const | Apply | literal
        self.ops: dict[str, _Op] = {}  # in emission (= topological) order
        self.owner: dict[str, fx.Node] = {}  # op name -> fx node whose value the op now yields
        self.consts: dict[str, torch.Tensor] = {}
        self.materialised: dict[fx.Node, str] = {}
        self.sums: dict[str, list] = {}  # add op -> its (term expression, term meta)s
        self.inputs: list[TensorSpec] = []
        self.outputs: list[str] = []
        self.used: set[str] = set()
        self.handlers = (self._fold_view, self._fold_bn, self._fuse_act, self._conv, self._pool,
                         self._binary, self._concat, self._linear, self._matmul, self._act)

    def build(self) -> tuple[OpGraph, dict[str, Kernel]]:
        for node in self.gm.graph.nodes:
            self._visit(node)
        nodes = tuple(op.freeze() for op in self.ops.values())
        graph = OpGraph(self.name, tuple(self.inputs), nodes, tuple(self.outputs))
        return graph, {name: op.kernel for name, op in self.ops.items()}

    def _visit(self, node: fx.Node) -> None:
        if node.op == "output":
            self._outputs(node.args[0])
        elif not node.meta[_DYN]:
            self.sym[node] = self._constant(node.name, node.meta[_VALUE])
        elif node.op == "placeholder":
            meta = node.meta[_META]
            name = self._fresh(node.name)
            self.inputs.append(TensorSpec(name, meta.shape, str(meta.dtype).removeprefix("torch.")))
            self.sym[node] = _Ref(name)
        elif not isinstance(node.meta[_META], _TMeta):  # tuple-valued: stays lazy, read by getitem
            self.sym[node] = self._call_expr(node)
        elif not any(handler(node) for handler in self.handlers):
            self._opaque(node)

    # ---- helpers ------------------------------------------------------------------------------
    def _constant(self, key: str, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            self.consts[key] = value.detach()
            return _Const(key)
        if isinstance(value, (tuple, list)) and _has_tensor(value):
            items = [self._constant(f"{key}.{i}", v) for i, v in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        return value

    def _arg(self, x: Any) -> Any:
        return self.sym[x] if isinstance(x, fx.Node) else x

    def _call_expr(self, node: fx.Node) -> Apply:
        """Replay of ``node`` itself, out of place, reading its arguments' expressions."""
        args, kwargs = map_tree(tuple(node.args), self._arg), map_tree(dict(node.kwargs), self._arg)
        label = _target_name(node)
        if node.op == "call_module":
            module = self.modules[node.target]
            state = [*module.named_parameters(), *module.named_buffers()]
            params = {k: self._constant(f"{node.target}.{k}", v) for k, v in state}
            return Apply(ModuleCall(module), (params, *args), kwargs, label)
        if node.op == "call_method":
            name = node.target
            if not _is_inplace_name(name):
                return Apply(Method(name), args, kwargs, label)
            if hasattr(torch.Tensor, name[:-1]):
                return Apply(Method(name[:-1]), args, kwargs, label)
            return Apply(CloneFirst(Method(name)), args, kwargs, label)
        args, kwargs = _without_inplace_flag(node.target, args, kwargs)
        return Apply(_out_of_place(node.target), args, kwargs, label)

    def _fresh(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.]", "_", base) or "op"
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def _emit(self, node: fx.Node, kind: str, expr: Any, attrs: dict, flops: int, *,
              meta: _TMeta | None = None, suffix: str = "", bind: bool = True) -> str:
        """Add an op whose kernel is ``expr`` (an FnKernel) for fx node ``node``."""
        inputs, body, tensors = _localise(expr, self.consts)
        return self._add(node, kind, inputs, FnKernel(Replay(body), tensors), attrs, flops,
                         tensors.values(), meta=meta, suffix=suffix, bind=bind)

    def _add(self, node: fx.Node, kind: str, inputs: tuple[str, ...], kernel: Kernel, attrs: dict,
             flops: int, weights: Iterable[torch.Tensor], *, meta: _TMeta | None = None,
             suffix: str = "", bind: bool = True) -> str:
        meta = meta or node.meta[_META]
        source = str(node.target) if node.op == "call_module" else node.name
        name = self._fresh(_base_name(node) + suffix)
        read = sum(_meta_bytes(m.meta[_META]) for m in node.all_input_nodes if _is_dynamic(m))
        nbytes = read + sum(t.numel() * t.element_size() for t in weights) + meta.nbytes
        self.ops[name] = _Op(name, kind, inputs, meta.shape, attrs, flops, nbytes, source, kernel)
        self.owner[name] = node
        if bind:
            self.sym[node] = _Ref(name)
        return name

    def _plain(self, node: fx.Node) -> str:
        """A node name holding ``node``'s value: a folded view is materialised (once)."""
        sym = self.sym[node]
        if isinstance(sym, _Ref):
            return sym.name
        if node not in self.materialised:
            attrs = {"target": _target_name(node), "view": True}
            self.materialised[node] = self._emit(node, "call", sym, attrs, 0, bind=False)
        return self.materialised[node]

    def _sole_producer(self, src: Any, reader: fx.Node) -> _Op | None:
        """The op that yields ``src`` if ``reader`` is the only one to read its data."""
        sym = self.sym.get(src) if isinstance(src, fx.Node) else None
        if not isinstance(sym, _Ref) or sym.name not in self.ops or self.owner[sym.name] is not src:
            return None
        readers = [u for u in src.users if u.meta.get(_DYN, True)]  # shape queries don't count
        return self.ops[sym.name] if readers == [reader] else None

    def _outputs(self, value: Any) -> None:
        leaves = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (tuple, list)) else (value,))
        for leaf in leaves:
            if isinstance(leaf, (tuple, list, dict)):
                self._outputs(leaf)
            elif not _is_dynamic(leaf):
                raise TraceError(f"the model returns {leaf!r}, which does not depend on its input; "
                                 "return tensors computed from the input only")
            elif isinstance(leaf.meta[_META], _TMeta):
                self.outputs.append(self._plain(leaf))
            else:  # a tuple-valued op returned as is: one node per piece
                for i in range(len(leaf.meta[_META])):
                    self.outputs.append(self._piece(leaf, i))

    def _piece(self, node: fx.Node, i: int) -> str:
        meta = node.meta[_META][i]
        if not isinstance(meta, _TMeta):
            raise TraceError(f"op {_describe(node)} returns nested tuples; return tensors instead")
        label = f"{_target_name(node)}[{i}]"
        expr = Apply(operator.getitem, (self.sym[node], i), {}, "operator.getitem")
        return self._emit(node, "call", expr, {"target": label}, meta.numel, meta=meta,
                          suffix=f".{i}", bind=False)

    # ---- handlers: each returns True when it took the node --------------------------------------
    def _fold_view(self, node: fx.Node) -> bool:
        kind = self._view_kind(node)
        if kind is None:
            return False
        self.sym[node] = self.sym[node.args[0]] if kind == "alias" else self._call_expr(node)
        return True

    def _view_kind(self, node: fx.Node) -> str | None:
        """"alias" (identity), "view" (folded into readers) or None (not a view)."""
        if not node.args or not _is_dynamic(node.args[0]):
            return None
        if node.op == "call_module":
            m = self.modules[node.target]
            if isinstance(m, nn.Identity) or (isinstance(m, _DROPOUTS) and not m.training):
                return "alias"
            return "view" if isinstance(m, (nn.Flatten, nn.Unflatten)) else None
        if node.op == "call_method":
            if node.target == "detach":
                return "alias"
            return "view" if node.target in _VIEW_METHODS else None
        fn = node.target
        if _member(fn, _DROPOUT_FNS):
            bound = inspect.signature(fn).bind(*node.args, **node.kwargs)
            bound.apply_defaults()
            return "alias" if _static_value(bound.arguments["training"]) == (True, False) else None
        if _member(fn, _VIEW_FNS):
            return "view"
        if fn is operator.getitem:
            src = node.args[0]
            if isinstance(src.meta[_META], _TMeta):
                return "view" if _basic_index(node.args[1]) else None
            sym = self.sym[src]  # a piece of split/chunk/... is a view too
            fn = sym.fn if isinstance(sym, Apply) else None
            is_method = isinstance(fn, Method) and fn.name in _SPLIT_METHODS
            is_split = is_method or _member(fn, _SPLIT_FNS)
            return "view" if is_split else None
        return None

    def _fold_bn(self, node: fx.Node) -> bool:
        """Eval-mode BatchNorm2d after a conv that nothing else reads: scale and shift the conv."""
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            return False
        m = self.modules[node.target]
        if not (isinstance(m, nn.BatchNorm2d) and type(m).forward is nn.BatchNorm2d.forward
                and m.running_mean is not None and m.running_var is not None and not m.training):
            return False
        op = self._sole_producer(node.args[0], node)
        if op is None or op.kind != "conv" or op.attrs["activation"] != "none":
            return False
        k = op.kernel
        assert isinstance(k, ConvKernel)
        # in float64, so that folding adds no more than one rounding to the weights
        scale = m.running_var.double().add(m.eps).rsqrt()
        if m.weight is not None:
            scale = scale * m.weight.detach().double()
        shift = -m.running_mean.double() * scale
        if m.bias is not None:
            shift = shift + m.bias.detach().double()
        bias = shift if k.bias is None else k.bias.double() * scale + shift
        if k.bias is None:
            op.bytes += bias.numel() * k.weight.element_size()
        weight = k.weight.double() * scale.view(-1, 1, 1, 1)
        op.kernel = replace(k, weight=weight.to(k.weight.dtype), bias=bias.to(k.weight.dtype))
        self.owner[op.name] = node
        self.sym[node] = _Ref(op.name)
        return True

    def _activation(self, node: fx.Node) -> str | None:
        """The ACTIVATIONS name of an activation op on one tensor, else None."""
        if not node.args or not _is_tensor_node(node.args[0]):
            return None
        if node.op == "call_module":
            m = self.modules[node.target]
            if len(node.args) != 1 or node.kwargs or getattr(m, "approximate", "none") != "none":
                return None
            return _ACT_MODULES.get(type(m))
        if node.op == "call_method":
            plain = len(node.args) == 1 and not node.kwargs
            return _ACT_METHODS.get(node.target) if plain else None
        name = _lookup(_ACT_FUNCTIONS, node.target)
        extra = {k: v for k, v in node.kwargs.items() if k != "inplace"}
        if name == "gelu" and extra.get("approximate", "none") == "none":
            extra.pop("approximate", None)
        if name is None or extra or any(type(a) is not bool for a in node.args[1:]):
            return None
        return name

    def _fuse_act(self, node: fx.Node) -> bool:
        fn = self._activation(node)
        op = self._sole_producer(node.args[0], node) if fn else None
        if op is None or op.kind not in _FUSIBLE or op.attrs.get("activation", "none") != "none":
            return False
        op.attrs["activation"] = fn
        op.kernel.activation = fn  # ConvKernel and FnKernel both apply it after their op
        op.flops += math.prod(op.shape)
        self.owner[op.name] = node
        self.sym[node] = _Ref(op.name)
        return True

    def _act(self, node: fx.Node) -> bool:
        fn = self._activation(node)
        if fn is None:
            return False
        inputs, body, tensors = _localise(self.sym[node.args[0]], self.consts)
        kernel = FnKernel(Replay(body), tensors, activation=fn)
        self._add(node, "act", inputs, kernel, {"fn": fn}, node.meta[_META].numel, tensors.values())
        return True

    def _conv(self, node: fx.Node) -> bool:
        spec = self._conv_spec(node)
        if spec is None:
            return False
        src, weight, bias, stride, padding, dilation, groups = spec
        kh, kw = weight.shape[2:]
        pad = _conv_padding(padding, (kh, kw), _pair(dilation))
        if pad is None or not _is_tensor_node(src) or len(src.meta[_META].shape) != 4:
            return False
        kernel = ConvKernel(weight, bias, _pair(stride), pad, _pair(dilation), int(groups))
        attrs = {
            "in_channels": weight.shape[1] * groups, "out_channels": weight.shape[0],
            "kernel": (kh, kw), "stride": _pair(stride), "padding": pad,
            "dilation": _pair(dilation), "groups": int(groups), "activation": "none",
        }
        flops = 2 * node.meta[_META].numel * weight.shape[1] * kh * kw  # MACs x 2
        weights = [weight] if bias is None else [weight, bias]
        self._add(node, "conv", (self._plain(src),), kernel, attrs, flops, weights)
        return True

    def _conv_spec(self, node: fx.Node) -> tuple | None:
        """(input node, weight, bias, stride, padding, dilation, groups) of a plain 2-d conv."""
        if node.op == "call_module":
            m = self.modules[node.target]
            plain = (isinstance(m, nn.Conv2d) and type(m).forward is nn.Conv2d.forward
                     and type(m)._conv_forward is nn.Conv2d._conv_forward)
            if not plain or m.padding_mode != "zeros" or len(node.args) != 1 or node.kwargs:
                return None
            bias = None if m.bias is None else m.bias.detach()
            return (node.args[0], m.weight.detach(), bias, m.stride, m.padding, m.dilation,
                    m.groups)
        if node.op != "call_function" or node.target is not F.conv2d:
            return None
        bound = _bind_static(node, _CONV_ARGS, _CONV_DEFAULTS)
        if bound is None or not isinstance(bound["weight"], torch.Tensor):
            return None
        if bound["weight"].dim() != 4 or not (bound["bias"] is None or
                                              isinstance(bound["bias"], torch.Tensor)):
            return None
        bias = None if bound["bias"] is None else bound["bias"].detach()
        return (node.args[0], bound["weight"].detach(), bias, bound["stride"], bound["padding"],
                bound["dilation"], bound["groups"])

    def _pool(self, node: fx.Node) -> bool:
        attrs = self._pool_attrs(node)
        src = node.args[0] if node.args else None
        if attrs is None or not _is_tensor_node(src) or len(src.meta[_META].shape) != 4:
            return False
        in_meta, out_meta = src.meta[_META], node.meta[_META]
        if attrs["mode"] in ("max", "avg"):
            flops = out_meta.numel * math.prod(attrs["kernel"])
        else:  # global / adaptive: every input element is read once
            flops = in_meta.numel
        if attrs["mode"] in ("global_avg", "global_max"):
            attrs.update(kernel=tuple(in_meta.shape[2:]), stride=(1, 1), padding=(0, 0))
        elif attrs["mode"].startswith("adaptive"):
            attrs["output_size"] = tuple(out_meta.shape[2:])
        attrs["activation"] = "none"
        self._emit(node, "pool", self._call_expr(node), attrs, flops)
        return True

    def _pool_attrs(self, node: fx.Node) -> dict | None:
        """mode/kernel/stride/padding/ceil_mode of a 2-d pooling op (module or function)."""
        if node.op == "call_module":
            m = self.modules[node.target]
            if len(node.args) != 1 or node.kwargs:
                return None
            if type(m) is nn.MaxPool2d and not m.return_indices and _pair(m.dilation) == (1, 1):
                return _window("max", m.kernel_size, m.stride, m.padding, m.ceil_mode)
            if type(m) is nn.AvgPool2d:
                attrs = _window("avg", m.kernel_size, m.stride, m.padding, m.ceil_mode)
                return {**attrs, "count_include_pad": bool(m.count_include_pad)}
            if type(m) is nn.AdaptiveAvgPool2d:
                return _adaptive("avg", node)
            if type(m) is nn.AdaptiveMaxPool2d and not m.return_indices:
                return _adaptive("max", node)
            return None
        mode = _lookup(_POOL_FUNCTIONS, node.target) if node.op == "call_function" else None
        bound = _bind_static(node, *_POOL_ARGS[mode]) if mode else None
        if bound is None or bound.get("return_indices"):
            return None
        if _pair(bound.get("dilation", 1)) != (1, 1):
            return None
        if mode == "max":
            return _window("max", bound["kernel_size"], bound["stride"], bound["padding"],
                           bound["ceil_mode"])
        if mode == "avg":
            attrs = _window("avg", bound["kernel_size"], bound["stride"], bound["padding"],
                            bound["ceil_mode"])
            return {**attrs, "count_include_pad": bool(bound["count_include_pad"])}
        return _adaptive(mode.removeprefix("adaptive_"), node)

    def _binary(self, node: fx.Node) -> bool:
        if node.op == "call_method":
            op = _BINARY_METHODS.get(node.target)
        else:
            op = _lookup(_BINARY_FUNCTIONS, node.target) if node.op == "call_function" else None
        if op is None or len(node.args) != 2 or node.kwargs:
            return False
        dynamic = [a for a in node.args if _is_dynamic(a)]
        if not all(_is_dynamic(a) or _static_operand(a) for a in node.args):
            return False
        if op == "add" and len(dynamic) == 2 and all(_is_tensor_node(a) for a in dynamic):
            self._sum(node)
        else:
            self._emit(node, "mul", self._call_expr(node), {"op": op}, node.meta[_META].numel)
        return True

    def _sum(self, node: fx.Node) -> None:
        """One ``add`` node for a chain ``a + b + c``: an inner sum that only this one reads is
        absorbed (RandWire sums all inputs of a node), keeping the left-to-right order."""
        terms: list[tuple[Any, _TMeta]] = []
        for arg in node.args:
            inner = self._sole_producer(arg, node)
            plain_sum = inner is not None and inner.attrs.get("activation") == "none"
            if plain_sum and inner.name in self.sums:
                terms += self.sums.pop(inner.name)
                del self.ops[inner.name]
            else:
                terms.append((self.sym[arg], arg.meta[_META]))
        out = node.meta[_META]
        expr = Apply(add_all, tuple(t for t, _ in terms), {}, "sum")
        name = self._emit(node, "add", expr, {"activation": "none"}, (len(terms) - 1) * out.numel)
        self.ops[name].bytes = sum(m.nbytes for _, m in terms) + out.nbytes
        self.sums[name] = terms

    def _concat(self, node: fx.Node) -> bool:
        if node.op != "call_function" or not _member(node.target, _CAT_FUNCTIONS):
            return False
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        if not isinstance(tensors, (list, tuple)) or not all(_is_tensor_node(t) for t in tensors):
            return False
        ok, dim = _static_value(node.args[1] if len(node.args) > 1 else
                                node.kwargs.get("dim", node.kwargs.get("axis", 0)))
        if not ok or type(dim) is not int:
            return False
        dim %= len(node.meta[_META].shape)
        self._emit(node, "concat", self._call_expr(node), {"dim": dim}, 0)
        return True

    def _linear(self, node: fx.Node) -> bool:
        src = node.args[0] if node.args else None
        if node.op == "call_module":
            m = self.modules[node.target]
            if not (isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward) or (
                    len(node.args) != 1 or node.kwargs):
                return False
            weight = self._constant(f"{node.target}.weight", m.weight)
            bias = None if m.bias is None else self._constant(f"{node.target}.bias", m.bias)
        elif node.op == "call_function" and node.target is F.linear:
            bound = _bind_static(node, ("input", "weight", "bias"), {"bias": None})
            if bound is None or not isinstance(bound["weight"], torch.Tensor):
                return False
            args = dict(zip(("input", "weight", "bias"), node.args, strict=False)) | node.kwargs
            weight, bias = self._arg(args["weight"]), self._arg(args.get("bias"))
        else:
            return False
        if not _is_dynamic(src) or not isinstance(weight, _Const):
            return False
        w = self.consts[weight.key]
        expr = Apply(F.linear, (self.sym[src], weight, bias), {}, "torch.nn.functional.linear")
        attrs = {"in_features": w.shape[1], "out_features": w.shape[0], "activation": "none"}
        self._emit(node, "linear", expr, attrs, 2 * node.meta[_META].numel * w.shape[1])
        return True

    def _matmul(self, node: fx.Node) -> bool:
        is_matmul = (node.op == "call_method" and node.target in _MATMUL_METHODS) or (
            node.op == "call_function" and _member(node.target, _MATMUL_FUNCTIONS))
        if not is_matmul or len(node.args) != 2 or node.kwargs:
            return False
        a, b = node.args
        if not (_is_tensor_node(a) and _is_tensor_node(b)):
            return False
        k = a.meta[_META].shape[-1]
        self._emit(node, "matmul", self._call_expr(node), {}, 2 * node.meta[_META].numel * k)
        return True

    def _opaque(self, node: fx.Node) -> None:
        """Any other op: replayed as is (out of place); nothing is dropped."""
        target = _target_name(node)
        if node.target is operator.getitem and not isinstance(node.args[0].meta[_META], _TMeta):
            target = f"{_target_name(node.args[0])}[{node.args[1]}]"  # a piece of a tuple op
        attrs: dict[str, Any] = {"target": target}
        if node.op == "call_module":
            attrs.update(_module_settings(self.modules[node.target]))
        # a guess of 1 FLOP per element read or written: reductions read more than they write
        reads = sum(m.meta[_META].numel for m in node.all_input_nodes if _is_tensor_node(m))
        self._emit(node, "call", self._call_expr(node), attrs, max(reads, node.meta[_META].numel))


def _module_settings(module: nn.Module) -> dict[str, Any]:
    """What tells two opaque modules of one class apart, stable across torch releases.

    Numeric settings (padding, eps, num_features...) and the shapes of parameters and buffers;
    not ``extra_repr()``, whose wording changes between releases and would change fingerprints.
    """
    settings: dict[str, Any] = {
        k: v for k, v in sorted(vars(module).items())
        if not k.startswith("_") and not isinstance(v, bool)
        and (isinstance(v, (int, float)) or (isinstance(v, tuple) and all(
            isinstance(i, (int, float)) and not isinstance(i, bool) for i in v)))
    }
    state = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    if state:
        settings["tensors"] = {k: list(v.shape) for k, v in state if v is not None}
    return settings


def _base_name(node: fx.Node) -> str:
    """Readable name: the module path, else the enclosing module path and the op's fx name."""
    if node.op == "call_module":
        return str(node.target)
    src = node.args[0] if node.args else None
    if node.target is operator.getitem and isinstance(src, fx.Node) and not _is_tensor_node(src):
        return f"{_base_name(src)}.{node.args[1]}"  # a piece of a tuple op: topk.0
    stem = re.sub(r"_\d+$", "", node.name)  # fx numbers repeats: cat, cat_1, ...
    scope = _scope(node)
    return f"{scope}.{stem}" if scope else stem


def _static_operand(x: Any) -> bool:
    ok, value = _static_value(x)
    return ok and (isinstance(value, torch.Tensor) or type(value) in (int, float, bool))


def _conv_padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]
                  ) -> tuple[int, int] | None:
    """Explicit symmetric padding, or None where ``"same"`` needs an asymmetric one."""
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        return _pair(padding)
    totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return None if any(t % 2 for t in totals) else (totals[0] // 2, totals[1] // 2)


def _window(mode: str, kernel: Any, stride: Any, padding: Any, ceil_mode: bool) -> dict:
    kernel = _pair(kernel)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    return {"mode": mode, "kernel": kernel, "stride": stride, "padding": _pair(padding),
            "ceil_mode": bool(ceil_mode)}


def _adaptive(kind: str, node: fx.Node) -> dict:
    out = tuple(node.meta[_META].shape[2:])
    return {"mode": f"global_{kind}" if out == (1, 1) else f"adaptive_{kind}"}
