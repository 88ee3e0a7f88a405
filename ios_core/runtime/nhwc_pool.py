"""2-d max/avg pooling of an NHWC tensor as one 3-d pooling over its (N, 1, H, W, C) view.

PyTorch's CUDA kernel for 2-d max pooling of a channels_last tensor is slow at batch 1: on the
H100 SqueezeNet's three 3x3/2 max pools took 94 µs of its 320 µs of kernels under NHWC
(``benchmarks/results/kernel_census.md``), 5x what the same pools take on NCHW tensors.

An NHWC tensor of shape (N, C, H, W) is, in memory, a contiguous (N, H, W, C) array; read as
(N, 1, H, W, C) it is a contiguous one-channel 5-d tensor, and pooling it with window
(kh, kw, 1) and stride (sh, sw, 1) computes exactly the 2-d pooling of every channel, with C as
the innermost, coalesced dimension. The result, permuted back, is again an NHWC tensor of the
2-d output's shape. Anything else (NCHW inputs, dilation, indices) goes to the module itself.

The ``nhwc_pool`` lever (with ``channels_last``) puts it in place of a lone max-pool module call,
where it pays (:func:`nhwc_pool_kernel`, :func:`nhwc_pool_pays`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.replay import Apply, In, ModuleCall, Replay

__all__ = ["NhwcPool", "nhwc_pool_kernel", "nhwc_pool_pays", "nhwc_poolable"]


class NhwcPool:
    """Calls like ``module`` (an ``nn.MaxPool2d`` or ``nn.AvgPool2d``), faster on NHWC inputs."""

    def __init__(self, module: nn.MaxPool2d | nn.AvgPool2d) -> None:
        self.module = module
        kh, kw = _pair(module.kernel_size)
        sh, sw = _pair(module.stride if module.stride is not None else module.kernel_size)
        ph, pw = _pair(module.padding)
        self.kernel, self.stride, self.padding = (kh, kw, 1), (sh, sw, 1), (ph, pw, 0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last):
            return self.module(x)
        cells = x.permute(0, 2, 3, 1).unsqueeze(1)  # (N, 1, H, W, C), contiguous
        if not cells.is_contiguous():  # ambiguous strides (size-1 dims): the plain path
            return self.module(x)
        m = self.module
        if isinstance(m, nn.MaxPool2d):
            y = F.max_pool3d(cells, self.kernel, self.stride, self.padding, ceil_mode=m.ceil_mode)
        else:
            y = F.avg_pool3d(cells, self.kernel, self.stride, self.padding, ceil_mode=m.ceil_mode,
                             count_include_pad=m.count_include_pad,
                             divisor_override=m.divisor_override)
        return y.squeeze(1).permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return f"NhwcPool({self.module!r})"


def nhwc_poolable(fn: object) -> bool:
    """Whether ``fn`` is a pooling module :class:`NhwcPool` computes exactly."""
    if type(fn) is nn.MaxPool2d:
        return not fn.return_indices and _pair(fn.dilation) == (1, 1)
    return type(fn) is nn.AvgPool2d


def nhwc_pool_pays(fn: object) -> bool:
    """Whether the ``nhwc_pool`` lever rewrites ``fn``: max pools only. On the H100
    (``benchmarks/results/pool_probe.md``) the 3-d max pool took 4-12 µs where PyTorch's NHWC
    kernel took 19-33; for average pools PyTorch's NHWC kernel was as fast or faster."""
    return type(fn) is nn.MaxPool2d and nhwc_poolable(fn)


def nhwc_pool_kernel(k: FnKernel) -> FnKernel:
    """``k`` with its pooling module run by :class:`NhwcPool`, when it is a lone 2-d max pooling
    module call (the ``nhwc_pool`` lever); else ``k`` itself."""
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    call = expr.fn if isinstance(expr, Apply) else None
    if not (isinstance(call, ModuleCall) and nhwc_pool_pays(call.module)
            and expr.args == ({}, In(0)) and not expr.kwargs and not k.tensors):
        return k
    return replace(k, fn=Replay(Apply(NhwcPool(call.module), (In(0),), {}, expr.label)))


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))
