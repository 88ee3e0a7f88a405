"""From an ``nn.Module`` to an operator graph with runnable kernels.

:func:`trace_model` turns a model and an example input into a :class:`TracedModel`: an
:class:`~ios_core.ir.graph.OpGraph` (what the scheduler sees: ops, their shapes, FLOPs and bytes)
and one :class:`~ios_core.frontend.kernels.Kernel` per node (what the runtime runs)::

    >>> import torch
    >>> from torch import nn
    >>> from ios_core.frontend import trace_model
    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    >>> traced = trace_model(model, torch.randn(1, 3, 16, 16))
    >>> [(n.name, n.kind, n.shape, n.attrs["activation"]) for n in traced.graph]
    [('0', 'conv', (1, 8, 16, 16), 'relu')]

The BatchNorm was folded into the conv's weights and the ReLU fused into it. The way there is
four passes over one ``torch.fx`` graph, one file each, which ``tracing.py`` runs in order:

1. ``capture.py``: torch.fx symbolic tracing; where that fails, tracing again with the example
   input's values, so that Python reading input sizes (timm's "same" padding) runs. Modules in
   ``torch.nn`` and the ``leaf_modules`` you name stay whole; a failure names every module that
   cannot be traced, the source lines and what to do.
2. ``functionalize.py``: in-place ops (``relu_``, ``inplace=True``, ``+=``) become out-of-place
   ones, since the executor may run two readers of a tensor at once.
3. ``shapes.py``: one run on the example input records every value's shape and whether it
   depends on the input; whatever does not (shape arithmetic, parameters) becomes a constant.
4. ``builder.py`` and ``ops/``: lowering. The builder walks the fx nodes in order and offers
   each to the rules in ``ops/``, one file per op family (``views``, ``padding``, ``batchnorm``,
   ``activations``, ``conv``, ``pooling``, ``binary``, ``concat``, ``linalg``, ``layernorm``):
   views and pads fold into their readers, BatchNorms into convs, activations into their
   producers; convs, pools, adds, concats, norms, linears... become nodes. Every other op
   becomes an opaque ``call`` node (``ops/opaque.py``) whose kernel replays it exactly.
   ``ops/__init__.py`` has the table of what becomes what.

What the passes share:

* ``op_tables.py``: the known functions, modules and methods of each op family;
* ``naming.py``: the qualified names of ops, in graph attrs and error messages;
* ``errors.py``: :class:`TraceError`, raised by every pass;
* ``exprs.py``: builder-time expressions (a node's output, a captured tensor);
* ``replay.py`` and ``kernels.py``: the kernels: a ``ConvKernel`` (whose weights the runtime can
  merge into wide convs) or an ``FnKernel`` that evaluates a small expression tree.

``models.py`` loads the sample models and ``package.module:callable`` references.
:func:`run_graph` runs a traced model's kernels in graph order: the reference every schedule must
reproduce. The frontend imports from :mod:`ios_core.ir` only. To teach it a new op, see
:mod:`ios_core.frontend.ops`.
"""

from ios_core.frontend.tracing import TracedModel, TraceError, run_graph, trace, trace_model

__all__ = ["TraceError", "TracedModel", "run_graph", "trace", "trace_model"]
