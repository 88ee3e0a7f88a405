"""Global average pooling of an NHWC tensor as one matrix-vector product.

PyTorch's reduction kernel for the spatial mean of a channels_last tensor is slow at batch 1: on
the H200 it took 4.3-11.6 µs per pool of efficientnet_b0 and mobilenet_v3_large (the squeeze of
every squeeze-excitation block), 117 µs of efficientnet's 557 µs of kernels, where Inductor's
fused reductions took about 2 µs (``benchmarks/results/h200-kernel-census-zoo.md``,
``gap_probe.md``).

An NHWC tensor of shape (N, C, H, W) is, in memory, a contiguous (N, H·W, C) array; its spatial
mean is a row of H·W values 1/(H·W) times that array: one batched matrix-vector product
(cuBLAS), C the contiguous dimension. The row is made once per size, device and dtype, outside
any CUDA graph capture (a tensor first filled inside a capture would hold nothing until a
replay); a call that would need a new row during a capture, an NCHW input, or TF32 matrix
products (which would round the mean to 10 bits) take the plain path.

The ``nhwc_mean`` lever (with ``channels_last``) puts it in place of a global average pool
(:func:`nhwc_mean_kernel`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.replay import Apply, In, Method, ModuleCall, Replay

__all__ = ["NhwcMean", "global_mean_keepdim", "nhwc_mean_kernel"]


class NhwcMean:
    """The spatial mean of a 4-d tensor, kept as (N, C, 1, 1) or (N, C): faster on NHWC inputs."""

    def __init__(self, keepdim: bool = True) -> None:
        self.keepdim = keepdim
        self._rows: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        row = self._row(x) if _nhwc(x) and not torch.backends.cuda.matmul.allow_tf32 else None
        if row is None:
            return x.mean((2, 3), keepdim=self.keepdim)
        n, c, h, w = x.shape
        cells = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view: no copy
        y = torch.bmm(row, cells)  # (N, 1, C)
        return y.view(n, c, 1, 1) if self.keepdim else y.view(n, c)

    def _row(self, x: torch.Tensor) -> torch.Tensor | None:
        n, _, h, w = x.shape
        key = (n, h * w, x.device, x.dtype)
        row = self._rows.get(key)
        if row is None and not (x.is_cuda and torch.cuda.is_current_stream_capturing()):
            row = torch.full((n, 1, h * w), 1.0 / (h * w), device=x.device, dtype=x.dtype)
            self._rows[key] = row
        return row

    def __repr__(self) -> str:
        return f"NhwcMean(keepdim={self.keepdim})"


def _nhwc(x: torch.Tensor) -> bool:
    return (x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
            and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


def global_mean_keepdim(expr: Apply) -> bool | None:
    """Whether the call ``expr`` is the spatial mean of the kernel's one input: True (kept as
    (N, C, 1, 1)) or False ((N, C)); None when it is not one.

    >>> global_mean_keepdim(Apply(F.adaptive_avg_pool2d, (In(0), 1), {}, "adaptive_avg_pool2d"))
    True
    >>> global_mean_keepdim(Apply(Method("mean"), (In(0), (2, 3)), {}, "mean"))
    False
    >>> global_mean_keepdim(Apply(F.adaptive_avg_pool2d, (In(0), 2), {}, "adaptive_avg_pool2d"))
    """
    call, args, kwargs = expr.fn, expr.args, expr.kwargs
    if isinstance(call, ModuleCall):
        m = call.module
        one = type(m) is nn.AdaptiveAvgPool2d and m.output_size in (1, (1, 1))
        return True if one and args == ({}, In(0)) and not kwargs else None
    if call is F.adaptive_avg_pool2d:
        size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
        one = size in (1, (1, 1), [1, 1]) and len(args) + len(kwargs) == 2
        return True if one and args[:1] == (In(0),) else None
    if isinstance(call, Method) and call.name == "mean" or call is torch.mean:
        bound = {**dict(zip(("input", "dim", "keepdim"), args, strict=False)), **kwargs}
        dims = bound.get("dim")
        keep = bound.get("keepdim", False)
        if (bound.get("input") != In(0) or set(bound) - {"input", "dim", "keepdim"}
                or type(keep) is not bool or not isinstance(dims, (tuple, list))
                or not all(type(d) is int for d in dims) or sorted(d % 4 for d in dims) != [2, 3]):
            return None
        return keep
    return None


def nhwc_mean_kernel(k: FnKernel) -> FnKernel:
    """``k`` with its global average pool run by :class:`NhwcMean` (the ``nhwc_mean`` lever);
    else ``k`` itself."""
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not isinstance(expr, Apply) or k.tensors:
        return k
    keep = global_mean_keepdim(expr)
    if keep is None:
        return k
    return replace(k, fn=Replay(Apply(NhwcMean(keep), (In(0),), {}, expr.label)))
