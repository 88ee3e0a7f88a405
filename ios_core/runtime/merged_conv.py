"""Several convolutions that read the same tensor, computed as one wide convolution.

The wide convolution's weight is the merged kernels' weights concatenated on output channels. Its
spatial size is the largest kernel size on each axis, and each smaller kernel sits zero-padded in
the centre of it, which computes exactly the smaller convolution provided its padding is centred
the same way ("same"-style): ``padding_small + dilation * offset == padding_wide`` with
``offset == (K - k) / 2`` on each axis. The bias is concatenated (zeros where a kernel has none) and
the shared activation is applied once. Consumers read channel slices ``y[:, a:b]``: views, no copy
(contiguous at batch 1 in NCHW, strided otherwise, which every torch op accepts).

>>> import torch
>>> from ios_core.frontend.kernels import ConvKernel
>>> a = ConvKernel(torch.randn(4, 3, 1, 1), None, (1, 1), (0, 0), (1, 1), 1, "relu")
>>> b = ConvKernel(torch.randn(5, 3, 3, 3), torch.randn(5), (1, 1), (1, 1), (1, 1), 1, "relu")
>>> m = merge_convs([a, b])
>>> tuple(m.weight.shape), m.padding, m.slices
((9, 3, 3, 3), (1, 1), ((0, 4), (4, 9)))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ios_core.frontend.kernels import ConvKernel, apply_activation


class MergeError(ValueError):
    """The convolutions cannot be computed by one wide convolution; the message says why."""


@dataclass(frozen=True)
class MergedConv:
    """One wide convolution standing for several; ``slices[i]`` are kernel i's output channels."""

    weight: torch.Tensor  # (sum of out channels, in channels, KH, KW)
    bias: torch.Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    activation: str
    slices: tuple[tuple[int, int], ...]
    groups: int = 1
    gather: tuple[tuple[int, int], ...] | None = None  # input channel slices, in kernel order

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(gather_input(x, self.gather), self.weight, self.bias, self.stride,
                     self.padding, self.dilation, self.groups)
        return apply_activation(self.activation, y)

    def split(self, y: torch.Tensor) -> list[torch.Tensor]:
        """The merged kernels' outputs as channel views of the wide output (zero-copy)."""
        return [y[:, a:b] for a, b in self.slices]


def gather_input(x: torch.Tensor, gather: tuple[tuple[int, int], ...] | None) -> torch.Tensor:
    """The channel slices ``gather`` of ``x`` side by side: a view where they are adjacent and
    in order, else a copy; ``x`` itself for None.

    >>> x = torch.arange(6.0).view(1, 6, 1, 1)
    >>> gather_input(x, ((0, 2), (2, 5))).flatten().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    >>> gather_input(x, ((4, 6), (0, 1))).flatten().tolist()
    [4.0, 5.0, 0.0]
    """
    if gather is None:
        return x
    if all(a[1] == b[0] for a, b in zip(gather, gather[1:], strict=False)):
        return x[:, gather[0][0]:gather[-1][1]]
    return torch.cat([x[:, a:b] for a, b in gather], 1)


def merge_convs(kernels: Sequence[ConvKernel]) -> MergedConv:
    """Build the wide convolution for ``kernels`` (output channels in the order given).

    Raises :class:`MergeError` when they differ in stride, dilation, activation or input
    channels, use grouped convolution, or pad a smaller kernel off-centre. Kernels on channel
    slices of their input (``in_slice``) become one grouped convolution over those slices,
    gathered in the order given; they must agree in channels per group, in and out.
    """
    if not kernels:
        raise MergeError("nothing to merge")
    _check_compatible(kernels)
    first = kernels[0]
    big = (max(k.weight.shape[2] for k in kernels), max(k.weight.shape[3] for k in kernels))
    padding = (_wide_padding(kernels, 0, big[0]), _wide_padding(kernels, 1, big[1]))
    total = sum(k.weight.shape[0] for k in kernels)
    weight = first.weight.new_zeros((total, first.weight.shape[1], *big))
    slices, start = [], 0
    for i, k in enumerate(kernels):
        out, _, kh, kw = k.weight.shape
        oh = _offset(k, i, 0, big[0], padding[0])
        ow = _offset(k, i, 1, big[1], padding[1])
        weight[start : start + out, :, oh : oh + kh, ow : ow + kw] = k.weight
        slices.append((start, start + out))
        start += out
    sliced = first.in_slice is not None
    groups = sum(k.groups for k in kernels) if sliced else 1
    gather = tuple(tuple(k.in_slice) for k in kernels) if sliced else None  # type: ignore[misc]
    return MergedConv(weight, _merged_bias(kernels), tuple(first.stride), padding,
                      tuple(first.dilation), first.activation, tuple(slices), groups, gather)


def _check_compatible(kernels: Sequence[ConvKernel]) -> None:
    first = kernels[0]
    for i, k in enumerate(kernels):
        if not isinstance(k, ConvKernel):
            raise MergeError(f"operator {i} of the merge is not a convolution")
        if (k.in_slice is None) != (first.in_slice is None):
            raise MergeError(f"convolutions 0 and {i}: one reads a channel slice of the input, "
                             "the other all of it")
        if k.groups != 1 and k.in_slice is None:
            raise MergeError(f"convolution {i} is grouped (groups={k.groups}); only groups=1 "
                             "merge, or convolutions on channel slices")
        if k.weight.shape[0] // k.groups != first.weight.shape[0] // first.groups and (
                k.in_slice is not None):
            raise MergeError(f"convolutions 0 and {i} differ in output channels per group")
        if not all(isinstance(p, int) for p in k.padding):
            raise MergeError(f"convolution {i} has symbolic padding {k.padding!r}")
        for attr in ("stride", "dilation", "activation"):
            if _as_tuple(getattr(k, attr)) != _as_tuple(getattr(first, attr)):
                raise MergeError(
                    f"convolutions 0 and {i} differ in {attr} "
                    f"({getattr(first, attr)!r} vs {getattr(k, attr)!r})"
                )
        if k.weight.shape[1] != first.weight.shape[1]:
            raise MergeError(f"convolutions 0 and {i} read different channel counts")
        if k.weight.dtype != first.weight.dtype or k.weight.device != first.weight.device:
            raise MergeError(f"convolutions 0 and {i} hold weights of different dtype or device")


def _as_tuple(value: object) -> object:
    """Lists and tuples compare equal (kernels built from JSON may hold lists)."""
    return tuple(value) if isinstance(value, list) else value


def _wide_padding(kernels: Sequence[ConvKernel], axis: int, size: int) -> int:
    # the wide kernel pads like the largest kernel on this axis
    return next(k.padding[axis] for k in kernels if k.weight.shape[2 + axis] == size)


def _offset(k: ConvKernel, index: int, axis: int, size: int, wide_pad: int) -> int:
    """Where kernel ``k`` sits inside the wide kernel on ``axis``; it must be the centre."""
    small = k.weight.shape[2 + axis]
    if (size - small) % 2:
        raise MergeError(
            f"convolution {index}: a kernel of {small} cannot sit centred in one of {size}"
        )
    offset = (size - small) // 2
    if k.padding[axis] + k.dilation[axis] * offset != wide_pad:
        raise MergeError(
            f"convolution {index}: padding {k.padding[axis]} is not centred for its "
            f"{small}-wide kernel inside the merged {size}-wide kernel (padding {wide_pad}); "
            "only 'same'-style padding merges"
        )
    return offset


def _merged_bias(kernels: Sequence[ConvKernel]) -> torch.Tensor | None:
    if all(k.bias is None for k in kernels):
        return None
    parts = [
        k.bias if k.bias is not None else k.weight.new_zeros(k.weight.shape[0]) for k in kernels
    ]
    return torch.cat(parts)
