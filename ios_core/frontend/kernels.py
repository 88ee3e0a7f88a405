"""Torch callables for single operators: what the executor runs for each OpGraph node.

The frontend builds one kernel per node; the executor calls ``kernel(*input_tensors)``. A
:class:`ConvKernel` exposes its (BatchNorm-folded) weight and bias so that several of them can be
merged into one wide convolution.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "PARAMETRISED", "ConvKernel", "FnKernel", "Kernel", "activation_fn",
           "apply_activation"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": F.leaky_relu,  # negative slope 0.01; other slopes: "leaky_relu(0.2)"
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "mish": F.mish,
}
# activations with one number: named "leaky_relu(0.2)", the number as Python's repr writes it
PARAMETRISED: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "leaky_relu": lambda x, a: F.leaky_relu(x, a),
}
_CALL = re.compile(r"^(\w+)\((.+)\)$")


@functools.cache
def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function of activation ``name``: a key of :data:`ACTIVATIONS`, or
    ``base(number)`` with ``base`` a key of :data:`PARAMETRISED`; ``KeyError`` for others.

    >>> activation_fn("leaky_relu(0.5)")(torch.tensor([-2.0, 3.0]))
    tensor([-1.,  3.])
    """
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    m = _CALL.match(name)
    if m is None or m.group(1) not in PARAMETRISED:
        raise KeyError(f"unknown activation {name!r}")
    fn, value = PARAMETRISED[m.group(1)], float(m.group(2))
    return lambda x: fn(x, value)


def apply_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """``x`` through the activation named ``name`` (see :func:`activation_fn`)."""
    return activation_fn(name)(x)


class Kernel:
    """A node's computation: ``kernel(*inputs) -> output``."""

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Kernel:
        """A copy whose parameters live on ``device`` (and in ``dtype`` when given)."""
        return self


@dataclass
class ConvKernel(Kernel):
    """A 2-d convolution with its (BatchNorm-folded) weight and bias, then ``activation``.

    With ``in_slice = (start, stop)`` it reads channels ``start:stop`` of its input (a conv on a
    piece of a split reads the split tensor itself, so that convs on its pieces can merge).
    """

    weight: torch.Tensor  # (out, in/groups, kh, kw), BatchNorm already folded in
    bias: torch.Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    activation: str = "none"
    in_slice: tuple[int, int] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = F.conv2d(
            self.take(x), self.weight, self.bias, self.stride, self.padding, self.dilation,
            self.groups,
        )
        return apply_activation(self.activation, y)

    def take(self, x: torch.Tensor) -> torch.Tensor:
        """The channels of ``x`` this conv reads (a view)."""
        return x if self.in_slice is None else x[:, self.in_slice[0]:self.in_slice[1]]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> ConvKernel:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device=device, dtype=dtype or t.dtype)

        return ConvKernel(move(self.weight), move(self.bias), self.stride, self.padding,
                          self.dilation, self.groups, self.activation, self.in_slice)


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
