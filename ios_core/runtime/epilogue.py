"""The ``fuse_epilogues`` lever: a region's elementwise work as ONE compiled pointwise kernel.

A conv's bias and a non-ReLU activation, and the ops a fused region absorbed
(:mod:`ios_core.frontend.regions`: scale-shifts, activations, residual adds, gating multiplies)
run eagerly as one kernel each. With this lever they run as one function compiled by
``torch.compile`` (Inductor: one Triton kernel for a pointwise chain), after the head:

* a conv head runs on cuDNN without its bias (one kernel), then the compiled epilogue adds the
  bias, applies the activation and the members; where cuDNN's fused paths apply, they are used
  instead (conv + bias + ReLU then the compiled members; conv + add + ReLU alone: one call);
* an elementwise head (a lone batch norm + ReLU) is compiled together with its members;
* a pool or linear head runs as it is, then the compiled members.

Compiled functions are cached by signature: the epilogue's structure (ops, their constants and
argument wiring) and the layout of its arguments (dtype, device, rank, which dims are 1, stride
order), compiled with dynamic sizes, so regions that differ only in sizes share one compile.
Each signature gets its own code object, so Dynamo's per-code recompile limit never mixes them.
The first call compiles: the engine's eager warm-up before CUDA-graph capture does it. Only
tensors on :data:`COMPILE_DEVICES` take the compiled path; elsewhere (the CPU, where CI may lack
a C compiler) the same function runs eagerly, with the same result up to rounding.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from ios_core.frontend.kernels import ACTIVATIONS, ConvKernel, FnKernel, Kernel, activation_fn
from ios_core.frontend.regions import Member, RegionKernel
from ios_core.frontend.replay import Apply, In, Replay, add_all
from ios_core.runtime.fused_conv import FuseState, conv_add_relu
from ios_core.runtime.nhwc_mean import global_mean_keepdim

__all__ = ["COMPILE_DEVICES", "MEMORY_FORMATS", "BiasAct", "Epilogue", "EpilogueConvKernel",
           "EpilogueRegion", "MeanOut", "MemberOp", "ToFormat", "compiled_mean_kernel",
           "compiled_signatures", "epilogue_conv", "epilogue_region"]

# devices whose tensors take the compiled path; tests widen this (with BACKEND "eager")
COMPILE_DEVICES: set[str] = {"cuda"}
BACKEND = "inductor"
_CACHE: dict[tuple, Callable[..., torch.Tensor]] = {}  # signature -> compiled function
_COUNTER = itertools.count()


@dataclass(frozen=True)
class BiasAct:
    """``act(acc + bias)``, the bias per channel (dim 1) at ``params[offset]`` (None: no bias)."""

    activation: str
    offset: int | None

    def __call__(self, acc: torch.Tensor, inputs: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.offset is not None:
            acc = acc + params[self.offset].view(1, -1, *([1] * (acc.dim() - 2)))
        return _act(self.activation)(acc)

    def key(self) -> tuple:
        return ("bias_act", self.activation, self.offset is not None)


@dataclass(frozen=True)
class MemberOp:
    """An FnKernel's body on the running value and region inputs (``args``: None = running
    value, i = ``inputs[i]``), its captured tensors at ``params[offset:]`` under ``keys``."""

    fn: Callable[..., torch.Tensor]
    keys: tuple[str, ...]
    offset: int
    activation: str
    args: tuple[int | None, ...]

    def __call__(self, acc: torch.Tensor | None, inputs: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor]) -> torch.Tensor:
        xs = [acc if a is None else inputs[a] for a in self.args]
        tensors = dict(zip(self.keys, params[self.offset:self.offset + len(self.keys)],
                           strict=True))
        return _act(self.activation)(self.fn(*xs, **tensors))

    def key(self) -> tuple:
        return ("member", repr(self.fn), self.keys, self.activation, self.args)


@dataclass(frozen=True)
class ToFormat:
    """The running value in memory order ``fmt`` (``"nchw"`` or ``"nhwc"``): last in an epilogue
    whose reader wants the other layout (:mod:`ios_core.runtime.conv_layouts`). Compiled, the
    change of layout is the epilogue kernel's own write, not a copy of its own."""

    fmt: str

    def __call__(self, acc: torch.Tensor | None, inputs: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor]) -> torch.Tensor:
        assert acc is not None
        return acc.contiguous(memory_format=MEMORY_FORMATS[self.fmt])

    def key(self) -> tuple:
        return ("format", self.fmt)


MEMORY_FORMATS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}


@dataclass(frozen=True)
class MeanOut:
    """Last in an epilogue (the ``fuse_means`` lever, :mod:`ios_core.runtime.fused_means`): the
    running value AND its spatial mean, ``act(acc.mean((2, 3), keepdim))``, the value of the
    global average pool ``pool`` that reads it. Compiled, the mean is a reduction fused into the
    kernel that writes the value, not a kernel of its own."""

    pool: str
    keepdim: bool
    activation: str = "none"

    def __call__(self, acc: torch.Tensor | None, inputs: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        assert acc is not None
        return acc, _act(self.activation)(acc.mean((2, 3), keepdim=self.keepdim))

    def key(self) -> tuple:
        return ("mean", self.keepdim, self.activation)


Op = BiasAct | MemberOp | ToFormat | MeanOut


def _act(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    # a plain dict first: Dynamo traces a dict lookup, not the cache around activation_fn
    return ACTIVATIONS.get(name) or activation_fn(name)


def _body(ops: Sequence[Op], acc: torch.Tensor | None, inputs: Sequence[torch.Tensor],
          params: Sequence[torch.Tensor]) -> Any:
    """The running value after ``ops``; a (value, mean) pair where the last op is a MeanOut."""
    for op in ops:
        acc = op(acc, inputs, params)
    return acc


@dataclass(frozen=True)
class Epilogue:
    """Elementwise ops and their tensors: compiled where the tensors live on a compile device."""

    ops: tuple[Op, ...]
    params: tuple[torch.Tensor, ...]
    dynamic: bool = True  # one compile for every size; False: one per shape, tuned to it

    def __call__(self, acc: torch.Tensor | None, inputs: Sequence[torch.Tensor]) -> Any:
        """The epilogue's value: a tensor, or (value, mean) when it ends in a MeanOut."""
        args = (acc, tuple(inputs), self.params)
        probe = acc if acc is not None else inputs[0]
        if probe.device.type not in COMPILE_DEVICES:
            return _body(self.ops, *args)
        sig = (tuple(op.key() for op in self.ops), _layout(acc), tuple(map(_layout, inputs)),
               tuple(map(_layout, self.params)))
        if not self.dynamic:
            sig += (tuple(x.shape for x in (acc, *inputs) if x is not None),)
        fn = _CACHE.get(sig)
        if fn is None:
            fn = _CACHE[sig] = _compile(self.ops, self.dynamic)
        return fn(*args)

    def fresh(self) -> Epilogue:
        return replace(self, params=tuple(p.clone() for p in self.params))


def _layout(t: torch.Tensor | None) -> tuple:
    """What a dynamic-size compile specialises on: dtype, device, rank, size-1 dims, stride order.

    >>> _layout(torch.ones(1, 3, 1, 1))
    ('torch.float32', 'cpu', (True, False, True, True), (0, 1, 2, 3))
    """
    if t is None:
        return ()
    order = tuple(sorted(range(t.dim()), key=lambda d: (-t.stride(d), d)))
    return (str(t.dtype), t.device.type, tuple(s == 1 for s in t.shape), order)


def _compile(ops: tuple[Op, ...], dynamic: bool = True) -> Callable[..., Any]:
    """``_body`` over ``ops`` as a function with a code object of its own, compiled."""
    name = f"ios_epilogue_{next(_COUNTER)}"
    namespace: dict[str, Any] = {"_body": _body, "_ops": ops}
    source = f"def {name}(acc, inputs, params):\n    return _body(_ops, acc, inputs, params)\n"
    exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102 - fixed template
    return torch.compile(namespace[name], backend=BACKEND, dynamic=dynamic)


def compiled_signatures() -> int:
    """How many distinct epilogues this process has compiled (reports, tests)."""
    return len(_CACHE)


def _members(members: Sequence[Member], offset: int) -> tuple[list[MemberOp], list[torch.Tensor]]:
    ops, params = [], []
    for m in members:
        k = m.kernel
        assert isinstance(k, FnKernel)
        ops.append(MemberOp(k.fn, tuple(k.tensors), offset + len(params), k.activation, m.args))
        params += list(k.tensors.values())
    return ops, params


@dataclass
class EpilogueConvKernel(ConvKernel):
    """A conv with a non-ReLU activation: cuDNN conv without bias, then one compiled
    bias + activation kernel (on the compile devices)."""

    def __post_init__(self) -> None:
        offset = None if self.bias is None else 0
        params = () if self.bias is None else (self.bias,)
        self._epilogue = Epilogue((BiasAct(self.activation, offset),), params)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = F.conv2d(self.take(x), self.weight, None, self.stride, self.padding, self.dilation,
                     self.groups)
        return self._epilogue(y, ())

    def to(self, device, dtype=None) -> EpilogueConvKernel:
        return epilogue_conv(ConvKernel.to(self, device, dtype))


def epilogue_conv(k: ConvKernel) -> EpilogueConvKernel:
    """``k`` as an :class:`EpilogueConvKernel` (same tensors)."""
    return EpilogueConvKernel(k.weight, k.bias, k.stride, k.padding, k.dilation, k.groups,
                              k.activation, k.in_slice)


@dataclass
class EpilogueRegion(Kernel):
    """A fused region with the lever on: ``head`` (None for an elementwise head) on the first
    ``head_arity`` inputs, then the compiled ``epilogue``; or, for conv + add + ReLU, one cuDNN
    call (``add_relu``: the input index of the add's other term)."""

    head: Kernel | None
    head_arity: int
    epilogue: Epilogue | None
    add_relu: int | None = None
    head_nchw: bool = False  # the head reads its input in NCHW (conv_layouts); weights NCHW too
    state: FuseState = field(default_factory=FuseState, compare=False, repr=False)

    @property
    def mean(self) -> MeanOut | None:
        """The fused mean this region also returns (``fuse_means``), or None."""
        last = self.epilogue.ops[-1] if self.epilogue is not None and self.epilogue.ops else None
        return last if isinstance(last, MeanOut) else None

    def __call__(self, *inputs: torch.Tensor) -> Any:  # type: ignore[override]
        """The region's value; a (value, mean) pair where :attr:`mean` is set."""
        if self.head_nchw:  # free when the producer wrote NCHW, as conv_layouts plans it
            inputs = (inputs[0].contiguous(), *inputs[1:])
        if self.add_relu is not None:
            conv = self.head
            assert isinstance(conv, ConvKernel)
            bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(
                conv.weight.shape[0])
            return conv_add_relu(inputs[0], conv, inputs[self.add_relu], bias, self.state)
        acc = None if self.head is None else self.head(*inputs[: self.head_arity])
        return acc if self.epilogue is None else self.epilogue(acc, inputs)

    def parameter_numel(self) -> int:
        """Elements of the head's and the epilogue's tensors."""
        head = self.head
        n = sum(p.numel() for p in self.epilogue.params) if self.epilogue is not None else 0
        if isinstance(head, ConvKernel):
            n += head.weight.numel() + (0 if head.bias is None else head.bias.numel())
        elif isinstance(head, FnKernel):
            n += sum(t.numel() for t in head.tensors.values())
        return n

    def fresh(self) -> EpilogueRegion:
        """The same region over its own copies of its tensors (cold-weight measurements)."""
        head = self.head
        if isinstance(head, ConvKernel):
            head = replace(head, weight=head.weight.clone(),
                           bias=None if head.bias is None else head.bias.clone())
        elif isinstance(head, FnKernel):
            head = replace(head, tensors={n: t.clone() for n, t in head.tensors.items()})
        epilogue = None if self.epilogue is None else self.epilogue.fresh()
        return replace(self, head=head, epilogue=epilogue, state=FuseState())


def epilogue_region(k: RegionKernel, head: Kernel, fuse_add_relu: bool,
                    out_format: str | None = None, mean: MeanOut | None = None
                    ) -> EpilogueRegion:
    """``k`` (a region from the frontend) with the lever on; ``head`` is its head kernel
    already prepared for the other levers (NHWC weights, fused conv + ReLU). With
    ``out_format`` (``"nchw"`` / ``"nhwc"``) the epilogue writes its result in that layout, with
    ``mean`` it also returns the spatial mean of it (then the region returns a (value, mean)
    pair); either way there is a compiled epilogue (cuDNN's conv + add + ReLU is not used, and
    with ``mean`` nor is its conv + bias + ReLU: the bias and ReLU join the compiled kernel)."""
    tail = (*(() if out_format is None else (ToFormat(out_format),)),
            *(() if mean is None else (mean,)))
    dynamic = mean is None  # a reduction is compiled per shape (see compiled_mean_kernel)
    if k.head_kind == "conv" and isinstance(head, ConvKernel):
        act = head.activation
        j = _add_relu_term(k) if fuse_add_relu and act == "none" and not tail else None
        if j is not None:
            return EpilogueRegion(head, k.head_arity, None, add_relu=j)
        if act == "relu" and mean is None:  # cuDNN's conv + bias + ReLU, then the members
            ops, params = _members(k.members, 0)
            return EpilogueRegion(head, k.head_arity, Epilogue((*ops, *tail), tuple(params)))
        bare = ConvKernel(head.weight, None, head.stride, head.padding, head.dilation,
                          head.groups, "none", head.in_slice)
        first = [BiasAct(act, None if head.bias is None else 0)]
        params = [] if head.bias is None else [head.bias]
        ops, more = _members(k.members, len(params))
        return EpilogueRegion(bare, k.head_arity,
                              Epilogue((*first, *ops, *tail), (*params, *more), dynamic))
    if isinstance(head, FnKernel) and k.head_kind in ("act", "add", "mul", "norm"):
        lead = Member(head, tuple(range(k.head_arity)), k.head_kind)
        ops, params = _members((lead, *k.members), 0)
        return EpilogueRegion(None, k.head_arity, Epilogue((*ops, *tail), tuple(params), dynamic))
    if not k.members and not tail:
        return EpilogueRegion(head, k.head_arity, None)
    ops, params = _members(k.members, 0)
    return EpilogueRegion(head, k.head_arity, Epilogue((*ops, *tail), tuple(params), dynamic))


def compiled_mean_kernel(k: FnKernel) -> EpilogueRegion | None:
    """A global average pool (:func:`~ios_core.runtime.nhwc_mean.global_mean_keepdim`) as one
    compiled reduction, with its activation (the ``compile_mean`` lever); None for any other op.

    Inductor writes one reduction kernel per input shape (compiled with static sizes: a reduction's
    launch configuration is chosen for its sizes), where PyTorch's mean of an NHWC tensor at batch
    1 is a slow general reduction. With dynamic sizes (one compile for all), efficientnet_b0's
    ios-both+epi schedule ran 0.602 ms against 0.594 eager and 0.531 with ``nhwc_mean`` (H200,
    2026-12-04, ``benchmarks/results/h200-zoo-gapc.md``).
    """
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not isinstance(expr, Apply) or global_mean_keepdim(expr) is None:
        return None
    ops = (MemberOp(k.fn, tuple(k.tensors), 0, k.activation, (0,)),)
    return EpilogueRegion(None, 1, Epilogue(ops, tuple(k.tensors.values()), dynamic=False))


def _add_relu_term(k: RegionKernel) -> int | None:
    """For a conv region whose only member is a plain two-term sum with ReLU of the conv and
    one region input: that input's index (cuDNN's conv + add + ReLU takes it), else None."""
    if len(k.members) != 1:
        return None
    m = k.members[0]
    fn = m.kernel
    if not (isinstance(fn, FnKernel) and fn.activation == "relu" and not fn.tensors):
        return None
    expr = fn.fn.expr if isinstance(fn.fn, Replay) else None
    if not (isinstance(expr, Apply) and expr.fn is add_all and not expr.kwargs
            and expr.args == (In(0), In(1))):
        return None
    others = [a for a in m.args if a is not None]
    return others[0] if len(others) == 1 and None in m.args else None
