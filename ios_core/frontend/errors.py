"""The error the frontend raises for a model it cannot turn into an OpGraph.

Every pass raises it (:mod:`~ios_core.frontend.capture` when torch.fx fails,
:mod:`~ios_core.frontend.functionalize` for a write through a view,
:mod:`~ios_core.frontend.shapes` for data-dependent values, the builder for outputs it cannot
return); its message names the module or op and says what to change.
"""

from __future__ import annotations

__all__ = ["TraceError"]


class TraceError(ValueError):
    """A model could not be turned into an OpGraph; the message says where and what to do."""
