"""One wide convolution equals the separate convolutions it stands for."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ios_core.frontend.kernels import ConvKernel
from ios_core.runtime.merged_conv import MergeError, merge_convs


def conv(cout: int, k: tuple[int, int], cin: int = 6, bias: bool = True, act: str = "relu",
         stride: int = 1, dilation: int = 1, padding: tuple[int, int] | None = None,
         seed: int = 0) -> ConvKernel:
    gen = torch.Generator().manual_seed(seed)
    if padding is None:  # "same"-centred
        padding = (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
    weight = torch.randn((cout, cin, *k), generator=gen)
    b = torch.randn(cout, generator=gen) if bias else None
    return ConvKernel(weight, b, (stride, stride), padding, (dilation, dilation), 1, act)


MIXED = [((1, 1), True), ((3, 3), False), ((1, 3), True), ((3, 1), True), ((5, 5), False)]


def mixed(act: str = "relu", stride: int = 1, dilation: int = 1) -> list[ConvKernel]:
    return [conv(3 + i, k, bias=b, act=act, stride=stride, dilation=dilation, seed=i)
            for i, (k, b) in enumerate(MIXED)]


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("act", ["relu", "none", "sigmoid"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2)])
def test_merged_equals_separate(batch: int, act: str, stride: int, dilation: int) -> None:
    kernels = mixed(act, stride, dilation)
    x = torch.randn(batch, 6, 13, 11, generator=torch.Generator().manual_seed(7))
    merged = merge_convs(kernels)
    parts = merged.split(merged(x))
    assert len(parts) == len(kernels)
    for k, part in zip(kernels, parts, strict=True):
        torch.testing.assert_close(part, k(x), rtol=1e-5, atol=1e-5)


def test_wide_weight_layout() -> None:
    kernels = mixed()
    merged = merge_convs(kernels)
    assert merged.weight.shape == (sum(3 + i for i in range(5)), 6, 5, 5)
    assert merged.padding == (2, 2)
    assert merged.slices == ((0, 3), (3, 7), (7, 12), (12, 18), (18, 25))
    one_by_one = merged.weight[0:3]
    assert torch.equal(one_by_one[:, :, 2, 2], kernels[0].weight[:, :, 0, 0])
    one_by_one[:, :, 2, 2] = 0
    assert not one_by_one.any()  # zero everywhere but the centre
    assert torch.equal(merged.bias[3:7], torch.zeros(4))  # the 3x3 had no bias
    assert torch.equal(merged.bias[0:3], kernels[0].bias)


def test_no_bias_anywhere_gives_none() -> None:
    merged = merge_convs([conv(2, (1, 1), bias=False), conv(3, (3, 3), bias=False)])
    assert merged.bias is None


def test_only_asymmetric_kernels_make_a_square_wide_kernel() -> None:
    kernels = [conv(2, (1, 3), seed=1), conv(3, (3, 1), seed=2)]
    merged = merge_convs(kernels)
    assert merged.weight.shape[2:] == (3, 3) and merged.padding == (1, 1)
    x = torch.randn(1, 6, 9, 9)
    for k, part in zip(kernels, merged.split(merged(x)), strict=True):
        torch.testing.assert_close(part, k(x), rtol=1e-5, atol=1e-5)


def test_slices_are_views() -> None:
    merged = merge_convs(mixed())
    y = merged(torch.randn(1, 6, 8, 8))
    parts = merged.split(y)
    assert all(p.untyped_storage().data_ptr() == y.untyped_storage().data_ptr() for p in parts)
    assert all(p.is_contiguous() for p in parts)  # batch 1, NCHW: a channel slice is contiguous
    y2 = merged(torch.randn(2, 6, 8, 8))
    assert not merged.split(y2)[1].is_contiguous()  # batch > 1: strided views, still correct


def test_equal_kernels_with_valid_padding_merge() -> None:
    kernels = [conv(2, (3, 3), padding=(0, 0), seed=1), conv(3, (3, 3), padding=(0, 0), seed=2)]
    merged = merge_convs(kernels)
    x = torch.randn(1, 6, 9, 9)
    for k, part in zip(kernels, merged.split(merged(x)), strict=True):
        torch.testing.assert_close(part, k(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kernels,words",
    [
        ([conv(2, (1, 1)), conv(2, (3, 3), padding=(0, 0))], "not centred"),
        ([conv(2, (1, 1)), conv(2, (3, 3), stride=2)], "stride"),
        ([conv(2, (1, 1)), conv(2, (3, 3), act="none")], "activation"),
        ([conv(2, (1, 1)), conv(2, (3, 3), cin=4)], "channel"),
        ([conv(2, (1, 1)), conv(2, (2, 2), padding=(0, 0))], "centred"),
    ],
)
def test_unmergeable_is_refused(kernels: list[ConvKernel], words: str) -> None:
    with pytest.raises(MergeError, match=words):
        merge_convs(kernels)


def test_grouped_is_refused() -> None:
    grouped = ConvKernel(torch.randn(6, 3, 3, 3), None, (1, 1), (1, 1), (1, 1), 2, "relu")
    with pytest.raises(MergeError, match="grouped"):
        merge_convs([conv(2, (1, 1)), grouped])


def test_merged_weight_matches_reference_conv_directly() -> None:
    # the wide conv is a plain conv2d: cross-check against F.conv2d on the concatenated outputs
    kernels = mixed()
    merged = merge_convs(kernels)
    x = torch.randn(1, 6, 10, 10)
    wide = F.relu(F.conv2d(x, merged.weight, merged.bias, 1, merged.padding))
    torch.testing.assert_close(wide, torch.cat([k(x) for k in kernels], 1), rtol=1e-5, atol=1e-5)
