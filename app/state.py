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
    if backend.DEFAULT_MODEL in names and "w_model" not in st.session_state:
        st.session_state["w_model"] = backend.DEFAULT_MODEL
    choice = sb.selectbox("Model", names + [CUSTOM], key="w_model",
                          help="A sample model, or your own as package.module:callable")
    model_ref = choice
    if choice == CUSTOM:
        model_ref = sb.text_input(
            "package.module:callable", key="w_custom", placeholder="mypkg.nets:build",
            help="The callable returns (module, example_input or its shape).",
        ).strip()
    batch = int(sb.number_input("Batch size", 1, MAX_BATCH, 1, key="w_batch"))
    specs = backend.cost_sources(batch)
    if "w_cost" not in st.session_state or st.session_state["w_cost"] not in specs:
        st.session_state["w_cost"] = backend.default_cost_spec(batch)
    cost_spec = sb.selectbox("Cost source", specs, key="w_cost", format_func=backend.cost_label,
                             help="Live GPU (if present), a shipped profile, or a simulated GPU")
    if not model_ref:
        sb.info("Enter `package.module:callable` to load your own model.")
        return None
    if cost_spec.startswith("profile:"):
        summary = backend.profile_summary(cost_spec, model_ref, batch)
        sb.caption(summary or "This profile has no measurements of this model: its stages are "
                   "estimated by the simulated device.")
    sel = Selection(model_ref, batch, cost_spec)
    st.session_state["selection"] = sel
    return sel


def selection() -> Selection | None:
    return st.session_state.get("selection")


def search_choice() -> SearchChoice:
    ss = st.session_state
    return SearchChoice(ss["strategy"], int(ss["r"]), int(ss["s"]), int(ss["max_part_ops"]),
                        int(ss["max_part_states"]))
