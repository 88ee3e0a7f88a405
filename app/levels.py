"""Which level of a big model is open, and which operator is selected: one state per model,
shared by the pages (the Model page opens a cell, the Schedule page's animation and Gantt follow
it), changed by the widgets here and by clicks on the level's plotly figure.

State lives under plain keys (``level:<model>``, ``op:<model>``), not widget keys: Streamlit drops
a widget's state on the pages that do not draw it. Widgets mirror it, per page.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import backend
from app.state import Selection
from app.views.collapse import clicked_item
from app.views.gantt import Bar, trace_bars
from ios_core.ir.hierarchy import Hierarchy
from ios_core.ir.schedule import Schedule

SEARCH_LIMIT = 200  # matches offered in the "go to" list; the count says how many there are


def _level_key(sel: Selection) -> str:
    return f"level:{sel.model_ref}"


def _op_key(sel: Selection) -> str:
    return f"op:{sel.model_ref}"


def hierarchy_of(sel: Selection) -> Hierarchy:
    return backend.hierarchy(sel.model_ref, sel.batch)


def open_group(sel: Selection) -> str:
    """The open group's id ("" = the whole model)."""
    gid = st.session_state.get(_level_key(sel), "")
    return gid if gid in hierarchy_of(sel).groups else ""


def selected_op(sel: Selection) -> str | None:
    op = st.session_state.get(_op_key(sel))
    return op if op in backend.graph(sel.model_ref, sel.batch) else None


def set_open(sel: Selection, gid: str) -> None:
    """Open ``gid`` (call from callbacks: the widgets that mirror it are updated with it)."""
    st.session_state[_level_key(sel)] = gid
    for key in [k for k in st.session_state if str(k).startswith(f"w_level:{sel.model_ref}:")]:
        st.session_state[key] = gid


def select_op(sel: Selection, op: str | None, open_it: bool = True) -> None:
    """Select ``op``; with ``open_it``, open the level that lists it."""
    st.session_state[_op_key(sel)] = op
    if op is not None and open_it:
        set_open(sel, hierarchy_of(sel).parent.get(op, ""))


def group_option(hier: Hierarchy, gid: str) -> str:
    """'· · cells.3.comb0_left (5 ops)': a group in the "open" list, indented by depth."""
    if gid == "":
        return f"{hier.label(gid)}: the whole model ({len(hier.ops(gid))} ops)"
    return f"{'· ' * (hier.depth(gid) - 1)}{hier.label(gid)} ({len(hier.ops(gid))} ops)"


def level_picker_ui(sel: Selection, page: str) -> str:
    """Breadcrumb, "up" and a list of every group to open; returns the open group's id."""
    hier = hierarchy_of(sel)
    gid = open_group(sel)
    wkey = f"w_level:{sel.model_ref}:{page}"
    st.session_state[wkey] = gid  # the widget mirrors the shared state (set before it is drawn)
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    left.selectbox("Open level", hier.open_groups(), key=wkey,
                   format_func=lambda g: group_option(hier, g),
                   on_change=lambda: set_open(sel, st.session_state[wkey]),
                   help="Boxes are modules (NASNet's cells, Inception's mixed blocks), or bands "
                        "of a wide level cut by depth (RandWire's stages). Click a box in the "
                        "graph to open it.")
    parent = hier.parent.get(gid, "")
    right.button("↑ Up", key=f"up:{sel.model_ref}:{page}", disabled=gid == "",
                 on_click=set_open, args=(sel, parent), width="stretch")
    crumbs = [*hier.ancestors(gid), gid] if gid else [""]
    st.caption("Open: " + " › ".join(hier.label(c) for c in crumbs))
    return gid


def on_level_click(sel: Selection, chart_key: str) -> Callable[[], None]:
    """The callback of the level figure's ``on_select``: a box opens, an operator is selected,
    a stub ("from cells.2") goes to what it names."""
    def callback() -> None:
        event = st.session_state.get(chart_key) or {}
        item = clicked_item(event.get("selection"))
        if item is None:
            return
        hier = hierarchy_of(sel)
        if hier.is_group(item) and item in hier.groups:
            set_open(sel, item)
        elif item in backend.graph(sel.model_ref, sel.batch):
            select_op(sel, item, open_it=item not in hier.children(open_group(sel)))
    return callback


def search_ui(sel: Selection) -> list[str]:
    """A name box and a "go to" list of the matches; returns every match (for rings)."""
    hier = hierarchy_of(sel)
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    query = left.text_input("Find operator", key=f"op_search:{sel.model_ref}",
                            placeholder="e.g. comb0_left or cells.3.add",
                            help="Any part of an operator's name, in any case")
    hits = hier.search(query) if query else []
    if not query:
        return []
    if not hits:
        right.info(f"No operator name holds “{query}”.")
        return []
    pkey = f"op_pick:{sel.model_ref}"
    shown = hits[:SEARCH_LIMIT]
    if st.session_state.get(pkey) not in shown:
        st.session_state.pop(pkey, None)
    more = f" (first {SEARCH_LIMIT})" if len(hits) > SEARCH_LIMIT else ""
    right.selectbox(f"{len(hits)} match{'es' if len(hits) != 1 else ''}{more}: go to", shown,
                    index=None, key=pkey, placeholder="pick one to open its level and select it",
                    on_change=lambda: select_op(sel, st.session_state[pkey]))
    return hits


def schedule_if_ready(sel: Selection) -> Schedule | None:
    """The Optimize page's schedule when one ships with the profile, is cached or is quick to
    find; None where finding it is a search of minutes the user has not asked for yet."""
    from app.state import search_choice
    from app.ui import current_schedule, needs_confirmation, shipped_first

    choice = search_choice()
    shipped = shipped_first(sel, choice.strategy, choice, note=False)
    if shipped is not None:
        return shipped
    asked = (sel, choice) in st.session_state.get("confirmed_searches", set())
    if needs_confirmation(sel, choice.strategy) and not asked:
        return None
    return current_schedule(sel)


@st.cache_resource(show_spinner=False, max_entries=8)
def _timeline(key: str, model_ref: str, batch: int, cost_spec: str,
              _schedule: Schedule) -> tuple[list[Bar], list[float]]:
    return trace_bars(backend.chrome_trace(_schedule, model_ref, batch, cost_spec))


def timeline(schedule: Schedule, sel: Selection) -> tuple[list[Bar], list[float]]:
    """The Gantt's bars and stage boundaries of a schedule, built once per schedule."""
    return _timeline(backend.schedule_key(schedule), sel.model_ref, sel.batch, sel.cost_spec,
                     schedule)
