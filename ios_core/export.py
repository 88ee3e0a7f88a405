"""Schedules out to other tools: Chrome trace (Perfetto), Graphviz DOT, CSV.

The schedule JSON itself is :meth:`ios_core.ir.schedule.Schedule.dumps`. Colours are stable per op
kind and per strategy (:data:`KIND_COLORS`, :data:`STRATEGY_COLORS`, :data:`STREAM_COLORS`); the app
reuses them so a conv looks the same on every page.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ios_core.cost.base import CostModel
from ios_core.ir.graph import OpGraph, OpNode
from ios_core.ir.schedule import Schedule, Stage

# Two palettes that never meet: op kinds are pale fills (CIE L* above 78, always drawn with the
# kind's name), streams and the merge strategy saturated colours (L* below 72) from Okabe & Ito's
# colour-blind-safe set (plus Tol's olive and indigo, and his wine for merges). Told apart by
# lightness as well as hue, they stay apart for colour-blind readers; tests/test_app_views.py
# checks the distances, also under simulated deuteranopia and protanopia. "input" is the graph's
# placeholders.
KIND_COLORS: dict[str, str] = {
    "input": "#eeeeee",
    "conv": "#a6c8ec",
    "pool": "#ffc899",
    "concat": "#f3e59a",
    "add": "#b8e0b0",
    "mul": "#f7b8c8",
    "act": "#c4ecf2",
    "norm": "#ddd0ee",
    "linear": "#e6d6b8",
    "matmul": "#d0e6a0",
    "call": "#cccccc",
}
FALLBACK_COLOR = "#e9e3da"  # a kind this version has no colour for: pale, like the others

# one colour per stream (group of a concurrent stage), cycled: Okabe-Ito without its yellow and
# black (too light / the highlight), then Tol's olive and indigo
STREAM_COLORS: tuple[str, ...] = (
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9", "#cc79a7", "#999933", "#332288",
)
MERGE_COLOR = "#882255"  # Tol's wine: a merge stage, never a stream's colour

# stage strategies and search strategies (the names do not clash); a concurrent stage is drawn in
# its streams' colours, so the strategy itself takes a neutral
STRATEGY_COLORS: dict[str, str] = {
    "concurrent": "#4d4d4d",
    "merge": MERGE_COLOR,
    "sequential": "#b3b3b3",
    "greedy": "#e69f00",
    "ios-merge": MERGE_COLOR,
    "ios-parallel": "#0072b2",
    "ios-both": "#009e73",
}


def kind_color(kind: str) -> str:
    return KIND_COLORS.get(kind, FALLBACK_COLOR)


def merge_label(ops: Sequence[str]) -> str:
    """How a merge stage is named in traces and charts: ``merge(a+b+c)``."""
    return f"merge({'+'.join(ops)})"


def stage_ms(stage: Stage, timing: str = "predicted") -> float:
    """The stage's time: predicted, or measured where measured (falling back to predicted)."""
    if timing == "measured" and stage.measured_ms is not None:
        return stage.measured_ms
    return stage.predicted_ms


# ---- Chrome trace -----------------------------------------------------------------------------
STAGE_TID = 0  # the "Stages" row; stream i is row i + 1


def to_chrome_trace(
    schedule: Schedule,
    graph: OpGraph | None = None,
    cost: CostModel | None = None,
    timing: str = "predicted",
) -> dict[str, Any]:
    """The schedule as a Chrome trace (opens in Perfetto and chrome://tracing).

    ``ph: "X"`` events in µs on one process (named after the model): a "Stages" row with one event
    per stage (args: strategy, ms, estimated) and one row per stream. Within a stage, each group's
    ops run back to back on its stream, each op getting a slice of the stage's time in proportion to
    its weight: its isolated time from ``cost`` if given, else its FLOPs (with a floor so that
    cheap ops stay visible) if ``graph`` is given, else an equal split. The heaviest group spans the
    whole stage. A merge stage is one event ``merge(a+b+c)`` on stream 0. Stages are numbered
    from 1 (event names, ``args.stage``), as the app and the CSV number them. ``timing`` is
    ``"predicted"`` or ``"measured"`` (measured where a stage has it, predicted elsewhere).
    """
    if timing not in ("predicted", "measured"):
        raise ValueError(f"timing must be 'predicted' or 'measured', not {timing!r}")
    streams = max((len(st.groups) if st.strategy == "concurrent" else 1 for st in schedule.stages),
                  default=1)
    events = _trace_metadata(schedule.model.name, streams)
    start_ns = 0
    for si, stage in enumerate(schedule.stages):
        end_ns = start_ns + _ns(stage_ms(stage, timing) * 1e3)
        events.append(_stage_event(si, stage, start_ns, end_ns, timing))
        if stage.strategy == "merge":
            events.append(_merge_event(si, stage, graph, start_ns, end_ns))
        else:
            events.extend(_group_events(si, stage, graph, cost, start_ns, end_ns))
        start_ns = end_ns
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "model": schedule.model.name,
            "device": schedule.target.device,
            "batch": schedule.target.batch,
            "strategy": schedule.search.strategy,
            "cost": schedule.search.cost,
            "timing": timing,
            "total_ms": start_ns / 1e6,
        },
    }


def _ns(us: float) -> int:
    # boundaries in whole nanoseconds: clean numbers, and touching events share one value
    return max(int(round(us * 1e3)), 0) if math.isfinite(us) else 0


def _x(name: str, cat: str, tid: int, start_ns: int, end_ns: int, args: dict) -> dict[str, Any]:
    return {"name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
            "ts": start_ns / 1e3, "dur": (end_ns - start_ns) / 1e3, "args": args}


def _trace_metadata(model: str, streams: int) -> list[dict[str, Any]]:
    rows = [(STAGE_TID, "Stages")] + [(i + 1, f"stream {i}") for i in range(streams)]
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": model}}
    ]
    for tid, label in rows:
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"name": label}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"sort_index": tid}})
    return events


def _stage_event(si: int, stage: Stage, start_ns: int, end_ns: int, timing: str) -> dict:
    n = len(stage.groups)
    name = f"stage {si + 1}: {stage.strategy}" + (f" x{n}" if stage.strategy == "concurrent"
                                                  else "")
    args = {
        "strategy": stage.strategy,
        "ms": stage_ms(stage, timing),
        "estimated": stage.estimated,
        "predicted_ms": stage.predicted_ms,
        "measured_ms": stage.measured_ms,
        "groups": [list(g) for g in stage.groups],
    }
    return _x(name, "stage", STAGE_TID, start_ns, end_ns, args)


def _merge_event(si: int, stage: Stage, graph: OpGraph | None, start_ns: int, end_ns: int) -> dict:
    args: dict[str, Any] = {"stage": si + 1, "strategy": "merge", "ops": list(stage.ops)}
    if graph is not None:
        args["flops"] = sum(graph[n].flops for n in stage.ops if n in graph)
    return _x(merge_label(stage.ops), "merge", 1, start_ns, end_ns, args)


def _group_events(
    si: int, stage: Stage, graph: OpGraph | None, cost: CostModel | None, start_ns: int, end_ns: int
) -> list[dict]:
    weights = _op_weights(stage.ops, graph, cost)
    heaviest = max(sum(weights[n] for n in g) for g in stage.groups)
    scale = (end_ns - start_ns) / heaviest if heaviest > 0 else 0.0
    events = []
    for gi, group in enumerate(stage.groups):
        cursor = float(start_ns)
        for name in group:
            begin = int(round(cursor))
            cursor += weights[name] * scale
            args: dict[str, Any] = {"stage": si + 1, "group": gi, "strategy": stage.strategy}
            if graph is not None and name in graph:
                node = graph[name]
                args.update(kind=node.kind, shape=list(node.shape), flops=node.flops)
            events.append(_x(name, "op", gi + 1, begin, min(int(round(cursor)), end_ns), args))
    return events


def _op_weights(
    ops: Sequence[str], graph: OpGraph | None, cost: CostModel | None
) -> dict[str, float]:
    if cost is not None and graph is not None:
        op_ms = getattr(cost, "op_ms", None)
        if callable(op_ms):
            return {n: float(op_ms(graph, n)) for n in ops}
        return {n: cost.stage_cost(graph, "concurrent", ((n,),)).ms for n in ops}
    if graph is not None:
        flops = {n: float(graph[n].flops) if n in graph else 0.0 for n in ops}
        floor = 0.05 * max(flops.values())  # a concat (0 FLOPs) still gets a visible slice
        if floor > 0:
            return {n: max(f, floor) for n, f in flops.items()}
    return dict.fromkeys(ops, 1.0)


# ---- DOT --------------------------------------------------------------------------------------
def dot_id(name: str) -> str:
    """A quoted DOT ID for any name (backslash, quote and newline escaped)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_label(*lines: str) -> str:
    """A quoted DOT label of several lines; user text never turns into escapes like ``\\N``."""
    return '"' + "\\n".join(_escape_label(s) for s in lines) + '"'


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape)


def flops_text(flops: float) -> str:
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops:.0f} FLOP"


def op_caption(node: OpNode) -> str:
    """``conv 3×3/2 +relu``, ``pool max 3×3``, ``norm batch +relu``, ``add``: the kind with its
    key attrs."""
    a = node.attrs
    kernel = a.get("kernel")
    k = "×".join(str(d) for d in kernel) if isinstance(kernel, (tuple, list)) else kernel
    stride = a.get("stride")
    s = stride[0] if isinstance(stride, (tuple, list)) and stride else stride
    parts = [node.kind]
    if node.kind in ("pool", "norm") and a.get("mode"):
        parts.append(str(a["mode"]))
    if node.kind in ("conv", "pool") and k is not None:
        parts.append(f"{k}" + (f"/{s}" if s not in (None, 1) else ""))
    if node.activation != "none" and node.kind != "act":
        parts.append(f"+{node.activation}")
    return " ".join(parts)


def _node_line(node: OpNode, op_ms: Mapping[str, float] | None = None, indent: str = "  ") -> str:
    lines = [node.name, op_caption(node), shape_text(node.shape)]
    extra = []
    if node.flops:
        extra.append(flops_text(node.flops))
    if op_ms is not None and node.name in op_ms:
        extra.append(f"{op_ms[node.name] * 1e3:.1f} µs")
    if extra:
        lines.append(" · ".join(extra))
    color = kind_color(node.kind)
    return (f"{indent}{dot_id(node.name)} [label={dot_label(*lines)}, "
            f'color="#777777", fillcolor="{color}"];')


def _dot_header(title: str) -> list[str]:
    return [
        "digraph ios {",
        f"  graph [rankdir=TB, compound=true, fontname=Helvetica, fontsize=12, labelloc=t, "
        f"label={dot_label(title)}];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10];',
        '  edge [color="#555555", arrowsize=0.6];',
    ]


def _dot_inputs_and_edges(graph: OpGraph) -> tuple[list[str], list[str]]:
    inputs = [
        f"  {dot_id(s.name)} [shape=ellipse, label={dot_label(s.name, shape_text(s.shape))}, "
        f'color="#888888", fillcolor="{KIND_COLORS["input"]}"];'
        for s in graph.inputs
    ]
    edges = [
        f"  {dot_id(src)} -> {dot_id(n.name)};" for n in graph for src in dict.fromkeys(n.inputs)
    ]
    return inputs, edges


def graph_to_dot(
    graph: OpGraph,
    blocks: Sequence[Sequence[str]] | None = None,
    op_ms: Mapping[str, float] | None = None,
) -> str:
    """The plain operator DAG: nodes coloured by kind (:data:`KIND_COLORS`), labelled with name,
    kind, shape, FLOPs (and latency from ``op_ms`` when given); ``blocks`` drawn as clusters."""
    lines = _dot_header(f"{graph.name}: {len(graph)} operators")
    inputs, edges = _dot_inputs_and_edges(graph)
    lines += inputs
    placed: set[str] = set()
    for bi, block in enumerate(blocks or ()):
        lines.append(f"  subgraph cluster_block_{bi} {{")
        lines.append(f'    label={dot_label(f"block {bi}")}; style="rounded,dashed"; '
                     'color="#999999";')
        for name in block:
            if name in graph and name not in placed:
                lines.append(_node_line(graph[name], op_ms, "    "))
                placed.add(name)
        lines.append("  }")
    lines += [_node_line(n, op_ms) for n in graph if n.name not in placed]
    return "\n".join(lines + edges + ["}"]) + "\n"


def to_dot(schedule: Schedule, graph: OpGraph, timing: str = "predicted") -> str:
    """The schedule over the DAG: one cluster per stage (merge stages filled and dashed, in
    :data:`STRATEGY_COLORS`), one sub-cluster per stream of a concurrent stage, graph edges."""
    title = (f"{schedule.model.name} · {schedule.search.strategy} · {len(schedule.stages)} stages"
             f" · {sum(stage_ms(s, timing) for s in schedule.stages):.3f} ms")
    lines = _dot_header(title)
    inputs, edges = _dot_inputs_and_edges(graph)
    lines += inputs
    placed: set[str] = set()
    for si, stage in enumerate(schedule.stages):
        lines += _stage_cluster(si, stage, graph, timing)
        placed.update(stage.ops)
    lines += [_node_line(n) for n in graph if n.name not in placed]  # unscheduled: drawn loose
    return "\n".join(lines + edges + ["}"]) + "\n"


def _stage_cluster(si: int, stage: Stage, graph: OpGraph, timing: str) -> list[str]:
    color = STRATEGY_COLORS.get(stage.strategy, FALLBACK_COLOR)
    est = " (estimated)" if stage.estimated else ""
    label = dot_label(f"stage {si + 1} · {stage.strategy} · {stage_ms(stage, timing):.4f} ms{est}")
    style = ('style="filled,dashed,bold"; fillcolor="#fbe9ea"' if stage.strategy == "merge"
             else 'style="rounded"')
    lines = [f"  subgraph cluster_stage_{si} {{",
             f'    label={label}; color="{color}"; penwidth=2; {style};']
    many = stage.strategy == "concurrent" and len(stage.groups) > 1
    for gi, group in enumerate(stage.groups):
        indent = "      " if many else "    "
        if many:
            lines.append(f"    subgraph cluster_stage_{si}_g{gi} {{")
            lines.append(f'      label={dot_label(f"stream {gi}")}; style="dotted"; '
                         f'color="{STREAM_COLORS[gi % len(STREAM_COLORS)]}";')
        lines += [_node_line(graph[n], None, indent) for n in group if n in graph]
        if many:
            lines.append("    }")
    lines.append("  }")
    return lines


# ---- CSV --------------------------------------------------------------------------------------
CSV_COLUMNS = ("stage", "strategy", "group", "position", "op",
               "stage_predicted_ms", "stage_measured_ms", "estimated")


def to_csv(schedule: Schedule) -> str:
    """One row per op: its stage (numbered from 1, as the app, DOT and trace labels number them),
    the stage's strategy, its group (= stream; 0 for a merge), its position in the group, and the
    stage's predicted / measured ms (empty when not measured)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for si, stage in enumerate(schedule.stages):
        measured = "" if stage.measured_ms is None else repr(stage.measured_ms)
        for gi, group in enumerate(stage.groups):
            for pos, name in enumerate(group):
                writer.writerow([si + 1, stage.strategy, gi, pos, name,
                                 repr(stage.predicted_ms), measured, stage.estimated])
    return out.getvalue()
