"""What if: pin or forbid stages (or merging for an operator), re-solve, see the difference; and
any two schedules of the model side by side, stage by stage (IOS's specialisation study)."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.state import SearchChoice, Selection, search_choice
from app.ui import (
    confirm_long_search,
    current_schedule,
    needs_confirmation,
    require_model,
    schedule_for,
    selection_caption,
)
from app.views.diff import diff_rows
from ios_core.ir.schedule import SEARCH_STRATEGIES, Schedule

sel, graph = require_model()
st.title("What if")
selection_caption(sel)
base = current_schedule(sel)
n = len(base.stages)


def stage_label(i: int) -> str:
    stage = base.stages[i]
    ops = ", ".join(stage.ops[:3]) + (f" +{len(stage.ops) - 3}" if len(stage.ops) > 3 else "")
    return f"stage {i + 1}: {stage.strategy} ({ops})"


def compare_ui(a: Schedule, b: Schedule, b_name: str, key: str) -> None:
    """Latencies and the stage-by-stage diff of ``b`` against ``a`` (both under one cost)."""
    row = st.container(horizontal=True)
    row.metric("A: this schedule", f"{a.predicted_ms:.4f} ms", width=190)
    row.metric(f"B: {b_name}", f"{b.predicted_ms:.4f} ms", width=260,
               delta=f"{b.predicted_ms - a.predicted_ms:+.4f} ms", delta_color="inverse")
    only = st.checkbox("Only the stages that differ", value=True, key=f"only:{key}")
    rows = diff_rows(a, b, only_changes=only)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 420))
    else:
        st.success("Both schedules have the very same stages.")
    st.caption("Each row is a segment: the fewest stages after which A and B have run the same "
               "operators. *change ms* is B's time minus A's for that segment, both priced by "
               f"{backend.cost_label(sel.cost_spec)}.")


st.subheader("Pin or forbid, then re-solve")
strategy = base.search.strategy
if not strategy.startswith("ios-"):
    st.info(f"The schedule on show is {strategy}, which does not search: pick an ios-* strategy "
            "on the Optimize page to re-solve under constraints.", icon=":material/info:")
else:
    c1, c2 = st.columns(2)
    forbid = c1.multiselect("Forbid these stages", range(n), format_func=stage_label,
                            key=f"forbid:{sel}", help="the search may not form them again")
    pin = c2.multiselect("Pin these stages", range(n), format_func=stage_label,
                         key=f"pin:{sel}", help="their operators must run exactly so")
    convs = [node.name for node in graph.nodes if node.kind == "conv"]
    merged = {op for s in base.stages if s.strategy == "merge" for op in s.ops}
    no_merge = st.multiselect("Never merge these operators", sorted(convs, key=lambda o: (
        o not in merged, o)), key=f"nomerge:{sel}",
        help="merged ones first; no merge stage of two or more ops may hold them")
    rules = backend.constraints(
        pinned=[(base.stages[i].strategy, base.stages[i].ops) for i in pin],
        forbidden=[(base.stages[i].strategy, base.stages[i].ops) for i in forbid],
        no_merge=no_merge)
    if not rules:
        st.caption("Pick stages to forbid or pin, or operators never to merge: the search then "
                   "finds the best schedule that obeys them (the full dynamic program, every "
                   "stage costed once, with this schedule's r, s and parts).")
    else:
        if needs_confirmation(sel, strategy):
            confirm_long_search(sel, f"the constrained {strategy} search", ("whatif", sel, rules))
        with guard("Could not re-solve under the constraints"):
            again = backend.constrained_schedule(sel.model_ref, sel.batch, sel.cost_spec,
                                                 strategy, backend.search_config(base), rules)
            compare_ui(base, again, "re-solved under your constraints", "whatif")

st.subheader("Diff two schedules")
choice = search_choice()
axis = st.radio("B differs from this schedule in", ("strategy", "GPU profile", "batch size",
                                                    "r and s"), horizontal=True, key="diff_axis")


def other(sel_b: Selection, strategy_b: str, knobs: SearchChoice) -> Schedule:
    with guard(f"Could not find the {strategy_b} schedule B"):
        return schedule_for(sel_b, strategy_b, knobs)


b: Schedule | None = None
name = ""
if axis == "strategy":
    pick = st.selectbox("B's strategy", [s for s in SEARCH_STRATEGIES if s != strategy],
                        key="diff_strategy")
    if needs_confirmation(sel, pick) and backend.shipped_file(
            sel.cost_spec, sel.model_ref, sel.batch, pick) is None:
        confirm_long_search(sel, f"the {pick} search", ("diff", sel, pick, choice))
    b, name = other(sel, pick, choice), pick
elif axis == "GPU profile":
    specs = [s for s in backend.profile_specs(sel.batch) if s != sel.cost_spec]
    if not specs:
        st.info("No other shipped profile at this batch size.")
    else:
        spec = st.selectbox("B searched with", specs, format_func=backend.cost_label,
                            key="diff_spec")
        found = other(Selection(sel.model_ref, sel.batch, spec), strategy, choice)
        with guard("Could not price B under this page's cost source"):
            b = backend.price_at_batch(found.dumps(), sel.model_ref, sel.batch, sel.cost_spec)
        name = f"{strategy} found with {spec}, run here"
elif axis == "batch size":
    batches = [x for x in backend.profile_batches(sel.cost_spec, sel.model_ref) if x != sel.batch]
    if not batches:
        st.info(f"{backend.cost_label(sel.cost_spec)} measured this model at one batch size "
                "only: specialisation by batch needs a profile of several (Inception V3 has b1 "
                "and b16 on the shipped H100 and H200 profiles).")
    else:
        at = st.selectbox("B searched at batch", batches, key="diff_batch")
        found = other(Selection(sel.model_ref, at, sel.cost_spec), strategy, choice)
        with guard("Could not price B at this batch size"):
            b = backend.price_at_batch(found.dumps(), sel.model_ref, sel.batch, sel.cost_spec)
        name = f"{strategy} found at batch {at}, run at {sel.batch}"
else:
    c1, c2 = st.columns(2)
    r = c1.slider("B's r", 1, 5, 1, key="diff_r")
    s = c2.slider("B's s", 1, 8, 3, key="diff_s")
    pick = strategy if strategy.startswith("ios-") else "ios-both"
    if needs_confirmation(sel, pick):
        confirm_long_search(sel, f"the {pick} search (r={r}, s={s})", ("diff", sel, pick, r, s))
    with guard(f"Could not search {pick} with r={r}, s={s}"):
        b = backend.find_schedule(sel.model_ref, sel.batch, sel.cost_spec, pick, r, s,
                                  choice.max_part_ops, choice.max_part_states)
    name = f"{pick}, r={r}, s={s}"
if b is not None:
    compare_ui(base, b, name, "diff")
