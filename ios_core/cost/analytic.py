"""A simulated GPU: stage latencies from a roofline per operator and an occupancy share.

Deterministic, fast and explainable: it is what the teaching demo, the tests and any machine
without a GPU run on. Its few parameters live in a :class:`DevicePreset` so that they can be fitted
against measured profiles.

Per operator (``p`` = the preset, sizes from the :class:`~ios_core.ir.graph.OpNode`)::

    ctas    = max(ceil(out_elems / p.tile_elems), ceil(bytes / p.tile_bytes), 1)
    share   = min(1, ctas / p.sms)                      # fraction of the GPU the kernel can fill
    compute = flops / (p.peak_tflops * p.compute_eff * share)
    memory  = bytes / (p.bandwidth_gbs * p.mem_eff * share)
    busy    = max(compute, memory)                      # roofline, slowed by unused SMs
    op_ms   = busy + p.launch_us                        # what a single-op stage costs
    work    = busy * share                              # full-GPU time the op really uses

A kernel that fills a fraction ``share`` of the SMs runs at that fraction of the device's peak; the
rest of the GPU is idle, and that idle part is what concurrent stages reclaim.

Concurrent stage with groups ``G`` (each group runs its ops back to back on one stream)::

    longest = max over groups of sum(op_ms)             # a stream cannot beat its own chain
    serial  = sum over all ops of op_ms                 # no overlap at all
    packed  = sum over all ops of work + p.launch_us    # ops that fill the GPU cannot overlap
    ideal   = max(longest, packed)
    stage   = ideal + (1 - p.overlap_eff) * (serial - ideal) + p.stream_us * (len(G) - 1)

so one group costs exactly the sum of its ops, and a single-op stage costs ``op_ms``.

Merge stage (convolutions reading one tensor, run as one wide convolution)::

    flops = sum(flops_i * kmax_area / k_area_i)         # smaller kernels are zero-padded
    bytes = sum(bytes_i) - (n - 1) * input_bytes        # the shared input is read once
                                                        # (convs on channel slices: - 0)
    out_elems = sum(out_elems_i)                        # more output tiles: better occupancy
    stage = max(busy(flops, bytes, out_elems), max(busy_i)) + p.launch_us   # one launch

(a CTA of the wide conv does the work of a CTA of one part, so it never beats its slowest part).
Hence no stage is shorter than its slowest op alone, and the critical path is a lower bound.

Times are in ms; every number is for the graph's own batch size and dtype.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

from ios_core.cost.base import StageCost
from ios_core.ir.graph import OpGraph, OpNode

ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass(frozen=True)
class DevicePreset:
    """The parameters of a simulated GPU (datasheet figures plus a few achievable factors)."""

    name: str  # a human-readable device name, shown in the UI
    sms: int  # streaming multiprocessors
    peak_tflops: float  # dense peak of the math the convs use (TF32 tensor cores, or FP32)
    bandwidth_gbs: float  # DRAM bandwidth, GB/s (1e9 bytes/s)
    compute_eff: float = 0.5  # fraction of peak a well-filled conv reaches
    mem_eff: float = 0.8  # fraction of DRAM bandwidth a streaming kernel reaches
    launch_us: float = 3.0  # per-kernel overhead inside a CUDA graph (launch + ramp + tail)
    stream_us: float = 2.0  # per extra stream of a stage: event record/wait of fork and join
    tile_elems: int = 4096  # output elements per CTA (a 64x64 GEMM tile)
    tile_bytes: int = 65536  # bytes streamed per CTA by memory-bound kernels (64 KiB)
    overlap_eff: float = 0.9  # fraction of the ideal overlap concurrent streams achieve

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"preset {self.name!r}: {f.name} must be a number >= 0")
        for key in ("sms", "peak_tflops", "bandwidth_gbs", "compute_eff", "mem_eff"):
            if getattr(self, key) <= 0:
                raise ValueError(f"preset {self.name!r}: {key} must be positive")
        if self.tile_elems < 1 or self.tile_bytes < 1 or self.overlap_eff > 1:
            raise ValueError(f"preset {self.name!r}: tiles must be >= 1 and overlap_eff <= 1")


PRESETS: dict[str, DevicePreset] = {
    # H100 SXM5: 132 SMs, TF32 tensor 494.7 TFLOP/s dense (989 with sparsity), HBM3 3.35 TB/s.
    # Efficiencies, launch and stream costs, overlap and tile size fitted on 2026-11-25 to the
    # 14,915 stages of the shipped H100 profiles, measured NHWC with cold weights (results/
    # calibration.md: median per-stage error 20.2 %, p90 53.8 %; the NCHW-era preset gave 49.5 %
    # and 220.6 % on them); batch-1 convs reach only ~25 % of TF32 peak.
    "h100": DevicePreset(
        name="NVIDIA H100 SXM5 80GB (simulated)",
        sms=132,
        peak_tflops=494.7,
        bandwidth_gbs=3350.0,
        compute_eff=0.252,
        mem_eff=0.459,
        launch_us=4.25,
        stream_us=0.75,
        overlap_eff=0.694,
        tile_elems=1723,
    ),
    # A100 SXM4 80GB: 108 SMs, TF32 tensor 156 TFLOP/s dense, HBM2e 2.04 TB/s. Not measured here:
    # its efficiency is its datasheet guess (0.45) scaled by the H100 fit's ratio (0.252 / 0.3).
    "a100": DevicePreset(
        name="NVIDIA A100 SXM4 80GB (simulated)",
        sms=108,
        peak_tflops=156.0,
        bandwidth_gbs=2039.0,
        compute_eff=0.378,
        mem_eff=0.8,
        launch_us=3.0,
        stream_us=2.0,
    ),
    # V100 SXM2 (the IOS paper's GPU): 80 SMs, FP32 15.7 TFLOP/s (no TF32), HBM2 0.9 TB/s.
    # IOS launched kernels without CUDA graphs and synchronised between stages: dearer overheads.
    # Not measured here: efficiency scaled like the A100's (0.6 x 0.252 / 0.3).
    "v100": DevicePreset(
        name="NVIDIA Tesla V100 SXM2 (simulated)",
        sms=80,
        peak_tflops=15.7,
        bandwidth_gbs=900.0,
        compute_eff=0.504,
        mem_eff=0.75,
        launch_us=5.0,
        stream_us=5.0,
    ),
}


class OpCost(NamedTuple):
    """The analytic view of one operator."""

    ms: float  # isolated latency: busy + launch
    busy: float  # roofline time at its occupancy, ms
    share: float  # fraction of the GPU's SMs it fills, in (0, 1]


class SimulatedCost:
    """The :class:`~ios_core.cost.base.CostModel` of a simulated device (see the module docstring).

    ``SimulatedCost("h100", launch_us=2.0)`` starts from a preset and overrides its fields.

    >>> SimulatedCost("a100").name
    'simulated:a100'
    """

    def __init__(self, preset: str = "h100", **overrides: Any) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown device preset {preset!r}; known: {', '.join(PRESETS)}")
        names = {f.name for f in fields(DevicePreset)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown preset parameter(s) {unknown}; known: {sorted(names)}")
        self.preset: DevicePreset = replace(PRESETS[preset], **overrides)
        self.name = f"simulated:{preset}"
        self.device = f"simulated:{preset}"
        # per-graph op tables; keyed by id() with a weakref so a dead graph's id is never reused
        self._tables: dict[int, tuple[weakref.ref, dict[str, OpCost]]] = {}

    def __repr__(self) -> str:
        return f"SimulatedCost({self.name!r}, {asdict(self.preset)})"

    @property
    def params(self) -> dict[str, Any]:
        """The preset's parameters as plain data (for schedules, the UI and fitting)."""
        return asdict(self.preset)

    # ---- per operator ---------------------------------------------------------------------
    def op_cost(self, graph: OpGraph, name: str) -> OpCost:
        return self._table(graph)[name]

    def op_ms(self, graph: OpGraph, name: str) -> float:
        """Latency of ``name`` run alone (a single-op stage), ms."""
        return self._table(graph)[name].ms

    def op_share(self, graph: OpGraph, name: str) -> float:
        """Fraction of the GPU's SMs ``name`` can fill, in (0, 1]."""
        return self._table(graph)[name].share

    def op_work_ms(self, graph: OpGraph, name: str) -> float:
        """Full-GPU time ``name`` uses (busy x share): what it adds to a packed stage, ms."""
        c = self._table(graph)[name]
        return c.busy * c.share

    def _table(self, graph: OpGraph) -> dict[str, OpCost]:
        entry = self._tables.get(id(graph))
        if entry is not None and entry[0]() is graph:
            return entry[1]
        itemsize = _itemsize(graph)
        table = {n.name: self._op(n.flops, n.bytes, _elems(n.shape), itemsize) for n in graph}
        key = id(graph)
        ref = weakref.ref(graph, lambda _r, k=key, d=self._tables: d.pop(k, None))
        self._tables[key] = (ref, table)
        return table

    def _op(self, flops: float, nbytes: float, out_elems: int, itemsize: int) -> OpCost:
        p = self.preset
        ctas = max(math.ceil(out_elems / p.tile_elems), math.ceil(nbytes / p.tile_bytes), 1)
        share = min(1.0, ctas / p.sms)
        compute = flops / (p.peak_tflops * 1e9 * p.compute_eff * share)  # 1e12 FLOP/s -> per ms
        memory = nbytes / (p.bandwidth_gbs * 1e6 * p.mem_eff * share)  # 1e9 B/s -> per ms
        busy = max(compute, memory)
        return OpCost(ms=busy + p.launch_us * 1e-3, busy=busy, share=share)

    def calibrated_to(self, graph: OpGraph, op_ms: Mapping[str, float]) -> SimulatedCost:
        """A copy of this device whose ops of ``graph`` take ``op_ms`` alone (measured times,
        say) instead of their roofline: each keeps its SM share, its busy time is what is left
        after the launch. Stages of ``graph`` are then priced from those times by the same
        formulas, and still vectorised by the DP (the copy is a SimulatedCost).

        >>> from ios_core.ir.graph import OpNode, TensorSpec
        >>> g = OpGraph("m", (TensorSpec("x", (1, 8)),),
        ...             (OpNode("a", "act", ("x",), (1, 8)), OpNode("b", "act", ("x",), (1, 8))),
        ...             ("a", "b"))
        >>> cal = SimulatedCost("h100").calibrated_to(g, {"a": 0.010, "b": 0.020})
        >>> round(cal.op_ms(g, "b"), 6), round(cal.stage_cost(g, "concurrent", [["a", "b"]]).ms, 6)
        (0.02, 0.03)
        """
        copy = SimulatedCost.__new__(SimulatedCost)
        copy.preset, copy.name, copy.device = self.preset, self.name, self.device
        launch = self.preset.launch_us * 1e-3
        table = {}
        for name, c in self._table(graph).items():
            ms = op_ms.get(name, c.ms)
            table[name] = OpCost(ms=ms, busy=max(ms - launch, 0.0), share=c.share)
        key = id(graph)
        copy._tables = {}
        ref = weakref.ref(graph, lambda _r, k=key, d=copy._tables: d.pop(k, None))
        copy._tables[key] = (ref, table)
        return copy

    # ---- per stage ------------------------------------------------------------------------
    def stage_cost(
        self, graph: OpGraph, strategy: str, groups: Sequence[Sequence[str]]
    ) -> StageCost:
        names = [n for g in groups for n in g]
        if not names:
            raise ValueError("a stage needs at least one operator")
        if len(names) == 1:
            return StageCost(self.op_ms(graph, names[0]), estimated=False)
        if strategy == "merge":
            return StageCost(self._merge_ms(graph, names), estimated=False)
        if strategy != "concurrent":
            raise ValueError(f"unknown stage strategy {strategy!r} (concurrent | merge)")
        return StageCost(self._concurrent_ms(graph, groups), estimated=False)

    def _concurrent_ms(self, graph: OpGraph, groups: Sequence[Sequence[str]]) -> float:
        p, table = self.preset, self._table(graph)
        longest = serial = packed = 0.0
        streams = 0
        for group in groups:  # one pass: this runs ~100k times per search
            group_ms = 0.0
            for name in group:
                c = table[name]
                group_ms += c.ms
                packed += c.busy * c.share
            longest = max(longest, group_ms)
            serial += group_ms
            streams += bool(group)
        ideal = max(longest, packed + p.launch_us * 1e-3)
        return ideal + (1 - p.overlap_eff) * (serial - ideal) + p.stream_us * 1e-3 * (streams - 1)

    def _merge_ms(self, graph: OpGraph, names: Sequence[str]) -> float:
        # a concat the merge ends in is a view of the wide output (schedulers/merge.py): no work
        nodes = [graph[n] for n in names if graph[n].kind != "concat"]
        kmax = max(_kernel_area(n) for n in nodes)
        flops = sum(n.flops * kmax / _kernel_area(n) for n in nodes)
        shared = nodes[0].inputs[0] if nodes[0].inputs else None
        in_bytes = _elems(graph.shape_of(shared)) * _itemsize(graph) if shared else 0
        # convs on channel slices (attr in_slice) each count only their own slice already
        readers = sum(1 for n in nodes if n.inputs and n.inputs[0] == shared
                      and n.attrs.get("in_slice") is None)
        nbytes = max(sum(n.bytes for n in nodes) - max(readers - 1, 0) * in_bytes, 0)
        out_elems = sum(_elems(n.shape) for n in nodes)
        wide = self._op(flops, nbytes, out_elems, _itemsize(graph))
        # each CTA of the wide conv does what a CTA of its part did: never faster than a part
        slowest = max(self.op_cost(graph, n.name).busy for n in nodes)
        return max(wide.busy, slowest) + self.preset.launch_us * 1e-3


def _elems(shape: Sequence[int]) -> int:
    return math.prod(shape) if shape else 1


def _itemsize(graph: OpGraph) -> int:
    dtype = graph.inputs[0].dtype if graph.inputs else "float32"
    return ITEMSIZE.get(dtype, 4)


def _kernel_area(node: OpNode) -> int:
    kernel = node.attrs.get("kernel", (1, 1))
    if isinstance(kernel, int):
        return kernel * kernel
    return max(math.prod(kernel), 1)
