"""From an ``nn.Module`` to an operator graph with runnable kernels.

torch.fx captures the model; in-place ops are made functional, shapes are recorded on the
example input, batch norms are folded and activations fused, and what is left becomes an
:class:`~ios_core.ir.graph.OpGraph` plus one :class:`~ios_core.frontend.kernels.Kernel` per
operator (what the runtime runs). :mod:`~ios_core.frontend.models` loads the sample models and
``package.module:callable`` references.
"""

from ios_core.frontend.tracing import TracedModel, TraceError, run_graph, trace, trace_model

__all__ = ["TraceError", "TracedModel", "run_graph", "trace", "trace_model"]
