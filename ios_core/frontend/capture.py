"""Pass 1, capture: ``torch.fx`` symbolic tracing of an ``nn.Module`` into an ``fx.GraphModule``.

Leaf modules are kept whole, one ``call_module`` node per call: fx's standard ones (everything in
``torch.nn`` but containers) plus the ``leaf_modules`` that the caller names, by class or by
qualified name. That is the way past a submodule whose control flow depends on tensor values.

When fx cannot trace the model, :class:`~ios_core.frontend.errors.TraceError` names the innermost
module whose forward raised (qualified name and class), the user's source line that broke (the
innermost frame outside torch and this file) and what to do: make the forward static, or keep
the module whole with ``leaf_modules``.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from ios_core.frontend.errors import TraceError

__all__ = ["LeafSpec", "LeafTracer", "capture"]

LeafSpec = type[nn.Module] | str  # a module class, or a module's qualified name


class _Failure(Exception):
    """Carries the innermost module whose forward raised during tracing."""

    def __init__(self, path: str, module: nn.Module, exc: BaseException) -> None:
        super().__init__(path)
        self.path, self.module, self.exc = path, module, exc


class LeafTracer(fx.Tracer):
    """fx's tracer, with extra leaf modules and a note of the module whose forward failed."""

    def __init__(self, leaves: tuple[LeafSpec, ...]) -> None:
        super().__init__()
        self.leaf_types = tuple(t for t in leaves if isinstance(t, type))
        self.leaf_paths = {t for t in leaves if isinstance(t, str)}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, self.leaf_types) or module_qualified_name in self.leaf_paths:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs) -> Any:  # noqa: ANN001 - fx's own signature
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


def capture(model: nn.Module, leaves: tuple[LeafSpec, ...] = ()) -> fx.GraphModule:
    """``model`` traced by torch.fx, ``leaves`` kept whole; a failure raises TraceError."""
    tracer = LeafTracer(leaves)
    try:
        graph = tracer.trace(model)
    except _Failure as f:
        raise TraceError(_failure_text(f.path, f.module, f.exc)) from f.exc
    except Exception as exc:
        raise TraceError(_failure_text("", model, exc)) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _failure_text(path: str, module: nn.Module, exc: BaseException) -> str:
    """Which module failed (``path``; '' for the model itself), on which line, and what to do."""
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
