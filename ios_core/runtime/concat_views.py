"""Concats without copies: which concats become views, which producers write into their slot.

The ``concat`` lever. ``"view"``: a concat whose inputs already lie back to back in one buffer
(the channel slices of one merged conv, whose channels are put in the concat's order by
:func:`merge_order`) is a view of that buffer, no kernel (:func:`adjacent_view`). With
``strided_views`` a concat of consecutive equal-stride slices of one tensor (a merged conv's
outputs in NHWC, or at any batch size) is a view too (:func:`strided_view`).

``"inplace"``: as "view", and the producers of a concat that can write into a given tensor (plain
sums, through ``torch.add(out=)``) write straight into their :class:`Slot` of the concat's buffer;
the concat then copies only its other inputs. Slices must be contiguous: batch 1 (every dim before
the concat dim of size 1) in NCHW, else the copy runs. The buffer is allocated on the current
stream before the stage's fork (:class:`Alloc`), since several streams of the stage may write it.
Convolutions cannot write into a slice for free: F.conv2d has no ``out=``, and
``aten.cudnn_convolution.out`` has no bias or activation (3 kernels instead of 1 plus a share of
the cat), so their outputs are still copied.

This module plans (:func:`plan_concats` gives a :class:`ConcatLayout`) and holds the tensor
helpers; the steps that use them are :class:`~ios_core.runtime.steps.ConcatStep` and
:class:`~ios_core.runtime.steps.SlotStep`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ios_core.frontend.kernels import Kernel
from ios_core.ir.graph import OpGraph
from ios_core.runtime.kernel_patterns import cat_order, sum_terms
from ios_core.runtime.options import EngineOptions

__all__ = [
    "Alloc",
    "ConcatLayout",
    "Slot",
    "adjacent_view",
    "allocate",
    "fits_buffer",
    "merge_order",
    "plan_concats",
    "same_memory",
    "stage_allocs",
    "strided_view",
]


@dataclass(frozen=True)
class Slot:
    """Where a producer writes its output: ``concat``'s buffer, ``[start, start+size)`` on dim."""

    concat: str
    dim: int
    start: int
    size: int


@dataclass(frozen=True)
class ConcatLayout:
    """The concats that may become views or be filled in place, and who writes into them.
    ``ConcatLayout()`` (no concats) leaves every concat a copy."""

    cats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # concat -> inputs, cat order
    slots: Mapping[str, Slot] = field(default_factory=dict)  # producer -> its slot
    strided_views: bool = False  # also view concats of strided slices (EngineOptions)


def plan_concats(graph: OpGraph, kernels: Mapping[str, Kernel], options: EngineOptions
                 ) -> ConcatLayout:
    """Which concats the ``concat`` lever handles, and (``"inplace"``) which producers write into
    their slot: plain sums read by exactly one concat, once, not graph outputs."""
    if options.concat == "copy":
        return ConcatLayout()
    cats = {n.name: order for n in graph.nodes if n.kind == "concat"
            and (order := cat_order(graph, kernels, n.name)) is not None}
    if options.concat != "inplace" or options.channels_last:  # NHWC slices are not contiguous
        return ConcatLayout(cats, {}, options.strided_views)
    uses: dict[str, int] = {}
    for order in cats.values():
        for src in order:
            uses[src] = uses.get(src, 0) + 1
    slots: dict[str, Slot] = {}
    for cat, order in cats.items():
        dim = int(graph[cat].attrs.get("dim", 1))
        if math.prod(graph[cat].shape[:dim]) != 1:
            continue  # batch > 1: a slice is strided
        start = 0
        for src in order:
            size = graph.shape_of(src)[dim]
            writable = src in graph and sum_terms(graph, kernels, src) is not None
            if writable and uses[src] == 1 and src not in graph.outputs:
                slots[src] = Slot(cat, dim, start, size)
            start += size
    return ConcatLayout(cats, slots, options.strided_views)


def merge_order(graph: OpGraph, layout: ConcatLayout, names: Sequence[str]) -> tuple[str, ...]:
    """Merged convs' channel order with each concat that reads only some of them in its own
    order and back to back, so that the concat can be a view of the wide output."""
    rest = list(names)
    ordered: list[str] = []
    for order in layout.cats.values():
        if len(order) > 1 and len(set(order)) == len(order) and all(n in rest for n in order):
            ordered += order
            rest = [n for n in rest if n not in order]
    return tuple(ordered + rest) if ordered else tuple(names)


# ---- views --------------------------------------------------------------------------------------
def adjacent_view(xs: Sequence[torch.Tensor], shape: Sequence[int], dim: int
                  ) -> torch.Tensor | None:
    """``torch.cat(xs, dim)`` as a view, where the xs are contiguous and back to back in one
    storage (every dim before ``dim`` of size 1); else None.

    >>> wide = torch.arange(6.0).reshape(1, 6, 1, 1)
    >>> a, b = wide[:, :2], wide[:, 2:]
    >>> adjacent_view([a, b], (1, 6, 1, 1), 1).data_ptr() == wide.data_ptr()
    True
    >>> adjacent_view([b, a], (1, 6, 1, 1), 1) is None
    True
    """
    if not xs or math.prod(shape[:dim]) != 1:
        return None
    first = xs[0]
    storage = first.untyped_storage().data_ptr()
    expected = first.data_ptr()
    for x in xs:
        if (x.dtype != first.dtype or x.device != first.device or not x.is_contiguous()
                or x.untyped_storage().data_ptr() != storage or x.data_ptr() != expected):
            return None
        expected += x.numel() * x.element_size()
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return first.as_strided(tuple(shape), tuple(reversed(strides)), first.storage_offset())


def strided_view(xs: Sequence[torch.Tensor], shape: Sequence[int], dim: int
                 ) -> torch.Tensor | None:
    """``torch.cat(xs, dim)`` as a view, where the xs are consecutive slices along ``dim`` of one
    tensor: one storage, the same strides (dims of size 1 aside), each starting where the one
    before ends. A merged conv's outputs in cat order are such slices in any layout and batch
    size; the view addresses exactly the elements the xs do. Else None."""
    if not xs or sum(x.size(dim) for x in xs) != shape[dim]:
        return None
    first = xs[0]
    others = [d for d in range(first.dim()) if d != dim]
    storage, step = first.untyped_storage().data_ptr(), first.stride(dim)
    expected = first.data_ptr()
    for x in xs:
        if (x.dtype != first.dtype or x.device != first.device or x.dim() != first.dim()
                or x.untyped_storage().data_ptr() != storage or x.data_ptr() != expected
                or x.stride(dim) != step or any(x.size(d) != shape[d] for d in others)
                or any(x.stride(d) != first.stride(d) for d in others if x.size(d) != 1)):
            return None
        expected += x.size(dim) * step * x.element_size()
    return first.as_strided(tuple(shape), first.stride(), first.storage_offset())


def fits_buffer(buf: object, shape: tuple[int, ...], like: torch.Tensor) -> bool:
    """Whether ``buf`` is a tensor of ``shape`` with ``like``'s dtype and device."""
    return (isinstance(buf, torch.Tensor) and tuple(buf.shape) == tuple(shape)
            and buf.dtype == like.dtype and buf.device == like.device)


def same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` are the same elements (a producer already wrote its slot)."""
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


# ---- buffers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alloc:
    """A concat buffer a stage allocates before its fork (unless an earlier stage did)."""

    name: str
    shape: tuple[int, ...]
    like: str  # a tensor the stage reads: gives dtype and device


def stage_allocs(graph: OpGraph, layout: ConcatLayout, writes: Sequence[str],
                 reads: Sequence[str]) -> tuple[Alloc, ...]:
    """The buffers of the concats that a stage writing ``writes`` fills through slots."""
    concats = dict.fromkeys(layout.slots[n].concat for n in writes if n in layout.slots)
    if not concats or not reads:
        return ()
    return tuple(Alloc(c, graph[c].shape, reads[0]) for c in concats)


def allocate(allocs: Sequence[Alloc], env: dict[str, torch.Tensor]) -> None:
    """On the current stream, before the fork: every stream's work in the stage comes after."""
    for a in allocs:
        if a.name not in env:
            like = env[a.like]
            env[a.name] = torch.empty(a.shape, dtype=like.dtype, device=like.device)
