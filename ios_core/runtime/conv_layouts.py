"""The ``conv_layouts`` lever: grouped convs that run faster in NCHW, chosen by measuring.

Under ``channels_last`` every conv runs NHWC, as cuDNN's tensor-core kernels want. Grouped
(depthwise) convs at batch 1 are another matter: on the H200, cuDNN's NHWC kernel took 10.8 µs
for a 3x3 depthwise conv over 1x72x56x56 and its NCHW one 3.8 µs, while other shapes ran faster
NHWC (2.2 against 3.6 µs over 1x16x112x112; ``benchmarks/results/h200-depthwise-probe.md``).
Converting the input with a copy of its own costs about what it saves (9.4 µs), unless the
conversion is no kernel of its own: here the compiled epilogue (``fuse_epilogues``) of the op
that feeds the conv writes NCHW, and the conv's own epilogue writes NHWC back, so every other op
sees the layout it saw before.

:func:`layout_pairs` finds the (producer, grouped conv) pairs where that is possible: the
producer is a conv or fused region whose value only the conv reads (as its head's input) and no
graph output. :func:`plan_layouts` times each pair both ways on the GPU (the two kernels back to
back, captured in a CUDA graph, prepared as the executor prepares them) and keeps NCHW where it
is at least :data:`MIN_GAIN` faster. The answers are cached per pair signature in the process,
so the executor and the measured cost model lower a graph the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ios_core.frontend.kernels import ConvKernel, Kernel
from ios_core.frontend.regions import RegionKernel
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.runtime.channels_last import nhwc
from ios_core.runtime.engine import cudnn_benchmark
from ios_core.runtime.options import EngineOptions
from ios_core.runtime.prepare import prepare_kernel
from ios_core.runtime.timing import time_samples

__all__ = ["LAYOUT_DEVICES", "MIN_GAIN", "LayoutPlan", "layout_pairs", "plan_layouts",
           "time_pair"]

LAYOUT_DEVICES: set[str] = {"cuda"}  # where pairs are timed (tests widen it with a fake timer)
MIN_GAIN = 0.05  # NCHW must be this much faster: a near tie keeps the layout everything else has
COPIES = 10  # pair copies per captured graph: a replay's launch cost spread over them
# (pair signature, device, dtype, levers) -> (NHWC ms, NCHW ms) of the pair, timed once
_TIMED: dict[tuple, tuple[float, float]] = {}


@dataclass(frozen=True)
class LayoutPlan:
    """Which ops read their input in NCHW (grouped convs) and which write NCHW (their producers).

    >>> LayoutPlan(frozenset({"dw"}), frozenset({"pw"})).formats("pw")
    (False, True)
    """

    reads_nchw: frozenset[str] = frozenset()
    writes_nchw: frozenset[str] = frozenset()
    # (grouped conv, NHWC ms, NCHW ms) of every pair timed for this plan (reports)
    timed: tuple[tuple[str, float, float], ...] = field(default=(), compare=False)

    def formats(self, name: str) -> tuple[bool, bool]:
        """``(reads_nchw, writes_nchw)`` of op ``name``."""
        return name in self.reads_nchw, name in self.writes_nchw


def layout_pairs(graph: OpGraph, kernels: Mapping[str, Kernel]) -> list[tuple[str, str]]:
    """(producer, grouped conv) pairs whose conv could run NCHW with no conversion kernel: the
    producer is a conv or fused region, its value is read by that conv alone (as the conv's
    input, not as a region's other term) and is not a graph output."""
    outputs = set(graph.outputs)
    pairs = []
    for node in graph.nodes:
        conv = _grouped_conv(kernels.get(node.name))
        if conv is None or not node.inputs:
            continue
        src = node.inputs[0]
        if (src in outputs or src in node.inputs[1:] or graph.consumers(src) != (node.name,)
                or not isinstance(kernels.get(src), ConvKernel | RegionKernel)
                or len(graph.shape_of(src)) != 4):
            continue
        pairs.append((src, node.name))
    return pairs


def _grouped_conv(k: Kernel | None) -> ConvKernel | None:
    if isinstance(k, RegionKernel) and k.head_kind == "conv" and k.head_arity == 1:
        k = k.head
    if isinstance(k, ConvKernel) and k.groups > 1 and k.in_slice is None and k.weight.dim() == 4:
        return k
    return None


def plan_layouts(graph: OpGraph, kernels: Mapping[str, Kernel], device: torch.device,
                 dtype: torch.dtype, options: EngineOptions) -> LayoutPlan:
    """The pairs of :func:`layout_pairs` whose NCHW form timed at least :data:`MIN_GAIN`
    faster (nothing unless ``options`` has ``conv_layouts``, ``channels_last`` and
    ``fuse_epilogues`` and ``device`` is one of :data:`LAYOUT_DEVICES`)."""
    if not (options.conv_layouts and options.channels_last and options.fuse_epilogues
            and device.type in LAYOUT_DEVICES):
        return LayoutPlan()
    reads, writes, report = set(), set(), []
    for src, conv in layout_pairs(graph, kernels):
        key = (stage_signature(graph, "concurrent", [[src, conv]]), _device_key(device), dtype,
               options.label())
        timed = _TIMED.get(key)
        if timed is None:
            timed = _TIMED[key] = _time_both(graph, kernels, src, conv, device, dtype, options)
        report.append((conv, *timed))
        if timed[1] < (1 - MIN_GAIN) * timed[0]:
            reads.add(conv)
            writes.add(src)
    return LayoutPlan(frozenset(reads), frozenset(writes), tuple(report))


def _device_key(device: torch.device) -> str:
    """``cuda`` and ``cuda:0`` (the executor's and the cost model's names) are one device."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def _time_both(graph: OpGraph, kernels: Mapping[str, Kernel], src: str, conv: str,
               device: torch.device, dtype: torch.dtype, options: EngineOptions
               ) -> tuple[float, float]:
    moved = {n: kernels[n].to(device, dtype) for n in (src, conv)}
    gen = torch.Generator(device=device).manual_seed(0)

    def draw(name: str) -> torch.Tensor:
        x = torch.randn(graph.shape_of(name), generator=gen, device=device, dtype=dtype)
        return nhwc(x)

    src_inputs = [draw(n) for n in graph[src].inputs]
    conv_rest = [draw(n) for n in graph[conv].inputs[1:]]
    with cudnn_benchmark(options.cudnn_benchmark):
        nhwc_ms = time_pair(prepare_kernel(moved[src], options),
                            prepare_kernel(moved[conv], options), src_inputs, conv_rest)
        try:
            nchw_ms = time_pair(prepare_kernel(moved[src], options, writes_nchw=True),
                                prepare_kernel(moved[conv], options, reads_nchw=True),
                                src_inputs, conv_rest)
        except RuntimeError as e:  # the other layout is an option, never a reason to fail
            warnings.warn(f"conv_layouts: {conv!r} stays NHWC: its NCHW form failed ({e})",
                          stacklevel=2)
            nchw_ms = math.inf
    return nhwc_ms, nchw_ms


def time_pair(first: Kernel, second: Kernel, first_inputs: Sequence[torch.Tensor],
              second_rest: Sequence[torch.Tensor]) -> float:
    """Milliseconds of ``second(first(*first_inputs), *second_rest)``: run eagerly twice (compiles,
    cuDNN's algorithm choice), then :data:`COPIES` back to back in one CUDA graph, the median of
    20 replays over the copies."""
    def run() -> torch.Tensor:
        return second(first(*first_inputs), *second_rest)

    for _ in range(2):
        run()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(COPIES):
            run()
    ms = time_samples(graph.replay, warmup=5, iters=20, device=first_inputs[0].device).median_ms
    return ms / COPIES
