"""The selected stage painted over a graphviz drawing by CSS, so that a stage step keeps the
drawing's DOT text as it was.

st.graphviz_chart lays its DOT out in the browser (Graphviz in WebAssembly, then d3-graphviz
samples every edge path point by point): about half a second of a 2-core machine's CPU for one
Inception block, on every stage step when the states were written into the DOT. The browser
skips all of it while the DOT text stays the same, so the page draws each block once, with an
``id`` per operator, and sends the stage's colours as a small style sheet instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .colors import DONE_COLOR, PENDING_COLOR, STRATEGY_COLORS, group_color, ink, kind_color
from .steps import OpState

__all__ = ["ID_PREFIX", "state_css", "with_node_ids"]

ID_PREFIX = "iosop-"  # SVG ids of the drawn operators: the page's only such ids
MERGE_DASH = "7 3"  # a merge stage's border: dashed, a cue apart from its colour


def with_node_ids(dot: str, names: Sequence[str]) -> tuple[str, dict[str, str]]:
    """``dot`` with an SVG id on each operator of ``names`` (all drawn in it), and name -> id.

    The ids are added as statements of their own before the closing brace, which DOT merges
    into the nodes' other attributes.

    >>> dot, ids = with_node_ids('digraph G {\\n  "a" -> "b";\\n}', ["a", "b"])
    >>> print(dot)
    digraph G {
      "a" -> "b";
      "a" [id="iosop-0"];
      "b" [id="iosop-1"];
    }
    >>> ids
    {'a': 'iosop-0', 'b': 'iosop-1'}
    """
    import json

    body = dot.rstrip()
    if not body.endswith("}"):
        raise ValueError("not a DOT graph: it does not end with '}'")
    ids = {name: f"{ID_PREFIX}{i}" for i, name in enumerate(names)}
    lines = [f"  {json.dumps(n, ensure_ascii=False)} [id={json.dumps(i)}];"
             for n, i in ids.items()]
    return body[:-1].rstrip() + "\n" + "\n".join(lines) + "\n}", ids


def _rule(node_id: str, fill: str, stroke: str, width: float, text: str,
          dash: str = "none") -> str:
    shape = f"#{node_id} > path, #{node_id} > polygon"
    return (f"{shape} {{fill: {fill}; stroke: {stroke}; stroke-width: {width}px; "
            f"stroke-dasharray: {dash};}}\n#{node_id} text {{fill: {text};}}")


def state_css(states: Mapping[str, OpState], ids: Mapping[str, str],
              kinds: Mapping[str, str]) -> str:
    """A style sheet that paints each drawn operator as its state at the selected stage: as
    app.views.dot draws states (finished grey; not yet run white with its kind's colour as
    border; running in its stream's colour, bold), a merge stage's ops in the merge colour with a
    dashed bold border. ``kinds``: op -> kind; an op without a state keeps its kind's colour.

    >>> css = state_css({"a": OpState("current", 0, 1, "concurrent")}, {"a": "iosop-0"},
    ...                 {"a": "conv"})
    >>> css.startswith("#iosop-0 > path, #iosop-0 > polygon {fill: ")
    True
    """
    rules = []
    for op, node_id in ids.items():
        state = states.get(op)
        if state is None:
            continue
        if state.status == "done":
            rules.append(_rule(node_id, DONE_COLOR, "#BBBBBB", 1, "#999999"))
        elif state.status == "pending":
            rules.append(_rule(node_id, PENDING_COLOR, kind_color(kinds.get(op, "")), 2,
                               "#000000"))
        elif state.strategy == "merge":
            fill = STRATEGY_COLORS["merge"]
            rules.append(_rule(node_id, fill, "#000000", 3, ink(fill), MERGE_DASH))
        else:
            fill = group_color(state.group)
            rules.append(_rule(node_id, fill, "#000000", 3, ink(fill)))
    return "\n".join(rules)
