"""Schedule page: the stages played over the DAG, a per-stream Gantt chart, a per-stage table."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.ui import active_schedule_ui, require_model, selection_caption
from app.views.dot import BIG_GRAPH_OPS, block_of, blocks_overview_dot, model_dot
from app.views.gantt import gantt_figure, trace_bars
from app.views.steps import op_states, stage_title
from app.views.tables import STAGE_COLUMNS, stage_rows

FOCUS_OPS = 40  # above this the step view opens the running stage's block, not the whole DAG

sel, graph = require_model()
st.title("Schedule")
selection_caption(sel)
schedule = active_schedule_ui(sel)
n = len(schedule.stages)
if n == 0:
    st.warning("This schedule has no stages: the model has no operators to run.")
    st.stop()

with guard("Could not lay out the schedule"):
    blocks = backend.blocks(sel.model_ref, sel.batch)
    trace = backend.chrome_trace(schedule, sel.model_ref, sel.batch, sel.cost_spec)
where = block_of(blocks)
big = len(graph) > BIG_GRAPH_OPS
focus = len(graph) > FOCUS_OPS
merges = sum(s.strategy == "merge" for s in schedule.stages)
st.markdown(f"**{schedule.search.strategy}**: {n} stages ({merges} merge, {n - merges} "
            f"concurrent), **{schedule.predicted_ms:.3f} ms** on {schedule.target.device}.")

st.subheader("Stages over the graph")
st.caption("▶ plays the stages one after another; ❚❚ pauses; drag the slider to step. The running "
           "stage's ops are large: wine ◆ = merge (one wide conv), ● coloured by stream = "
           "concurrent; small grey = finished. The list beside the graph names the running ops by "
           "stream. Hover an operator for its name and stage.")
only = None
if big:
    anim_block = st.selectbox("Block to animate (the graph is too big to animate whole)",
                              range(len(blocks)), key=f"anim_block:{sel.model_ref}",
                              format_func=lambda i: f"block {i}: {len(blocks[i])} ops")
    only = tuple(blocks[anim_block])
st.plotly_chart(backend.animation(schedule, sel.model_ref, sel.batch, only), width="stretch",
                key="anim")

st.subheader("Step through")
skey = backend.schedule_key(schedule)  # a new schedule starts again at its first stage
step = st.slider("Stage", 1, n + 1, 1, key=f"step:{skey}",
                 help="the last position shows everything done") - 1
st.markdown(f"**{stage_title(schedule, step)}**")
if step < n:
    st.caption(" | ".join(", ".join(g) for g in schedule.stages[step].groups))
states = op_states(schedule, step)
if focus:
    # follow the running stage: open the block that holds its first op, beside the overview
    current = where.get(schedule.stages[min(step, n - 1)].ops[0], 0)
    st.graphviz_chart(blocks_overview_dot(graph, blocks, states=states, selected=current))
    st.caption(f"Block {current}, which holds the selected stage (outlined above):")
    st.graphviz_chart(model_dot(graph, blocks, states=states, only=blocks[current]))
else:
    st.graphviz_chart(model_dot(graph, blocks, states=states))

st.subheader("Streams against time")
bars, bounds = trace_bars(trace)
st.plotly_chart(gantt_figure(bars, bounds, highlight_stage=step if step < n else None),
                width="stretch", key="gantt")
st.caption("Each row is a CUDA stream; dotted lines are stage barriers; the dashed box is the "
           "stage selected above; hatched wine bars are merged convolutions. Op slices inside a "
           "stage follow their isolated times. Drag to zoom in until names fit; hover a bar for "
           "its op.")

st.subheader("Stages")
same_cost = schedule.search.cost == sel.cost_spec
with guard("Could not compute the stages' lower bounds"):
    bounds = (backend.stage_bounds(schedule, sel.model_ref, sel.batch, sel.cost_spec)
              if same_cost else None)
st.dataframe(stage_rows(schedule, bounds), hide_index=True, width="stretch", height=360,
             column_config=STAGE_COLUMNS)
why = ("" if bounds is not None else
       f" No stage bounds here: the schedule's times come from {schedule.search.cost}, not "
       f"{sel.cost_spec}." if not same_cost else
       f" No stage bounds under {sel.cost_spec}: it has nothing to prove them from.")
st.caption("**predicted ms**: the cost model's time for the stage (“measured” in *source*: a "
           "profile's measurement of that very stage). **measured ms**: timed when the schedule "
           "itself ran on a GPU. **stage bound ms**: no stage of these operators, grouped so, "
           "costs less under the cost model; **efficiency** is that bound over the predicted "
           "time." + why)
