"""Session state shared by all pages: the sidebar's model, batch and cost source, and the
search knobs of the Optimize page (kept when the user visits other pages)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app import backend

CUSTOM = "Your own model…"
MAX_BATCH = 128  # IOS measured up to batch 128; bigger ones only take long to trace on a CPU
DEFAULTS: dict[str, Any] = {
    "strategy": backend.DEFAULT_STRATEGY,
    "r": backend.DEFAULT_SEARCH.r,
    "s": backend.DEFAULT_SEARCH.s,
    "max_part_ops": backend.DEFAULT_SEARCH.max_part_ops,
    "max_part_states": backend.DEFAULT_SEARCH.max_part_states,
}


@dataclass(frozen=True)
class Selection:
    """What the sidebar picked: the cache key of everything model-related."""

    model_ref: str
    batch: int
    cost_spec: str


@dataclass(frozen=True)
class SearchChoice:
    strategy: str
    r: int
    s: int
    max_part_ops: int
    max_part_states: int


def init_state() -> None:
    """Defaults, once per session (a guard, so reruns never overwrite the user's choices)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def persistent(widget: Callable[..., Any], label: str, key: str, **kwargs: Any) -> Any:
    """A widget whose value outlives page switches (Streamlit drops unrendered widgets' state)."""
    wkey = f"w_{key}"
    if wkey not in st.session_state:
        st.session_state[wkey] = st.session_state[key]
    value = widget(label, key=wkey, **kwargs)
    st.session_state[key] = value
    return value


def sidebar_ui() -> Selection | None:
    """Model, batch size and cost source; None when no model is usable yet."""
    sb = st.sidebar
    sb.header("IOS Explorer")
    try:
        models = backend.sample_models()
    except Exception as e:  # noqa: BLE001 - a half-built core must not break the app
        from app.errors import explain

        sb.error(f"The sample models cannot be listed: {explain(e)}")
        models = []
    names = [m.name for m in models]
    # the default as the widget's own index, not a session-state value set before it: the
    # browser then shows it too (it showed the first model while the pages used the default,
    # and switched to the first model at the next rerun a fragment asked for)
    first = ({"index": names.index(backend.DEFAULT_MODEL)}
             if backend.DEFAULT_MODEL in names and "w_model" not in st.session_state else {})
    choice = sb.selectbox("Model", names + [CUSTOM], key="w_model", **first,
                          help="A sample model, or your own as package.module:callable")
    model_ref = choice
    problem = None
    leaves: tuple[str, ...] = ()
    if choice == CUSTOM:
        model_ref = sb.text_input(
            "package.module:callable", key="w_custom", placeholder="mypkg.nets:build",
            help="The callable returns (module, example_input or its shape), or (module, "
                 "(x1, x2, …)) for a model with several inputs.",
        ).strip()
        leaves = backend.parse_leaves(sb.text_area(
            "Leaf modules (optional)", key="w_leaves", height=68,
            placeholder="encoder.router, GatedBlock",
            help="Submodules to keep whole, each one `call` operator: a qualified name "
                 "(`encoder.router`) or a class name (`GatedBlock`), separated by commas or new "
                 "lines. The way past a submodule whose Python control flow depends on tensor "
                 "values, which torch.fx cannot trace."))
        problem = reference_problem(model_ref)
    regions = sb.toggle(
        "Fuse elementwise epilogues", key="w_regions",
        help="Each conv, linear, pool or elementwise op with the elementwise ops only it feeds "
             "(scale-shift, activation, residual add, gating multiply) as ONE operator of the "
             "search, run as one compiled kernel on a GPU: the command line's "
             "`--fuse-epilogues`. The shipped profiles were measured without it, so their "
             "prices of fused regions are estimates.")
    if model_ref:  # the key of every cache: the reference, its leaf modules, the switch
        model_ref = backend.model_key(model_ref, leaves, regions)
    batch = int(sb.number_input("Batch size", 1, MAX_BATCH, 1, key="w_batch"))
    specs = backend.cost_sources(batch)
    if "w_cost" not in st.session_state or st.session_state["w_cost"] not in specs:
        st.session_state["w_cost"] = backend.default_cost_spec(batch)
    cost_spec = sb.selectbox("Cost source", specs, key="w_cost", format_func=backend.cost_label,
                             help="Live GPU (if present), a shipped profile, or a simulated GPU")
    if not model_ref or problem:
        if problem:
            sb.error(problem, icon=":material/block:")
        else:
            sb.info("Enter `package.module:callable` to load your own model.")
        st.session_state.pop("selection", None)  # the pages must not show the last model
        return None
    if cost_spec.startswith("profile:"):
        summary = backend.profile_summary(cost_spec, model_ref, batch)
        sb.caption(summary or "This profile has no measurements of this model: its stages are "
                   "estimated by the simulated device.")
        if regions and summary:
            sb.caption("It was measured without fused epilogues: stages of fused regions, where "
                       "the model has any, are estimated by the simulated device.")
    sel = Selection(model_ref, batch, cost_spec)
    st.session_state["selection"] = sel
    return sel


def reference_problem(ref: str) -> str | None:
    """Why ``ref`` cannot name a model, when it is plainly a file path, with the reference to
    write instead; None otherwise (the loader judges the rest).

    >>> reference_problem("models/net.py:build").split(": ", 1)[1]
    'with the folder `models` on PYTHONPATH, write `net:build`.'
    >>> reference_problem("mypkg.nets:build") is None
    True
    """
    path, _, attr = ref.partition(":")
    if not (path.endswith(".py") or "/" in path or "\\" in path):
        return None
    folder, _, file = path.replace("\\", "/").rpartition("/")
    module = file.removesuffix(".py") or "module"
    where = f"with the folder `{folder}` on PYTHONPATH" if folder else "from the folder it is in"
    return (f"`{ref}` is a file path. Give a module importable from Python instead: {where}, "
            f"write `{module}:{attr or 'callable'}`.")


def selection() -> Selection | None:
    return st.session_state.get("selection")


def search_choice() -> SearchChoice:
    ss = st.session_state
    return SearchChoice(ss["strategy"], int(ss["r"]), int(ss["s"]), int(ss["max_part_ops"]),
                        int(ss["max_part_states"]))
