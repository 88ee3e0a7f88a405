"""Learn (the landing page): inter-operator parallelism in a few minutes, with no GPU, from the
schedules and measurements a GPU search shipped (nothing typed in, nothing traced here)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import backend
from app.errors import guard
from app.state import selection
from app.views.colors import STRATEGY_COLORS
from app.views.teach import (
    alone_times,
    markdown_table,
    stage_dot,
    stage_figure,
    stage_story,
    story_text,
    totals_rows,
)

TEACH_MODEL, TEACH_PROFILE = "inception_v3", "h100"  # a fresh app's sidebar picks these too
ORDER = ("sequential", "greedy", "ios-parallel", "ios-merge", "ios-both")

st.title("Inter-operator parallelism in a few minutes")
files = backend.shipped_schedule_files()
sel = selection()
profile, model, batch = TEACH_PROFILE, TEACH_MODEL, 1
if sel is not None and sel.cost_spec.startswith("profile:"):
    want = (sel.cost_spec.removeprefix("profile:"), sel.model_ref, sel.batch)
    if any((f.profile, f.model, f.batch) == want for f in files):
        profile, model, batch = want
gpus = sorted({f.profile for f in files if (f.model, f.batch) == (model, batch)})
with guard("Could not read the shipped schedules"):
    found = {gpu: backend.teaching_schedules(gpu, model, batch) for gpu in gpus}
if not found.get(profile) or "sequential" not in found[profile]:
    st.warning(f"No shipped GPU schedules of {model} at batch {batch}: this page needs the "
               "files in ios_core/data/profiles.")
    st.stop()
mine = found[profile]
device = mine["sequential"].target.device

st.markdown(
    "A CNN such as Inception is a graph of operators. PyTorch runs them **one after another on "
    "one CUDA stream**; many are small and leave most of the GPU idle. **Inter-operator "
    "parallelism** runs independent operators at the same time, either on **several streams** "
    "(a *concurrent* stage) or, for convolutions that read the same tensor, as **one wide "
    "convolution** (a *merge* stage). IOS cuts the graph into stages and picks each stage's "
    "operators and strategy with a dynamic program over **measured** stage times.")

st.subheader(f"One stream or several: {model}, batch {batch}, measured")
# Markdown, not st.dataframe: the first page must not wait for pandas and pyarrow to import
st.markdown(markdown_table(totals_rows({found[g]["sequential"].target.device: found[g]
                                        for g in gpus if "sequential" in found[g]}, ORDER)))
st.caption("Each cell is the sum of the stages' times as the GPU measured them (the shipped "
           "profiles, ios_core/data/profiles), with the speedup over one stream: *sequential* "
           "runs one operator per stage; *greedy* runs every ready operator at once; the *ios* "
           "schedules are what the IOS search chose with concurrency, merging, or both.")

st.subheader("Why this stage? Click one")
ios = mine.get("ios-both") or next(iter(mine.values()))
alone = alone_times(mine["sequential"])
stories = [stage_story(ios, i, alone) for i in range(len(ios.stages))]
usable = [s for s in stories if s is not None]
if not usable:
    st.info("The shipped sequential schedule does not cover this schedule's operators.")
    st.stop()
KEY = f"learn_stage:{profile}:{model}:{batch}"
if KEY not in st.session_state:  # start on the stage that saved the most
    st.session_state[KEY] = max(usable, key=lambda s: s.saved_ms).index


def _clicked() -> None:
    points = st.session_state[f"{KEY}:chart"].selection.points
    if points:
        st.session_state[KEY] = int(points[0]["x"]) - 1


us = 1000.0
x = [s.index + 1 for s in usable]
fig = go.Figure(data=[  # plain dicts, unvalidated: validation cost tenths of a second per change
    {"type": "bar", "x": x, "y": [s.sum_ms * us for s in usable],
     "name": "its ops alone, one after another", "marker": {"color": "#d0d0d0"},
     "hovertemplate": "stage %{x}: ops alone sum %{y:.1f} µs<extra></extra>"},
    {"type": "bar", "x": x, "y": [s.stage_ms * us for s in usable],
     "name": "the stage as IOS ran it",
     "marker": {"color": [STRATEGY_COLORS.get(s.strategy, "#888888") for s in usable],
                "line": {"color": "rgba(0,0,0,0)", "width": 2}},
     "hovertemplate": "stage %{x}: %{y:.1f} µs measured<extra></extra>"},
], layout={"barmode": "overlay", "height": 260, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
           "xaxis": {"title": {"text": f"stage of the {ios.search.strategy} schedule"}},
           "yaxis": {"title": {"text": "µs"}}, "plot_bgcolor": "white",
           "clickmode": "event+select",
           "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom"}}, _validate=False)
bars = st.container(key="learn_bars")  # its class names the chart for the style sheet below
bars.plotly_chart(fig, width="stretch", key=f"{KEY}:chart", on_select=_clicked,
                  selection_mode="points")
# The picked stage's bar is outlined by a style sheet, not in the figure: the same figure for
# every pick is not drawn again (plotly.js redrawing it took half the browser's time of a pick)
picked = next(i for i, s in enumerate(usable) if s.index == st.session_state[KEY])
st.markdown(f"<style>.st-key-learn_bars g.trace.bars:nth-of-type(2) g.point:nth-of-type("
            f"{picked + 1}) path {{stroke: #000000 !important; stroke-opacity: 1 !important; "
            "stroke-width: 2px !important;}"
            "</style>", unsafe_allow_html=True)
labels = {s.index: f"stage {s.index + 1}: {s.strategy}, {len(s.alone)} op(s), {s.verdict}"
          for s in usable}
pick = st.selectbox("Stage", list(labels), format_func=labels.__getitem__, key=KEY)
story = stories[pick]
assert story is not None
row = st.container(horizontal=True)
row.metric("its ops alone, one after another", f"{story.sum_ms * us:.1f} µs", width=260)
row.metric("the slowest alone", f"{story.max_ms * us:.1f} µs", width=180,
           help="what the stage would take if its operators overlapped perfectly")
row.metric(f"the stage as IOS ran it ({story.strategy})", f"{story.stage_ms * us:.1f} µs",
           delta=f"{-story.saved_ms * us:+.1f} µs", delta_color="inverse", width=260,
           help="against its operators one after another: less is better")
st.plotly_chart(stage_figure(story), width="stretch", key="learn_story")
st.markdown(story_text(story))
with st.expander("The stage's operators, each measured alone"):
    st.graphviz_chart(stage_dot(story))
    st.markdown(markdown_table([{"operator": op, "stream": gi,
                                 "alone µs": f"{alone[op][0] * us:.2f}",
                                 "source": "estimated" if alone[op][1] else "measured"}
                                for gi, g in enumerate(story.groups) for op in g]))
seq_ms, ios_ms = mine["sequential"].predicted_ms, ios.predicted_ms
st.markdown(f"**The sequential alternative** for the whole model on the {device}: "
            f"{seq_ms:.3f} ms, one operator at a time; the {ios.search.strategy} schedule's "
            f"{len(ios.stages)} stages: {ios_ms:.3f} ms ({seq_ms / ios_ms:.2f}×).")
st.caption(f"From the shipped {profile} files of {model} at batch {batch} (pick a shipped profile "
           "and model in the sidebar to see theirs). Stage times are medians of CUDA-graph "
           "replays measured on that GPU; a stage within 2 % of its ops' sum counts as no "
           "change.")
st.page_link("app_pages/schedule.py", label="Every stage of this schedule, played over the graph",
             icon=":material/play_circle:")
st.page_link("app_pages/whatif.py", label="What if: pin or forbid a stage and re-solve",
             icon=":material/science:")
st.page_link("app_pages/dp.py", label="How the dynamic program decides",
             icon=":material/school:")
