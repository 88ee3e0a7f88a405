"""The lowering rules, one file per op family: what each fx node becomes in the OpGraph.

:func:`lower` runs the :class:`~ios_core.frontend.builder.Builder` with :data:`RULES`: for each
fx node whose value depends on the input, the first rule that takes it lowers it, and
:func:`~ios_core.frontend.ops.opaque.emit_call` takes what no rule does. The order matters:
views fold before anything reads them, a BatchNorm folds into its conv and an activation fuses
into its producer before either could become a node of its own.

=====================  =====================================================================
rule (file)            what becomes what
=====================  =====================================================================
``views``              aliases (Identity, eval dropout, stochastic depth in eval, detach),
                       views (flatten, reshape, view, squeeze, narrow, transpose, permute,
                       basic indexing, pieces of split/chunk...) and channel shuffles: folded
                       into their readers, never nodes
``padding``            constant non-negative ``pad`` / ``ZeroPad2d``: folded into the readers
                       too; a conv or pool absorbs it into its padding where that is exact
``batchnorm``          eval batch norm (module or ``F.batch_norm``) after a conv nothing else
                       reads: folded into the conv's weight and bias; any other: a ``norm``
                       node (mode ``batch``, a per-channel scale-shift)
``activations``        relu, relu6, leaky_relu, sigmoid, tanh, silu, gelu, hardswish,
                       hardsigmoid, mish (and ``x * sigmoid(x)``: silu): fused into the
                       ``conv``, ``add``, ``pool``, ``linear`` or ``norm`` that produced their
                       input (attr ``activation``), else an ``act`` node (attr ``fn``)
``conv``               ``Conv2d`` / ``F.conv2d`` with a constant weight -> ``conv``
                       (a :class:`~ios_core.frontend.kernels.ConvKernel`); one that reads a
                       channel slice of a tensor reads that tensor (attr ``in_slice``)
``pooling``            max / avg pooling -> ``pool``; adaptive to 1x1 and ``mean`` / ``amax``
                       over H and W -> mode ``global_avg`` / ``global_max``, adaptive to other
                       sizes ``adaptive_avg`` / ``adaptive_max``
``binary``             a sum of two input-dependent tensors -> ``add`` (a chain ``a + b + c``
                       -> one ``add``); other elementwise binaries (gating ``x * act(f(x))``
                       with broadcasting) -> ``mul`` (attr ``op``)
``concat``             ``torch.cat`` / ``concat`` -> ``concat`` (attr ``dim``)
``linalg``             ``Linear`` / ``F.linear`` with a constant weight -> ``linear``;
                       matmul / mm / bmm -> ``matmul``
``layernorm``          layer norm, group norm -> ``norm`` (mode ``layer`` / ``group``)
``opaque`` (fallback)  anything else -> ``call`` (attr ``target``), replayed exactly
=====================  =====================================================================

Each file's docstring says exactly which forms it takes. Shape arithmetic (``x.size()``...) and
anything computed from parameters and constants alone never reaches a rule: it was evaluated on
the example input (:mod:`~ios_core.frontend.shapes`) and is baked into the kernels that read it.

Per node: ``shape`` (batch first); ``flops``: 2 x MACs for conv, linear and matmul, one per
output element for elementwise ops and activations (a fused one adds its own), output elements x
window for pooling (input elements for global/adaptive pooling), 0 for concat and materialised
views, two per element for a batch ``norm`` and five for a layer or group ``norm``, and a guess
of one per element read or written for ``call``; ``bytes``: the tensors the op reads, its
weights and its output, at their dtype's size; ``source``: the module path or fx node
name. Names: see :mod:`~ios_core.frontend.builder`.

To teach the frontend a new op: put its callables in :mod:`~ios_core.frontend.op_tables`, write
a rule ``(builder, node) -> bool`` in the file of its family (or a new one), and place it in
:data:`RULES`. A new rule changes the graphs, and so the fingerprints, of models that use the op.
"""

from __future__ import annotations

from torch import fx

from ios_core.frontend.builder import Builder, Rule
from ios_core.frontend.kernels import Kernel
from ios_core.frontend.ops.activations import emit_activation, fuse_activation, fuse_self_gate
from ios_core.frontend.ops.batchnorm import emit_batchnorm, fold_batchnorm
from ios_core.frontend.ops.binary import emit_binary
from ios_core.frontend.ops.concat import emit_concat
from ios_core.frontend.ops.conv import emit_conv
from ios_core.frontend.ops.layernorm import emit_norm
from ios_core.frontend.ops.linalg import emit_linear, emit_matmul
from ios_core.frontend.ops.opaque import emit_call
from ios_core.frontend.ops.padding import fold_pad
from ios_core.frontend.ops.pooling import emit_pool
from ios_core.frontend.ops.views import fold_view
from ios_core.ir.graph import OpGraph

__all__ = ["RULES", "lower"]

RULES: tuple[Rule, ...] = (
    fold_view, fold_pad, fold_batchnorm, fuse_activation, emit_conv, emit_pool, fuse_self_gate,
    emit_binary, emit_concat, emit_linear, emit_matmul, emit_batchnorm, emit_norm,
    emit_activation,
)


def lower(gm: fx.GraphModule, name: str) -> tuple[OpGraph, dict[str, Kernel]]:
    """The OpGraph ``name`` of a shape-recorded fx graph, and each node's kernel by name."""
    return Builder(gm, name, RULES, emit_call).build()
