"""Kernels with the kernel-level levers applied, once, before any stage is built.

Five levers change a kernel rather than a stage: ``channels_last`` stores 4-d conv weights NHWC,
``fuse_conv_relu`` turns a conv with ReLU into a
:class:`~ios_core.runtime.fused_conv.FusedConvKernel`, ``nhwc_pool`` (with ``channels_last``)
runs a lone max pool as one 3-d pool, and ``nhwc_mean`` (with ``channels_last``) a global
average pool as one matrix-vector product, ``compile_mean`` as one compiled reduction (before
``nhwc_mean`` where both are on). ``fuse_epilogues`` runs a conv's bias and non-ReLU
activation, and a fused region's elementwise ops, as one compiled kernel
(:mod:`ios_core.runtime.epilogue`); a region's head gets the other levers first. With
``conv_layouts`` the lowering asks for some convs and regions in NCHW
(:mod:`ios_core.runtime.conv_layouts`), with ``fuse_means`` for some to return the mean of
their value too (:mod:`ios_core.runtime.fused_means`). A merged conv,
built per merge stage, gets the first two (:func:`prepare_merged`; its epilogue stays eager).
Every other kernel is itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ios_core.frontend.kernels import ConvKernel, FnKernel, Kernel
from ios_core.frontend.regions import RegionKernel
from ios_core.runtime.channels_last import nhwc
from ios_core.runtime.epilogue import (
    MeanOut,
    compiled_mean_kernel,
    epilogue_conv,
    epilogue_region,
)
from ios_core.runtime.fused_conv import FusedConvKernel, fused, fused_merged
from ios_core.runtime.merged_conv import MergedConv
from ios_core.runtime.nhwc_mean import nhwc_mean_kernel
from ios_core.runtime.nhwc_pool import nhwc_pool_kernel
from ios_core.runtime.options import EngineOptions

__all__ = ["prepare_kernel", "prepare_kernels", "prepare_merged"]


def prepare_kernel(k: Kernel, options: EngineOptions, *, reads_nchw: bool = False,
                   writes_nchw: bool = False, mean: MeanOut | None = None) -> Kernel:
    """``k`` with the kernel-level levers of ``options`` applied (``k`` itself when none apply).

    ``reads_nchw`` / ``writes_nchw`` (a conv or fused region under ``channels_last`` and
    ``fuse_epilogues``; :mod:`ios_core.runtime.conv_layouts` says which): its head runs NCHW on
    an NCHW input / its compiled epilogue writes NCHW. Either way it ends in a compiled epilogue
    that writes the layout its reader wants. ``mean`` (a conv or fused region under
    ``fuse_means``; :mod:`ios_core.runtime.fused_means`): its compiled epilogue also returns the
    spatial mean of its value, and the kernel returns the pair."""
    if reads_nchw or writes_nchw or mean is not None:
        return _relaid(k, options, reads_nchw, writes_nchw, mean)
    if isinstance(k, RegionKernel):  # a fused region: its head gets the levers, then its epilogue
        head = prepare_kernel(k.head, options)
        if options.fuse_epilogues:
            return epilogue_region(k, head, options.fuse_conv_add_relu)
        return replace(k, head=head)
    if isinstance(k, FnKernel) and options.compile_mean:
        compiled = compiled_mean_kernel(k)
        if compiled is not None:
            return compiled
    if isinstance(k, FnKernel) and options.channels_last:
        if options.nhwc_mean:
            k = nhwc_mean_kernel(k)
        return nhwc_pool_kernel(k) if options.nhwc_pool else k
    if not isinstance(k, ConvKernel):
        return k
    if options.channels_last and k.weight.dim() == 4:
        k = replace(k, weight=nhwc(k.weight))
    if options.fuse_conv_relu and k.activation == "relu" and not isinstance(k, FusedConvKernel):
        k = fused(k)
    elif options.fuse_epilogues and k.activation not in ("none", "relu"):
        k = epilogue_conv(k)
    return k


def _relaid(k: Kernel, options: EngineOptions, reads_nchw: bool, writes_nchw: bool,
            mean: MeanOut | None) -> Kernel:
    """``k`` as a region with a compiled epilogue that writes the layout asked for (NHWC after
    an NCHW head) and, with ``mean``, returns its mean too."""
    region = k if isinstance(k, RegionKernel) else RegionKernel(k, 1, "conv")
    head_options = replace(options, channels_last=False) if reads_nchw else options
    head = prepare_kernel(region.head, head_options)
    out = "nchw" if writes_nchw else "nhwc" if reads_nchw else None
    prepared = epilogue_region(region, head, options.fuse_conv_add_relu, out_format=out,
                               mean=mean)
    return replace(prepared, head_nchw=reads_nchw)


def prepare_kernels(kernels: Mapping[str, Kernel], options: EngineOptions) -> dict[str, Kernel]:
    """:func:`prepare_kernel` of each of ``kernels``, by name."""
    return {name: prepare_kernel(k, options) for name, k in kernels.items()}


def prepare_merged(conv: MergedConv, options: EngineOptions) -> MergedConv:
    """A merged conv with the kernel-level levers applied."""
    if options.channels_last:
        conv = replace(conv, weight=nhwc(conv.weight))
    if options.fuse_conv_relu and conv.activation == "relu":
        conv = fused_merged(conv)
    return conv
