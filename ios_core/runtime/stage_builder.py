"""One stage of a schedule as a :class:`~ios_core.runtime.steps.StagePlan`: its steps and lanes.

:func:`build_stage` is the last step of the lowering (:mod:`ios_core.runtime.lowering`, which
gives it kernels that are already moved and prepared, and the concat layout). A merge stage is one
wide conv (plus the concat it ends in, if any); any other stage is its groups, one step per
operator, except where a lever makes a step of its own: a conv fused into the add+ReLU that reads
it, a concat planned as a view, a sum that writes into its concat's buffer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import merge_stage_problem, trailing_concat
from ios_core.runtime.channels_last import packed_slices
from ios_core.runtime.concat_views import ConcatLayout, merge_order, stage_allocs
from ios_core.runtime.fused_conv import conv_add_pairs
from ios_core.runtime.kernel_patterns import sum_terms
from ios_core.runtime.lanes import assign_lanes
from ios_core.runtime.merged_conv import MergeError, merge_convs
from ios_core.runtime.options import EngineOptions, resolve_options
from ios_core.runtime.prepare import prepare_merged
from ios_core.runtime.steps import (
    ConcatStep,
    ConvAddReluStep,
    FusedMeanStep,
    MergedStep,
    OpStep,
    SlotStep,
    StagePlan,
    Step,
    ValueAndMeanStep,
)

__all__ = ["build_stage"]


def build_stage(
    graph: OpGraph,
    kernels: Mapping[str, Kernel],
    strategy: str,
    groups: Sequence[Sequence[str]],
    options: EngineOptions | None = None,
    layout: ConcatLayout | None = None,
    pools: Mapping[str, str] | None = None,
) -> StagePlan:
    """Turn a stage of ``graph`` into steps over ``kernels`` (already on their device).

    A merge stage precomputes its wide weight here, once. ``options`` pick the levers (None:
    :data:`~ios_core.runtime.options.DEFAULT_OPTIONS`); ``kernels`` should have been prepared
    with the same options and ``layout`` planned on them, as
    :class:`~ios_core.runtime.lowering.Lowering` does (no layout: every concat copies).
    ``pools`` maps each global average pool that its producer's epilogue computes (the
    ``fuse_means`` lever) to that producer, whose kernel returns (value, mean); a stage with
    such a pool but not its producer reads the pool's value as an input. Raises
    :class:`MergeError` when a merge stage's convolutions cannot be merged, ``KeyError`` when a
    kernel is missing.
    """
    opts = resolve_options(options)
    layout = layout or ConcatLayout()
    pools = pools or {}
    groups = [tuple(g) for g in groups]
    if strategy == "merge":
        steps: tuple[tuple[Step, ...], ...] = (_merge_steps(graph, kernels, groups, opts, layout),)
    else:
        steps = tuple(_group_steps(graph, kernels, g, opts, layout, pools) for g in groups)
    writes = tuple(n for g in groups for n in g)
    inside = set(writes)
    reads = tuple(dict.fromkeys(s for n in writes for s in graph[n].inputs if s not in inside))
    # a pool whose producer ran in an earlier stage: its value is already written
    reads += tuple(n for n in writes if n in pools and pools[n] not in inside)
    lanes = assign_lanes(graph, groups, opts) if strategy != "merge" else ()
    allocs = stage_allocs(graph, layout, writes, reads)
    return StagePlan(strategy, steps, reads, writes, lanes, allocs)


def _group_steps(
    graph: OpGraph, kernels: Mapping[str, Kernel], group: tuple[str, ...],
    opts: EngineOptions, layout: ConcatLayout, pools: Mapping[str, str] | None = None,
) -> tuple[Step, ...]:
    pools = pools or {}
    pairs = conv_add_pairs(graph, kernels, group) if opts.fuse_conv_add_relu else {}
    fused_convs = set(pairs.values())
    producers = {src: pool for pool, src in pools.items()}
    steps: list[Step] = []
    for name in group:
        if name in fused_convs:
            continue  # computed by its add's fused step
        if name in producers:
            steps.append(ValueAndMeanStep(name, kernels[name], tuple(graph[name].inputs),
                                          producers[name]))
        elif name in pools:
            steps.append(FusedMeanStep(name, kernels[name], tuple(graph[name].inputs)))
        elif name in pairs:
            steps.append(_conv_add_step(graph, kernels, name, pairs[name]))
        elif name in layout.cats:
            steps.append(_concat_step(graph, kernels, layout, name))
        elif name in layout.slots:
            steps.append(_slot_step(graph, kernels, layout, name))
        else:
            steps.append(_op_step(graph, kernels, name))
    return tuple(steps)


def _op_step(graph: OpGraph, kernels: Mapping[str, Kernel], name: str) -> OpStep:
    if name not in kernels:
        raise KeyError(f"no kernel for operator {name!r}: the traced model does not cover it")
    return OpStep(name, kernels[name], tuple(graph[name].inputs))


def _conv_add_step(graph: OpGraph, kernels: Mapping[str, Kernel], add: str, conv: str
                   ) -> ConvAddReluStep:
    terms = sum_terms(graph, kernels, add)
    assert terms is not None
    others = tuple(graph[add].inputs[i] for i in terms if graph[add].inputs[i] != conv)
    k = kernels[conv]
    assert isinstance(k, ConvKernel)
    bias = k.bias if k.bias is not None else k.weight.new_zeros(k.weight.shape[0])
    return ConvAddReluStep(add, conv, k, graph[conv].inputs[0], others, bias)


def _concat_step(graph: OpGraph, kernels: Mapping[str, Kernel], layout: ConcatLayout,
                 name: str) -> ConcatStep:
    node = graph[name]
    return ConcatStep(name, kernels[name], tuple(node.inputs), layout.cats[name],
                      int(node.attrs.get("dim", 1)), node.shape, layout.strided_views)


def _slot_step(graph: OpGraph, kernels: Mapping[str, Kernel], layout: ConcatLayout,
               name: str) -> SlotStep:
    k, terms = kernels[name], sum_terms(graph, kernels, name)
    assert isinstance(k, FnKernel) and terms is not None
    return SlotStep(name, k, tuple(graph[name].inputs), terms, layout.slots[name])


def _merge_steps(
    graph: OpGraph, kernels: Mapping[str, Kernel], groups: Sequence[tuple[str, ...]],
    opts: EngineOptions, layout: ConcatLayout,
) -> tuple[Step, ...]:
    """A merge stage's wide conv, then the concat it ends in, if any: a view of the wide output
    where the layout plans one (its channels are put in the concat's order), else a copy."""
    if len(groups) != 1:
        raise MergeError(f"a merge stage has exactly one group (got {len(groups)})")
    convs, cat = trailing_concat(graph, groups[0])
    if cat is not None and (problem := merge_stage_problem(graph, groups[0])):
        raise MergeError(problem)
    merged = _merged_step(graph, kernels, tuple(convs), opts, layout)
    if cat is None:
        return (merged,)
    return merged, _group_steps(graph, kernels, (cat,), opts, layout)[0]


def _merged_step(
    graph: OpGraph, kernels: Mapping[str, Kernel], names: tuple[str, ...],
    opts: EngineOptions, layout: ConcatLayout,
) -> MergedStep:
    sources = {tuple(graph[n].inputs) for n in names}
    if len(sources) != 1 or len(next(iter(sources))) != 1:
        raise MergeError(f"merged convolutions {list(names)} do not all read the same one tensor")
    if layout.cats:  # channels in a concat's order: it becomes a view
        names = merge_order(graph, layout, names)
    convs = [kernels[n] for n in names]
    for n, k in zip(names, convs, strict=True):
        if not isinstance(k, ConvKernel):
            raise MergeError(f"operator {n!r} is not a convolution kernel and cannot be merged")
    try:
        merged = merge_convs(convs)  # type: ignore[arg-type]
    except MergeError as e:
        raise MergeError(f"cannot merge {list(names)}: {e}") from None
    packed = packed_slices(graph, names, opts)
    return MergedStep(names, next(iter(sources))[0], prepare_merged(merged, opts), packed)
