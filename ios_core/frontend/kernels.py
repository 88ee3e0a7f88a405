"""Torch callables for single operators: what the executor runs for each OpGraph node.

The frontend builds one kernel per node; the executor calls ``kernel(*input_tensors)``. A
:class:`ConvKernel` exposes its (BatchNorm-folded) weight and bias so that several of them can be
merged into one wide convolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "ConvKernel", "FnKernel", "Kernel", "apply_activation"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "gelu": F.gelu,
    "hardswish": F.hardswish,
}


def apply_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """``x`` through the activation named ``name`` (a key of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name](x)


class Kernel:
    """A node's computation: ``kernel(*inputs) -> output``."""

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Kernel:
        """A copy whose parameters live on ``device`` (and in ``dtype`` when given)."""
        return self


@dataclass
class ConvKernel(Kernel):
    """A 2-d convolution with its (BatchNorm-folded) weight and bias, then ``activation``."""

    weight: torch.Tensor  # (out, in/groups, kh, kw), BatchNorm already folded in
    bias: torch.Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    activation: str = "none"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
        return apply_activation(self.activation, y)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> ConvKernel:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device=device, dtype=dtype or t.dtype)

        return ConvKernel(move(self.weight), move(self.bias), self.stride, self.padding,
                          self.dilation, self.groups, self.activation)


@dataclass
class FnKernel(Kernel):
    """Any other op: a pure function of the inputs plus captured tensors (weights, constants)."""

    fn: Callable[..., torch.Tensor]
    tensors: dict[str, torch.Tensor]  # captured parameters, passed to fn as keyword arguments
    activation: str = "none"  # applied after fn

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return apply_activation(self.activation, self.fn(*inputs, **self.tensors))

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> FnKernel:
        """A copy with the captured tensors on ``device``; ``dtype`` applies to floating ones."""
        moved = {
            k: v.to(device=device, dtype=dtype if (dtype and v.is_floating_point()) else v.dtype)
            for k, v in self.tensors.items()
        }
        return FnKernel(self.fn, moved, self.activation)
