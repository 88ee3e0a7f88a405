"""Global average pooling as one matrix-vector product: exact against the mean, and the lever that
installs it (ios_core/runtime/nhwc_mean.py)."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend import tracing as frontend
from ios_core.frontend.replay import Apply, In, Method, ModuleCall
from ios_core.runtime.nhwc_mean import NhwcMean, global_mean_keepdim
from ios_core.runtime.options import DEFAULT_OPTIONS, options_from_label
from ios_core.runtime.prepare import prepare_kernels

CL = torch.channels_last


@pytest.mark.parametrize("shape", [(1, 40, 28, 28), (3, 16, 7, 5), (2, 1280, 7, 7)])
@pytest.mark.parametrize("keepdim", [True, False])
def test_nhwc_mean_equals_the_mean(shape, keepdim):
    x = torch.randn(shape).contiguous(memory_format=CL)
    mean = NhwcMean(keepdim)
    got, want = mean(x), x.mean((2, 3), keepdim=keepdim)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert len(mean._rows) == 1  # the row of 1/(H·W) is made once and kept
    torch.testing.assert_close(mean(x * 2), want * 2, rtol=1e-5, atol=1e-6)
    assert len(mean._rows) == 1


def test_other_inputs_take_the_plain_path():
    mean = NhwcMean()
    for x in (torch.randn(2, 4, 5, 5), torch.randn(2, 4, 1, 1).contiguous(memory_format=CL)):
        torch.testing.assert_close(mean(x), x.mean((2, 3), keepdim=True))
    assert not mean._rows  # NCHW, and a tensor both layouts agree on: no product


def test_tf32_matrix_products_keep_the_plain_path():
    matmul = torch.backends.cuda.matmul
    before = matmul.allow_tf32
    matmul.allow_tf32 = True  # a flag object, not an attribute monkeypatch can restore
    try:
        mean = NhwcMean()
        x = torch.randn(1, 8, 6, 6).contiguous(memory_format=CL)
        torch.testing.assert_close(mean(x), x.mean((2, 3), keepdim=True))
        assert not mean._rows
    finally:
        matmul.allow_tf32 = before


@pytest.mark.parametrize(("expr", "keep"), [
    (Apply(ModuleCall(nn.AdaptiveAvgPool2d(1)), ({}, In(0)), {}, "pool"), True),
    (Apply(ModuleCall(nn.AdaptiveAvgPool2d((1, 1))), ({}, In(0)), {}, "pool"), True),
    (Apply(F.adaptive_avg_pool2d, (In(0),), {"output_size": 1}, "pool"), True),
    (Apply(Method("mean"), (In(0), (-1, -2)), {"keepdim": True}, "mean"), True),
    (Apply(torch.mean, (In(0), [2, 3]), {}, "mean"), False),
    (Apply(ModuleCall(nn.AdaptiveAvgPool2d(2)), ({}, In(0)), {}, "pool"), None),
    (Apply(ModuleCall(nn.AdaptiveMaxPool2d(1)), ({}, In(0)), {}, "pool"), None),
    (Apply(Method("mean"), (In(0), (1, 2)), {"keepdim": True}, "mean"), None),
    (Apply(Method("mean"), (In(0),), {}, "mean"), None),
    (Apply(F.adaptive_avg_pool2d, (In(1), 1), {}, "pool"), None),
])
def test_which_calls_are_global_means(expr, keep):
    assert global_mean_keepdim(expr) is keep


class _Squeezes(nn.Module):
    """The three ways CNNs write the squeeze of squeeze-excitation (torchvision, timm)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.conv(x)
        a = self.fc(self.pool(y)).sigmoid()
        b = self.fc(F.adaptive_avg_pool2d(y, 1)).sigmoid()
        c = self.fc(y.mean((2, 3), keepdim=True)).sigmoid()
        return y * a + y * b + y * c


def _uses_nhwc_mean(kernel) -> bool:
    expr = getattr(getattr(kernel, "fn", None), "expr", None)
    return isinstance(getattr(expr, "fn", None), NhwcMean)


def test_lever_rewrites_every_squeeze_and_keeps_the_output():
    model = _Squeezes().eval()
    x = torch.randn(1, 3, 12, 12)
    traced = frontend.trace_model(model, x)
    on = options_from_label("default+gapmv")
    assert on.nhwc_mean and on.label().endswith("gapmv") and not DEFAULT_OPTIONS.nhwc_mean
    kernels = prepare_kernels(traced.kernels, on)
    assert sum(_uses_nhwc_mean(k) for k in kernels.values()) == 3
    plain = prepare_kernels(traced.kernels, replace(on, nhwc_mean=False))
    assert not any(_uses_nhwc_mean(k) for k in plain.values())
    # each rewritten kernel computes what it replaced, on the NHWC tensor the executor gives it
    y = model.conv(x).contiguous(memory_format=CL)
    for name, k in kernels.items():
        if _uses_nhwc_mean(k):
            torch.testing.assert_close(k(y), plain[name](y), rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
def test_inside_a_cuda_graph_the_row_is_never_made_during_the_capture():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    x = torch.randn(1, 96, 14, 14, device="cuda").contiguous(memory_format=CL)
    want = x.mean((2, 3), keepdim=True)
    cold, warm = NhwcMean(), NhwcMean()
    warm(x)  # as the executor's warm-up run does
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out_cold, out_warm = cold(x), warm(x)
    torch.cuda.current_stream().wait_stream(side)
    assert not cold._rows  # first asked inside the capture: the plain mean was captured
    x.mul_(3)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(out_cold, want * 3, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_warm, want * 3, rtol=1e-5, atol=1e-6)
