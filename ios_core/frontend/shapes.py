"""Pass 3, shape recording: run the model once on the example input; note what each node holds.

:class:`ShapeRecorder` (an ``fx.Interpreter``) runs the functionalised graph, in eval mode and
without grad, and stores in every fx node's ``meta``:

* ``meta[META]``: a :class:`TensorMeta` (shape and dtype) for a tensor, a tuple of summaries for
  a tuple or list, else the value itself (an int from ``x.size(1)``...);
* ``meta[DYNAMIC]``: whether the value is a tensor that depends on the model's input;
* ``meta[VALUE]``: the value itself where it does not: a constant (a parameter, a shape, a tensor
  computed from parameters alone) that the builder bakes into the kernels.

Shape queries (``x.size()``, ``x.shape``, ``x.dim()``...) of input-dependent tensors are constants
too, so the graph is specific to the example input's shape. An op that turns tensor data into a
Python value (``.item()``) or writes into a tensor (``x[i] = v``) raises
:class:`~ios_core.frontend.errors.TraceError`. The other helpers here read these notes back.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from ios_core.frontend.errors import TraceError
from ios_core.frontend.naming import describe

__all__ = [
    "DYNAMIC", "META", "SHAPE_ATTRS", "SHAPE_METHODS", "VALUE", "ShapeRecorder", "TensorMeta",
    "has_tensor", "is_dynamic", "is_shape_query", "is_tensor_node", "meta_bytes",
    "record_shapes", "static_value", "summarise",
]

META, DYNAMIC, VALUE = "ios_meta", "ios_dynamic", "ios_value"  # keys in fx node.meta
SHAPE_METHODS = {"size", "dim", "numel", "nelement", "ndimension", "is_contiguous", "get_device"}
SHAPE_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "layout", "requires_grad"}


@dataclass(frozen=True)
class TensorMeta:
    """What the builder needs to know about a tensor value.

    >>> m = TensorMeta((2, 3), torch.float16)
    >>> m.numel, m.nbytes
    (6, 12)
    """

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


def summarise(value: Any) -> Any:
    """A tensor's :class:`TensorMeta`, a tuple of summaries for a tuple or list, else ``value``.

    >>> summarise((torch.zeros(2, 3), 4))
    (TensorMeta(shape=(2, 3), dtype=torch.float32), 4)
    """
    if isinstance(value, torch.Tensor):
        return TensorMeta(tuple(value.shape), value.dtype)
    if isinstance(value, (tuple, list)):
        return tuple(summarise(v) for v in value)
    return value


def has_tensor(value: Any) -> bool:
    """Whether ``value`` is a tensor or a (nested) tuple or list holding one.

    >>> has_tensor([1, (2, torch.zeros(1))]), has_tensor((1, 2))
    (True, False)
    """
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (tuple, list)) and any(has_tensor(v) for v in value)


def is_shape_query(node: fx.Node) -> bool:
    """``x.size()``, ``x.shape`` and the like: Python values, but not data-dependent ones."""
    if node.op == "call_method":
        return node.target in SHAPE_METHODS
    return node.op == "call_function" and node.target is getattr and node.args[1] in SHAPE_ATTRS


class ShapeRecorder(fx.Interpreter):
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
                f"op {describe(n)} failed on the example input: {type(exc).__name__}: {exc}"
            ) from exc
        reads_input = any(m.meta.get(DYNAMIC) for m in n.all_input_nodes)
        if reads_input and not has_tensor(result) and not is_shape_query(n) and n.op != "output":
            what = "writes into a tensor in place" if n.target is operator.setitem else (
                "turns tensor data into a Python value (data-dependent)")
            raise TraceError(
                f"op {describe(n)} {what}; IOS Explorer needs a static tensor program. Rewrite it "
                "with tensor ops (torch.where, torch.cat, ...) or keep its module whole with "
                "leaf_modules=[...]."
            )
        n.meta[META] = summarise(result)
        n.meta[DYNAMIC] = has_tensor(result) and (n.op == "placeholder" or reads_input)
        if not n.meta[DYNAMIC]:
            n.meta[VALUE] = result
        return result


def record_shapes(gm: fx.GraphModule, *inputs: torch.Tensor) -> None:
    """Run ``gm`` once on copies of ``inputs`` (in-place ops may write), noting every node."""
    ShapeRecorder(gm).run(*[t.clone() for t in inputs])


# ---- reading the notes back ---------------------------------------------------------------------
def is_dynamic(x: Any) -> bool:
    """Whether ``x`` is an fx node whose value depends on the input."""
    return isinstance(x, fx.Node) and bool(x.meta.get(DYNAMIC))


def is_tensor_node(x: Any) -> bool:
    """Whether ``x`` is an fx node whose value is one tensor (not a tuple of them)."""
    return isinstance(x, fx.Node) and isinstance(x.meta.get(META), TensorMeta)


def static_value(x: Any) -> tuple[bool, Any]:
    """(True, value) for a literal or an input-independent fx node, else (False, None).

    >>> static_value(3)
    (True, 3)
    """
    if isinstance(x, fx.Node):
        return (False, None) if x.meta.get(DYNAMIC) else (True, x.meta.get(VALUE))
    return True, x


def meta_bytes(meta: Any) -> int:
    """Bytes of the tensors a value summary describes (0 for other values).

    >>> meta_bytes((TensorMeta((2, 3), torch.float32), 5, TensorMeta((4,), torch.int64)))
    56
    """
    if isinstance(meta, TensorMeta):
        return meta.nbytes
    if isinstance(meta, tuple):
        return sum(meta_bytes(m) for m in meta)
    return 0
