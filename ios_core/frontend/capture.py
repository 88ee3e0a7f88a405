"""Pass 1, capture: ``torch.fx`` tracing of an ``nn.Module`` into an ``fx.GraphModule``.

Leaf modules are kept whole, one ``call_module`` node per call: fx's standard ones (everything in
``torch.nn`` but containers) plus the ``leaf_modules`` that the caller names: classes, or strings
that are a module's qualified name (``cells.3.gate``) or a class name (``Gate``,
``mypkg.blocks.Gate``). A string that names nothing in the model is refused with a suggestion.

Two tracers, the second only where the first fails:

1. :class:`LeafTracer`, plain symbolic tracing: proxies carry no values, so Python that reads an
   input's size (``math.ceil(x.size(-1) / s)``, ``if x.shape[-1] % 2``) cannot run. Every model
   it can trace is traced by it alone, so graphs and fingerprints (which shipped profiles are
   keyed by) do not change.
2. :class:`ConcreteTracer`, for the rest: the same tracer, whose proxies also carry their value
   on the example input, computed op by op as the graph is recorded. Shape queries (``x.size()``,
   ``x.shape``, ``x.dim()``, ``len(x)``... see ``shapes.SHAPE_METHODS``) answer with it, so
   size-dependent Python runs and what it computes becomes constants in the graph (timm's
   "same" padding becomes ``F.pad(x, [0, 1, 0, 1])`` before the conv), as the shape pass makes
   shape queries constants anyway. Values never decide control flow: ``if x.sum() > 0`` still
   fails, as it must for a graph that holds for any data.

   The values are first *fake* tensors (torch's ``FakeTensorMode``, the machinery under
   ``torch.compile``): shape, dtype and device of every value, from torch's own shape rules,
   without computing anything. Where anything fails with them, the model is traced again with
   real values, which settle what fake ones cannot (an op whose output shape depends on data)
   and let a failing submodule run whole on its real inputs: the failure is noted, the module
   becomes an automatic leaf and tracing goes on, so that
   :class:`~ios_core.frontend.errors.TraceError` names every failing module at once, each with
   its class, the user's source line that broke and what to do: make the forward static, or
   keep the module whole with ``leaf_modules`` (``--leaf-module`` in the CLI).

Why not the alternatives: ``torch.export`` and Dynamo give an ATen-level or inlined graph
(parameters lifted to inputs, mangled names) that the op rules and naming do not read, and take
tens of seconds on a large model. ``torch.fx.experimental.meta_tracer.MetaTracer`` (in torch 2.11
and 2.13 alike) is this idea with meta tensors, but it is experimental and unmaintained: its
values say device ``meta`` (so ``torch.zeros(..., device=x.device)`` would bake a meta tensor
into the graph), it needs hand-written overrides per op, gives no value for tuple outputs and
answers ``x.size(0)`` with the whole size. Re-tracing only the failing submodules with their
concrete inputs would need a forward pass to find those inputs and graphs spliced together;
tracing the whole model with fake values costs about one forward pass and only for the models
that need it.
"""

from __future__ import annotations

import difflib
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from ios_core.frontend.errors import TraceError
from ios_core.frontend.naming import class_name
from ios_core.frontend.shapes import SHAPE_ATTRS, SHAPE_METHODS

__all__ = [
    "ConcreteProxy", "ConcreteTracer", "LeafSpec", "LeafTracer", "capture", "check_leaves",
    "leaf_label",
]

LeafSpec = type[nn.Module] | str  # a module class, or a module's qualified name or class name


def leaf_label(spec: LeafSpec) -> str:
    """A leaf spec as a string that means the same (what a schedule file records).

    >>> leaf_label("stem.1"), leaf_label(nn.Conv2d)
    ('stem.1', 'torch.nn.modules.conv.Conv2d')
    """
    return spec if isinstance(spec, str) else f"{spec.__module__}.{spec.__qualname__}"


def _class_names(cls: type) -> tuple[str, ...]:
    """The strings that name ``cls`` as a leaf: short, defining module's, public name.

    >>> _class_names(nn.Conv2d)
    ('Conv2d', 'torch.nn.modules.conv.Conv2d', 'torch.nn.Conv2d')
    """
    return cls.__name__, f"{cls.__module__}.{cls.__qualname__}", class_name(cls)


def check_leaves(model: nn.Module, leaves: Sequence[LeafSpec]) -> None:
    """Raise TraceError for a string in ``leaves`` that is neither a submodule's qualified name
    nor the class name of a module in ``model`` (a typo would otherwise be silently ignored).

    >>> net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())
    >>> check_leaves(net, ["0", "ReLU", nn.Conv2d])
    >>> check_leaves(net, ["Relu"])
    Traceback (most recent call last):
    ...
    ios_core.frontend.errors.TraceError: leaf module 'Relu' is neither ...; did you mean 'ReLU'?
    """
    modules = dict(model.named_modules())
    classes = {n for m in modules.values() for n in _class_names(type(m))}
    for spec in leaves:
        if isinstance(spec, type):
            if not issubclass(spec, nn.Module):
                raise TraceError(f"leaf module {spec!r} is not an nn.Module class")
            continue
        if not isinstance(spec, str) or not spec:
            raise TraceError(f"leaf module {spec!r} must be a module name, a class name or a class")
        if spec in modules or spec in classes:
            continue
        names = {n.lower(): n for n in [*classes, *modules]}  # a typo's case matters not
        close = [names[n] for n in difflib.get_close_matches(spec.lower(), list(names), n=3)]
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise TraceError(
            f"leaf module {spec!r} is neither the qualified name of a submodule of "
            f"{type(model).__name__} nor the class of one{hint}"
        )


class _Failure(Exception):
    """Carries the innermost module whose forward raised during tracing."""

    def __init__(self, path: str, module: nn.Module, exc: BaseException) -> None:
        super().__init__(path)
        self.path, self.module, self.exc = path, module, exc


class _Fatal(Exception):
    """A module fails on the example input even when run whole: the input or model is wrong."""


class LeafTracer(fx.Tracer):
    """fx's tracer, with extra leaf modules and a note of the module whose forward failed."""

    def __init__(self, leaves: tuple[LeafSpec, ...]) -> None:
        super().__init__()
        self.leaf_types = tuple(t for t in leaves if isinstance(t, type))
        self.leaf_names = {t for t in leaves if isinstance(t, str)}  # paths or class names

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, self.leaf_types) or module_qualified_name in self.leaf_names:
            return True
        if self.leaf_names.intersection(_class_names(type(m))):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def module_path(self, m: nn.Module) -> str:
        try:
            return self.path_of_module(m)
        except Exception:  # a module that is not registered as a submodule
            return f"<unregistered {type(m).__name__}>"

    def call_module(self, m, forward, args, kwargs) -> Any:  # noqa: ANN001 - fx's own signature
        try:
            return super().call_module(m, forward, args, kwargs)
        except (_Failure, _Fatal):
            raise
        except Exception as exc:  # the innermost module on the way out is the one that broke
            raise _Failure(self.module_path(m), m, exc) from exc


# ---- tracing with the example input's values ----------------------------------------------------
# what a tensor's metadata settles, beyond the shape queries (not its data)
_METADATA_METHODS = {"is_floating_point", "is_complex", "is_signed", "element_size"}


class ConcreteProxy(fx.Proxy):
    """An fx proxy that knows its value on the example input: shape queries answer with it."""

    def __getattr__(self, k: str) -> Any:
        if k in SHAPE_ATTRS or k in SHAPE_METHODS or k in _METADATA_METHODS:
            value = self.tracer.value_of(self.node)  # type: ignore[attr-defined]
            if isinstance(value, torch.Tensor):
                return getattr(value, k)  # x.shape, x.size (called later: x.size(-1))...
        return _ConcreteAttribute(self, k)

    def __len__(self) -> int:  # len(x) is x.shape[0]; len of a tuple value is its length
        return len(self.tracer.value_of(self.node))  # type: ignore[attr-defined]


class _ConcreteAttribute(fx.proxy.Attribute, ConcreteProxy):
    """``x.attr`` (or a method about to be called), whose node is recorded only when used."""


class ConcreteTracer(LeafTracer):
    """A :class:`LeafTracer` whose proxies carry values computed on ``inputs`` (see the top):
    fake tensors with ``fake=True`` (shapes without compute; the first failure ends the trace),
    else real ones on copies of ``inputs``.

    ``failures`` lists the modules that could not be traced even with real values; each was
    then run whole as one ``call_module`` node so that tracing could go on.
    """

    def __init__(
        self, leaves: tuple[LeafSpec, ...], inputs: Sequence[torch.Tensor], fake: bool = False,
    ) -> None:
        super().__init__(leaves)
        self.mode = _fake_mode() if fake else None
        self.fake = self.mode is not None
        self.inputs = [self.mode.from_tensor(t) if self.mode else t.clone() for t in inputs]
        self.values: dict[fx.Node, Any] = {}
        self.failures: list[_Failure] = []
        self._eager = 0  # > 0 while a node's value is being computed: modules run as they are

    @contextmanager
    def _running(self) -> Iterator[None]:
        self._eager += 1
        try:
            with torch.no_grad(), (self.mode or nullcontext()):
                yield
        finally:
            self._eager -= 1

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return ConcreteProxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None,  # noqa: ANN001
                     proxy_factory_fn=None) -> fx.Proxy:
        # fx's factory for parameters is dropped: a weight's proxy must know its shape too
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr)
        self.values[proxy.node] = self._evaluate(proxy.node)
        return proxy

    def value_of(self, node: fx.Node) -> Any:
        """``node``'s value on the example input (get_attr nodes made by fx are looked up)."""
        if node not in self.values and node.op == "get_attr":
            self.values[node] = self._attribute(str(node.target))
        return self.values[node]

    def _attribute(self, target: str) -> Any:
        with self._running():  # fx's getattr hook would answer with proxies
            value: Any = self.root
            for atom in target.split("."):
                value = getattr(value, atom)
        return value

    def _evaluate(self, node: fx.Node) -> Any:
        if node.op == "placeholder":
            if self.inputs:
                return self.inputs.pop(0)
            if node.args:  # a parameter with a default
                return node.args[0]
            raise TraceError(f"the model's forward takes more inputs than given ({node.target})")
        if node.op == "get_attr":
            return self._attribute(str(node.target))
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), self.value_of)
        with self._running():
            if node.op == "call_function":
                return node.target(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            if node.op == "call_module":
                return self.root.get_submodule(str(node.target))(*args, **kwargs)
        return None

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if self._eager:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def iter(self, obj: fx.Proxy) -> Iterator[Any]:
        value = self.value_of(obj.node)
        if isinstance(value, (tuple, list, torch.Tensor)):  # as many pieces as it has
            return iter([obj[i] for i in range(len(value))])
        return super().iter(obj)

    def call_module(self, m, forward, args, kwargs) -> Any:  # noqa: ANN001 - fx's own signature
        if self._eager:  # computing a value: the module simply runs
            return forward(*args, **kwargs)
        stack = self.module_stack.copy()  # fx does not pop it when forward raises
        try:
            return super().call_module(m, forward, args, kwargs)
        except _Failure as failure:
            if self.fake or failure.module is not m or failure.path.startswith("<unregistered"):
                raise  # fake values stop at the first failure: real ones then name them all
            self.module_stack.clear()
            self.module_stack.update(stack)
            try:  # an automatic leaf: the module run whole, so that tracing can go on
                proxy = self.create_proxy("call_module", failure.path, args, kwargs)
            except Exception as exc:
                raise _Fatal(
                    f"module '{failure.path}' ({type(m).__name__}) fails on the example input: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self.failures.append(failure)
            return proxy


# ---- the pass -----------------------------------------------------------------------------------
def capture(
    model: nn.Module, leaves: tuple[LeafSpec, ...] = (),
    inputs: Sequence[torch.Tensor] | None = None,
) -> fx.GraphModule:
    """``model`` traced by torch.fx, ``leaves`` kept whole; a failure raises TraceError.

    Where plain symbolic tracing fails and ``inputs`` are given, the model is traced again with
    their values (:class:`ConcreteTracer`), and what still fails is named all at once.
    """
    check_leaves(model, leaves)
    tracer = LeafTracer(leaves)
    try:
        graph = tracer.trace(model)
    except _Failure as f:
        if inputs is None:
            raise TraceError(_failure_text([(f.path, f.module, f.exc)])) from f.exc
        return _capture_concretely(model, leaves, inputs)
    except Exception as exc:
        if inputs is None:
            raise TraceError(_failure_text([("", model, exc)])) from exc
        return _capture_concretely(model, leaves, inputs)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _fake_mode() -> Any:
    """A FakeTensorMode that takes real parameters as they are; None where torch has none."""
    try:  # its first use imports torch._dynamo: a second or two, once per process
        from torch._subclasses.fake_tensor import FakeTensorMode

        return FakeTensorMode(allow_non_fake_inputs=True)
    except Exception:  # noqa: BLE001 - a torch without it: real values do the same, slower
        return None


def _capture_concretely(
    model: nn.Module, leaves: tuple[LeafSpec, ...], inputs: Sequence[torch.Tensor]
) -> fx.GraphModule:
    """Trace with values: fake ones first (shapes without compute); where that fails anywhere,
    real ones, which also run failing modules whole to name every failure at once."""
    tracer = ConcreteTracer(leaves, inputs, fake=True)
    if tracer.fake:
        try:
            graph = tracer.trace(model)
            return fx.GraphModule(tracer.root, graph, type(model).__name__)
        except Exception:  # noqa: S110 - whatever it was, real values tell it properly
            pass
    tracer = ConcreteTracer(leaves, inputs)
    failed: list[tuple[str, nn.Module, BaseException]] = []
    try:
        graph = tracer.trace(model)
    except _Fatal as exc:
        raise TraceError(str(exc)) from exc.__cause__
    except _Failure as f:  # a module that could not be run whole in its place
        failed = [(f.path, f.module, f.exc)]
    except Exception as exc:  # the model's own forward
        failed = [("", model, exc)]
    failed = [(f.path, f.module, f.exc) for f in tracer.failures] + failed
    if failed:
        raise TraceError(_failure_text(failed)) from failed[0][2]
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _failure_text(failed: list[tuple[str, nn.Module, BaseException]]) -> str:
    """Which modules failed (path '' for the model itself), on which line, and what to do."""
    if len(failed) == 1:
        path, module, exc = failed[0]
        lines = [f"torch.fx cannot trace {_where(path, module)}: {_error(exc)}"]
        if _user_frame(exc):
            lines.append(f"  failing op: {_user_frame(exc)}")
    else:
        lines = [f"torch.fx cannot trace {len(failed)} modules:"]
        for path, module, exc in failed:
            lines.append(f"  - {_where(path, module)}: {_error(exc)}")
            if _user_frame(exc):
                lines.append(f"    failing op: {_user_frame(exc)}")
    text = "\n".join(lines)
    if any("item assignment" in str(e) for _, _, e in failed):
        text += ("\nWhat to do: build the tensor without assigning into it (x[...] = v): use "
                 "torch.cat, torch.where or F.pad")
    else:
        text += ("\nWhat to do: make the forward() static (no Python if/while/for or "
                 "int()/bool() on tensor values; use torch.where or a fixed structure instead)")
    paths = [p for p, _, _ in failed if p and not p.startswith("<unregistered")]
    classes = list(dict.fromkeys(type(m).__name__ for p, m, _ in failed if p in paths))
    if paths:
        options = " ".join(f"--leaf-module {p}" for p in paths)
        text += (
            f", or keep {'the module' if len(paths) == 1 else 'these modules'} whole as opaque "
            f"ops: trace_model(model, x, leaf_modules={paths!r}) (or leaf_modules="
            f"[{', '.join(classes)}]); on the command line {options}"
        )
    if len(paths) < len(failed):
        text += ", or move the failing code of the model's own forward into a submodule and name "
        text += "it in leaf_modules"
    return text + "."


def _where(path: str, module: nn.Module) -> str:
    cls = type(module).__name__
    return f"module '{path}' ({cls})" if path else f"the top-level model ({cls})"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def inside(filename: str, folder: str) -> bool:
    """Whether a file lies in a folder (torchvision's files do not lie in torch's).

    >>> inside("/py/site-packages/torch/fx/proxy.py", "/py/site-packages/torch")
    True
    >>> inside("/py/site-packages/torchvision/models/resnet.py", "/py/site-packages/torch")
    False
    """
    return filename.startswith(folder.rstrip(os.sep) + os.sep)


def _user_frame(exc: BaseException) -> str:
    """The innermost traceback line outside torch and this file: the user's op that failed."""
    torch_dir = str(Path(torch.__file__).parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__ and not inside(f.filename, torch_dir)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
