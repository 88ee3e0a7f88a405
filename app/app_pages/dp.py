"""How the DP decides: one small block's DP states and transitions, the chosen path, and what
pruning (r, s) removed."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.state import selection
from app.views.dot import model_dot
from app.views.dp import dp_dot, prune_reason, pruned, short_names, stage_text, state_label

TEACHING_NET = "ios_demo"
MAX_OPS = 9  # the unpruned DP of a bigger block has too many transitions to draw

st.title("How the DP decides")
st.markdown(
    "IOS solves each block with a dynamic program. A **state** is a set of operators closed "
    "under predecessors; its cost is the fastest way to run exactly those operators. For every "
    "state the DP tries each possible **last stage** (a set of ops nothing else in the state "
    "waits for): as *concurrent* groups (‖, each group a chain → on its own stream) or as one "
    "*merged* convolution (+). It keeps the cheapest: cost(S) = min over stages of "
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

c1, c2, c3 = st.columns(3)
strategy = c1.selectbox("Strategy", ("ios-both", "ios-parallel", "ios-merge"), key="dp_strategy")
r = c2.slider("r: max ops per group", 1, 4, 3, key="dp_r")
s = c3.slider("s: max groups per stage", 1, 4, 4, key="dp_s")
with guard("The DP could not run on this block"):
    rec = backend.dp_record(model_ref, sel.batch, sel.cost_spec, ops, strategy, r, s)
    free = backend.dp_record(model_ref, sel.batch, sel.cost_spec, ops, strategy, len(ops),
                             len(ops))
removed = pruned(free, rec)
ids = short_names(ops)
full = frozenset(ops)
path = rec.chosen_path(full)

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
