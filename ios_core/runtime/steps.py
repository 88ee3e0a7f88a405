"""Steps, and the stage plans that hold them: what the lowering builds and the engine runs.

A step reads and writes an environment ``env: dict[name -> tensor]`` through ``step.run(env)``.
On the plain path a step is one operator (:class:`OpStep`, calls the node's kernel) or one wide
convolution standing for a merge stage (:class:`MergedStep`, writes each merged op's output as a
channel view of the wide output). The levers add these kinds: a conv fused with the add+ReLU
that reads it (:class:`ConvAddReluStep`), a concat that may be a view or fill a buffer in place
(:class:`ConcatStep`), a sum that writes into its slot of a concat's buffer
(:class:`SlotStep`), and an op whose epilogue computes the mean a global average pool reads
(:class:`ValueAndMeanStep`, with the pool's :class:`FusedMeanStep`). Each lever step falls back
to what the plain step would compute.

A :class:`StagePlan` is one stage: its groups as tuples of steps, the tensors it reads and writes,
how its groups map onto streams (``lanes``) and the concat buffers it allocates before its fork.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel, apply_activation
from ios_core.frontend.replay import add_all
from ios_core.runtime.channels_last import nhwc
from ios_core.runtime.concat_views import (
    Alloc,
    Slot,
    adjacent_view,
    fits_buffer,
    same_memory,
    strided_view,
)
from ios_core.runtime.fused_conv import FuseState, conv_add_relu
from ios_core.runtime.merged_conv import MergedConv

__all__ = [
    "ConcatStep",
    "ConvAddReluStep",
    "Env",
    "FusedMeanStep",
    "MergedStep",
    "OpStep",
    "SlotStep",
    "StagePlan",
    "Step",
    "ValueAndMeanStep",
]

Env = dict[str, torch.Tensor]


@dataclass(frozen=True)
class OpStep:
    """One operator: ``env[name] = kernel(*env[inputs])``."""

    name: str
    kernel: Kernel
    inputs: tuple[str, ...]

    def run(self, env: Env) -> None:
        env[self.name] = self.kernel(*(env[s] for s in self.inputs))


@dataclass(frozen=True)
class ValueAndMeanStep:
    """An op whose compiled epilogue also computes the global average pool ``pool`` of its value
    (the ``fuse_means`` lever): ``env[name], env[pool] = kernel(*env[inputs])``."""

    name: str
    kernel: Kernel  # returns (value, mean)
    inputs: tuple[str, ...]
    pool: str

    def run(self, env: Env) -> None:
        env[self.name], env[self.pool] = self.kernel(*(env[s] for s in self.inputs))


@dataclass(frozen=True)
class FusedMeanStep:
    """A global average pool that its producer's :class:`ValueAndMeanStep` computed: nothing to
    run; where the value is missing (never in a schedule), the pool's own kernel computes it."""

    name: str
    kernel: Kernel
    inputs: tuple[str, ...]

    def run(self, env: Env) -> None:
        if self.name not in env:
            env[self.name] = self.kernel(*(env[s] for s in self.inputs))


@dataclass(frozen=True)
class MergedStep:
    """A merge stage: one wide conv; each merged op's output is a channel view of it, or, where
    ``packed`` says so, a packed NHWC copy of that view (see ``EngineOptions.pack_slices``)."""

    names: tuple[str, ...]
    input: str
    conv: MergedConv
    packed: tuple[bool, ...] = ()

    def run(self, env: Env) -> None:
        outs = self.conv.split(self.conv(env[self.input]))
        if self.packed:
            outs = [nhwc(o) if pack else o for o, pack in zip(outs, self.packed, strict=True)]
        env.update(zip(self.names, outs, strict=True))


@dataclass(frozen=True)
class ConvAddReluStep:
    """``env[name] = relu(conv(env[conv_input]) + sum(env[others]))``; the conv's own output is
    never materialised (its only reader is this add)."""

    name: str
    conv_name: str
    conv: ConvKernel
    conv_input: str
    others: tuple[str, ...]  # the add's other terms, in order
    bias: torch.Tensor  # the conv's bias, zeros where it has none (the op would allocate them)
    state: FuseState = field(default_factory=FuseState, compare=False)

    def run(self, env: Env) -> None:
        x = env[self.conv_input]
        z = add_all(*(env[n] for n in self.others)) if len(self.others) > 1 else env[self.others[0]]
        env[self.name] = conv_add_relu(x, self.conv, z, self.bias, self.state)


@dataclass(frozen=True)
class ConcatStep:
    """A concat that is a view where its inputs lie back to back, fills the missing parts of a
    buffer its producers wrote into, or else copies (torch.cat)."""

    name: str
    kernel: Kernel
    inputs: tuple[str, ...]  # the node's inputs (kernel arguments)
    order: tuple[str, ...]  # the same, in cat order
    dim: int
    shape: tuple[int, ...]
    strided: bool = False  # also try strided_view
    last: dict[str, str] = field(default_factory=dict, compare=False)  # {"mode": ...}, reports

    def run(self, env: Env) -> None:
        xs = [env[n] for n in self.order]
        view = adjacent_view(xs, self.shape, self.dim)
        if view is None and self.strided:
            view = strided_view(xs, self.shape, self.dim)
        if view is not None:
            env[self.name], self.last["mode"] = view, "view"
            return
        buf = env.get(self.name)  # preallocated where producers write into their slots
        if fits_buffer(buf, self.shape, xs[0]):
            start = 0
            for x in xs:
                dst = buf.narrow(self.dim, start, x.shape[self.dim])
                if not same_memory(x, dst):
                    dst.copy_(x)
                start += x.shape[self.dim]
            self.last["mode"] = "inplace"
            return
        env[self.name], self.last["mode"] = self.kernel(*(env[n] for n in self.inputs)), "copy"


@dataclass(frozen=True)
class SlotStep:
    """A plain sum written straight into its slot of a concat's buffer (when the buffer exists)."""

    name: str
    kernel: FnKernel
    inputs: tuple[str, ...]
    terms: tuple[int, ...]  # input index of each summed term
    slot: Slot
    last: dict[str, str] = field(default_factory=dict, compare=False)

    def run(self, env: Env) -> None:
        xs = [env[n] for n in self.inputs]
        buf = env.get(self.slot.concat)
        if buf is None or buf.dtype != xs[0].dtype or buf.device != xs[0].device:
            env[self.name], self.last["mode"] = self.kernel(*xs), "plain"
            return
        out = buf.narrow(self.slot.dim, self.slot.start, self.slot.size)
        terms = [xs[i] for i in self.terms]
        torch.add(terms[0], terms[1], out=out)
        for t in terms[2:]:
            out.add_(t)
        _activate_(self.kernel.activation, out)
        env[self.name], self.last["mode"] = out, "slot"


def _activate_(name: str, out: torch.Tensor) -> None:
    """The activation ``name`` applied to ``out`` in place (it is a slice of a buffer)."""
    if name == "relu":
        out.relu_()
    elif name != "none":
        out.copy_(apply_activation(name, out))


Step = (OpStep | MergedStep | ConcatStep | SlotStep | ConvAddReluStep | ValueAndMeanStep
        | FusedMeanStep)


@dataclass(frozen=True)
class StagePlan:
    """A stage ready to run: groups of steps, and the tensors it reads from outside itself."""

    strategy: str
    groups: tuple[tuple[Step, ...], ...]
    reads: tuple[str, ...]  # names produced before this stage (graph inputs or earlier stages)
    writes: tuple[str, ...]  # names this stage defines
    lanes: tuple[tuple[int, ...], ...] = ()  # group indices per stream; (): one stream a group
    allocs: tuple[Alloc, ...] = ()  # concat buffers to allocate before the fork

    @property
    def width(self) -> int:
        """Streams the stage runs on."""
        return len(self.lanes) if self.lanes else len(self.groups)

    @property
    def concurrent(self) -> bool:
        return self.width > 1

    @property
    def lane_groups(self) -> tuple[tuple[tuple[Step, ...], ...], ...]:
        """The groups each stream runs, in order."""
        if not self.lanes:
            return tuple((g,) for g in self.groups)
        return tuple(tuple(self.groups[i] for i in lane) for lane in self.lanes)
