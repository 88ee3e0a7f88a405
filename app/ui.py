"""Small layout helpers shared by the pages (the `*_ui` functions return what the user chose)."""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.state import SearchChoice, Selection, selection
from app.views.colors import KIND_COLORS
from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Schedule


def require_model() -> tuple[Selection, OpGraph]:
    """The sidebar's model, traced; stops the page with a plain message when there is none."""
    sel = selection()
    if sel is None:
        st.info("Choose a model in the sidebar to begin.")
        st.stop()
    if not backend.graph_ready(sel.model_ref, sel.batch):
        _tracing_ui(sel)  # the page draws when the trace is in (never a page held for seconds)
        st.stop()
    with guard(f"Could not load the model `{sel.model_ref}` at batch {sel.batch}"):
        g = backend.graph(sel.model_ref, sel.batch)
    return sel, g


@st.fragment(run_every=0.3)
def _tracing_ui(sel: Selection) -> None:
    """Says that the model is being traced; reruns the page once it is."""
    if backend.graph_ready(sel.model_ref, sel.batch):
        st.rerun()
    st.info(f"Tracing **{sel.model_ref}** at batch {sel.batch} in the app's worker process "
            "(the first time, it imports torch too: a few seconds). The page opens when it is "
            "done.", icon=":material/hourglass_top:")


def kind_legend_ui(graph: OpGraph) -> None:
    """A one-line legend of the op-kind colours present in the graph."""
    kinds = sorted({n.kind for n in graph.nodes})
    chips = " ".join(
        f"<span style='background:{KIND_COLORS.get(k, '#bab0ac')};padding:1px 8px;"
        f"border-radius:8px;border:1px solid #888;margin-right:4px'>{k}</span>"
        for k in kinds
    )
    st.markdown(f"Op kinds: {chips}", unsafe_allow_html=True)


def selection_caption(sel: Selection) -> None:
    st.caption(f"Model **{sel.model_ref}** · batch **{sel.batch}** · "
               f"{backend.cost_label(sel.cost_spec)} (change these in the sidebar)")


LONG_SEARCH_OPS = 150  # the DP on RandWire / NASNet parts runs for minutes on a CPU


def confirm_long_search(sel: Selection, what: str, key: tuple) -> None:
    """Stop the page until the user asks for a search that may run for minutes.

    Small models search at once (the page opens populated); on big ones a widget change must
    not start minutes of work by surprise.
    """
    if confirmed(key):
        return
    done = st.session_state.setdefault("confirmed_searches", set())
    st.warning(f"{what} on {sel.model_ref} ({len(backend.graph(sel.model_ref, sel.batch))} "
               "operators) can take minutes on this machine: the IOS dynamic program grows fast "
               "with the width of its parts. Smaller r, s or max part size make it faster; "
               "sequential and greedy are instant.", icon=":material/hourglass_top:")
    if st.button(f"Run: {what}", key=f"confirm:{key}", type="primary"):
        done.add(key)
        return
    st.stop()


def confirmed(key: tuple) -> bool:
    """Whether the user has asked for the long search ``key`` (:func:`confirm_long_search`)."""
    return key in st.session_state.get("confirmed_searches", set())


def needs_confirmation(sel: Selection, strategy: str) -> bool:
    big = len(backend.graph(sel.model_ref, sel.batch)) > LONG_SEARCH_OPS
    return big and strategy.startswith("ios-")


def current_schedule(sel: Selection) -> Schedule:
    """The schedule of the Optimize page's knobs (searched on first use, then cached)."""
    from app.state import search_choice

    c = search_choice()
    shipped = shipped_first(sel, c.strategy, c)
    if shipped is not None:
        return shipped
    if needs_confirmation(sel, c.strategy):
        confirm_long_search(sel, f"the {c.strategy} search (r={c.r}, s={c.s})",
                            (sel, c))
    with guard(f"Could not find a {c.strategy} schedule"):
        return backend.find_schedule(sel.model_ref, sel.batch, sel.cost_spec, c.strategy, c.r,
                                     c.s, c.max_part_ops, c.max_part_states)


def sequential_schedule(sel: Selection, max_part_ops: int) -> Schedule:
    """The baseline every speedup is measured against (r and s do not matter to it)."""
    d = backend.DEFAULT_SEARCH
    with guard("Could not build the sequential baseline"):
        return backend.find_schedule(sel.model_ref, sel.batch, sel.cost_spec, "sequential", d.r,
                                     d.s, max_part_ops)


def active_schedule_ui(sel: Selection) -> Schedule:
    """The optimized schedule, or the uploaded one (Export page) when the user picks it."""
    uploaded = st.session_state.get("uploaded")
    if uploaded and uploaded[0] == (sel.model_ref, sel.batch):
        pick = st.radio("Show", ("Optimized schedule", f"Uploaded: {uploaded[2]}"),
                        horizontal=True, key="which_schedule")
        if pick != "Optimized schedule":
            return uploaded[1]
    return current_schedule(sel)


def _searched_here() -> set:
    return st.session_state.setdefault("search_here", set())


def shipped_first(sel: Selection, strategy: str, choice: SearchChoice | None = None,
                  note: bool = True) -> Schedule | None:
    """The schedule a GPU search found for this model, batch and strategy, where one ships with
    the profile in use and the user has not asked to search here instead; None otherwise.

    With ``note``, says so above the page's figures, with a button that searches here (with the
    Optimize page's knobs, which the shipped schedule may not have used).
    """
    key = (sel, strategy)
    if key in _searched_here() or backend.shipped_file(sel.cost_spec, sel.model_ref, sel.batch,
                                                       strategy) is None:
        return None
    with guard(f"Could not load the shipped {strategy} schedule"):
        found = backend.shipped_schedule(sel.cost_spec, sel.model_ref, sel.batch, strategy)
    if found is None or not note:
        return found
    s = found.search
    knobs = f"r={s.r}, s={s.s}, max part {s.max_part_ops}"
    differ = choice is not None and (choice.r, choice.s, choice.max_part_ops) != (
        s.r, s.s, s.max_part_ops) and strategy.startswith("ios-")
    row = st.container(horizontal=True, vertical_alignment="center")
    row.info(f"Shown at once: the {strategy} schedule the search found on the GPU ({knobs}), "
             f"shipped with {sel.cost_spec}"
             + (f"; your knobs (r={choice.r}, s={choice.s}, max part {choice.max_part_ops}) "
                "are not applied to it." if differ else "."), icon=":material/bolt:")
    if row.button("Search here instead", key=f"search_here:{sel}:{strategy}",
                  help="Run the search on this machine with the Optimize page's knobs"):
        _searched_here().add(key)
        st.rerun()
    return found


def schedule_for(sel: Selection, strategy: str, choice: SearchChoice) -> Schedule:
    """A strategy's schedule for side-by-side views: the shipped one where there is one, else
    a search with ``choice``'s knobs (cached)."""
    found = shipped_first(sel, strategy, note=False)
    if found is not None:
        return found
    return backend.find_schedule(sel.model_ref, sel.batch, sel.cost_spec, strategy, choice.r,
                                 choice.s, choice.max_part_ops, choice.max_part_states)
