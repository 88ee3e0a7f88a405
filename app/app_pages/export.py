"""Export page: download the schedule as JSON, Chrome trace, DOT or CSV; load a schedule JSON back,
validated against the sidebar's model (never unpickled, never executed: it is parsed as JSON)."""

from __future__ import annotations

import json

import streamlit as st

from app import backend
from app.errors import guard
from app.ui import current_schedule, require_model, selection_caption
from app.views.gantt import gantt_figure, trace_bars
from app.views.tables import STAGE_COLUMNS, stage_rows
from ios_core.ir.schedule import ScheduleError

sel, graph = require_model()
st.title("Export")
selection_caption(sel)
schedule = current_schedule(sel)
stem = f"{graph.name}-{schedule.search.strategy}-b{sel.batch}"

st.subheader("Download the current schedule")
st.caption(f"{schedule.search.strategy}, {len(schedule.stages)} stages, "
           f"{schedule.predicted_ms:.3f} ms on {schedule.target.device}")
with guard("Could not export the schedule"):
    trace = backend.chrome_trace(schedule, sel.model_ref, sel.batch, sel.cost_spec)
    files = [
        ("Schedule JSON", schedule.dumps(), f"{stem}.schedule.json", "application/json",
         "ios-schedule/1: load it back below or run it with `python -m ios_core run`"),
        ("Chrome trace", json.dumps(trace), f"{stem}.trace.json", "application/json",
         "open it in https://ui.perfetto.dev or chrome://tracing"),
        ("DOT", backend.schedule_dot(schedule, sel.model_ref, sel.batch), f"{stem}.dot",
         "text/vnd.graphviz", "stages as clusters; render with `dot -Tsvg`"),
        ("CSV", backend.schedule_csv(schedule), f"{stem}.csv", "text/csv",
         "one row per operator"),
    ]
for col, (label, data, name, mime, help_text) in zip(st.columns(len(files)), files, strict=True):
    col.download_button(label, data, file_name=name, mime=mime, help=help_text,
                        icon=":material/download:",
                        key=f"dl_{label}", width="stretch")

st.subheader("Run it in your code")
search = schedule.search
fused = ", fuse_epilogues=True" if backend.fused_epilogues(sel.model_ref) else ""
st.code(f"from ios_core import optimize_module\n"
        f"fast = optimize_module(model, (x,), strategy={search.strategy!r}, r={search.r}, "
        f"s={search.s}, schedule={stem + '.schedule.json'!r}{fused})", language="python")
st.caption(f"`model`: {sel.model_ref} as a module on its GPU; `x`: an input of shape "
           f"{tuple(schedule.model.input_shape)}. `fast(x)` runs this schedule as it is (one "
           "multi-stream CUDA graph on a GPU); another input shape gets its own search, cached "
           "on disk. `torch.compile(model, backend=\"ios\")` does the same through Dynamo.")

st.subheader("Load a schedule")
upload = st.file_uploader("Schedule JSON (ios-schedule/1)", type=["json"], key="upload",
                          help=f"checked against {graph.name} at batch {sel.batch}")
if upload is not None:
    try:
        loaded = backend.load_schedule(upload.getvalue(), sel.model_ref, sel.batch)
    except ScheduleError as e:
        st.error(f"**{upload.name} was refused**: {e}", icon=":material/block:")
        st.session_state.pop("uploaded", None)
    else:
        st.session_state["uploaded"] = ((sel.model_ref, sel.batch), loaded, upload.name)
        st.success(f"**{upload.name}** is a valid schedule of {graph.name}: "
                   f"{loaded.search.strategy}, {len(loaded.stages)} stages, "
                   f"{loaded.predicted_ms:.3f} ms on {loaded.target.device}. "
                   "The Schedule page can now play it.", icon=":material/check_circle:")
        with guard("Could not draw the uploaded schedule"):
            bars, bounds = trace_bars(backend.chrome_trace(loaded, sel.model_ref, sel.batch,
                                                           sel.cost_spec))
        st.plotly_chart(gantt_figure(bars, bounds, title="Uploaded schedule"),
                        width="stretch", key="upload_gantt")
        st.dataframe(stage_rows(loaded), hide_index=True, width="stretch",
                     column_config=STAGE_COLUMNS)
