"""A long search on the Optimize page: its size and a time guess first, then progress with the time
left and a Stop button that keeps the best schedule so far (backend's background searches).

:func:`long_search_ui` returns the schedule the page should show when the search of the page's
knobs is long: guessed over two seconds, or of a model big enough for app.ui to ask before
searching it (None when it is short: the page searches it at once, as before). Until there is a
schedule it stops the page: before the search, with the size and a Start button; during it, with
a fragment that reruns every half second (progress bar, counts, time left, Stop). A finished
search is then what ``backend.find_schedule`` returns on every page; a stopped one is shown here,
marked as partial, with a download of its JSON and a button to search again.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app import backend
from app.state import SearchChoice, Selection
from app.ui import needs_confirmation
from ios_core.ir.schedule import Schedule

POLL_S = 0.5  # the progress fragment's reruns


def search_key(sel: Selection, c: SearchChoice) -> backend.SearchKey:
    return (sel.model_ref, sel.batch, sel.cost_spec, c.strategy, c.r, c.s, c.max_part_ops,
            c.max_part_states)


def size_text(size: backend.SearchSize) -> str:
    """The size of a search and what is known of its time, for the page.

    >>> size = backend.SearchSize(151947, 45, "45 DP parts, 151,947 states", 6.1, False)
    >>> size_text(size)[:63]
    'This search has 45 DP parts, 151,947 states; roughly 6 s of DP '
    """
    if size.guess_s is not None:
        when = (f"roughly {backend.duration_text(size.guess_s)} of DP on a 2-core CPU (a guess "
                "from its states)")
    elif size.measured:
        when = ("each distinct stage is measured on the GPU (tens of ms each): the time left "
                "shows once the search is under way")
    else:
        when = ("stages are looked up one at a time (the plain DP): the time left shows once the "
                "search is under way")
    return f"This search has {size.text}; {when}."


def long_search_ui(sel: Selection, c: SearchChoice) -> Schedule | None:
    """The schedule of a long search (module docstring), or None for a short one."""
    key = search_key(sel, c)
    if not c.strategy.startswith("ios-"):
        return None
    job = backend.search_job(key)
    if job is None:
        size = backend.search_size(*key)
        if not (backend.is_long(size) or needs_confirmation(sel, c.strategy)):
            return None
        st.info(size_text(size) + " It runs in the background with its progress and a Stop "
                "button that keeps the best schedule found so far.", icon=":material/timer:")
        if st.button(f"Start the {c.strategy} search (r={c.r}, s={c.s})", type="primary",
                     key=f"start_search:{key}"):
            backend.start_search(key)
            st.rerun()
        st.stop()
    if job.running:
        _progress_fragment(key)
        st.stop()
    if job.error is not None:
        st.error(f"The {c.strategy} search failed: {job.error}")
        if st.button("Try again", key=f"retry_search:{key}"):
            backend.forget_search(key)
            st.rerun()
        st.stop()
    schedule = job.schedule
    assert schedule is not None
    # the other pages' confirmation (app.ui.confirm_long_search) is answered by this search
    st.session_state.setdefault("confirmed_searches", set()).add((sel, c))
    if job.stopped:
        stats = schedule.search.stats
        row = st.container(horizontal=True, vertical_alignment="center")
        row.warning(
            f"**Stopped: a partial search.** The DP solved {stats.get('parts_solved')} of "
            f"{stats.get('parts_total')} parts; the other operators run in "
            f"{stats.get('greedy_stages')} greedy stages. Below is the best schedule found so "
            "far, not the search's answer.", icon=":material/pause_circle:")
        row.download_button("Download it (JSON)", schedule.dumps(),
                            file_name=f"{sel.model_ref}-{c.strategy}-stopped.json",
                            mime="application/json", key=f"get_stopped:{key}")
        if row.button("Search again", key=f"again_search:{key}"):
            backend.forget_search(key)
            st.rerun()
    return schedule


@st.fragment(run_every=POLL_S)
def _progress_fragment(key: backend.SearchKey) -> None:
    """Progress of the running search; a full rerun once it has ended."""
    job = backend.search_job(key)
    if job is None or not job.running:
        st.rerun()  # the whole page, now with the schedule
    p = job.progress
    if p is None:
        st.progress(0.0, text="Starting the search…")
    else:
        verb = "measured" if key[2] == "measured" else "costed"
        eta = ("estimating the time left" if p.eta_s is None
               else f"about {backend.duration_text(p.eta_s)} left")
        st.progress(p.fraction, text=(
            f"Part {p.part_index + 1}/{p.n_parts} · {p.states_done:,}/{p.states_total:,} states "
            f"· {p.transitions:,} transitions · {p.stages_costed:,} stages {verb} · {eta}"))
    label = "Stopping…" if job.stop_requested else "Stop (keep the best schedule so far)"
    st.button(label, key=f"stop_search:{key}", on_click=backend.stop_search, args=(key,),
              disabled=job.stop_requested, icon=":material/stop_circle:")


def searches_ui(keys: Sequence[backend.SearchKey], what: str,
                batch_keys: Sequence[backend.SearchKey] | None = None,
                above: Sequence[backend.SearchKey] = ()) -> bool:
    """True when every search of ``keys`` has its schedule (``backend.find_schedule`` then
    returns each at once). Otherwise runs them in the background, in one batch with the rest of
    the page's ``batch_keys`` (``backend.search_batch``), shows the batch's progress in place
    with a Stop button, and returns False: the page draws its other parts meanwhile and reruns
    whole once these searches are done. Where the searches of a part ``above`` (same batch) are
    not all done either, it only says that it waits for them: one progress bar a page."""
    batch_keys = list(batch_keys or keys)
    if backend.searched(keys):
        return True
    batch = backend.search_batch(batch_keys)
    if batch.running:
        _batch_fragment(tuple(keys), tuple(batch_keys), what,
                        waits=bool(above) and not backend.searched(above))
        return False
    if backend.searched(keys):  # ended between the two looks
        return True
    n = len(batch_keys)
    said = (f"{what.capitalize()} failed: {batch.error}" if batch.error is not None
            else f"{what.capitalize()}: stopped after {batch.done} of {n} searches.")
    row = st.container(horizontal=True, vertical_alignment="center")
    (row.error if batch.error is not None else row.warning)(said)
    if row.button("Run the searches again", key=f"again_batch:{what}"):
        backend.forget_batch(batch_keys)
        st.rerun()
    return False


@st.fragment(run_every=POLL_S)
def _batch_fragment(keys: tuple[backend.SearchKey, ...],
                    batch_keys: tuple[backend.SearchKey, ...], what: str, waits: bool) -> None:
    """Progress of a background batch of searches (with ``waits``, one line that this part
    comes after the progress shown above); a full rerun once ``keys`` are searched or the batch
    has ended."""
    batch = backend.search_batch(batch_keys)
    if backend.searched(keys) or not batch.running:
        st.rerun()
    if waits:
        st.caption(f"{what.capitalize()} run in the background after those above.")
        return
    job, n = batch.job, len(batch_keys)
    now = f"search {min(batch.done + 1, n)} of {n}"
    if job is not None:
        _, b, _, strategy, r, s, *_ = job.key
        now += f": {strategy}, r={r}, s={s}, batch {b}"
        if job.progress is not None:
            p = job.progress
            now += (f" (part {p.part_index + 1}/{p.n_parts}, "
                    f"{p.states_done:,}/{p.states_total:,} states)")
    st.progress(batch.done / n, text=f"{what.capitalize()}: running in the background, {now}…")
    st.button("Stopping…" if batch.stop_requested else "Stop these searches",
              key=f"stop_batch:{what}", on_click=batch.stop, disabled=batch.stop_requested,
              icon=":material/stop_circle:")
