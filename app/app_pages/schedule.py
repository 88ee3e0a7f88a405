"""Schedule page: ONE stage control (slider, step buttons, play, a click on the table) drives the
stage shown over the graph, the block drawing, the Gantt chart and the stage table.

Where the model has levels (ios_core.ir.hierarchy: NASNet's cells, RandWire's stages), the drawing
and the Gantt follow the open level, the one the Model page opened too (app.levels keeps it per
model). A big model always shows a level (its top one: boxes, not 866 dots); a small one shows
its whole graph, as before, until a level is opened. A stage step never changes the level, and
opening a level never changes the stage: a stage that runs nothing in the open level is said so.
"""

from __future__ import annotations

import streamlit as st

from app import backend
from app.errors import guard
from app.levels import hierarchy_of, level_picker_ui, timeline
from app.ui import active_schedule_ui, require_model, selection_caption, sequential_schedule
from app.views.dot import BIG_GRAPH_OPS, block_of, blocks_overview_dot, model_dot
from app.views.frame import still_frame
from app.views.gantt import Bar, gantt_figure
from app.views.stage_style import state_css, with_node_ids
from app.views.steps import op_states, stage_title
from app.views.tables import NOT_MEASURED, STAGE_COLUMNS, efficiency, stage_rows
from app.views.teach import alone_times, stage_story, story_text

FOCUS_OPS = 40  # above this the block drawing opens the running stage's block, not the whole DAG
ALL_BARS = 300  # more Gantt bars than this, a level's Gantt keeps only those of its stages' time
PLAY_EVERY_S = 1.2  # one stage per tick while playing: every view redraws on each

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
    hier = hierarchy_of(sel)
    bars, barriers = timeline(schedule, sel)
    same_cost = schedule.search.cost == sel.cost_spec
    bounds = (backend.stage_bounds(schedule, sel.model_ref, sel.batch, sel.cost_spec)
              if same_cost else None)
    alone = alone_times(sequential_schedule(sel, schedule.search.max_part_ops))
where = block_of(blocks)
KINDS = {node.name: node.kind for node in graph.nodes}
BIG = len(graph) > BIG_GRAPH_OPS  # drawn by levels even with none open: all at once is a cloud
HAS_LEVELS = len(hier.children("")) > 1 and len(hier.groups) > 1
merges = sum(s.strategy == "merge" for s in schedule.stages)
st.markdown(f"**{schedule.search.strategy}**: {n} stages ({merges} merge, {n - merges} "
            f"concurrent), **{schedule.predicted_ms:.3f} ms** on {schedule.target.device}.")

skey = backend.schedule_key(schedule)  # a new schedule starts again at its first stage
STAGE = f"stage:{skey}"  # the one control: 1..n, n + 1 = all done
PLAY = f"play:{skey}"
st.session_state.setdefault(STAGE, 1)


def _move(to: int) -> None:
    st.session_state[STAGE] = min(max(to, 1), n + 1)


def _picked_row() -> None:
    rows = st.session_state[f"stage_table:{skey}"].selection.rows
    if rows:
        _move(rows[0] + 1)


def stage_views() -> None:
    """Everything that follows the selected stage (a fragment: a step or a tick of play
    redraws these, not the page above)."""
    if bool(st.session_state.get(PLAY)) != PLAYING:
        # Play switched in this fragment's own run: the fragment ticks only when the page built
        # it with run_every, so build the page again (else play moved one stage and stopped)
        st.rerun(scope="app")
    if st.session_state.get(PLAY):  # playing: each run moves on one stage, then stops at the end
        if st.session_state[STAGE] > n:
            st.session_state[PLAY] = False
        else:
            _move(st.session_state[STAGE] + 1)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    value = st.session_state[STAGE]
    # set from here, so the browser's slider takes this run's value: a click that crossed a
    # play tick in flight sent a stale slider value and left the thumb a stage off the heading
    st.session_state[STAGE] = value
    row.button("First", key="first", icon=":material/first_page:", on_click=_move, args=(1,),
               help="first stage")
    row.button("Back", key="prev", icon=":material/chevron_left:", on_click=_move,
               args=(value - 1,), help="previous stage")
    row.button("Next", key="next", icon=":material/chevron_right:", on_click=_move,
               args=(value + 1,), help="next stage")
    row.toggle("Play", key=PLAY, help=f"one stage every {PLAY_EVERY_S:g} s; every view follows")
    st.slider("Stage", 1, n + 1, key=STAGE,
              help="the last position shows everything done; the table below selects too")
    step = st.session_state[STAGE] - 1
    stage_summary_ui(step)

    st.subheader("Stages over the graph")
    gid = level_picker_ui(sel, "schedule") if HAS_LEVELS else ""
    if gid or BIG and HAS_LEVELS:
        level_views_ui(gid, step)
    else:
        whole_graph_ui(step)
        st.subheader("Streams against time")
        st.plotly_chart(gantt_figure(bars, barriers, highlight_stage=step if step < n else None),
                        width="stretch", key="gantt")
        st.caption("Each row is a CUDA stream; dotted lines are stage barriers; the dashed box is "
                   "the selected stage; hatched wine bars are merged convolutions. Op slices "
                   "inside a stage follow their isolated times. Drag to zoom in; hover a bar for "
                   "its op.")

    st.subheader("Stages")
    rows = stage_rows(schedule, bounds)
    for i, r in enumerate(rows):  # the selected stage, marked in its own first column
        rows[i] = {"": "▶" if i == step else ""} | r
    st.dataframe(rows, hide_index=True, width="stretch", height=360,
                 column_config=STAGE_COLUMNS, key=f"stage_table:{skey}", on_select=_picked_row,
                 selection_mode="single-row")
    why = ("" if bounds is not None else
           f" No stage bounds here: the schedule's times come from {schedule.search.cost}, not "
           f"{sel.cost_spec}." if not same_cost else
           f" No stage bounds under {sel.cost_spec}: it has nothing to prove them from.")
    st.caption("Click a row to select its stage. **predicted ms**: the cost model's time for "
               "the stage (“measured” in *source*: a profile's measurement of that very stage). "
               "**measured ms**: timed when the schedule itself ran on a GPU. **stage bound "
               "ms**: no stage of these operators, grouped so, costs less under the cost "
               "model; **efficiency** is that bound over the predicted time." + why)


def whole_graph_ui(step: int) -> None:
    """The whole graph's animation frame (a big graph without levels: the stage's block) and the
    block drawing, as on a model with no level open."""
    only = tuple(blocks[where.get(schedule.stages[min(step, n - 1)].ops[0], 0)]) if BIG else None
    fig = backend.animation(schedule, sel.model_ref, sel.batch, only)
    st.plotly_chart(still_frame(fig, step), width="stretch", key="anim")
    st.caption("The selected stage's ops are large: wine ◆ = merge (one wide conv), ● coloured "
               "by stream = concurrent; small grey = finished. "
               + ("Only the block that runs the stage is drawn (the graph is big). "
                  if only else "") + "Hover an operator for its name and stage.")
    states = op_states(schedule, step)
    if len(graph) > FOCUS_OPS:
        # follow the stage: open the block that holds its first op, beside the overview
        current = where.get(schedule.stages[min(step, n - 1)].ops[0], 0)
        st.graphviz_chart(blocks_overview_dot(graph, blocks, states=states, selected=current))
        st.caption(f"Block {current}, which holds the selected stage (outlined above):")
        painted_dot_ui(blocks[current], states)
    else:
        painted_dot_ui(None, states)


def level_views_ui(gid: str, step: int) -> None:
    """The open level's animation frame, its operators drawn (when few enough) and the Gantt
    following it; a stage that runs nothing in the level is said so, with a way to one that does."""
    level = hier.level(graph, gid)
    name = hier.label(gid) if gid else "the model"
    touching = level_stages(gid)
    inside = step >= n or step in touching
    # always a container, filled or not: the elements below keep their place in the page, so the
    # browser keeps them (a graphviz drawing that moved would be laid out again: seconds)
    note = st.container()
    if not inside:
        before = [k for k in touching if k < step]
        after = [k for k in touching if k > step]
        note.info(f"Stage {step + 1} runs nothing in {name}: {stage_span(touching)}. The drawing "
                "shows the level at rest; the Gantt, where the level's stages are.")
        row = note.container(horizontal=True)
        if before:
            row.button(f"Back to stage {before[-1] + 1}", key="level_prev", on_click=_move,
                       args=(before[-1] + 1,), help=f"the last stage before it that runs ops of "
                                                    f"{name}")
        if after:
            row.button(f"On to stage {after[0] + 1}", key="level_next", on_click=_move,
                       args=(after[0] + 1,), help=f"the next stage that runs ops of {name}")
    fig = backend.level_animation(schedule, sel.model_ref, sel.batch, gid)
    idle = f"Stage {step + 1}/{n}: nothing in {name}" if not inside else None
    st.plotly_chart(still_frame(fig, step, idle_title=idle), width="stretch", key="anim")
    st.caption(f"{name.capitalize() if not gid else name}, one level open: a square box is a "
               "module (or a band of a wide level), coloured while any of its ops runs (grey "
               "when they run on several streams); ● an operator, wine ◆ a merge. Open another "
               "level above; hover for names and stages.")
    ops = hier.ops(gid)
    if gid and len(ops) <= BIG_GRAPH_OPS and st.toggle(
            "Operator graph", key=f"ops_dag:{sel.model_ref}", value=not BIG,
            help="The open level's operators as a DAG, painted by the selected stage. The "
                 "browser lays each level out anew when it opens (about 0.4 s a NASNet cell "
                 "on a 2-core machine), so it starts off for big models, whose levels one "
                 "opens often; the figure above shows the same operators."):
        st.caption(f"The operators of {name}, painted by the selected stage:")
        painted_dot_ui(list(ops), op_states(schedule, step))
    st.subheader("Streams against time")
    high = step if step < n else None
    st.plotly_chart(gantt_figure(bars_near(touching), barriers, highlight_stage=high,
                                 level=level), width="stretch", key="gantt")
    st.caption(f"Opens on the stages that run {name}'s ops (the dashed box: the selected stage, "
               "when in view); bars of other ops are light grey. Where too many stage barriers "
               "would be in view, shaded spans name the level's boxes instead. Drag to zoom; "
               "double-click for all of it.")


def bars_near(stages: list[int]) -> list[Bar]:
    """The Gantt's bars that overlap the time of ``stages`` (from 0) and no others: plotly
    redraws every bar at each step, and NASNet's 866, with their names, took the browser 1-2 s
    a step where the 100 or so of one cell's stages are quick. Few bars are all kept: the grey
    ones outside the level's stages are context when zoomed out."""
    if len(bars) <= ALL_BARS or not stages or (stages[0] == 0 and stages[-1] == n - 1):
        return bars
    lo = barriers[stages[0] - 1] if stages[0] > 0 else 0.0
    hi = barriers[stages[-1]]
    return [b for b in bars if b.start_ms < hi and b.start_ms + b.dur_ms > lo]


def level_stages(gid: str) -> list[int]:
    """The stages (from 0) that run at least one op of the group ``gid``, kept per schedule."""
    memo = st.session_state.setdefault(f"level_stages:{skey}", {})
    if gid not in memo:
        ops = set(hier.ops(gid))
        memo[gid] = [k for k, stage in enumerate(schedule.stages) if ops & set(stage.ops)]
    return memo[gid]


def stage_span(stages: list[int]) -> str:
    """Which stages run a level, in words (stages numbered from 1, as the page numbers them).

    >>> stage_span([39, 40, 54]), stage_span([2]), stage_span([])
    ('3 stages between 40 and 55 run it', 'only stage 3 runs it', 'no stage runs it')
    """
    if not stages:
        return "no stage runs it"
    if len(stages) == 1:
        return f"only stage {stages[0] + 1} runs it"
    return f"{len(stages)} stages between {stages[0] + 1} and {stages[-1] + 1} run it"


def painted_dot_ui(only: list[str] | None, states: dict) -> None:
    """The block (or the whole graph) in one DOT text for all its stages, painted with the
    selected stage's states by a style sheet: a step then costs the browser no new layout
    (app.views.stage_style says why)."""
    names = list(only) if only is not None else [node.name for node in graph.nodes]
    dot, ids = with_node_ids(model_dot(graph, blocks, only=only), names)
    st.graphviz_chart(dot)
    st.markdown(f"<style>{state_css(states, ids, KINDS)}</style>", unsafe_allow_html=True)


def stage_summary_ui(step: int) -> None:
    """The selected stage in figures: predicted, measured, its own bound, efficiency, and its
    members alone against it."""
    st.markdown(f"**{stage_title(schedule, step)}**")
    if step >= n:
        return
    stage = schedule.stages[step]
    st.caption(" | ".join(", ".join(g) for g in stage.groups))
    row = st.container(horizontal=True)
    row.metric("predicted ms", f"{stage.predicted_ms:.4f}", width=150,
               help="the cost model's time for this stage")
    row.metric("measured ms", NOT_MEASURED if stage.measured_ms is None
               else f"{stage.measured_ms:.4f}", width=230,
               help="timed when this schedule ran on a GPU")
    if bounds is not None:
        row.metric("stage bound ms", f"{bounds[step]:.4f}", width=150,
                   help="no stage of these ops, grouped so, costs less under the cost model")
        row.metric("efficiency", f"{efficiency(bounds[step], stage.predicted_ms):.0%}",
                   width=150, help="the stage's own bound over its predicted time")
    story = stage_story(schedule, step, alone)
    if story is not None:
        row.metric("ops alone, one after another", f"{story.sum_ms:.4f} ms", width=230,
                   help="the sequential alternative, under the same cost source")
        st.caption(story_text(story))


PLAYING = bool(st.session_state.get(PLAY))  # how the fragment below is built: ticking or not
st.fragment(run_every=PLAY_EVERY_S if PLAYING else None)(stage_views)()
