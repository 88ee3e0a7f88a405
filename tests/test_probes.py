"""The GPU probes' CPU-side helpers, and engine levers named by a label (ios_table --engine)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from torch import nn

from benchmarks.depthwise_probe import depthwise
from benchmarks.gap_probe import VARIANTS as GAP_VARIANTS
from benchmarks.gap_probe import shapes as gap_shapes
from benchmarks.harness import layout_variants
from benchmarks.ios_table import parse_args
from benchmarks.kernel_census import kernel_kind
from benchmarks.pool_probe import pools, variants
from ios_core.runtime.options import (
    DEFAULT_OPTIONS,
    PLAIN_OPTIONS,
    EngineOptions,
    options_from_label,
)


def test_kernel_kind_strips_templates_and_arguments() -> None:
    name = ("void at::native::(anonymous namespace)::max_pool_forward_nhwc<float, float>"
            "(float const*, int)")
    assert kernel_kind(name) == "max_pool_forward_nhwc"
    assert kernel_kind("sm90_xmma_fprop_implicit_gemm_tf32") == "sm90_xmma_fprop_implicit_gemm_tf32"


def test_pool_probe_finds_each_distinct_pool_with_its_input_shape() -> None:
    found = pools("squeezenet", 1)
    assert [(name, shape) for name, _, shape in found] == [
        ("pool1", (1, 96, 109, 109)), ("pool4", (1, 256, 54, 54)), ("pool8", (1, 512, 27, 27))]
    assert all(isinstance(m, nn.MaxPool2d) for _, m, _ in found)
    assert set(variants(found[0][1])) == {"nchw", "nhwc", "nhwc pool3d", "nhwc via nchw"}


def test_gap_and_depthwise_probes_find_their_ops() -> None:
    # Inception V3 has one global average pool, on its 2048 x 8 x 8 map, and no depthwise conv
    assert gap_shapes("inception_v3", 1) == [(1, 2048, 8, 8)]
    assert depthwise("inception_v3", 1) == []
    found = depthwise("nasnet", 1)  # separable convs: a depthwise conv, then a 1x1
    assert found and all(c.groups == c.in_channels == shape[1] for c, shape in found)
    assert len({(c.in_channels, c.kernel_size, c.stride, shape) for c, shape in found}) == \
        len(found)


def test_every_global_mean_variant_is_the_mean(monkeypatch) -> None:
    import torch
    import torch.nn.functional as F

    import benchmarks.harness as harness

    monkeypatch.setattr(harness, "unrolled_call_us", lambda fn, x, unroll=20: 0.0)  # no GPU
    x = torch.randn(2, 24, 9, 7)
    cells = layout_variants(GAP_VARIANTS, x, F.adaptive_avg_pool2d(x, 1))
    assert set(cells) == set(GAP_VARIANTS)
    assert all(c["max_abs_err"] < 1e-6 for c in cells.values()), cells


@pytest.mark.parametrize("label,expected", [
    ("default", DEFAULT_OPTIONS),
    ("plain", PLAIN_OPTIONS),
    ("", PLAIN_OPTIONS),
    (DEFAULT_OPTIONS.label(), DEFAULT_OPTIONS),
    ("default-pool3d-sviews", replace(DEFAULT_OPTIONS, nhwc_pool=False, strided_views=False)),
    ("fused+view+cap4", EngineOptions(fuse_conv_relu=True, concat="view", stream_cap=4)),
    ("default-longest-inplace", replace(DEFAULT_OPTIONS, order="schedule", concat="copy")),
    ("default+epi+gapmv", replace(DEFAULT_OPTIONS, fuse_epilogues=True, nhwc_mean=True)),
])
def test_options_from_label(label: str, expected: EngineOptions) -> None:
    assert options_from_label(label) == expected


def test_every_label_reads_back() -> None:
    for opts in (DEFAULT_OPTIONS, PLAIN_OPTIONS, replace(DEFAULT_OPTIONS, stream_cap=2)):
        assert options_from_label(opts.label()) == opts


def test_unknown_lever_is_named() -> None:
    with pytest.raises(ValueError, match="unknown engine lever 'turbo'.*known: fused"):
        options_from_label("default+turbo")


def test_ios_table_engine_option() -> None:
    assert parse_args(["--engine", "default+sviews"]).engine == replace(DEFAULT_OPTIONS,
                                                                        strided_views=True)
    assert parse_args([]).engine == DEFAULT_OPTIONS
    with pytest.raises(SystemExit, match="--engine: unknown engine lever"):
        parse_args(["--engine", "default+warp"])
