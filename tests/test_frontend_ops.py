"""The ops of real CNNs, one small pattern each, against PyTorch: understood (not an opaque
``call``), folded or fused where they should be, and computed exactly as the module does."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import ConvKernel
from ios_core.frontend.tracing import TracedModel, run_graph, trace_model
from ios_core.ir.merge import merge_stage_problem, mergeable_groups
from ios_core.runtime.executor import check
from tests._hand_models import make_schedule, sequential


def _check(model: nn.Module, x: torch.Tensor, tol: float = 1e-5) -> TracedModel:
    """Trace, compare run_graph and the sequential schedule with the module's own forward."""
    model.eval()
    traced = trace_model(model, x)
    with torch.no_grad():
        expected = model(x.clone())
    torch.testing.assert_close(run_graph(traced, x.clone()), expected, rtol=tol, atol=tol)
    result = check(traced, sequential(traced.graph))
    assert result.ok, result
    return traced


def _kinds(traced: TracedModel) -> list[str]:
    return [n.kind for n in traced.graph]


def _opaque(traced: TracedModel) -> list[str]:
    return [n.name for n in traced.graph if n.kind == "call" and not n.attrs.get("view")]


def _bn(channels: int, cls: type = nn.BatchNorm2d, seed: int = 0) -> nn.Module:
    bn = cls(channels)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(channels, generator=g))
        bn.running_mean.copy_(torch.randn(channels, generator=g))
        bn.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
    return bn.eval()


# ---- batch norm ---------------------------------------------------------------------------------
@pytest.mark.parametrize("between", [nn.Identity(), nn.Dropout(0.3), nn.Dropout2d(0.1)],
                         ids=["identity", "dropout", "dropout2d"])
def test_bn_and_activation_fold_through_aliases(between: nn.Module) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Identity(), _bn(8), between, nn.ReLU())
    traced = _check(model, torch.randn(2, 3, 8, 8))
    (node,) = traced.graph.nodes
    assert (node.kind, node.attrs["activation"]) == ("conv", "relu")


class FunctionalBNAct(nn.Module):
    """timm's ConvNormAct: conv, then BatchNormAct2d (F.batch_norm, Identity drop, act)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = _bn(8)
        self.drop = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.batch_norm(self.conv(x), self.bn.running_mean, self.bn.running_var,
                         self.bn.weight, self.bn.bias, False, 0.1, self.bn.eps)
        return F.silu(self.drop(y))


def test_functional_batch_norm_folds_into_the_conv() -> None:
    traced = _check(FunctionalBNAct(), torch.randn(1, 3, 8, 8))
    (node,) = traced.graph.nodes
    assert (node.kind, node.attrs["activation"]) == ("conv", "silu")
    assert traced.kernels[node.name].bias is not None


def test_stochastic_depth_in_eval_is_an_alias() -> None:
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    from sample_models.zoo import import_torchvision  # its import needs a fix on a CPU torch

    ops = import_torchvision().ops
    model = nn.Sequential(nn.Conv2d(3, 4, 1), ops.StochasticDepth(0.2, "row"), nn.Hardswish())
    traced = _check(model, torch.randn(1, 3, 5, 5))
    assert [(n.kind, n.attrs["activation"]) for n in traced.graph] == [("conv", "hardswish")]


class DenseLayer(nn.Module):
    """densenet: cat -> BN -> ReLU -> conv, the BN with no conv before it."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
        self.norm, self.relu, self.conv = _bn(8), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.norm(torch.cat([self.a(x), self.b(x)], 1))))


def test_batch_norm_without_a_conv_is_a_scale_shift_that_takes_the_activation() -> None:
    traced = _check(DenseLayer(), torch.randn(2, 3, 6, 6))
    assert _kinds(traced) == ["conv", "conv", "concat", "norm", "conv"]
    norm = traced.graph["norm"]
    assert norm.attrs == {"mode": "batch", "num_features": 8, "activation": "relu"}
    assert norm.flops == 3 * math.prod(norm.shape)  # scale, shift, relu


def test_batch_norm_1d_after_a_linear_is_a_norm() -> None:
    model = nn.Sequential(nn.Linear(6, 5), _bn(5, nn.BatchNorm1d), nn.Tanh())
    traced = _check(model, torch.randn(3, 6))
    assert _kinds(traced) == ["linear", "norm"] and traced.graph["1"].activation == "tanh"


# ---- activations --------------------------------------------------------------------------------
ACTS = [
    (nn.ReLU(), "relu"), (nn.ReLU6(inplace=True), "relu6"), (nn.LeakyReLU(), "leaky_relu"),
    (nn.LeakyReLU(0.2), "leaky_relu(0.2)"), (nn.SiLU(), "silu"), (nn.Hardswish(), "hardswish"),
    (nn.Hardsigmoid(), "hardsigmoid"), (nn.GELU(), "gelu"), (nn.GELU("tanh"), "gelu_tanh"),
    (nn.Mish(), "mish"), (nn.Sigmoid(), "sigmoid"), (nn.Tanh(), "tanh"),
]


@pytest.mark.parametrize(("act", "name"), ACTS, ids=[n for _, n in ACTS])
def test_activation_modules_fuse_into_the_conv(act: nn.Module, name: str) -> None:
    traced = _check(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(), act), torch.randn(1, 3, 6, 6))
    (node,) = traced.graph.nodes
    assert node.attrs["activation"] == name == traced.kernels[node.name].activation


class FunctionalActs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, 3, 1) for _ in range(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, c, d, e = (conv(x) for conv in self.convs)
        return (F.leaky_relu(a, 0.1) + F.hardsigmoid(b) + F.mish(c)
                + F.gelu(d, approximate="tanh") + e * torch.sigmoid(e))  # the last: swish


def test_functional_activations_and_swish_fuse() -> None:
    traced = _check(FunctionalActs(), torch.randn(2, 3, 4, 4))
    acts = [n.attrs["activation"] for n in traced.graph if n.kind == "conv"]
    assert acts == ["leaky_relu(0.1)", "hardsigmoid", "mish", "gelu_tanh", "silu"]
    assert Counter(_kinds(traced)) == {"conv": 5, "add": 1}


def test_swish_of_a_shared_tensor_is_an_act_node() -> None:
    class Shared(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x) + x

    traced = _check(Shared(), torch.randn(1, 2, 3, 3))
    assert [(n.kind, n.attrs.get("fn")) for n in traced.graph] == [("act", "silu"), ("add", None)]


# ---- pooling, gating ----------------------------------------------------------------------------
class Reductions(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x.mean((2, 3), keepdim=True), torch.mean(x, dim=[-1, -2]),
                x.amax((2, 3), keepdim=True), torch.amax(x, (3, 2)), x.mean(1, keepdim=True))


def test_mean_and_amax_over_space_are_global_pooling() -> None:
    x = torch.randn(2, 3, 5, 4)
    traced = trace_model(Reductions(), x)
    for got, want in zip(run_graph(traced, x), Reductions()(x), strict=True):
        torch.testing.assert_close(got, want)
    pools = [(n.kind, n.attrs.get("mode"), n.shape) for n in traced.graph]
    assert pools[:4] == [("pool", "global_avg", (2, 3, 1, 1)), ("pool", "global_avg", (2, 3)),
                         ("pool", "global_max", (2, 3, 1, 1)), ("pool", "global_max", (2, 3))]
    assert pools[4][0] == "call"  # a mean over the channels is no pooling
    assert traced.graph.nodes[0].attrs["kernel"] == (5, 4)


class SqueezeExcite(nn.Module):
    """mobilenet_v3's SE block: x * hardsigmoid(fc2(relu(fc1(mean(x))))), broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1, self.fc2 = nn.Conv2d(8, 2, 1), nn.Conv2d(2, 8, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        s = self.gate(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * s


def test_squeeze_excite_gating_is_understood() -> None:
    traced = _check(SqueezeExcite(), torch.randn(2, 3, 6, 6))
    assert _kinds(traced) == ["conv", "pool", "conv", "conv", "mul"]
    assert [n.activation for n in traced.graph][2:4] == ["relu", "hardsigmoid"]
    mul = traced.graph.nodes[-1]
    assert mul.attrs == {"op": "mul"} and mul.shape == (2, 8, 6, 6)


# ---- memory movement ----------------------------------------------------------------------------
def _shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(n, -1, h, w)


class Shuffles(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)
        self.shuffle = nn.ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(_shuffle(x, 2))  # view-transpose-view read by a conv
        z = self.b(self.shuffle(x)).permute(0, 2, 3, 1)
        return y + z.permute(0, 3, 1, 2)


def test_channel_shuffles_and_permutes_are_memory_movement() -> None:
    traced = _check(Shuffles(), torch.randn(2, 4, 3, 3))
    assert not _opaque(traced)
    views = [n for n in traced.graph if n.kind == "call"]
    assert len(views) == 2 and all(n.attrs["view"] and n.flops == 0 for n in views)
    assert all(n.bytes == 2 * 2 * 4 * 3 * 3 * 4 for n in views)  # read + write


class Pads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sym = nn.Conv2d(3, 4, 3, padding=1)
        self.zero = nn.Conv2d(3, 4, 3)
        self.asym = nn.Conv2d(3, 4, 3, stride=2)
        self.pad = nn.ZeroPad2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = self.sym(F.pad(x, (1, 1, 2, 2)))  # padding (1, 1) + (2, 1)
        b = self.zero(self.pad(x))
        c = self.asym(F.pad(x, (0, 1, 0, 1)))  # TF "same": stays a pad of its own
        d = F.max_pool2d(F.pad(x, (1, 1, 1, 1), value=-math.inf), 3, 2)
        e = F.avg_pool2d(F.pad(x, [1, 1, 1, 1]), 3, 1)
        f = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # zeros are no max-pool padding
        g = F.avg_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2, ceil_mode=True)  # ceil_mode: kept
        return a, b, c, d, e, f, g, F.pad(x, (1, 1, 1, 1), mode="reflect")


def test_pads_fold_into_the_conv_or_pool_after_them_where_exact() -> None:
    x, model = torch.randn(2, 3, 7, 8), Pads()
    traced = trace_model(model, x)
    for got, want in zip(run_graph(traced, x), model(x), strict=True):
        torch.testing.assert_close(got, want)
    assert check(traced, sequential(traced.graph)).ok
    g = traced.graph
    assert (g["sym"].attrs["padding"], g["sym"].inputs) == ((3, 2), ("x",))
    assert (g["zero"].attrs["padding"], g["zero"].inputs) == ((2, 2), ("x",))
    assert g["asym"].attrs["padding"] == (0, 0) and g[g["asym"].inputs[0]].attrs["view"]
    pools = [n for n in g if n.kind == "pool"]
    assert [(p.inputs, p.attrs["padding"]) for p in pools[:2]] == [(("x",), (1, 1))] * 2
    assert pools[1].attrs["count_include_pad"]
    assert [p.attrs["padding"] for p in pools[2:]] == [(0, 0), (0, 0)]  # not folded
    (opaque,) = _opaque(traced)  # the reflection pad
    assert g[opaque].attrs["target"] == "torch.nn.functional.pad"


# ---- splits, mixed convs ------------------------------------------------------------------------
class MixedConv(nn.Module):
    """timm's MixedConv2d: split -> depthwise convs of 3, 5, 7 -> concat."""

    def __init__(self, splits: tuple[int, ...] = (4, 2, 2), depthwise: bool = True) -> None:
        super().__init__()
        self.splits = list(splits)
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, k, padding=k // 2, groups=c if depthwise else 1)
            for c, k in zip(splits, (3, 5, 7), strict=False))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(x, self.splits, 1)
        return self.act(torch.cat([c(p) for c, p in zip(self.convs, pieces, strict=True)], 1))


@pytest.mark.parametrize("depthwise", [True, False])
def test_mixed_conv_pieces_merge_into_one_grouped_conv(depthwise: bool) -> None:
    splits = (4, 2, 2) if depthwise else (3, 3)
    model = MixedConv(splits, depthwise).eval()
    x = torch.randn(2, 8 if depthwise else 6, 7, 7)
    traced = _check(model, x)
    g = traced.graph
    convs = [n.name for n in g if n.kind == "conv"]
    assert [g[c].inputs for c in convs] == [("x",)] * len(splits)
    assert [g[c].activation for c in convs] == ["relu"] * len(splits)  # through the concat
    assert _kinds(traced)[-1] == "concat"
    slices = [(0, 4), (4, 6), (6, 8)] if depthwise else [(0, 3), (3, 6)]
    assert [g[c].attrs["in_slice"] for c in convs] == slices
    assert mergeable_groups(g) == [convs]
    cat = next(n.name for n in g if n.kind == "concat")
    assert merge_stage_problem(g, [*convs, cat]) is None
    rest = [[n.name] for n in g if n.name not in (*convs, cat)]  # none: the relu was fused
    for order in (convs, convs[::-1]):  # gathered as a view, or copied out of order
        stages = [("merge", [[*order, cat]] if order == convs else [order])]
        if order != convs:
            stages.append(("concurrent", [[cat]]))
        schedule = make_schedule(g, stages + [("concurrent", [r]) for r in rest])
        assert check(traced, schedule).ok


class Chunks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 3, 1), nn.Conv2d(2, 3, 3, padding=1)
        self.c, self.d = nn.Conv2d(2, 3, 1), nn.Conv2d(2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=1)
        return self.a(left) + self.b(right) + self.c(torch.narrow(x, 1, 1, 2)) + self.d(
            x[:, 2:4])


def test_chunk_narrow_and_slices_are_read_in_place_by_convs() -> None:
    traced = _check(Chunks(), torch.randn(2, 4, 5, 5))
    convs = [n for n in traced.graph if n.kind == "conv"]
    assert [(n.inputs, n.attrs["in_slice"]) for n in convs] == [
        (("x",), (0, 2)), (("x",), (2, 4)), (("x",), (1, 3)), (("x",), (2, 4))]
    assert not [n for n in traced.graph if n.kind == "call"]  # no piece is materialised
    # equal slices, equal channels per group, centred kernels: all four merge (d reads the
    # same slice as b: the grouped conv gathers it twice)
    assert mergeable_groups(traced.graph) == [["a", "b", "c", "d"]]
    add = traced.graph.nodes[-1].name
    schedule = make_schedule(traced.graph, [("merge", [["a", "b", "c", "d"]]),
                                            ("concurrent", [[add]])])
    assert check(traced, schedule).ok


# ---- layer and group norm -----------------------------------------------------------------------
class LayerNorm2d(nn.LayerNorm):
    """timm's / torchvision's LayerNorm2d: a layer norm over the channels of NCHW."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Norms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.ln2d, self.ln, self.gn = LayerNorm2d(8), nn.LayerNorm(8), nn.GroupNorm(2, 8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.ln2d(self.conv(x)))
        y = self.fc(self.ln(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)  # ConvNeXt block
        return F.silu(self.gn(x + y))


def test_layer_norm_over_channels_and_group_norm_are_norm_nodes() -> None:
    model = Norms()
    with torch.no_grad():
        for m in (model.ln2d, model.ln, model.gn):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_()
    traced = _check(model, torch.randn(2, 3, 5, 5))
    assert _kinds(traced) == ["conv", "norm", "norm", "linear", "add", "norm"]
    modes = [(n.attrs["mode"], n.activation) for n in traced.graph if n.kind == "norm"]
    assert modes == [("layer", "gelu"), ("layer", "none"), ("group", "silu")]
    assert traced.graph.nodes[1].attrs["normalized_shape"] == (8,)


def test_conv_kernel_keeps_its_slice_when_moved() -> None:
    k = ConvKernel(torch.randn(2, 2, 1, 1), None, (1, 1), (0, 0), (1, 1), 1, in_slice=(1, 3))
    x = torch.randn(1, 4, 2, 2)
    torch.testing.assert_close(k.to("cpu")(x), F.conv2d(x[:, 1:3], k.weight))


class LeverOps(nn.Module):
    """Convs on slices with ReLU (plain and merged), a conv+add+ReLU on a slice, a hardswish."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.h, self.z = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        left, right = torch.split(x, 4, 1)
        y = torch.cat([F.relu(self.a(left)), F.relu(self.b(right))], 1)
        return y, F.relu(self.z(right) + F.hardswish(self.h(x)))


@pytest.mark.parametrize("fail", [False, True])
def test_fused_cudnn_levers_take_slices_and_only_relu(monkeypatch, fail: bool) -> None:
    from ios_core.runtime.executor import compile_schedule
    from ios_core.runtime.options import EngineOptions
    from tests.test_levers import _fake_ops

    calls: dict[str, int] = {}
    _fake_ops(monkeypatch, calls, fail)  # stand-ins for the cuDNN ops, on the CPU
    x = torch.randn(1, 8, 5, 5)
    traced = _check(LeverOps(), x)
    g = traced.graph
    assert [g[n].activation for n in ("a", "b", "h", "z")] == ["relu", "relu", "hardswish", "none"]
    add = next(n.name for n in g if n.kind == "add")
    cat = next(n.name for n in g if n.kind == "concat")
    stages = {"merged": [("merge", [["a", "b", cat]]), ("concurrent", [["h", "z", add]])],
              "apart": [("concurrent", [["a", "b", cat, "h", "z", add]])]}
    opts = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True)
    for name, st in stages.items():
        schedule = make_schedule(g, st)
        plain = compile_schedule(traced, schedule, options=EngineOptions())(x)
        compiled = compile_schedule(traced, schedule, options=opts)
        for got, want in zip(compiled(x), plain, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        report = compiled.lever_report()
        mode = "plain" if fail else "fused"
        assert report["conv_relu"] == {mode: 1 if name == "merged" else 2}, name  # not h
        assert report["conv_add_relu"] == {mode: 1}, name
