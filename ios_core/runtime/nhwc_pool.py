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
where it pays (:func:`nhwc_pool_kernel`, :func:`nhwc_pool_pays`), and in place of a
functional max-pool call with constant arguments (:func:`max_pool_module`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import FnKernel
from ios_core.frontend.op_tables import POOL_ARGS, POOL_FUNCTIONS, lookup
from ios_core.frontend.replay import Apply, In, ModuleCall, Replay

__all__ = ["NhwcPool", "max_pool_module", "nhwc_pool_kernel", "nhwc_pool_pays", "nhwc_poolable"]


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
    """``k`` with its pooling run by :class:`NhwcPool`, when it is a lone 2-d max pooling of the
    kernel's one input (the ``nhwc_pool`` lever); else ``k`` itself."""
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not isinstance(expr, Apply) or k.tensors:
        return k
    call = expr.fn
    if isinstance(call, ModuleCall) and expr.args == ({}, In(0)) and not expr.kwargs:
        module: nn.Module | None = call.module
    else:
        module = max_pool_module(expr)
    if module is None or not nhwc_pool_pays(module):
        return k
    return replace(k, fn=Replay(Apply(NhwcPool(module), (In(0),), {}, expr.label)))


def max_pool_module(expr: Apply) -> nn.MaxPool2d | None:
    """The ``nn.MaxPool2d`` that a functional max-pool call computes, when it pools the kernel's
    one input with constant arguments; else None. Graphs that Dynamo captures (the
    ``torch.compile`` backend) call the function where a plain module calls the module, and the
    3-d pool pays the same in both.

    >>> max_pool_module(Apply(F.max_pool2d, (In(0), 3, 2), {"ceil_mode": True}, "max_pool2d"))
    MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=True)
    >>> max_pool_module(Apply(F.max_pool2d, (In(1), 3), {}, "max_pool2d")) is None
    True
    """
    if lookup(POOL_FUNCTIONS, expr.fn) != "max":  # the frontend's own table of pool calls
        return None
    names = POOL_ARGS["max"][0]
    if len(expr.args) > len(names) or not set(expr.kwargs) <= set(names):
        return None
    bound = {**dict(zip(names, expr.args, strict=False)), **expr.kwargs}
    if bound.pop("input", None) != In(0) or "kernel_size" not in bound:
        return None
    if not all(_constant(v) for v in bound.values()):
        return None
    try:
        return nn.MaxPool2d(**bound)
    except (TypeError, ValueError):
        return None


def _constant(value: object) -> bool:
    """An int, a bool, None, or a tuple or list of ints (what a pool's sizes may be)."""
    if isinstance(value, (tuple, list)):
        return all(type(v) is int for v in value)
    return value is None or type(value) in (int, bool)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))
