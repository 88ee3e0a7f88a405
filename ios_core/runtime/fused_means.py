"""The ``fuse_means`` lever: a global average pool computed by its producer's compiled epilogue.

A squeeze-excitation block starts with the spatial mean of a conv's activated output. Run as an
op of its own, that mean is a reduction kernel that reads the whole tensor again: 4-12 µs each at
batch 1 on the H200 with PyTorch's NHWC mean, 17 of them 117 µs of efficientnet_b0's 557 µs of
kernels, and still a matrix-vector product each with ``nhwc_mean``
(``benchmarks/results/h200-kernel-census-zoo.md``, ``h200-zoo-gapc.md``). Inductor, in
compile-ro, fuses each such mean into the kernel that produces its input. Here the same: the
producer's compiled epilogue (``fuse_epilogues``) ends in a
:class:`~ios_core.runtime.epilogue.MeanOut` and returns the value and its mean; its step writes
both, and the pool's own step finds its value already there and runs nothing.

:func:`mean_pairs` finds the (producer, pool) pairs: the pool is a global average pool (a
``mean`` over dims 2 and 3 or an ``adaptive_avg_pool2d`` to 1, :func:`global_mean_keepdim`)
whose one input is a 4-d value written by a conv or fused region; the producer takes part in no
merge (a merged conv has no epilogue of its own). A producer that reads NCHW (``conv_layouts``)
writes NHWC and then takes the mean; one that writes NCHW for a grouped conv has that conv as
its only reader, so never a pool.
The DP keeps both as operators: the producer's measured stages include the mean, the pool's
cost nothing, and a stage with the pool but not its producer reads the pool's value as an input
(:func:`~ios_core.runtime.stage_builder.build_stage` adds it to the stage's reads), so that the
measured cost model times it as the executor runs it.

>>> import torch
>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> from ios_core.frontend.kernels import ConvKernel, FnKernel
>>> from ios_core.frontend.replay import Apply, In, Method, Replay
>>> g = OpGraph("se", (TensorSpec("x", (1, 3, 4, 4)),), (
...     OpNode("c", "conv", ("x",), (1, 3, 4, 4), {}),
...     OpNode("m", "pool", ("c",), (1, 3, 1, 1), {})), ("m",))
>>> mean = Replay(Apply(Method("mean"), (In(0), (2, 3)), {"keepdim": True}, "mean"))
>>> ks = {"c": ConvKernel(torch.ones(3, 3, 1, 1), None, (1, 1), (0, 0), (1, 1), 1, "none"),
...       "m": FnKernel(mean, {})}
>>> mean_pairs(g, ks)
{'c': MeanOut(pool='m', keepdim=True, activation='none')}
"""

from __future__ import annotations

from collections.abc import Mapping

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.frontend.regions import RegionKernel
from ios_core.frontend.replay import Apply, Replay
from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import mergeable_groups
from ios_core.runtime.epilogue import MeanOut
from ios_core.runtime.nhwc_mean import global_mean_keepdim
from ios_core.runtime.options import EngineOptions

__all__ = ["mean_pairs", "plan_means", "pools_of"]


def mean_pairs(graph: OpGraph, kernels: Mapping[str, Kernel],
               excluded: frozenset[str] = frozenset()) -> dict[str, MeanOut]:
    """The global average pools a producer's epilogue can compute, by producer (first pool of
    each); producers in ``excluded`` and merge candidates are left out."""
    merging = {n for group in mergeable_groups(graph) for n in group}
    found: dict[str, MeanOut] = {}
    for node in graph.nodes:
        keep = _global_mean(kernels.get(node.name))
        if keep is None or len(node.inputs) != 1:
            continue
        src = node.inputs[0]
        if (src in found or src in excluded or src in merging or src not in kernels
                or not isinstance(kernels[src], ConvKernel | RegionKernel)
                or len(graph.shape_of(src)) != 4):
            continue
        pool = kernels[node.name]
        assert isinstance(pool, FnKernel)
        found[src] = MeanOut(node.name, keep, pool.activation)
    return found


def _global_mean(k: Kernel | None) -> bool | None:
    """``keepdim`` of a kernel that is a global average pool of its one input, else None."""
    if not isinstance(k, FnKernel) or k.tensors or not isinstance(k.fn, Replay):
        return None
    expr = k.fn.expr
    return global_mean_keepdim(expr) if isinstance(expr, Apply) else None


def plan_means(graph: OpGraph, kernels: Mapping[str, Kernel], options: EngineOptions,
               excluded: frozenset[str] = frozenset()) -> dict[str, MeanOut]:
    """:func:`mean_pairs` where ``options`` have ``fuse_means`` and ``fuse_epilogues``, else
    none. Unlike ``conv_layouts`` nothing is timed: the fused mean removes a kernel."""
    if not (options.fuse_means and options.fuse_epilogues):
        return {}
    return mean_pairs(graph, kernels, excluded)


def pools_of(means: Mapping[str, MeanOut]) -> dict[str, str]:
    """Pool -> its producer, for the stage builder.

    >>> pools_of({"c": MeanOut("m", True)})
    {'m': 'c'}
    """
    return {m.pool: src for src, m in means.items()}

