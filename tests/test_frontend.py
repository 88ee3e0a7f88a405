"""Tests for ios_core.frontend.tracing (nn.Module -> OpGraph) and ios_core.frontend.models (model
loading).

The reference is always the model's own forward: ``run_graph`` runs the traced kernels one by
one in graph order and must reproduce ``model(x)``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import textwrap
from collections import Counter

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.kernels import ConvKernel
from ios_core.frontend.models import ModelLoadError, UnknownModelError, list_models, load_model
from ios_core.frontend.tracing import TracedModel, TraceError, run_graph, trace, trace_model


def _flat(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _flat(v)]


def _check(model: nn.Module, x: torch.Tensor, rtol: float = 1e-5, **kw) -> TracedModel:
    """Trace, validate, and compare run_graph with the model's forward."""
    traced = trace_model(model, x, **kw)
    traced.graph.validate()
    with torch.no_grad():
        expected = _flat(model(x.clone()))
    got = _flat(run_graph(traced, x.clone()))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=rtol, atol=rtol)
    return traced


def _kinds(traced: TracedModel) -> list[str]:
    return [n.kind for n in traced.graph]


def _randomise_bn(bn: nn.BatchNorm2d, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)


class ConvBN(nn.Module):
    def __init__(self, act: nn.Module | None = None, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(8)
        self.act = act or nn.Identity()
        _randomise_bn(self.bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


# ---- normalisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_bn_is_folded_into_the_conv(bias: bool) -> None:
    traced = _check(ConvBN(bias=bias), torch.randn(2, 3, 10, 10))
    (node,) = traced.graph.nodes
    assert (node.kind, node.name, node.inputs) == ("conv", "conv", ("x",))
    kernel = traced.kernels["conv"]
    assert isinstance(kernel, ConvKernel) and kernel.bias is not None


ACTIVATIONS = [
    (nn.ReLU(inplace=True), "relu"), (nn.ReLU6(), "relu6"), (nn.Sigmoid(), "sigmoid"),
    (nn.Tanh(), "tanh"), (nn.SiLU(inplace=True), "silu"), (nn.GELU(), "gelu"),
    (nn.Hardswish(), "hardswish"),
]


@pytest.mark.parametrize(("act", "name"), ACTIVATIONS, ids=[n for _, n in ACTIVATIONS])
def test_activation_module_is_fused_into_conv(act: nn.Module, name: str) -> None:
    traced = _check(ConvBN(act), torch.randn(1, 3, 8, 8))
    (node,) = traced.graph.nodes
    assert node.attrs["activation"] == name
    assert traced.kernels[node.name].activation == name


class FunctionalActs(nn.Module):
    """Functional and method activations after conv, add, pool and linear producers."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.a(x), inplace=True)
        b = self.b(x).relu_()
        s = torch.sigmoid(a + b)  # fused into the add
        p = F.relu6(F.max_pool2d(s, 2))  # fused into the pool
        return torch.tanh(self.fc(p.flatten(1)))  # fused into the linear


def test_functional_and_method_activations_are_fused() -> None:
    traced = _check(FunctionalActs(), torch.randn(2, 3, 4, 4))
    acts = {n.kind: n.attrs["activation"] for n in traced.graph}
    assert _kinds(traced) == ["conv", "conv", "add", "pool", "linear"]
    assert acts == {"conv": "relu", "add": "sigmoid", "pool": "relu6", "linear": "tanh"}


class KeywordInputs(nn.Module):
    """Inputs passed by keyword, as some hand-written models do."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(input=F.conv2d(input=x, weight=self.w, padding=1))
        return F.max_pool2d(input=y, kernel_size=2)


def test_inputs_passed_by_keyword_lower_like_positional_ones() -> None:
    traced = _check(KeywordInputs(), torch.randn(2, 3, 8, 8))
    assert _kinds(traced) == ["conv", "pool"]
    assert traced.graph.nodes[0].attrs["activation"] == "relu"


class SharedOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.relu(y) + y  # y has two readers: relu cannot be fused


def test_activation_is_not_fused_when_the_producer_has_other_readers() -> None:
    traced = _check(SharedOutput(), torch.randn(1, 3, 4, 4))
    assert _kinds(traced) == ["conv", "act", "add"]
    assert traced.graph["conv"].attrs["activation"] == "none"
    assert traced.graph["relu"].attrs["fn"] == "relu"


class SumChain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, 4, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, c, d = (conv(x) for conv in self.convs)
        return F.relu(a + b + c + d)


def test_a_chain_of_adds_becomes_one_add_with_the_activation() -> None:
    traced = _check(SumChain(), torch.randn(2, 3, 5, 5))
    (add,) = [n for n in traced.graph if n.kind == "add"]
    assert add.inputs == ("convs.0", "convs.1", "convs.2", "convs.3")
    assert add.attrs["activation"] == "relu"
    numel = 2 * 4 * 5 * 5
    assert add.flops == 3 * numel + numel  # three additions and the relu per element
    assert add.bytes == 4 * (4 * numel + numel)  # four terms read, one output written


class InplaceAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y * 2  # reads y before the in-place add
        y.add_(x)  # later readers of y see y + x
        return torch.cat([z, y], 1)


def test_inplace_ops_are_functionalised() -> None:
    traced = _check(InplaceAdd(), torch.randn(1, 3, 4, 4))
    assert traced.graph["cat"].inputs == ("mul", "add_")


# ---- views, opaque ops, tuples ------------------------------------------------------------------
class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.flatten(self.pool(x), 1)))


def test_flatten_and_dropout_are_folded_into_the_linear() -> None:
    traced = _check(Head(), torch.randn(2, 6, 5, 5))
    pool, fc = traced.graph.nodes
    assert (pool.kind, pool.attrs["mode"], pool.shape) == ("pool", "global_avg", (2, 6, 1, 1))
    assert (fc.kind, fc.inputs, fc.shape) == ("linear", ("pool",), (2, 3))
    assert "flatten" in repr(traced.kernels["fc"].fn)  # the linear's kernel flattens first
    assert fc.flops == 2 * 2 * 6 * 3


def _channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


torch.fx.wrap("_channel_shuffle")  # an opaque user function: fx records one call


class Opaque(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pixel_shuffle(self.conv(x), 2)
        return _channel_shuffle(y, 2)


def test_unknown_ops_are_kept_as_call_nodes() -> None:
    traced = _check(Opaque(), torch.randn(1, 4, 3, 3))
    assert _kinds(traced) == ["conv", "call", "call"]
    shuffle, custom = traced.graph.nodes[1:]
    assert shuffle.attrs["target"] == "torch.nn.functional.pixel_shuffle"
    assert shuffle.shape == (1, 2, 6, 6)
    assert custom.attrs["target"].endswith("_channel_shuffle")
    assert custom.inputs == (shuffle.name,)


class Splits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        left, right = torch.split(x, 2, dim=1)
        values, _ = torch.topk(x, 2, dim=1)  # a tuple op: its used piece becomes a call node
        return self.a(left) + self.b(right), values, right


def test_split_pieces_are_views_and_tuple_outputs_work() -> None:
    traced = _check(Splits(), torch.randn(1, 4, 3, 3))
    kinds = Counter(_kinds(traced))
    assert kinds == {"call": 2, "conv": 2, "add": 1}  # topk.0 and the returned piece
    assert traced.graph.outputs == ("add", "topk.0", "split.1")
    assert traced.graph["topk.0"].attrs["target"] == "torch.topk[0]"
    assert traced.graph["split.1"].attrs.get("view") is True
    # the convs read the split tensor itself, each its own channels
    assert [(traced.graph[n].inputs, traced.graph[n].attrs["in_slice"]) for n in "ab"] == [
        (("x",), (0, 2)), (("x",), (2, 4))]


# ---- shapes, costs, identity --------------------------------------------------------------------
def test_conv_shape_flops_and_bytes_by_hand() -> None:
    graph = trace(nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.randn(2, 3, 32, 32))
    (node,) = graph.nodes
    assert node.shape == (2, 8, 16, 16)
    assert node.attrs == {"in_channels": 3, "out_channels": 8, "kernel": (3, 3), "stride": (2, 2),
                          "padding": (1, 1), "dilation": (1, 1), "groups": 1,
                          "activation": "none"}
    assert node.flops == 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)  # 2 x MACs
    elems = 2 * 3 * 32 * 32 + 8 * 3 * 3 * 3 + 8 + 2 * 8 * 16 * 16  # input, weight, bias, output
    assert node.bytes == 4 * elems


def test_fingerprint_is_stable_and_depends_on_batch() -> None:
    model = ConvBN(nn.ReLU())
    g1 = trace(model, torch.randn(1, 3, 8, 8))
    g2 = trace(model, torch.randn(1, 3, 8, 8))
    g3 = trace(model, torch.randn(2, 3, 8, 8))
    assert g1.fingerprint() == g2.fingerprint() != g3.fingerprint()
    assert [n.name for n in g1] == [n.name for n in g2]


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace this
            return x
        return -x


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 1), Gate())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)


def test_untraceable_module_is_named_with_a_way_out() -> None:
    with pytest.raises(TraceError) as info:
        trace(Gated(), torch.randn(1, 3, 4, 4))
    text = str(info.value)
    assert "'stem.1' (Gate)" in text  # the module's qualified name
    assert "if x.sum() > 0" in text  # the op (source line) that failed
    assert "leaf_modules" in text and "static" in text  # what to do
    traced = _check(Gated(), torch.randn(1, 3, 4, 4), leaf_modules=["stem.1"])
    assert traced.graph["stem.1"].kind == "call"


class ItemUser(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.max().item()


def test_data_dependent_python_value_is_refused() -> None:
    with pytest.raises(TraceError, match="data-dependent"):
        trace(ItemUser(), torch.randn(1, 3, 4, 4))


# ---- models.py ----------------------------------------------------------------------------------
HAS_SAMPLES = importlib.util.find_spec("sample_models") is not None


def test_unknown_model_name_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        load_model("no_such_net")
    assert "no_such_net" in str(info.value) and "package.module:callable" in str(info.value)
    if HAS_SAMPLES:
        assert "inception_v3" in str(info.value)
        assert {name for name, _, _ in list_models()} >= {"inception_v3", "ios_demo"}


FACTORY = """
    import torch
    from torch import nn

    def build(batch, seed):
        torch.manual_seed(seed)
        return nn.Conv2d(3, 4, 3), (3, 8, 8)

    def full_shape():
        return nn.Conv2d(3, 4, 3), (5, 3, 8, 8)

    def tensor():
        return nn.Conv2d(3, 4, 3), torch.arange(2 * 3 * 4 * 4.0).reshape(2, 3, 4, 4)

    def broken():
        return nn.Conv2d(3, 4, 3)

    NOT_CALLABLE = 3
"""


@pytest.fixture
def factory_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "ios_test_factory.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "ios_test_factory"
    sys.modules.pop("ios_test_factory", None)


def test_load_model_from_package_module_callable(factory_module: str) -> None:
    loaded = load_model(f"{factory_module}:build", batch=3)
    assert loaded.name == f"{factory_module}:build"
    assert loaded.example_input.shape == (3, 3, 8, 8)  # (C, H, W): batch put in front
    assert not loaded.module.training
    assert load_model(f"{factory_module}:full_shape", batch=2).example_input.shape == (2, 3, 8, 8)
    x = load_model(f"{factory_module}:tensor", batch=3).example_input  # samples repeated
    assert x.shape == (3, 3, 4, 4) and torch.equal(x[2], x[0])
    trace(loaded.module, loaded.example_input).validate()


@pytest.mark.parametrize(("ref", "words"), [
    ("ios_test_factory:missing", "no attribute"),
    ("ios_test_factory:NOT_CALLABLE", "not a callable"),
    ("ios_test_factory:broken", "must return (module, example_input)"),
    ("no_such_package_xyz.mod:build", "cannot import"),
    ("./models.py:build", "not a file path"),
])
def test_bad_references_say_what_is_wrong(factory_module: str, ref: str, words: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(ref)
    assert words in str(info.value)


def test_batch_must_be_positive(factory_module: str) -> None:
    with pytest.raises(ValueError, match="batch"):
        load_model(f"{factory_module}:build", batch=0)


# ---- every sample model -------------------------------------------------------------------------
SAMPLES = ["ios_demo", "squeezenet", "inception_v3", "randwire", "nasnet"]


@pytest.mark.skipif(not HAS_SAMPLES, reason="sample_models is not importable")
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in ("randwire", "nasnet") else n for n in SAMPLES
])
def test_sample_model_graph_reproduces_the_model(name: str) -> None:
    loaded = load_model(name, batch=1, seed=0)
    traced = trace_model(loaded.module, loaded.example_input, name=name)
    traced.graph.validate()
    x = loaded.example_input
    with torch.no_grad():
        expected = loaded.module(x)  # one forward of the model itself (NASNet is slow on CPU)
    got = run_graph(traced, x)
    rel = (got - expected).norm() / expected.norm()
    assert rel < 5e-4, f"{name}: relative error {rel:.2e}"  # the executor's fp32 tolerance
    assert math.prod(traced.graph.shape_of(traced.graph.outputs[0])) == expected.numel()
