"""The measured cost model's CPU-side helpers: parameter bytes and fresh parameter copies."""

from __future__ import annotations

import torch

from ios_core.cost.measured import fresh_copy, parameter_bytes
from ios_core.frontend.kernels import ConvKernel, FnKernel
from ios_core.runtime.fused_conv import fused


def _conv() -> ConvKernel:
    g = torch.Generator().manual_seed(0)
    return ConvKernel(torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g),
                      (1, 1), (1, 1), (1, 1), 1, "relu")


def test_parameter_bytes_counts_conv_and_captured_tensors_in_the_dtype() -> None:
    kernels = {"c": _conv(), "f": FnKernel(torch.mul, {"other": torch.ones(10)})}
    numel = 4 * 3 * 3 * 3 + 4 + 10
    assert parameter_bytes(kernels, torch.float32) == 4 * numel
    assert parameter_bytes(kernels, torch.float16) == 2 * numel


def test_fresh_copy_has_own_memory_and_same_output() -> None:
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for k in (_conv(), fused(_conv())):
        c = fresh_copy(k)
        assert type(c) is type(k)
        assert c.weight.data_ptr() != k.weight.data_ptr()
        assert c.bias is not None and k.bias is not None
        assert c.bias.data_ptr() != k.bias.data_ptr()
        torch.testing.assert_close(c(x), k(x))
    f = FnKernel(torch.mul, {"other": torch.full((1, 3, 8, 8), 2.0)})
    g = fresh_copy(f)
    assert isinstance(g, FnKernel)
    assert g.tensors["other"].data_ptr() != f.tensors["other"].data_ptr()
    torch.testing.assert_close(g(x), f(x))


def test_fresh_copy_keeps_channels_last() -> None:
    k = _conv()
    k.weight = k.weight.contiguous(memory_format=torch.channels_last)
    c = fresh_copy(k)
    assert isinstance(c, ConvKernel)
    assert c.weight.is_contiguous(memory_format=torch.channels_last)
