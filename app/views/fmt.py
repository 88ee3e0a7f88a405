"""Text formatters: ios_core.export's (so labels read the same as in DOT and trace exports),
plus the app's latency wording."""

from __future__ import annotations

from ios_core.export import flops_text, op_caption, shape_text

__all__ = ["flops_text", "ms_str", "op_summary", "shape_str"]

shape_str = shape_text
op_summary = op_caption


def ms_str(ms: float | None, estimated: bool = False) -> str:
    if ms is None:
        return "–"
    return f"{ms:.3f} ms" + (" (est.)" if estimated else "")


def source_str(cost_spec: str, estimated: bool) -> str:
    """Where a latency came from: a simulated device computes every number (none is measured);
    a profile or the live GPU measured it unless the cost model says it estimated it."""
    if cost_spec.startswith("simulated"):
        return "simulated"
    return "estimated" if estimated else "measured"
