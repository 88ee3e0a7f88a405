"""Optimize page: cost source, batch, strategy and pruning knobs; the result against the baseline
and the lower bounds, with the search's statistics."""

from __future__ import annotations

from functools import partial

import plotly.graph_objects as go
import streamlit as st

from app import backend
from app.errors import guard
from app.search_ui import long_search_ui
from app.state import persistent, search_choice
from app.ui import (
    current_schedule,
    require_model,
    selection_caption,
    sequential_schedule,
    shipped_first,
)
from app.views.colors import STRATEGY_COLORS
from app.views.tables import part_rows, search_stat_rows
from ios_core.cost.bounds import LowerBounds
from ios_core.ir.schedule import SEARCH_STRATEGIES

IOS_STRATEGIES = ("ios-merge", "ios-parallel", "ios-both")
STRATEGY_HELP = {
    "sequential": "one operator per stage, in topological order (the baseline)",
    "greedy": "every ready operator at once, up to a stream cap (a wavefront)",
    "ios-merge": "IOS dynamic program, merging convolutions that read the same tensor",
    "ios-parallel": "IOS dynamic program, running independent groups on concurrent streams",
    "ios-both": "IOS dynamic program with both merge and concurrent stages",
}

sel, graph = require_model()
st.title("Optimize")
selection_caption(sel)
if backend.cuda_device_name() is None:
    st.info("No CUDA GPU on this machine, so live profiling is off: stage costs come from "
            f"{backend.cost_label(sel.cost_spec)}. Pick another cost source in the sidebar.",
            icon=":material/info:")

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
with c1:
    strategy = persistent(st.selectbox, "Strategy", "strategy", options=SEARCH_STRATEGIES,
                          help="How stages are chosen")
    st.caption(STRATEGY_HELP[strategy])
pruned = strategy in IOS_STRATEGIES
with c2:
    persistent(st.slider, "r: max ops per group", "r", min_value=1, max_value=5,
               disabled=not pruned, help="IOS default 3; smaller prunes more transitions")
with c3:
    persistent(st.slider, "s: max groups per stage", "s", min_value=1, max_value=8,
               disabled=not pruned, help="IOS default 8")
with c4:
    persistent(st.number_input, "Max part size", "max_part_ops", min_value=4, max_value=100,
               help="Ops per DP subproblem; larger blocks are cut (IOS used 50)")
    persistent(st.number_input, "Max DP states per part", "max_part_states", min_value=64,
               max_value=1 << 20, step=1024, disabled=not pruned,
               help="Wide blocks (RandWire, NASNet) are also cut where a part would have more "
                    "DP states than this: it bounds the search time")

choice = search_choice()
# a long search runs in the background with progress and a Stop button (app/search_ui.py),
# unless a shipped GPU search answers it (current_schedule shows that one)
schedule = None
if shipped_first(sel, choice.strategy, note=False) is None:
    schedule = long_search_ui(sel, choice)
if schedule is None:
    schedule = current_schedule(sel)
baseline = sequential_schedule(sel, int(st.session_state["max_part_ops"]))
with guard("Could not compute the lower bounds"):
    found = backend.bounds(sel.model_ref, sel.batch, sel.cost_spec)
bounds = found if isinstance(found, LowerBounds) else None

ms, base_ms = schedule.predicted_ms, baseline.predicted_ms
# a row that wraps on a narrow page, where five columns would cut the values short
row = st.container(horizontal=True, gap="small")
metric = partial(row.metric, width=160)  # fixed widths wrap rather than shrink
metric("Latency", f"{ms:.3f} ms")
metric("Speedup over sequential", f"{base_ms / ms:.2f}×" if ms > 0 else "–",
       help=f"sequential: {base_ms:.3f} ms", width=190)
if bounds is not None:
    metric("Lower bound", f"{bounds.lower_ms:.3f} ms",
           help=f"no schedule of this model beats it under {sel.cost_spec}, merges included: "
                f"the larger of the path bound ({bounds.path_ms:.3f} ms) and the work bound "
                f"({bounds.work_ms:.3f} ms), {bounds.how}")
    metric("Of the lower bound", f"{bounds.lower_ms / ms:.0%}" if ms > 0 else "–",
           help="lower bound over this latency: 100 % would be as fast as any schedule")
else:
    metric("Lower bound", "none", help=str(found))
    metric("Of the lower bound", "–", help=str(found))
metric("Stages", len(schedule.stages),
       help=f"{sum(s.strategy == 'merge' for s in schedule.stages)} merge stages")
if sel.cost_spec.startswith("simulated:"):
    st.caption("Every latency here is computed by the simulated device (a roofline model), "
               "not measured on a GPU.")
elif schedule.estimated_stages:
    st.caption(f"{schedule.estimated_stages} of {len(schedule.stages)} stage costs are "
               "estimated by the analytic model: the profile lacked them.")

bars = [(strategy, ms, STRATEGY_COLORS.get(strategy, "#b3b3b3")),
        ("sequential", base_ms, STRATEGY_COLORS["sequential"])]
if bounds is not None:
    bars += [("path bound", bounds.path_ms, "#4d4d4d"), ("work bound", bounds.work_ms, "#4d4d4d"),
             ("isolated-op path (reference)", bounds.reference_ms, "#d9d9d9")]
fig = go.Figure(go.Bar(
    x=[v for _, v, _ in bars], y=[k for k, _, _ in bars], orientation="h",
    marker_color=[c for _, _, c in bars], text=[f"{v:.3f} ms" for _, v, _ in bars],
    textposition="auto"))
fig.update_layout(height=80 + 32 * len(bars), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                  title="This schedule against the baseline and the lower bounds",
                  xaxis_title="ms", yaxis={"autorange": "reversed"})
st.plotly_chart(fig, width="stretch")
if bounds is not None:
    st.caption(f"The **path bound** is the longest path through the model, each operator "
               "weighing the least any stage can charge it on that path; the **work bound** adds "
               "up the least each operator adds to any stage. Both hold for every schedule "
               f"under {sel.cost_spec}, merged or concurrent ({bounds.how}). "
               "The **isolated-op path** (every operator alone, one after another) is only a "
               "reference: merged stages run a path faster than its operators alone.")
else:
    st.caption(f"No lower bound: {found}.")

st.subheader("Search statistics")
stats = schedule.search.stats
st.dataframe(search_stat_rows(stats), hide_index=True, width="stretch")
parts = stats.get("parts") or []
if parts:
    with st.expander(f"Per part ({len(parts)} DP subproblems)"):
        st.dataframe(part_rows(parts), hide_index=True, width="stretch")
st.page_link("app_pages/schedule.py", label="See the stages play out on the Schedule page",
             icon=":material/play_circle:")
