"""Every failure shown as an st.error in plain words with what to do next, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from ios_core.ir.schedule import ScheduleError


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


def _then(message: object, advice: str) -> str:
    """``message. advice``, never doubling the message's own closing punctuation.

    >>> _then("Is it on PYTHONPATH?", "Pick a model."), _then("unknown model x.", "Pick one.")
    ('Is it on PYTHONPATH? Pick a model.', 'unknown model x. Pick one.')
    """
    text = str(message).rstrip()
    return f"{text if text.endswith(('.', '?', '!')) else text + '.'} {advice}"


def explain(e: BaseException) -> str:
    """Plain words for an exception, ending with what the user can do about it."""
    name = type(e).__name__
    if isinstance(e, ScheduleError):
        return str(e)
    if _is_oom(e):
        return ("the device ran out of memory at this batch size. Choose a smaller batch size "
                "in the sidebar.")
    # ios_core.frontend.TraceError: imported lazily, torch is heavy
    if name == "TraceError":
        if "What to do" in str(e):  # the frontend already says how to fix the model
            return f"torch.fx could not trace this model: {e}"
        return _then(f"torch.fx could not trace this model: {e}", "Models with data-dependent "
                     "Python control flow cannot be traced; pick a sample model or simplify it.")
    if name in ("UnknownModelError", "ModelLoadError"):  # ios_core.frontend.models, imported lazily
        return _then(e, "Pick a sample model in the sidebar, or enter `package.module:callable` "
                     "where the callable returns `(module, example_input)`.")
    if isinstance(e, ModuleNotFoundError) and (e.name or "").startswith(("ios_core", "sample_")):
        return (f"this part of IOS Explorer is not built yet (module `{e.name}` is missing). "
                "Try again after updating the project.")
    if isinstance(e, ValueError):  # ios_core raises ValueErrors whose text is for users
        return str(e)
    return _then(f"an unexpected {name} occurred: {e}", "Try another model or other settings; "
                 "if it keeps happening, report it with these settings.")


def show_error(what: str, e: BaseException) -> None:
    st.error(f"**{what}**: {explain(e)}", icon=":material/block:")


@contextmanager
def guard(what: str, stop: bool = True) -> Iterator[None]:
    """Run a block; on any error show it in plain words and stop this page (st.stop)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the app must never show a traceback
        show_error(what, e)
        if stop:
            st.stop()
