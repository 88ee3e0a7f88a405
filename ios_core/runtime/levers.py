"""Optional speed levers of the engine: each off by default, each measurable on its own.

``compile_schedule(..., options=EngineOptions(...))`` and ``MeasuredCost(..., options=)`` take
them; ``benchmarks/ablation.py`` times them side by side. Every lever keeps the executor's output
equal to the model's (up to rounding); one that cannot apply falls back to the plain path.

* ``fuse_conv_relu``: a convolution with a fused ReLU (plain or merged) runs as ONE cuDNN call,
  ``aten.cudnn_convolution_relu`` (conv + bias + ReLU), instead of conv(+bias) then relu. CUDA
  only, fp32/fp16/bf16; elsewhere the plain path runs, and where cuDNN refuses the call the
  kernel keeps the reason (:class:`FuseState`) and stays on the plain path from then on.
* ``fuse_conv_add_relu``: a conv without activation whose only reader is an ``add`` with a fused
  ReLU later in the same group becomes one step, ``aten.cudnn_convolution_add_relu``
  (relu(conv + bias + z), z = the add's other terms). RandWire has ~20 such pairs.
* ``concat``: ``"copy"`` (torch.cat, the default); ``"view"``: a concat whose inputs already lie
  back to back in one buffer (the channel slices of one merged conv, whose channels are put in
  the concat's order) becomes a view of that buffer, no kernel; ``"inplace"``: as "view", and the
  producers of a concat that can write into a given tensor (adds, through ``torch.add(out=)``)
  write straight into their slice of the concat's buffer (allocated before the stage's fork); the
  concat then copies only its other inputs. Slices must be contiguous: batch 1 (every dim before
  the concat dim of size 1) in NCHW, else the copy runs. Convolutions cannot write into a slice
  for free: F.conv2d has no ``out=``, and ``aten.cudnn_convolution.out`` has no bias/activation
  (3 kernels instead of 1 plus a share of the cat), so their outputs are still copied.
* ``strided_views`` (with ``concat`` "view"/"inplace"): a concat whose inputs are consecutive
  slices of one tensor, with the same strides (a merged conv's outputs in cat order, in NHWC or at
  any batch size), becomes a view of that tensor too. SqueezeNet's fire concats under NHWC.
* ``nhwc_pool`` (with ``channels_last``): 2-d max pools run as one 3-d pool over the NHWC
  tensor's (N, 1, H, W, C) view (:mod:`ios_core.runtime.nhwc_pool`); PyTorch's NHWC max-pool kernel
  is about 5x slower at batch 1.
* ``cudnn_benchmark``: ``torch.backends.cudnn.benchmark`` on during the warm-up runs and the
  capture, so cuDNN times its algorithms per shape before the graph fixes them.
* ``stream_cap``, ``order``, ``stream_priority``: how a concurrent stage's groups map onto
  streams: at most ``stream_cap`` side streams (extra groups share a stream, assigned longest
  first to the least-loaded one), launched longest group first, the first stream (the longest
  group's, with ``order="longest-first"``) at high priority.
* ``channels_last``: NHWC activations and conv weights; cuDNN's tensor-core kernels (TF32 in fp32,
  fp16, bf16) are NHWC-native.
* ``pack_slices`` (with ``channels_last``): a merged conv's channel slice read by anything but a
  concat is copied into a packed NHWC tensor inside the merge stage. An NHWC channel slice is
  strided, and a conv reading one copies it first anyway; done here, the copy is part of the merge
  stage's measured cost, so the search sees what merging really costs under NHWC.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ios_core.frontend.kernels import ACTIVATIONS, ConvKernel, FnKernel, Kernel
from ios_core.frontend.replay import Apply, In, ModuleCall, Replay, add_all
from ios_core.ir.graph import OpGraph
from ios_core.runtime.merged_conv import MergedConv
from ios_core.runtime.nhwc_pool import NhwcPool, nhwc_pool_pays

Env = dict[str, torch.Tensor]
CONCAT_MODES = ("copy", "view", "inplace")
ORDERS = ("schedule", "longest-first")
# the fused cuDNN ops exist only on CUDA builds' CUDA devices; tests widen this to test plumbing
FUSED_DEVICES: set[str] = {"cuda"}
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_CAT_FNS = tuple(getattr(torch, n) for n in ("cat", "concat", "concatenate") if hasattr(torch, n))


@dataclass(frozen=True)
class EngineOptions:
    """Which levers the engine pulls (see the module docstring); the defaults are the plain path."""

    fuse_conv_relu: bool = False
    fuse_conv_add_relu: bool = False
    concat: str = "copy"  # "copy" | "view" | "inplace"
    cudnn_benchmark: bool = False
    stream_cap: int | None = None  # at most this many side streams per stage (None: one a group)
    order: str = "schedule"  # "schedule" | "longest-first": launch order of a stage's groups
    stream_priority: bool = False  # the first stream of a stage runs at high priority
    channels_last: bool = False
    pack_slices: bool = False  # with channels_last: merged slices copied packed in their stage
    strided_views: bool = False  # concats of consecutive strided slices of one tensor are views
    # with channels_last: max pools as one 3-d pool (ios_core.runtime.nhwc_pool)
    nhwc_pool: bool = False

    def __post_init__(self) -> None:
        if self.concat not in CONCAT_MODES:
            raise ValueError(f"concat must be one of {CONCAT_MODES} (got {self.concat!r})")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS} (got {self.order!r})")
        cap = self.stream_cap
        if cap is not None and (type(cap) is not int or cap < 1):
            raise ValueError(f"stream_cap must be a positive integer or None (got {cap!r})")

    @property
    def is_plain(self) -> bool:
        return self == EngineOptions()

    def label(self) -> str:
        """A short name for reports, e.g. ``fused+add+inplace+bench+cap4``."""
        parts = [name for name, on in (("fused", self.fuse_conv_relu),
                                       ("add", self.fuse_conv_add_relu)) if on]
        if self.concat != "copy":
            parts.append(self.concat)
        parts += [name for name, on in (("bench", self.cudnn_benchmark),
                                        ("longest", self.order == "longest-first"),
                                        ("prio", self.stream_priority),
                                        ("nhwc", self.channels_last),
                                        ("pack", self.pack_slices),
                                        ("sviews", self.strided_views),
                                        ("pool3d", self.nhwc_pool)) if on]
        if self.stream_cap is not None:
            parts.append(f"cap{self.stream_cap}")
        return "+".join(parts) or "plain"


PLAIN_OPTIONS = EngineOptions()
# What the executor and the measured cost model use unless told otherwise. Chosen from side-by-side
# ablations on the H100 (benchmarks/results/ablation*.md): fusing conv+bias+ReLU into one cuDNN call
# took Inception V3's ios-both schedule from 1.132 to 0.958 ms; NHWC activations and weights in
# fp32 (TF32 convs) took it on from 0.955 to 0.698 ms and NASNet from 3.74 to 3.07 ms, as cuDNN's
# TF32 kernels are NHWC-native (NCHW pays layout transforms per conv). In-place concats need
# contiguous NCHW slices, so under NHWC concats copy; merged slices are packed in their own stage,
# so that measured merge stages include the copy their NHWC readers need (and the shipped Inception
# schedule ran 0.672 -> 0.655 ms). Strided concat views and 3-d max pools (ablation-pool.md) took
# SqueezeNet's shipped ios-both schedule from 0.326 to 0.216 ms and Inception's from 0.627 to
# 0.590 ms. The other levers were
# within noise and cost nothing. On the CPU the CUDA-only levers fall back to the plain path.
DEFAULT_OPTIONS = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True, concat="inplace",
                                cudnn_benchmark=True, order="longest-first", stream_priority=True,
                                channels_last=True, pack_slices=True, strided_views=True,
                                nhwc_pool=True)

_FLAGS = {"fused": "fuse_conv_relu", "add": "fuse_conv_add_relu", "bench": "cudnn_benchmark",
          "prio": "stream_priority", "nhwc": "channels_last", "pack": "pack_slices",
          "sviews": "strided_views", "pool3d": "nhwc_pool"}


def options_from_label(text: str) -> EngineOptions:
    """The options a label names: ``"default"``, ``"plain"``, a :meth:`EngineOptions.label`, or
    one of those followed by ``+part``/``-part`` changes, e.g. ``"default+sviews"``.

    >>> options_from_label("default-pack") == replace(DEFAULT_OPTIONS, pack_slices=False)
    True
    """
    tokens = [t for t in _split_label(text) if t[1]]
    if tokens and tokens[0][1] in ("default", "plain"):
        opts = DEFAULT_OPTIONS if tokens.pop(0)[1] == "default" else PLAIN_OPTIONS
    else:
        opts = PLAIN_OPTIONS
    for sign, part in tokens:
        on = sign != "-"
        if part in _FLAGS:
            opts = replace(opts, **{_FLAGS[part]: on})
        elif part in ("view", "inplace"):
            opts = replace(opts, concat=part if on else "copy")
        elif part == "longest":
            opts = replace(opts, order="longest-first" if on else "schedule")
        elif part.startswith("cap") and part[3:].isdigit():
            opts = replace(opts, stream_cap=int(part[3:]) if on else None)
        else:
            known = ", ".join([*_FLAGS, "view", "inplace", "longest", "capN"])
            raise ValueError(f"unknown engine lever {part!r} in {text!r}; known: {known}")
    return opts


def _split_label(text: str) -> list[tuple[str, str]]:
    out, sign, word = [], "+", ""
    for ch in text.strip():
        if ch in "+-":
            out.append((sign, word))
            sign, word = ch, ""
        else:
            word += ch
    out.append((sign, word))
    return out


# ---- fused convolutions -----------------------------------------------------------------------
@dataclass
class FuseState:
    """What a fused kernel did last (``"fused"`` / ``"plain"``) and why cuDNN refused, if it did."""

    last: str = ""
    reason: str | None = None


def _can_fuse(x: torch.Tensor, weight: torch.Tensor, state: FuseState) -> bool:
    return (state.reason is None and x.device.type in FUSED_DEVICES and x.dim() == 4
            and x.dtype in FUSED_DTYPES and x.dtype == weight.dtype)


def _cudnn_conv_relu(x, weight, bias, stride, padding, dilation, groups) -> torch.Tensor:
    # makes input and weight contiguous in their suggested memory format itself
    return torch.ops.aten.cudnn_convolution_relu(
        x, weight, bias, list(stride), list(padding), list(dilation), groups)


def _cudnn_conv_add_relu(x, weight, z, bias, stride, padding, dilation, groups) -> torch.Tensor:
    return torch.ops.aten.cudnn_convolution_add_relu(
        x, weight, z, 1.0, bias, list(stride), list(padding), list(dilation), groups)


# cuDNN's refusals are RuntimeErrors; a torch build without the op raises AttributeError
_REFUSED = (RuntimeError, NotImplementedError, AttributeError)


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
        return conv_relu(x, self.weight, self._bias, self.stride, self.padding, self.dilation,
                         self.groups, self.state)

    def to(self, device, dtype=None) -> FusedConvKernel:
        return fused(ConvKernel.to(self, device, dtype))


def fused(k: ConvKernel) -> FusedConvKernel:
    return FusedConvKernel(k.weight, k.bias, k.stride, k.padding, k.dilation, k.groups,
                           k.activation)


def prepare_kernels(kernels: Mapping[str, Kernel], options: EngineOptions) -> dict[str, Kernel]:
    """Kernels with the kernel-level levers applied (fused conv-ReLU, NHWC weights and pools)."""
    out = dict(kernels)
    for name, k in kernels.items():
        if isinstance(k, FnKernel) and options.channels_last and options.nhwc_pool:
            out[name] = nhwc_pool_kernel(k)
        if not isinstance(k, ConvKernel):
            continue
        if options.channels_last and k.weight.dim() == 4:
            k = replace(k, weight=k.weight.contiguous(memory_format=torch.channels_last))
        if options.fuse_conv_relu and k.activation == "relu" and not isinstance(k, FusedConvKernel):
            k = fused(k)
        out[name] = k
    return out


def nhwc_pool_kernel(k: FnKernel) -> FnKernel:
    """``k`` with its pooling module run by :class:`~ios_core.runtime.nhwc_pool.NhwcPool`, when it
    is a lone 2-d max pooling module call; else ``k`` itself."""
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    call = expr.fn if isinstance(expr, Apply) else None
    if not (isinstance(call, ModuleCall) and nhwc_pool_pays(call.module)
            and expr.args == ({}, In(0)) and not expr.kwargs and not k.tensors):
        return k
    return replace(k, fn=Replay(Apply(NhwcPool(call.module), (In(0),), {}, expr.label)))


@dataclass(frozen=True)
class FusedMergedConv(MergedConv):
    """A merged conv with ReLU computed by one cuDNN call on CUDA (bias never None)."""

    state: FuseState = field(default_factory=FuseState, compare=False, repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation != "relu" or self.bias is None:
            return super().__call__(x)
        return conv_relu(x, self.weight, self.bias, self.stride, self.padding, self.dilation, 1,
                         self.state)


def prepare_merged(conv: MergedConv, options: EngineOptions) -> MergedConv:
    """A merged conv with the kernel-level levers applied."""
    if options.channels_last:
        conv = replace(conv, weight=conv.weight.contiguous(memory_format=torch.channels_last))
    if options.fuse_conv_relu and conv.activation == "relu":
        bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.weight.shape[0])
        conv = FusedMergedConv(conv.weight, bias, conv.stride, conv.padding, conv.dilation,
                               conv.activation, conv.slices)
    return conv


def packed_slices(graph: OpGraph, names: Sequence[str], options: EngineOptions
                  ) -> tuple[bool, ...]:
    """Per merged conv: copy its slice packed (NHWC with ``pack_slices``, read by a non-concat)."""
    if not (options.channels_last and options.pack_slices):
        return ()
    return tuple(any(graph[c].kind != "concat" for c in graph.consumers(n)) for n in names)


def fuse_states(kernels: Mapping[str, object]) -> list[FuseState]:
    return [k.state for k in kernels.values() if isinstance(k, FusedConvKernel)]


# ---- conv + add + relu ----------------------------------------------------------------------
def sum_terms(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> tuple[int, ...] | None:
    """For a plain sum node (``add_all`` of its inputs as they are, all of its own shape): the
    input index of each term in order; else None."""
    node, k = graph[name], kernels.get(name)
    if node.kind != "add" or not isinstance(k, FnKernel) or k.tensors:
        return None
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not (isinstance(expr, Apply) and expr.fn is add_all and not expr.kwargs):
        return None
    if len(expr.args) < 2 or not all(isinstance(a, In) for a in expr.args):
        return None
    if any(graph.shape_of(s) != node.shape for s in node.inputs):
        return None  # broadcasting: the output slot / z would not match
    return tuple(a.index for a in expr.args)


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
        k = self.conv
        if _can_fuse(x, k.weight, self.state):
            try:
                env[self.name] = _cudnn_conv_add_relu(x, k.weight, z, self.bias, k.stride,
                                                      k.padding, k.dilation, k.groups)
                self.state.last = "fused"
                return
            except _REFUSED as e:
                _refused(self.state, e)
        self.state.last = "plain"
        env[self.name] = F.relu(k(x) + z)


def conv_add_pairs(graph: OpGraph, kernels: Mapping[str, Kernel], group: Sequence[str]
                   ) -> dict[str, str]:
    """add name -> conv name for the (conv, add+ReLU) pairs of one group that fuse."""
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


def conv_add_step(graph: OpGraph, kernels: Mapping[str, Kernel], add: str, conv: str
                  ) -> ConvAddReluStep:
    terms = sum_terms(graph, kernels, add)
    assert terms is not None
    others = tuple(graph[add].inputs[i] for i in terms if graph[add].inputs[i] != conv)
    k = kernels[conv]
    assert isinstance(k, ConvKernel)
    bias = k.bias if k.bias is not None else k.weight.new_zeros(k.weight.shape[0])
    return ConvAddReluStep(add, conv, k, graph[conv].inputs[0], others, bias)


# ---- concat without copies ----------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """Where a producer writes its output: ``concat``'s buffer, ``[start, start+size)`` on dim."""

    concat: str
    dim: int
    start: int
    size: int


@dataclass(frozen=True)
class ConcatLayout:
    """The concats that may become views or be filled in place, and who writes into them."""

    cats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # concat -> inputs, cat order
    slots: Mapping[str, Slot] = field(default_factory=dict)  # producer -> its slot
    strided_views: bool = False  # also view concats of strided slices (EngineOptions)


def cat_order(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> tuple[str, ...] | None:
    """The input names of a plain ``torch.cat([...], dim)`` node in cat order, else None."""
    node, k = graph[name], kernels.get(name)
    if node.kind != "concat" or not isinstance(k, FnKernel) or k.tensors or k.activation != "none":
        return None
    expr = k.fn.expr if isinstance(k.fn, Replay) else None
    if not (isinstance(expr, Apply) and expr.fn in _CAT_FNS and expr.args):
        return None
    items = expr.args[0]
    if not isinstance(items, (list, tuple)) or not all(isinstance(a, In) for a in items):
        return None
    return tuple(node.inputs[a.index] for a in items)


def plan_concats(graph: OpGraph, kernels: Mapping[str, Kernel], options: EngineOptions
                 ) -> ConcatLayout:
    """Which concats the ``concat`` lever handles, and (``"inplace"``) which producers write into
    their slot: plain sums read by exactly one concat, once, not graph outputs."""
    if options.concat == "copy":
        return ConcatLayout()
    cats = {n.name: order for n in graph.nodes if n.kind == "concat"
            and (order := cat_order(graph, kernels, n.name)) is not None}
    if options.concat != "inplace" or options.channels_last:  # NHWC slices are not contiguous
        return ConcatLayout(cats, {}, options.strided_views)
    uses: dict[str, int] = {}
    for order in cats.values():
        for src in order:
            uses[src] = uses.get(src, 0) + 1
    slots: dict[str, Slot] = {}
    for cat, order in cats.items():
        dim = int(graph[cat].attrs.get("dim", 1))
        if math.prod(graph[cat].shape[:dim]) != 1:
            continue  # batch > 1: a slice is strided
        start = 0
        for src in order:
            size = graph.shape_of(src)[dim]
            writable = src in graph and sum_terms(graph, kernels, src) is not None
            if writable and uses[src] == 1 and src not in graph.outputs:
                slots[src] = Slot(cat, dim, start, size)
            start += size
    return ConcatLayout(cats, slots, options.strided_views)


def merge_order(graph: OpGraph, layout: ConcatLayout, names: Sequence[str]) -> tuple[str, ...]:
    """Merged convs' channel order with each concat that reads only some of them in its own
    order and back to back, so that the concat can be a view of the wide output."""
    rest = list(names)
    ordered: list[str] = []
    for order in layout.cats.values():
        if len(order) > 1 and len(set(order)) == len(order) and all(n in rest for n in order):
            ordered += order
            rest = [n for n in rest if n not in order]
    return tuple(ordered + rest) if ordered else tuple(names)


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
        if _fits(buf, self.shape, xs[0]):
            start = 0
            for x in xs:
                dst = buf.narrow(self.dim, start, x.shape[self.dim])
                if not _same_memory(x, dst):
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
    if name == "relu":
        out.relu_()
    elif name != "none":
        out.copy_(ACTIVATIONS[name](out))


def _fits(buf: object, shape: tuple[int, ...], like: torch.Tensor) -> bool:
    return (isinstance(buf, torch.Tensor) and tuple(buf.shape) == tuple(shape)
            and buf.dtype == like.dtype and buf.device == like.device)


def _same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


def adjacent_view(xs: Sequence[torch.Tensor], shape: Sequence[int], dim: int
                  ) -> torch.Tensor | None:
    """``torch.cat(xs, dim)`` as a view, where the xs are contiguous and back to back in one
    storage (every dim before ``dim`` of size 1); else None."""
    if not xs or math.prod(shape[:dim]) != 1:
        return None
    first = xs[0]
    storage = first.untyped_storage().data_ptr()
    expected = first.data_ptr()
    for x in xs:
        if (x.dtype != first.dtype or x.device != first.device or not x.is_contiguous()
                or x.untyped_storage().data_ptr() != storage or x.data_ptr() != expected):
            return None
        expected += x.numel() * x.element_size()
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return first.as_strided(tuple(shape), tuple(reversed(strides)), first.storage_offset())


def strided_view(xs: Sequence[torch.Tensor], shape: Sequence[int], dim: int
                 ) -> torch.Tensor | None:
    """``torch.cat(xs, dim)`` as a view, where the xs are consecutive slices along ``dim`` of one
    tensor: one storage, the same strides (dims of size 1 aside), each starting where the one
    before ends. A merged conv's outputs in cat order are such slices in any layout and batch
    size; the view addresses exactly the elements the xs do. Else None."""
    if not xs or sum(x.size(dim) for x in xs) != shape[dim]:
        return None
    first = xs[0]
    others = [d for d in range(first.dim()) if d != dim]
    storage, step = first.untyped_storage().data_ptr(), first.stride(dim)
    expected = first.data_ptr()
    for x in xs:
        if (x.dtype != first.dtype or x.device != first.device or x.dim() != first.dim()
                or x.untyped_storage().data_ptr() != storage or x.data_ptr() != expected
                or x.stride(dim) != step or any(x.size(d) != shape[d] for d in others)
                or any(x.stride(d) != first.stride(d) for d in others if x.size(d) != 1)):
            return None
        expected += x.size(dim) * step * x.element_size()
    return first.as_strided(tuple(shape), first.stride(), first.storage_offset())


def concat_step(graph: OpGraph, kernels: Mapping[str, Kernel], layout: ConcatLayout,
                name: str) -> ConcatStep:
    node = graph[name]
    return ConcatStep(name, kernels[name], tuple(node.inputs), layout.cats[name],
                      int(node.attrs.get("dim", 1)), node.shape, layout.strided_views)


def slot_step(graph: OpGraph, kernels: Mapping[str, Kernel], layout: ConcatLayout,
              name: str) -> SlotStep:
    k, terms = kernels[name], sum_terms(graph, kernels, name)
    assert isinstance(k, FnKernel) and terms is not None
    return SlotStep(name, k, tuple(graph[name].inputs), terms, layout.slots[name])


@dataclass(frozen=True)
class Alloc:
    """A concat buffer a stage allocates before its fork (unless an earlier stage did)."""

    name: str
    shape: tuple[int, ...]
    like: str  # a tensor the stage reads: gives dtype and device


def allocate(allocs: Sequence[Alloc], env: Env) -> None:
    """On the current stream, before the fork: every stream's work in the stage comes after."""
    for a in allocs:
        if a.name not in env:
            like = env[a.like]
            env[a.name] = torch.empty(a.shape, dtype=like.dtype, device=like.device)


def stage_allocs(graph: OpGraph, layout: ConcatLayout, writes: Sequence[str],
                 reads: Sequence[str]) -> tuple[Alloc, ...]:
    concats = dict.fromkeys(layout.slots[n].concat for n in writes if n in layout.slots)
    if not concats or not reads:
        return ()
    return tuple(Alloc(c, graph[c].shape, reads[0]) for c in concats)


# ---- streams ----------------------------------------------------------------------------------
def group_cost(graph: OpGraph, group: Sequence[str]) -> float:
    """A rough H100 roofline of a group alone, in seconds; only the order it gives matters."""
    return sum(graph[n].flops / 50e12 + graph[n].bytes / 2.5e12 + 4e-6 for n in group)


def assign_lanes(graph: OpGraph, groups: Sequence[Sequence[str]], options: EngineOptions
                 ) -> tuple[tuple[int, ...], ...]:
    """Group indices per stream; () where every group keeps its own stream in schedule order."""
    n = len(groups)
    cap = min(options.stream_cap or n, n)
    if n < 2 or (cap == n and options.order == "schedule"):
        return ()
    costs = [group_cost(graph, g) for g in groups]
    idx = sorted(range(n), key=lambda i: -costs[i])  # stable: ties keep schedule order
    if cap == n:
        return tuple((i,) for i in idx)
    loads, lanes = [0.0] * cap, [[] for _ in range(cap)]  # longest processing time first
    for i in idx:
        j = min(range(cap), key=lambda s: loads[s])
        lanes[j].append(i)
        loads[j] += costs[i]
    return tuple(tuple(lane) for lane in lanes)


# ---- global settings --------------------------------------------------------------------------
@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on inside the block when ``enabled`` (restored after)."""
    if not enabled:
        yield
        return
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def to_layout(x: torch.Tensor, options: EngineOptions) -> torch.Tensor:
    if options.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
