"""Model page: the operator DAG one level at a time (modules as boxes that open on a click, pan,
zoom, search by name, an operator's details, stage and place on the timeline), the whole graph
and its IOS blocks (graphviz), and the operator table."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.levels import (
    hierarchy_of,
    level_picker_ui,
    on_level_click,
    schedule_if_ready,
    search_ui,
    selected_op,
    timeline,
)
from app.ui import kind_legend_ui, require_model, selection_caption
from app.views.collapse import group_summary, level_figure
from app.views.dot import BIG_GRAPH_OPS, block_of, blocks_overview_dot, model_dot
from app.views.fmt import flops_text, ms_str, op_summary, shape_str
from app.views.gantt import gantt_figure
from app.views.steps import stage_of
from app.views.tables import operator_rows

VIEWS = ("Levels", "Whole graph", "IOS blocks")
CONTEXT_STAGES = 3  # stages shown either side of the selected op's on its timeline

sel, graph = require_model()
st.title(f"Model: {graph.name}")
selection_caption(sel)
about = {m.name: m.description for m in backend.sample_models()}.get(sel.model_ref)
if about:
    st.markdown(about)
with guard("Could not cost or partition the model"):
    costs = backend.op_costs(sel.model_ref, sel.batch, sel.cost_spec)
    blocks = backend.blocks(sel.model_ref, sel.batch)
    hier = hierarchy_of(sel)

cols = st.columns(4)
cols[0].metric("Operators", len(graph))
cols[1].metric("Blocks", len(blocks), help="IOS's blocks: the stretches between cut points "
               "(tensors every path passes through), each solved by the DP on its own")
cols[2].metric("GFLOPs", f"{graph.total_flops() / 1e9:.2f}")
shapes = [shape_str(spec.shape) for spec in graph.inputs]
cols[3].metric("Inputs" if len(shapes) > 1 else "Input", ", ".join(shapes) or "–",
               help=" · ".join(f"{spec.name}: {shape}"
                               for spec, shape in zip(graph.inputs, shapes, strict=True)))

st.subheader("Operator graph")
view = st.radio("View", VIEWS, key="model_view", horizontal=True,
                help="Levels: the model as its modules nest, one level open at a time. Whole "
                     "graph: every operator at once (small models). IOS blocks: the parts the "
                     "scheduler solves apart.")
kind_legend_ui(graph)


def details_ui(op: str) -> None:
    """What the op is, where it sits, its stage and its slice of the timeline."""
    node, cost = graph[op], costs.get(op)
    st.markdown(f"**{op}**  \n{op_summary(node)} → {shape_str(node.shape)}")
    facts = {
        "kind": node.kind, "FLOPs": flops_text(node.flops), "bytes": f"{node.bytes:,}",
        "alone": ms_str(cost.ms, cost.estimated) if cost else "–",
        "module": node.source or "–", "IOS block": str(block_of(blocks).get(op, "–")),
        "reads": ", ".join(node.inputs) or "–",
        "read by": ", ".join(graph.consumers(op)) or "the model's output",
    }
    left, right = st.columns(2)
    left.markdown("\n".join(f"- **{k}**: {v}" for k, v in facts.items()))
    with right:
        stage_ui(op)


def stage_ui(op: str) -> None:
    """The op's stage in the schedule and its slice of the timeline."""
    schedule = schedule_if_ready(sel)
    if schedule is None:
        st.caption("Its stage: the schedule of this big model is not searched yet (the search "
                   "can take minutes); run it on the Optimize or Schedule page.")
        return
    where = stage_of(schedule).get(op)
    if where is None:
        st.caption("The schedule does not run this operator.")
        return
    si, gi = where
    stage = schedule.stages[si]
    role = "merged into one wide conv" if stage.strategy == "merge" else f"stream {gi}"
    others = [n for n in stage.ops if n != op]
    st.markdown(f"**Stage {si + 1}/{len(schedule.stages)}** of the {schedule.search.strategy} "
                f"schedule: {stage.strategy}, {role}, {ms_str(stage.predicted_ms)}"
                + (f"; with {', '.join(others[:6])}{' …' if len(others) > 6 else ''}"
                   if others else ", alone"))
    with guard("Could not lay out the timeline"):
        bars, bounds = timeline(schedule, sel)
    lo = bounds[si - CONTEXT_STAGES - 1] if si - CONTEXT_STAGES > 0 else 0.0
    hi = bounds[min(si + CONTEXT_STAGES, len(bounds) - 1)]
    mine = [b for b in bars if op in b.ops]
    if mine:
        st.caption(f"On the timeline: {mine[0].row}, {mine[0].start_ms:.3f}–"
                   f"{mine[0].start_ms + mine[0].dur_ms:.3f} ms of {bounds[-1]:.3f} ms "
                   f"(outlined; {CONTEXT_STAGES} stages either side).")
    fig = gantt_figure(bars, bounds, highlight_stage=si, highlight_op=op, window=(lo, hi))
    fig.update_layout(height=min(fig.layout.height, 300), showlegend=False)
    st.plotly_chart(fig, width="stretch", key=f"op_timeline:{sel.model_ref}")


if view == "Levels":
    st.caption("Boxes are modules (NASNet's cells, Inception's mixed blocks) or, where a level "
               "is too wide, bands of it cut by depth (RandWire's stages); the number is their "
               "operator count. Click a box to open it, an operator for its details; drag to "
               "pan, scroll or use the toolbar to zoom.")
    gid = level_picker_ui(sel, "model")
    hits = search_ui(sel)
    level = hier.level(graph, gid)
    chosen = selected_op(sel)
    chart_key = f"level_chart:{sel.model_ref}:{gid}"  # a fresh selection per level
    st.plotly_chart(level_figure(graph, hier, level, costs, hits=hits, selected=chosen),
                    width="stretch", key=chart_key, on_select=on_level_click(sel, chart_key),
                    selection_mode="points", config={"scrollZoom": True, "displaylogo": False})
    with st.container(border=True):  # below the graph: the graph keeps the page's width
        if chosen is not None:
            details_ui(chosen)
        else:
            st.markdown(f"**{hier.label(gid)}**: {group_summary(graph, hier.ops(gid), costs)}")
            st.caption("Click an operator (a circle) to see its details, its stage and its "
                       "place on the timeline.")
elif view == "Whole graph":
    if len(graph) > BIG_GRAPH_OPS:
        st.info(f"{len(graph)} operators are too many to draw at once: open them level by "
                "level in “Levels”.")
    else:
        st.graphviz_chart(model_dot(graph, blocks, costs))
else:
    block_names = [f"block {i}: {len(b)} ops (from {b[0]})" for i, b in enumerate(blocks)]
    chosen_block = st.selectbox("Block to open", range(len(blocks)),
                                format_func=block_names.__getitem__,
                                key=f"model_block:{sel.model_ref}")
    st.graphviz_chart(blocks_overview_dot(graph, blocks, costs, selected=chosen_block))
    block = blocks[chosen_block]
    if len(block) > BIG_GRAPH_OPS:
        st.info(f"Block {chosen_block} holds {len(block)} operators, too many to draw at once: "
                "open its modules level by level in “Levels”.")
    else:
        st.caption(f"Block {chosen_block} (outlined in black above):")
        st.graphviz_chart(model_dot(graph, blocks, costs, only=block))
if view != "Levels":
    st.caption("Labels: name, what the op does, output shape, isolated latency "
               "(“est.” = a profile lacked it and the analytic model estimated it).")

st.subheader("Operators")
st.dataframe(operator_rows(graph, costs, blocks, sel.cost_spec), width="stretch", hide_index=True,
             height=360)
