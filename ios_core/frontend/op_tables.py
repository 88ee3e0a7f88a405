"""The tables of known ops: which functions, modules and methods the frontend recognises.

An fx node calls a function (``call_function``: ``torch.relu``, ``F.max_pool2d``,
``operator.add``), a module (``call_module``: looked up by class) or a Tensor method
(``call_method``: by name), so most families have one table of each. The rules in
:mod:`ios_core.frontend.ops` read them; what is in no table becomes an opaque ``call`` node.

* activations (fused into their producer, or an ``act`` node): :data:`ACT_MODULES`,
  :data:`ACT_FUNCTIONS` (their parameters: :data:`ACT_PARAMS`), :data:`ACT_METHODS`; the
  producers that take one: :data:`FUSIBLE`; the gates ``x * gate(x)`` that are activations:
  :data:`SELF_GATES`;
* aliases and views (folded into their readers): :data:`DROPOUTS`, :data:`DROPOUT_FNS`,
  :data:`DROP_PATH_FNS`, :data:`VIEW_FNS`, :data:`VIEW_METHODS`, the splits whose pieces are
  views :data:`SPLIT_FNS`, :data:`SPLIT_METHODS`, and memory movement replayed like views
  :data:`MOVE_MODULES`, :data:`MOVE_FNS`;
* elementwise binaries (``add`` / ``mul`` nodes): :data:`BINARY_FUNCTIONS`,
  :data:`BINARY_METHODS`;
* matrix products: :data:`MATMUL_FUNCTIONS`, :data:`MATMUL_METHODS`; concatenation:
  :data:`CAT_FUNCTIONS`; pooling: :data:`POOL_FUNCTIONS`, and the reductions over H and W that
  are global pooling: :data:`REDUCE_FUNCTIONS` (and the methods ``mean`` / ``amax``);
* the positional parameters of functional convs and pools, to read their arguments by name:
  :data:`CONV_ARGS` / :data:`CONV_DEFAULTS`, :data:`POOL_ARGS`.

The in-place operators and the ops whose result aliases their input are tables of
:mod:`ios_core.frontend.functionalize`. Look callables up with :func:`lookup` and :func:`member`:
some callables are unhashable.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACT_FUNCTIONS", "ACT_METHODS", "ACT_MODULES", "ACT_PARAMS", "BINARY_FUNCTIONS",
    "BINARY_METHODS", "CAT_FUNCTIONS", "CONV_ARGS", "CONV_DEFAULTS", "DROPOUTS", "DROPOUT_FNS",
    "DROP_PATH_FNS", "FUSIBLE", "MATMUL_FUNCTIONS", "MATMUL_METHODS", "MOVE_FNS", "MOVE_MODULES",
    "POOL_ARGS", "POOL_FUNCTIONS", "REDUCE_FUNCTIONS", "SELF_GATES", "SPLIT_FNS",
    "SPLIT_METHODS", "VIEW_FNS", "VIEW_METHODS", "fns", "lookup", "member",
]


def lookup(table: dict, key: Any) -> Any:
    """``table.get(key)``, None for an unhashable key.

    >>> lookup(BINARY_FUNCTIONS, torch.add), lookup(BINARY_FUNCTIONS, [])
    ('add', None)
    """
    try:
        return table.get(key)
    except TypeError:  # an unhashable callable
        return None


def member(key: Any, items: set) -> bool:
    """``key in items``, False for an unhashable key.

    >>> member(torch.cat, CAT_FUNCTIONS), member([], CAT_FUNCTIONS)
    (True, False)
    """
    try:
        return key in items
    except TypeError:  # an unhashable callable
        return False


def fns(*names: str, ns: Any = torch) -> set:
    """The functions ``ns.<name>`` that this torch release has.

    >>> fns("relu", "no_such_op") == {torch.relu}
    True
    """
    return {getattr(ns, n) for n in names if hasattr(ns, n)}


# ---- activations --------------------------------------------------------------------------------
ACT_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu", nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh", nn.SiLU: "silu", nn.GELU: "gelu", nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid", nn.Mish: "mish",
}
ACT_FUNCTIONS = {
    **{f: "relu" for f in fns("relu", "relu_") | fns("relu", "relu_", ns=F)},
    **{f: "leaky_relu" for f in fns("leaky_relu", "leaky_relu_", ns=F)},
    F.relu6: "relu6", F.silu: "silu", F.gelu: "gelu", F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid", F.mish: "mish",
    **{f: "sigmoid" for f in fns("sigmoid", "sigmoid_") | fns("sigmoid", ns=F)},
    **{f: "tanh" for f in fns("tanh", "tanh_") | fns("tanh", ns=F)},
}
# the parameters of functional activations after the input (all others take ``inplace`` only)
ACT_PARAMS = {"leaky_relu": ("negative_slope", "inplace"), "gelu": ("approximate",)}
ACT_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
               "tanh": "tanh", "tanh_": "tanh"}
FUSIBLE = ("conv", "add", "pool", "linear", "norm")  # producers that take a fused activation
SELF_GATES = {"sigmoid": "silu", "hardsigmoid": "hardswish"}  # x * gate(x) is this activation

# ---- aliases, views and splits ------------------------------------------------------------------
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
            nn.FeatureAlphaDropout)
DROPOUT_FNS = fns("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                  "feature_alpha_dropout", ns=F)
# functions outside torch that are the identity when not training or with drop probability 0,
# by qualified name (ios_core does not import their packages): name -> (parameters, defaults)
DROP_PATH_FNS: dict[str, tuple[tuple[str, ...], dict]] = {
    "torchvision.ops.stochastic_depth.stochastic_depth": (
        ("input", "p", "mode", "training"), {"training": True}),
    "timm.layers.drop.drop_path": (
        ("x", "drop_prob", "training", "scale_by_keep"),
        {"drop_prob": 0.0, "training": False, "scale_by_keep": True}),
}
VIEW_FNS = fns("flatten", "unflatten", "reshape", "squeeze", "unsqueeze", "narrow", "transpose",
               "swapaxes", "swapdims", "permute", "movedim", "moveaxis")
SPLIT_FNS = fns("split", "chunk", "unbind", "tensor_split", "split_with_sizes")
VIEW_METHODS = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "contiguous",
                "narrow", "transpose", "swapaxes", "swapdims", "permute", "movedim", "moveaxis",
                "view_as", "reshape_as", "expand", "expand_as"}
SPLIT_METHODS = {"split", "chunk", "unbind", "tensor_split", "split_with_sizes"}
# memory movement that is no view: replayed inside their readers like views (a pad that a conv
# or pool absorbs is folded into its padding instead, see ops/padding.py)
MOVE_MODULES = (nn.ChannelShuffle,)
MOVE_FNS = fns("channel_shuffle", "native_channel_shuffle") | fns("channel_shuffle", ns=F)

# ---- elementwise binaries, matrix products, concatenation ---------------------------------------
BINARY_FUNCTIONS = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
    torch.maximum: "maximum", torch.minimum: "minimum",
}
BINARY_METHODS = {m: m.rstrip("_") for m in ("add", "add_", "sub", "sub_", "mul", "mul_", "div",
                                               "div_", "maximum", "minimum")}
MATMUL_FUNCTIONS = {torch.matmul, operator.matmul, torch.mm, torch.bmm}
MATMUL_METHODS = {"matmul", "mm", "bmm"}
CAT_FUNCTIONS = fns("cat", "concat", "concatenate")

# ---- convolution and pooling: functional forms and their positional parameters ------------------
CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
CONV_DEFAULTS = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
POOL_ARGS = {
    "max": (("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
             "return_indices"), {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                 "return_indices": False}),
    "avg": (("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
             "divisor_override"), {"stride": None, "padding": 0, "ceil_mode": False,
                                   "count_include_pad": True, "divisor_override": None}),
    "adaptive_avg": (("input", "output_size"), {}),
    "adaptive_max": (("input", "output_size", "return_indices"), {"return_indices": False}),
}
REDUCE_FUNCTIONS = {torch.mean: "mean", torch.amax: "amax"}  # global pooling over H and W
POOL_FUNCTIONS = {F.max_pool2d: "max", torch.max_pool2d: "max", F.avg_pool2d: "avg",
                  F.adaptive_avg_pool2d: "adaptive_avg", F.adaptive_max_pool2d: "adaptive_max"}
