"""An OpGraph as JSON (format ``ios-graph/1``): a graph traced in one process, used in another.

Tracing needs torch and the model's code; a schedule search, the bounds and every view need only
the OpGraph. The app traces in a worker process (:mod:`ios_core.frontend.trace_worker`) so that
importing torch and tracing never hold its own interpreter while a user clicks, and reads the
graph back from this format. Operator attributes hold only numbers, strings, booleans and
tuples of them (what the frontend records), so JSON's lists are turned back into tuples and the
graph read back equals the graph written, fingerprint included::

    {"format": "ios-graph/1", "name": str,
     "inputs": [{"name", "shape", "dtype"}],
     "nodes": [{"name", "kind", "inputs", "shape", "attrs", "flops", "bytes", "source"}],
     "outputs": [str]}

>>> from ios_core.ir.graph import OpNode, TensorSpec
>>> g = OpGraph("g", (TensorSpec("x", (1, 3, 8, 8)),),
...             (OpNode("c", "conv", ("x",), (1, 4, 8, 8), {"kernel": (3, 3)}, flops=10),),
...             ("c",))
>>> back = graph_from_json(graph_to_json(g))
>>> back == g, back.fingerprint() == g.fingerprint(), back["c"].attrs["kernel"]
(True, True, (3, 3))
"""

from __future__ import annotations

from typing import Any

from ios_core.ir.graph import GraphError, OpGraph, OpNode, TensorSpec

__all__ = ["FORMAT", "graph_from_json", "graph_to_json"]

FORMAT = "ios-graph/1"


def graph_to_json(graph: OpGraph) -> dict[str, Any]:
    """``graph`` as JSON-ready data (tuples become lists)."""
    return {
        "format": FORMAT,
        "name": graph.name,
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
                   for t in graph.inputs],
        "nodes": [{"name": n.name, "kind": n.kind, "inputs": list(n.inputs),
                   "shape": list(n.shape), "attrs": dict(n.attrs), "flops": n.flops,
                   "bytes": n.bytes, "source": n.source} for n in graph.nodes],
        "outputs": list(graph.outputs),
    }


def graph_from_json(data: Any) -> OpGraph:
    """The OpGraph ``data`` describes, validated; :class:`GraphError` names what is wrong.

    >>> graph_from_json({"format": "ios-schedule/1"})
    Traceback (most recent call last):
    ...
    ios_core.ir.graph.GraphError: not an ios-graph/1 file (format 'ios-schedule/1')
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise GraphError(f"not an {FORMAT} file (format {found!r})")
    try:
        graph = OpGraph(
            name=str(data["name"]),
            inputs=tuple(TensorSpec(str(t["name"]), _ints(t["shape"]), str(t["dtype"]))
                         for t in data["inputs"]),
            nodes=tuple(OpNode(str(n["name"]), str(n["kind"]), tuple(map(str, n["inputs"])),
                               _ints(n["shape"]), {str(k): _tuples(v)
                                                   for k, v in n["attrs"].items()},
                               int(n["flops"]), int(n["bytes"]), str(n["source"]))
                        for n in data["nodes"]),
            outputs=tuple(map(str, data["outputs"])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise GraphError(f"malformed {FORMAT} data: {type(e).__name__}: {e}") from None
    graph.validate()
    return graph


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _tuples(value: Any) -> Any:
    """JSON's lists back into the tuples the frontend wrote."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
