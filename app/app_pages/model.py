"""Model page: the operator DAG (blocks as clusters, colour by kind) and the operator table."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.ui import kind_legend_ui, require_model, selection_caption
from app.views.dot import BIG_GRAPH_OPS, blocks_overview_dot, model_dot
from app.views.fmt import shape_str
from app.views.tables import operator_rows

VIEWS = ("Whole graph", "Blocks overview", "One block")

sel, graph = require_model()
st.title(f"Model: {graph.name}")
selection_caption(sel)
about = {m.name: m.description for m in backend.sample_models()}.get(sel.model_ref)
if about:
    st.markdown(about)
with guard("Could not cost or partition the model"):
    costs = backend.op_costs(sel.model_ref, sel.batch, sel.cost_spec)
    blocks = backend.blocks(sel.model_ref, sel.batch)

cols = st.columns(4)
cols[0].metric("Operators", len(graph))
cols[1].metric("Blocks", len(blocks))
cols[2].metric("GFLOPs", f"{graph.total_flops() / 1e9:.2f}")
shapes = [shape_str(spec.shape) for spec in graph.inputs]
cols[3].metric("Inputs" if len(shapes) > 1 else "Input", ", ".join(shapes) or "–",
               help=" · ".join(f"{spec.name}: {shape}"
                               for spec, shape in zip(graph.inputs, shapes, strict=True)))

big = len(graph) > BIG_GRAPH_OPS
st.subheader("Operator graph")
if big:
    st.caption(f"{len(graph)} operators are too many to read at once: the overview shows one node "
               "per block; open one block to see its operators.")
left, right = st.columns([1, 2])  # widget keys per model: defaults differ
view = left.radio("View", VIEWS, index=1 if big else 0, key=f"model_view:{sel.model_ref}",
                  horizontal=True)
block_names = [f"block {i}: {len(b)} ops (from {b[0]})" for i, b in enumerate(blocks)]
chosen = right.selectbox("Block to open", range(len(blocks)), format_func=block_names.__getitem__,
                         key=f"model_block:{sel.model_ref}", disabled=view == "Whole graph")
kind_legend_ui(graph)
if view == "Whole graph":
    st.graphviz_chart(model_dot(graph, blocks, costs))
elif view == "Blocks overview":
    st.graphviz_chart(blocks_overview_dot(graph, blocks, costs, selected=chosen))
    st.caption(f"Block {chosen} (outlined in red above; pick another in “Block to open”):")
    st.graphviz_chart(model_dot(graph, blocks, costs, only=blocks[chosen]))
else:
    st.graphviz_chart(model_dot(graph, blocks, costs, only=blocks[chosen]))
st.caption("Labels: name, what the op does, output shape, isolated latency "
           "(“est.” = a profile lacked it and the analytic model estimated it).")

st.subheader("Operators")
st.dataframe(operator_rows(graph, costs, blocks, sel.cost_spec), width="stretch", hide_index=True,
             height=360)
