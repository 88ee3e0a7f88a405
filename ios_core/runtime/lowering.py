"""The lowering: a traced model's kernels and a schedule's stages into runnable stage plans.

One path, in one order, for everything that runs a stage::

    time grouped convs in both layouts (the conv_layouts lever)
      -> find the global average pools their producers compute (the fuse_means lever)
      -> move each kernel to the device and dtype
      -> prepare it (kernel-level levers: NHWC weights, fused conv+ReLU, 3-d pools, layouts)
      -> plan the concats on the prepared kernels (views, slots)
      -> build each stage's plan (steps, lanes, buffers)

:class:`Lowering` holds the first four (kernels moved and prepared, the concat layout) and builds
plans with :meth:`Lowering.stage_plan`. The executor lowers a whole schedule at once
(:func:`lower_schedule`); the measured cost model keeps one lazy Lowering and builds one stage at
a time, so what it times is built exactly as what the executor runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch

from ios_core.frontend.kernels import Kernel
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule, ScheduleError
from ios_core.runtime.channels_last import to_layout
from ios_core.runtime.concat_views import ConcatLayout, plan_concats
from ios_core.runtime.conv_layouts import LayoutPlan, plan_layouts
from ios_core.runtime.epilogue import MeanOut
from ios_core.runtime.fused_means import plan_means, pools_of
from ios_core.runtime.merged_conv import MergeError
from ios_core.runtime.options import EngineOptions, resolve_options
from ios_core.runtime.prepare import prepare_kernel
from ios_core.runtime.stage_builder import build_stage
from ios_core.runtime.steps import StagePlan

__all__ = ["Lowering", "PreparedKernels", "lower_schedule"]


class PreparedKernels(Mapping[str, Kernel]):
    """``source``'s kernels, each moved to ``device`` in ``dtype`` and prepared for ``options``
    when first looked up (or :meth:`load` ed), then kept."""

    def __init__(self, source: Mapping[str, Kernel], device: torch.device, dtype: torch.dtype,
                 options: EngineOptions, layouts: LayoutPlan | None = None,
                 means: Mapping[str, MeanOut] | None = None) -> None:
        self.source = source
        self.device, self.dtype, self.options = device, dtype, options
        self.layouts = layouts or LayoutPlan()
        self.means: Mapping[str, MeanOut] = means or {}  # producer -> the pool it computes
        self._ready: dict[str, Kernel] = {}

    def __getitem__(self, name: str) -> Kernel:
        found = self._ready.get(name)
        if found is None:
            if name not in self.source:
                raise KeyError(_missing(name))
            moved = self.source[name].to(self.device, self.dtype)
            reads, writes = self.layouts.formats(name)
            found = self._ready[name] = prepare_kernel(moved, self.options, reads_nchw=reads,
                                                       writes_nchw=writes,
                                                       mean=self.means.get(name))
        return found

    def __contains__(self, name: object) -> bool:  # without moving anything
        return name in self.source

    def __iter__(self) -> Iterator[str]:
        return iter(self.source)

    def __len__(self) -> int:
        return len(self.source)

    def load(self, names: Iterable[str]) -> None:
        """Move and prepare ``names`` now; a ``KeyError`` names the first one missing first."""
        names = list(names)
        missing = [n for n in names if n not in self.source]
        if missing:
            raise KeyError(_missing(missing[0]))
        for name in names:
            self[name]


def _missing(name: str) -> str:
    return f"no kernel for operator {name!r}: the traced model does not cover it"


class Lowering:
    """``graph``'s kernels on ``device`` with ``options``' levers, and its concat layout: ready
    to build any stage of any schedule of ``graph``.

    ``options=None`` means :data:`~ios_core.runtime.options.DEFAULT_OPTIONS`. Every node's kernel
    is moved and prepared up front (a missing one raises ``KeyError`` here), unless ``lazy``: then
    each on first use, and only the kernels the concat plan inspects (concats and their inputs)
    up front.
    """

    def __init__(
        self,
        graph: OpGraph,
        kernels: Mapping[str, Kernel],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        options: EngineOptions | None = None,
        *,
        lazy: bool = False,
    ) -> None:
        self.graph = graph
        self.options = resolve_options(options)
        dev = torch.device(device)
        # timed on the device when the conv_layouts lever is on (cached per pair in the process)
        layouts = plan_layouts(graph, kernels, dev, dtype, self.options)
        means = plan_means(graph, kernels, self.options, layouts.writes_nchw)
        self.kernels = PreparedKernels(kernels, dev, dtype, self.options, layouts, means)
        self.pools = pools_of(means)  # pool -> the producer whose epilogue computes it
        if not lazy:
            self.kernels.load(n.name for n in graph.nodes)
        # planned on the prepared kernels: the layout describes what actually runs
        self.layout: ConcatLayout = plan_concats(graph, self.kernels, self.options)

    def to_layout(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``x`` (a value of ``name``) in the memory order ``name``'s kernel writes it."""
        if self.kernels.layouts.formats(name)[1]:
            return x.contiguous()
        return to_layout(x, self.options)

    def stage_plan(
        self,
        strategy: str,
        groups: Sequence[Sequence[str]],
        *,
        graph: OpGraph | None = None,
        kernels: Mapping[str, Kernel] | None = None,
    ) -> StagePlan:
        """One stage as a plan (see :func:`~ios_core.runtime.stage_builder.build_stage`).

        ``kernels`` stand in for this lowering's prepared ones (the measured cost model's own
        parameter copies per unrolled copy: prepared kernels too). A stage of another ``graph``
        object (its node names looked up here) gets no concat layout: it was planned for this one.
        Raises :class:`MergeError` when a merge stage cannot be one wide conv.
        """
        graph = self.graph if graph is None else graph
        layout = self.layout if graph is self.graph else ConcatLayout()
        kernels = self.kernels if kernels is None else kernels
        return build_stage(graph, kernels, strategy, groups, self.options, layout, self.pools)


def lower_schedule(
    graph: OpGraph,
    kernels: Mapping[str, Kernel],
    schedule: Schedule,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    options: EngineOptions | None = None,
) -> tuple[StagePlan, ...]:
    """Every stage of ``schedule`` (already validated against ``graph``) as a plan, in order.

    ``options=None`` means :data:`~ios_core.runtime.options.DEFAULT_OPTIONS`. Raises
    :class:`ScheduleError` when a merge stage cannot be computed as one wide convolution,
    ``KeyError`` when ``kernels`` miss one of ``graph``'s operators.
    """
    lowering = Lowering(graph, kernels, device, dtype, options)
    plans = []
    for i, stage in enumerate(schedule.stages):
        try:
            plans.append(lowering.stage_plan(stage.strategy, stage.groups))
        except MergeError as e:
            raise ScheduleError(f"illegal merge in stage {i}: {e}") from None
    return tuple(plans)
