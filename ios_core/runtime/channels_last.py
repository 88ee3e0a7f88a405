"""NHWC (``channels_last``) tensors: what the ``channels_last`` and ``pack_slices`` levers do.

Under ``channels_last`` the graph's inputs and every 4-d conv weight are NHWC, since cuDNN's
tensor-core kernels (TF32 in fp32, fp16, bf16) are NHWC-native and NCHW pays layout transforms
per conv. A merged conv's channel slice is then strided: a conv reading one copies it first
anyway, so with ``pack_slices`` the merge stage makes that copy itself (:func:`packed_slices`),
and the search sees what merging really costs under NHWC.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ios_core.ir.graph import OpGraph
from ios_core.runtime.options import EngineOptions

__all__ = ["nhwc", "packed_slices", "to_layout"]


def nhwc(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels_last memory order when it is 4-d, else ``x`` itself."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def to_layout(x: torch.Tensor, options: EngineOptions) -> torch.Tensor:
    """An activation (a graph input) in the memory order ``options`` run in."""
    return nhwc(x) if options.channels_last else x


def packed_slices(graph: OpGraph, names: Sequence[str], options: EngineOptions
                  ) -> tuple[bool, ...]:
    """Per merged conv in ``names``: whether its merge stage copies its channel slice packed
    (NHWC with ``pack_slices``, and read by something other than a concat). () when none is."""
    if not (options.channels_last and options.pack_slices):
        return ()
    return tuple(any(graph[c].kind != "concat" for c in graph.consumers(n)) for n in names)
