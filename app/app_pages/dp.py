"""How the DP decides: one small block's DP states and transitions, the chosen path, and what
pruning (r, s) removed.

The DP shown is the one of the search that made the Optimize page's schedule: the page runs it
through ios_core's own entry with that search's SearchConfig (merge stages ending in their
concat, branch and bound and all) and says so whenever the view differs, e.g. when the user moves
r or s to see what pruning removes."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import backend
from app.errors import guard
from app.state import selection
from app.ui import current_schedule
from app.views.dot import model_dot
from app.views.dp import (
    DP_STRATEGIES,
    dp_dot,
    knobs_text,
    prune_reason,
    pruned,
    short_names,
    stage_text,
    state_label,
    view_differences,
)

TEACHING_NET = backend.TEACHING_NET
MAX_OPS = 9  # the unpruned DP of a bigger block has too many transitions to draw

st.title("How the DP decides")
st.markdown(
    "IOS solves each block with a dynamic program. A **state** is a set of operators closed "
    "under predecessors; its cost is the fastest way to run exactly those operators. For every "
    "state the DP tries each possible **last stage** (a set of ops nothing else in the state "
    "waits for): as *concurrent* groups (‖, each group a chain → on its own stream) or as one "
    "*merged* convolution (+), which may also take the concat that joins the merged convolutions "
    "(then free: a view of the wide output). It keeps the cheapest: cost(S) = min over stages of "
    "cost(S − stage) + latency(stage). Pruning caps a group at **r** ops and a stage at **s** "
    "groups.")
sel = selection()
if sel is None:
    st.info("Choose a model in the sidebar to begin.")
    st.stop()
sources = [f"Teaching net ({TEACHING_NET})", f"A block of {sel.model_ref}"]
source = st.radio("Block from", sources, horizontal=True, key="dp_source")
model_ref = TEACHING_NET if source == sources[0] else sel.model_ref
with guard(f"Could not load {model_ref}"):
    graph = backend.graph(model_ref, sel.batch)
    blocks = backend.blocks(model_ref, sel.batch)
small = [i for i, b in enumerate(blocks) if 2 <= len(b) <= MAX_OPS]
if source == sources[0]:
    ops = tuple(n.name for n in graph.nodes)[:MAX_OPS]
else:
    if not small:
        st.warning(f"{sel.model_ref} has no block of 2 to {MAX_OPS} operators; use the teaching "
                   "net instead.")
        st.stop()
    bi = st.selectbox("Block", small, key=f"dp_block:{model_ref}",
                      format_func=lambda i: f"block {i}: {len(blocks[i])} ops ({blocks[i][0]} …)")
    ops = tuple(blocks[bi])

# the search this page explains: the Optimize page's, on this model (instant on the teaching net)
schedule = current_schedule(replace(sel, model_ref=model_ref))
searched = backend.search_config(schedule)
search_strategy = schedule.search.strategy

c1, c2, c3 = st.columns(3)
strategy = c1.selectbox("Strategy", DP_STRATEGIES, key="dp_strategy",
                        index=DP_STRATEGIES.index(search_strategy)
                        if search_strategy in DP_STRATEGIES else 0)
r = c2.slider("r: max ops per group", 1, max(5, searched.r), searched.r, key="dp_r")
s = c3.slider("s: max groups per stage", 1, max(8, searched.s), searched.s, key="dp_s")
shown = replace(searched, r=r, s=s)  # the search's own config; r and s as the sliders say
with guard("The DP could not run on this block"):
    rec = backend.dp_record(model_ref, sel.batch, sel.cost_spec, ops, strategy, shown)
    free = backend.dp_record(model_ref, sel.batch, sel.cost_spec, ops, strategy,
                             replace(shown, r=len(ops), s=len(ops)))
    parts = backend.search_parts(model_ref, sel.batch, searched, ops)
removed = pruned(free, rec)
ids = short_names(ops)
full = frozenset(ops)
path = rec.chosen_path(full)

differs = view_differences(search_strategy, searched, strategy, shown, ops, parts)
search_knobs = knobs_text(search_strategy, searched)
if differs:
    back = (f" Set r = {searched.r} and s = {searched.s} to see the search's own DP."
            if (r, s) != (searched.r, searched.s) else "")
    st.info(f"**This view differs from the Optimize page's search** on {model_ref} "
            f"({search_knobs}), on purpose: {'; '.join(differs)}. Its chosen schedule may differ "
            f"from that search's.{back}", icon=":material/info:")
else:
    own = [(t.strategy, t.groups) for t in schedule.stages if set(t.ops) <= full]
    if own == [(t.strategy, t.groups) for t in path]:
        st.success(f"The DP of the Optimize page's search ({search_knobs}), run on {model_ref}: "
                   "the chosen schedule below is that search's schedule for these ops.",
                   icon=":material/check_circle:")
    else:  # cannot happen while the page and optimize() share ios_core's entry
        st.warning(f"Run with the Optimize page's knobs ({search_knobs}), this DP chose other "
                   f"stages than that search's schedule of {model_ref} holds for these ops.")
if searched.bound_slack is not None and rec.stats.get("transitions_pruned"):
    st.caption(f"Branch and bound: the search costs a stage only while an assumed floor "
               f"({searched.bound_slack:g} × its slowest group alone: a rule of thumb, not a "
               "proved lower bound) says it could still win; "
               f"on this block it left {rec.stats['transitions_pruned']:,} of "
               f"{rec.stats['transitions']:,} transitions uncosted. This page costs them too, "
               "after each choice, only to show them.")

m = st.columns(4)
m[0].metric("States", len(rec.cost) + 1, help="downsets of the block, the empty one included")
m[1].metric("Transitions tried", len(rec.transitions))
m[2].metric("Removed by pruning", len(removed),
            help=f"tried without pruning: {len(free.transitions)}")
m[3].metric("Best cost", f"{rec.cost.get(full, 0.0):.4f} ms",
            help=f"without pruning: {free.cost.get(full, 0.0):.4f} ms")

left, right = st.columns([1, 2])
with left:
    st.markdown("**The block** (numbers used below)")
    st.graphviz_chart(model_dot(graph, (), only=ops))
    st.dataframe([{"#": ids[n], "operator": n, "kind": graph[n].kind} for n in ops],
                 hide_index=True, width="stretch")
with right:
    st.markdown("**States and transitions**: red = the chosen path; blue = concurrent; dashed "
                "red = merge; dotted grey ✂ = removed by pruning.")
    states = sorted(rec.cost, key=lambda x: (len(x), sorted(x)))
    picked = st.selectbox("Inspect a state", states, index=len(states) - 1,
                          key=f"dp_state:{model_ref}:{ops[0]}:{len(ops)}",
                          format_func=lambda x: state_label(x, ids))
    st.graphviz_chart(dp_dot(rec, ops, removed, selected=picked))

st.subheader("The chosen schedule")
st.dataframe([{"stage": i + 1, "strategy": t.strategy, "ops": stage_text(t.strategy, t.groups, ids),
               "stage ms": round(t.stage_ms, 4), "cost so far ms": round(t.total_ms, 4)}
              for i, t in enumerate(path)], hide_index=True, width="stretch")

st.subheader(f"Every last stage tried for {state_label(picked, ids)}")
rows = [{"last stage": stage_text(t.strategy, t.groups, ids), "strategy": t.strategy,
         "stage ms": round(t.stage_ms, 4), "cost of the rest ms": round(t.total_ms - t.stage_ms, 4),
         "total ms": round(t.total_ms, 4),
         "verdict": "chosen" if rec.best.get(picked) == (t.strategy, t.groups) else ""}
        for t in rec.transitions if t.state == picked]
rows += [{"last stage": stage_text(t.strategy, t.groups, ids), "strategy": t.strategy,
          "stage ms": round(t.stage_ms, 4),
          "cost of the rest ms": round(rec.cost.get(t.before, 0.0), 4),
          "total ms": round(rec.cost.get(t.before, 0.0) + t.stage_ms, 4),
          "verdict": f"never tried: {prune_reason(t, r, s)}"}
         for t in removed if t.state == picked]
st.dataframe(sorted(rows, key=lambda x: x["total ms"]), hide_index=True, width="stretch")
