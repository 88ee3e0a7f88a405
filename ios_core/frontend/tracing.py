"""The frontend's entry points: :func:`trace_model` runs the passes, :func:`run_graph` checks them.

``trace_model(model, example_input)`` switches the model to eval mode and runs, on one
``torch.fx`` graph:

1. :func:`~ios_core.frontend.capture.capture`: torch.fx tracing, with ``leaf_modules`` kept whole
   (symbolic; where that fails, again with the example input's values, so that Python reading
   input sizes runs);
2. :func:`~ios_core.frontend.positional.positional_inputs`: an input passed by keyword moved to
   the front of its call's arguments, where every rule reads it; then
   :func:`~ios_core.frontend.functionalize.functionalize`: in-place ops made out-of-place;
3. :func:`~ios_core.frontend.shapes.record_shapes`: one run on the example input, without grad;
4. :func:`~ios_core.frontend.ops.lower`: the OpGraph and one kernel per node;

then validates the graph. :func:`run_graph` runs the kernels one by one in graph order: the
reference that the scheduled executor must reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ios_core.frontend.capture import LeafSpec, capture, leaf_label
from ios_core.frontend.errors import TraceError
from ios_core.frontend.functionalize import functionalize
from ios_core.frontend.kernels import Kernel
from ios_core.frontend.ops import lower
from ios_core.frontend.positional import positional_inputs
from ios_core.frontend.shapes import record_shapes
from ios_core.ir.graph import OpGraph

__all__ = ["LeafSpec", "TraceError", "TracedModel", "run_graph", "trace", "trace_model"]


@dataclass
class TracedModel:
    """An OpGraph with one kernel per node, and the module and input it was traced from."""

    graph: OpGraph
    kernels: dict[str, Kernel]  # node name -> kernel(*input tensors) -> output tensor
    module: nn.Module  # the traced model, left in eval mode
    example_input: torch.Tensor  # a tuple of tensors for a model with several inputs
    leaf_modules: tuple[str, ...] = ()  # the leaf modules asked for, as strings (leaf_label)


def trace(
    model: nn.Module, example_input: torch.Tensor, name: str = "model",
    *, leaf_modules: Iterable[LeafSpec] = (),
) -> OpGraph:
    """The OpGraph of ``model`` (see :func:`trace_model`)."""
    return trace_model(model, example_input, name, leaf_modules=leaf_modules).graph


def trace_model(
    model: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...], name: str = "model",
    *, leaf_modules: Iterable[LeafSpec] = (),
) -> TracedModel:
    """Trace ``model`` (switched to eval mode) on ``example_input`` into an OpGraph and kernels.

    ``example_input`` is a tensor, or a tuple of tensors for a model with several inputs. Python
    that depends on input sizes is run with the example's (the graph is specific to its shape).
    ``leaf_modules`` (classes, or strings: qualified names or class names) are kept whole, each
    call one ``call`` node: the way to get past a submodule whose control flow depends on tensor
    values. Raises :class:`TraceError`, naming every module that cannot be traced and what to
    do, for a model that cannot be traced.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    leaves = tuple(leaf_modules)
    model.eval()
    gm = capture(model, leaves, inputs)
    positional_inputs(gm)
    functionalize(gm)
    with torch.no_grad():
        record_shapes(gm, *inputs)
        graph, kernels = lower(gm, name)
    graph.validate()
    return TracedModel(graph, kernels, model, example_input, tuple(map(leaf_label, leaves)))


@torch.no_grad()
def run_graph(traced: TracedModel, *inputs: torch.Tensor) -> Any:
    """Reference run: each node's kernel in graph order; a tuple where there are several outputs."""
    graph = traced.graph
    env: dict[str, torch.Tensor] = dict(zip(graph.input_names, inputs, strict=True))
    for node in graph.nodes:
        env[node.name] = traced.kernels[node.name](*(env[i] for i in node.inputs))
    outs = tuple(env[o] for o in graph.outputs)
    return outs[0] if len(outs) == 1 else outs
