"""Compare page: strategies side by side, the r/s pruning sweep, batch-size specialisation."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import backend
from app.errors import guard
from app.search_ui import search_key, searches_ui
from app.state import search_choice
from app.ui import (
    confirm_long_search,
    confirmed,
    needs_confirmation,
    require_model,
    schedule_for,
    selection_caption,
    shipped_first,
)
from app.views.compare import strategies_figure, sweep_figure
from app.views.tables import SUMMARY_COLUMNS, schedule_summary
from ios_core.cost.bounds import LowerBounds
from ios_core.ir.schedule import SEARCH_STRATEGIES

SWEEP_R = (1, 2, 3)
SWEEP_S = (1, 3, 8)  # the grid of the IOS paper's pruning figure
X_AXES = {"stages costed": "stages costed (what a GPU would measure)",
          "search seconds": "search seconds (here, on this machine)"}

sel, graph = require_model()
st.title("Compare")
selection_caption(sel)
choice = search_choice()
key = (sel.model_ref, sel.batch, sel.cost_spec)
SWEEP_ASKED = ("sweep", sel, choice)

st.subheader("Strategies side by side")
picked = st.multiselect("Strategies", SEARCH_STRATEGIES, default=list(SEARCH_STRATEGIES),
                        key="cmp_strategies")
unshipped = [s for s in picked  # shipped GPU schedules are shown at once, never searched
             if backend.shipped_file(sel.cost_spec, sel.model_ref, sel.batch, s) is None]
if any(needs_confirmation(sel, s) for s in unshipped):
    confirm_long_search(sel, f"the {', '.join(unshipped)} search",
                        ("compare", sel, tuple(unshipped), choice))
sweep_strategy = choice.strategy if choice.strategy.startswith("ios-") else "ios-both"
batches = (backend.profile_batches(sel.cost_spec, sel.model_ref)
           if sel.cost_spec.startswith("profile:") else [])
# every search of the page, in one background batch (the page draws at once, with progress):
# the strategies not shipped, the sweep, and each batch size's schedule and sequential baseline
strategy_keys = [search_key(sel, replace(choice, strategy=s)) for s in picked
                 if shipped_first(sel, s, note=False) is None]
sweep_keys = [search_key(sel, replace(choice, strategy=sweep_strategy, r=r, s=s))
              for r in SWEEP_R for s in SWEEP_S]
spec_keys = [search_key(replace(sel, batch=b), replace(choice, strategy=strategy)) for b in
             (batches if len(batches) > 1 else []) for strategy in (sweep_strategy, "sequential")]
sweep_asks = needs_confirmation(sel, sweep_strategy)  # minutes on a big model: asked below
page_keys = strategy_keys + (sweep_keys if not sweep_asks or confirmed(SWEEP_ASKED) else []) \
    + spec_keys
rows = []
with guard("Could not search every strategy"):
    if not searches_ui(strategy_keys, "the strategies' searches", page_keys):
        picked = []
    found = backend.bounds(*key)
    bounds = found if isinstance(found, LowerBounds) else None
    for strategy in picked:
        sched = schedule_for(sel, strategy, choice)
        row = schedule_summary(sched, bounds.lower_ms if bounds else None)
        rows.append(row | {"found": "on the GPU (shipped)" if "shipped_file" in
                           sched.search.stats else "here"})
if rows:
    base = next((r["latency ms"] for r in rows if r["strategy"] == "sequential"), None)
    for r in rows:
        r["speedup"] = (f"{base / r['latency ms']:.3f}×" if base and r["latency ms"]
                        else "add sequential to compare")
    st.plotly_chart(strategies_figure(rows, bounds), width="stretch", key="cmp_fig")
    st.dataframe(rows, hide_index=True, width="stretch", column_config=SUMMARY_COLUMNS)
st.caption(f"r = {choice.r}, s = {choice.s}, max part {choice.max_part_ops} (set on the Optimize "
           "page) where a strategy is searched here; a schedule *found on the GPU* ships with "
           "the profile and keeps its own r and s. Sequential and greedy do not search "
           "(“no DP”). "
           + (f"Lower bounds {bounds.how}: no schedule of this model under {sel.cost_spec} beats "
              "them, merges included. The isolated-op path is only a reference: merges beat it."
              if bounds else f"No lower bound: {found}."))

st.subheader("Pruning: latency against search cost")
if sweep_asks:
    confirm_long_search(sel, "the pruning sweep (9 searches)", SWEEP_ASKED)
st.caption(f"{sweep_strategy} for r ∈ {{{', '.join(map(str, SWEEP_R))}}} and "
           f"s ∈ {{{', '.join(map(str, SWEEP_S))}}}, as in the IOS "
           "paper's pruning figure: smaller r and s cut transitions (and GPU measurements) at "
           "little cost in latency.")
x_key = st.radio("Search cost axis", list(X_AXES), format_func=X_AXES.__getitem__,
                 horizontal=True, key="sweep_x")
if searches_ui(sweep_keys, "the pruning sweep", page_keys, above=strategy_keys):
    with guard("Could not run the pruning sweep"):
        sweep = [schedule_summary(backend.find_schedule(*k)) for k in sweep_keys]
        st.plotly_chart(sweep_figure(sweep, x_key), width="stretch", key="sweep_fig")
        with st.expander("Sweep table"):
            st.dataframe(sweep, hide_index=True, width="stretch",
                         column_config=SUMMARY_COLUMNS)

st.subheader("Batch-size specialisation")
if len(batches) < 2:
    why = ("the cost source is a simulated device, not a profile measured on a GPU"
           if sel.cost_spec.startswith("simulated:") else
           "the live GPU measures one batch size at a time"
           if sel.cost_spec == "measured" else
           f"{sel.cost_spec} has measurements for batch {', '.join(map(str, batches)) or '–'} only")
    shipped = sorted({f"{n} (batch {b})" for n, b, _ in backend.shipped_profiles()})
    st.info(f"Not shown: specialisation needs measured profiles of this model at several batch "
            f"sizes, and {why}. Shipped profiles: "
            f"{', '.join(shipped) or 'none in data/profiles yet'}.", icon=":material/info:")
elif searches_ui(spec_keys, "the batch sizes' searches", page_keys,
                 above=strategy_keys + sweep_keys):
    spec_rows = []
    with guard("Could not compare batch sizes"):
        found = {k[1]: backend.find_schedule(*k) for k in spec_keys if k[3] != "sequential"}
        for b in batches:  # every batch's own schedule, and each other batch's schedule run at b
            seq = next(backend.find_schedule(*k) for k in spec_keys
                       if k[1] == b and k[3] == "sequential")
            row = {"run at batch": b, "sequential ms": round(seq.predicted_ms, 4)}
            for a in batches:
                sched = found[a] if a == b else backend.price_at_batch(
                    found[a].dumps(), sel.model_ref, b, sel.cost_spec)
                row[f"{sweep_strategy} searched at batch {a}, ms"] = round(sched.predicted_ms, 4)
            spec_rows.append(row)
    st.dataframe(spec_rows, hide_index=True, width="stretch")
    st.caption("Each column is one schedule; each row prices it at one batch size with the same "
               "profile. A schedule is fastest at the batch it was searched for (the diagonal), "
               "as in the IOS paper's specialisation table. Costs a profile lacks are estimated "
               "by the simulated H100.")
