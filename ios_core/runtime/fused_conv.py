"""Fused cuDNN convolutions: conv + bias + ReLU, and conv + bias + add + ReLU, as one call each.

``fuse_conv_relu``: a convolution with a fused ReLU (plain or merged) runs as ONE cuDNN call,
``aten.cudnn_convolution_relu``, instead of conv(+bias) then relu. ``fuse_conv_add_relu``: a conv
without activation whose only reader is an ``add`` with a fused ReLU, later in the same group,
runs together with that add as ``aten.cudnn_convolution_add_relu`` (relu(conv + bias + z), z = the
add's other terms); :func:`conv_add_pairs` finds those pairs.

Both ops exist only on CUDA builds' CUDA devices, for fp32/fp16/bf16; elsewhere the plain ops run.
Where cuDNN refuses a call, the kernel keeps the reason in its :class:`FuseState` and stays on
the plain path from then on (``CompiledSchedule.lever_report()`` shows it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ios_core.frontend.kernels import ConvKernel, Kernel
from ios_core.ir.graph import OpGraph
from ios_core.runtime.kernel_patterns import sum_terms
from ios_core.runtime.merged_conv import MergedConv, gather_input

__all__ = [
    "FUSED_DEVICES",
    "FUSED_DTYPES",
    "FuseState",
    "FusedConvKernel",
    "FusedMergedConv",
    "conv_add_pairs",
    "conv_add_relu",
    "conv_relu",
    "fuse_states",
    "fused",
    "fused_merged",
]

# the fused cuDNN ops exist only on CUDA builds' CUDA devices; tests widen this to test plumbing
FUSED_DEVICES: set[str] = {"cuda"}
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# cuDNN's refusals are RuntimeErrors; a torch build without the op raises AttributeError
_REFUSED = (RuntimeError, NotImplementedError, AttributeError)


@dataclass
class FuseState:
    """What a fused kernel did last (``"fused"`` / ``"plain"``) and why cuDNN refused, if it did."""

    last: str = ""
    reason: str | None = None


def _can_fuse(x: torch.Tensor, weight: torch.Tensor, state: FuseState) -> bool:
    return (state.reason is None and x.device.type in FUSED_DEVICES and x.dim() == 4
            and x.dtype in FUSED_DTYPES and x.dtype == weight.dtype)


# the two cuDNN calls, looked up at call time so that tests can stand in for them on the CPU
def _cudnn_conv_relu(x, weight, bias, stride, padding, dilation, groups) -> torch.Tensor:
    # makes input and weight contiguous in their suggested memory format itself
    return torch.ops.aten.cudnn_convolution_relu(
        x, weight, bias, list(stride), list(padding), list(dilation), groups)


def _cudnn_conv_add_relu(x, weight, z, bias, stride, padding, dilation, groups) -> torch.Tensor:
    return torch.ops.aten.cudnn_convolution_add_relu(
        x, weight, z, 1.0, bias, list(stride), list(padding), list(dilation), groups)


def _refused(state: FuseState, e: BaseException) -> None:
    state.reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"[:200]


def conv_relu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride, padding,
              dilation, groups: int, state: FuseState) -> torch.Tensor:
    """relu(conv(x) + bias): one cuDNN call where it can run, else the plain two ops."""
    if _can_fuse(x, weight, state):
        try:
            y = _cudnn_conv_relu(x, weight, bias, stride, padding, dilation, groups)
            state.last = "fused"
            return y
        except _REFUSED as e:
            _refused(state, e)
    state.last = "plain"
    return F.relu(F.conv2d(x, weight, bias, stride, padding, dilation, groups))


def conv_add_relu(x: torch.Tensor, conv: ConvKernel, z: torch.Tensor, bias: torch.Tensor,
                  state: FuseState) -> torch.Tensor:
    """relu(conv(x) + z) for a conv without activation: one cuDNN call where it can run, else
    ``conv`` then the add. ``bias`` is the conv's, zeros where it has none (the op would
    allocate them on every call)."""
    part = conv.take(x)  # the channels the conv reads
    if _can_fuse(part, conv.weight, state):
        try:
            y = _cudnn_conv_add_relu(part, conv.weight, z, bias, conv.stride, conv.padding,
                                     conv.dilation, conv.groups)
            state.last = "fused"
            return y
        except _REFUSED as e:
            _refused(state, e)
    state.last = "plain"
    return F.relu(conv(x) + z)


@dataclass
class FusedConvKernel(ConvKernel):
    """A ConvKernel with ``activation="relu"`` computed by one cuDNN call on CUDA."""

    state: FuseState = field(default_factory=FuseState, compare=False, repr=False)

    def __post_init__(self) -> None:
        # the fused op allocates (and zero-fills) a bias on every call when it gets none
        self._bias = self.bias if self.bias is not None else self.weight.new_zeros(
            self.weight.shape[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.activation != "relu":
            return super().__call__(x)
        return conv_relu(self.take(x), self.weight, self._bias, self.stride, self.padding,
                         self.dilation, self.groups, self.state)

    def to(self, device, dtype=None) -> FusedConvKernel:
        return fused(ConvKernel.to(self, device, dtype))


def fused(k: ConvKernel) -> FusedConvKernel:
    """``k`` as a :class:`FusedConvKernel` (same tensors, a fresh :class:`FuseState`)."""
    return FusedConvKernel(k.weight, k.bias, k.stride, k.padding, k.dilation, k.groups,
                           k.activation, k.in_slice)


@dataclass(frozen=True)
class FusedMergedConv(MergedConv):
    """A merged conv with ReLU computed by one cuDNN call on CUDA (bias never None)."""

    state: FuseState = field(default_factory=FuseState, compare=False, repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation != "relu" or self.bias is None:
            return super().__call__(x)
        return conv_relu(gather_input(x, self.gather), self.weight, self.bias, self.stride,
                         self.padding, self.dilation, self.groups, self.state)


def fused_merged(conv: MergedConv) -> FusedMergedConv:
    """``conv`` as a :class:`FusedMergedConv`, with a zero bias where it has none."""
    bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.weight.shape[0])
    return FusedMergedConv(conv.weight, bias, conv.stride, conv.padding, conv.dilation,
                           conv.activation, conv.slices, conv.groups, conv.gather)


def fuse_states(kernels: Mapping[str, object]) -> list[FuseState]:
    """The fuse states of the :class:`FusedConvKernel` s among ``kernels`` (for reports)."""
    return [k.state for k in kernels.values() if isinstance(k, FusedConvKernel)]


def conv_add_pairs(graph: OpGraph, kernels: Mapping[str, Kernel], group: Sequence[str]
                   ) -> dict[str, str]:
    """add name -> conv name for the (conv, add+ReLU) pairs of one group that fuse: the add is a
    plain sum with a ReLU, and the conv comes earlier in the group, has no activation, appears
    once among the add's terms and is read by nothing else."""
    pos = {n: i for i, n in enumerate(group)}
    pairs: dict[str, str] = {}
    for name in group:
        node = graph[name]
        terms = sum_terms(graph, kernels, name)
        if terms is None or node.activation != "relu":
            continue
        picked = [node.inputs[i] for i in terms]
        for src in node.inputs:
            if (src in pos and pos[src] < pos[name] and picked.count(src) == 1
                    and src not in pairs.values() and _lone_conv(graph, kernels, src, name)):
                pairs[name] = src
                break
    return pairs


def _lone_conv(graph: OpGraph, kernels: Mapping[str, Kernel], conv: str, reader: str) -> bool:
    k = kernels.get(conv)
    return (graph[conv].kind == "conv" and isinstance(k, ConvKernel) and k.activation == "none"
            and graph.consumers(conv) == (reader,) and conv not in graph.outputs)
