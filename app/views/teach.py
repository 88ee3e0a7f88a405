"""What the first page teaches: a stage's members measured alone against the stage as IOS ran
it, from schedule files alone (no trace, no torch work).

A shipped sequential schedule runs every operator as a stage of its own, so its stage times are
the operators' measured times alone; an IOS schedule's stage times are the same GPU's
measurements of its stages. Nothing here is typed in: every figure comes from those files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from ios_core.ir.schedule import Schedule, Stage

from .colors import STRATEGY_COLORS, group_color, ink
from .dot import q

__all__ = ["NOISE", "StageStory", "alone_times", "markdown_table", "stage_dot", "stage_figure",
           "stage_story", "totals_rows"]

# stage times within 2 % of the one-after-another sum are read as "no change": repeated
# medians of the same short stage differ by about that much on the profiled GPUs
NOISE = 0.02


@dataclass(frozen=True)
class StageStory:
    index: int  # 0-based stage index
    strategy: str  # "concurrent" | "merge"
    groups: tuple[tuple[str, ...], ...]
    alone: tuple[tuple[str, float], ...]  # (op, its measured time alone, ms)
    stage_ms: float  # the stage as IOS ran it, measured
    estimated: bool  # True when any figure was estimated rather than measured

    @property
    def sum_ms(self) -> float:
        """The sequential alternative: the members one after another."""
        return sum(ms for _, ms in self.alone)

    @property
    def max_ms(self) -> float:
        """Perfect overlap: the slowest member alone."""
        return max((ms for _, ms in self.alone), default=0.0)

    @property
    def saved_ms(self) -> float:
        return self.sum_ms - self.stage_ms

    @property
    def verdict(self) -> str:
        """'helped', 'hurt' or 'did nothing' (within NOISE of the sum; one op alone has nothing
        to overlap or merge)."""
        return verdict(self.sum_ms, self.stage_ms, len(self.alone))

    @property
    def how(self) -> str:
        return "merging" if self.strategy == "merge" else "concurrency"


def verdict(sum_ms: float, stage_ms: float, n_ops: int) -> str:
    """What running ``n_ops`` ops as one stage did against running them one after another.

    >>> verdict(1.0, 0.7, 3), verdict(1.0, 1.01, 2), verdict(1.0, 1.2, 2), verdict(1.0, 1.0, 1)
    ('helped', 'did nothing', 'hurt', 'did nothing')
    """
    if n_ops < 2 or abs(stage_ms - sum_ms) <= NOISE * sum_ms:
        return "did nothing"
    return "helped" if stage_ms < sum_ms else "hurt"


def alone_times(sequential: Schedule) -> dict[str, tuple[float, bool]]:
    """op -> (its time alone, estimated?) from a sequential schedule (one op per stage)."""
    return {st.ops[0]: (st.predicted_ms, st.estimated) for st in sequential.stages
            if len(st.ops) == 1}


def stage_story(schedule: Schedule, index: int,
                alone: Mapping[str, tuple[float, bool]]) -> StageStory | None:
    """Stage ``index`` of ``schedule`` against its members alone; None when some member has no
    time alone (a sequential schedule of another graph)."""
    st: Stage = schedule.stages[index]
    if any(op not in alone for op in st.ops):
        return None
    return StageStory(index, st.strategy, st.groups, tuple((op, alone[op][0]) for op in st.ops),
                      st.predicted_ms, st.estimated or any(alone[op][1] for op in st.ops))


def story_text(story: StageStory) -> str:
    """The stage in one paragraph of plain words (times in µs: stages are tens of µs)."""
    us = 1000.0
    what = ("one wide convolution (merged)" if story.strategy == "merge" else
            f"{len(story.groups)} stream(s) side by side" if len(story.groups) > 1 else
            "one stream")
    parts = [f"Stage {story.index + 1} runs {len(story.alone)} operator(s) as {what}. "
             f"Alone, one after another, they take {story.sum_ms * us:.1f} µs "
             f"(the slowest alone {story.max_ms * us:.1f} µs); the stage took "
             f"{story.stage_ms * us:.1f} µs."]
    if len(story.alone) < 2:
        parts.append(" One operator alone: nothing to overlap or merge, so the stage is the "
                     "sequential choice.")
    elif story.verdict == "helped":
        parts.append(f" {story.how.capitalize()} helped: it saved {story.saved_ms * us:.1f} µs "
                     f"({story.saved_ms / story.sum_ms:.0%}) against running them one after "
                     "another.")
    elif story.verdict == "hurt":
        parts.append(f" {story.how.capitalize()} hurt: {-story.saved_ms * us:.1f} µs slower "
                     "than one after another.")
    else:
        parts.append(f" {story.how.capitalize()} did nothing measurable (within "
                     f"{NOISE:.0%}).")
    if story.estimated:
        parts.append(" Some of these times are estimated, not measured.")
    return "".join(parts)


def stage_figure(story: StageStory) -> go.Figure:
    """Two timelines of the same operators: one stream (members back to back, measured alone)
    and the stage as IOS ran it (measured), with the slowest member alone as a dotted line.

    Built from plain dicts, unvalidated: plotly's validation of a handful of traces took a
    few tenths of a second of every widget change on the Learn page.
    """
    us = 1000.0
    data: list[dict] = []
    start = 0.0
    stream_of = {op: gi for gi, g in enumerate(story.groups) for op in g}
    for op, ms in story.alone:
        data.append({
            "type": "bar", "y": ["one stream"], "x": [ms * us], "base": [start * us],
            "orientation": "h", "name": op, "showlegend": False,
            "marker": {"color": group_color(stream_of.get(op, 0)),
                       "line": {"color": "#ffffff", "width": 1}},
            "hovertemplate": f"{op}<br>alone: %{{x:.1f}} µs<extra></extra>"})
        start += ms
    label = "IOS: merged" if story.strategy == "merge" else "IOS: concurrent"
    data.append({
        "type": "bar", "y": [label], "x": [story.stage_ms * us], "base": [0], "orientation": "h",
        "name": "stage", "showlegend": False,
        "marker": {"color": STRATEGY_COLORS.get(story.strategy, "#888888")},
        "text": [f"{story.stage_ms * us:.1f} µs"], "textposition": "inside",
        "hovertemplate": "the stage, measured: %{x:.1f} µs<extra></extra>"})
    slowest = story.max_ms * us
    layout = {
        "barmode": "overlay", "height": 190, "margin": {"l": 10, "r": 60, "t": 30, "b": 10},
        "xaxis": {"title": {"text": "µs"}}, "plot_bgcolor": "white",
        "yaxis": {"autorange": "reversed"},
        "shapes": [{"type": "line", "xref": "x", "yref": "paper", "x0": slowest, "x1": slowest,
                    "y0": 0, "y1": 1, "line": {"dash": "dot", "color": "#333333"}}],
        "annotations": [
            {"x": story.sum_ms * us, "y": "one stream", "text": f"{story.sum_ms * us:.1f} µs",
             "showarrow": False, "xanchor": "left", "xshift": 4},
            {"x": slowest, "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom",
             "text": "slowest alone", "showarrow": False}],
    }
    return go.Figure(data=data, layout=layout, _validate=False)


def stage_dot(story: StageStory) -> str:
    """The stage's operators as Graphviz DOT: a box per CUDA stream, its operators in the order
    the stream runs them, each with its time alone (a merge: one box of the convolutions that
    become one wide convolution). Only what the schedule file says: no graph is traced here.

    >>> story = StageStory(0, "concurrent", (("a", "b"), ("c",)),
    ...                    (("a", 0.01), ("b", 0.002), ("c", 0.02)), 0.021, False)
    >>> dot = stage_dot(story)
    >>> '"a" -> "b"' in dot, 'label="stream 1"' in dot, "10.0 µs alone" in dot
    (True, True, True)
    >>> merged = StageStory(1, "merge", (("p",), ("q",)), (("p", 0.01), ("q", 0.01)), 0.012, False)
    >>> stage_dot(merged).count("subgraph"), "->" in stage_dot(merged)
    (1, False)
    """
    alone = dict(story.alone)
    if story.strategy == "merge":
        boxes = [("merged into one wide convolution", STRATEGY_COLORS["merge"],
                  [op for g in story.groups for op in g])]
    else:
        boxes = [(f"stream {gi}", group_color(gi), list(g)) for gi, g in enumerate(story.groups)]
    lines = ["digraph stage {", "  rankdir=LR; nodesep=0.15; ranksep=0.25;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];']
    # left to right, Graphviz stacks unconnected boxes upwards in the order they come: the
    # last stream first puts stream 0 on top, as in the Gantt chart
    for bi, (label, color, ops) in reversed(list(enumerate(boxes))):
        lines += [f"  subgraph cluster_{bi} {{", f"    label={q(label)}; color={q(color)};",
                  '    fontname="Helvetica"; fontsize=10;']
        for op in ops:
            text = q(f"{op}\n{alone.get(op, 0.0) * 1000:.1f} µs alone")
            lines.append(f"    {q(op)} [label={text}, fillcolor={q(color)}, "
                         f"fontcolor={q(ink(color))}];")
        if story.strategy != "merge":  # one stream runs its operators one after another
            lines += [f"    {q(a)} -> {q(b)};" for a, b in zip(ops, ops[1:], strict=False)]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Rows of dicts as a Markdown table (columns of the first row), for the first page's small
    tables: st.dataframe would import pandas and pyarrow (over half a second) before the first
    page could show.

    >>> print(markdown_table([{"GPU": "H100", "ms": 1.5}, {"GPU": "A|B", "ms": 2}]))
    | GPU | ms |
    |---|---|
    | H100 | 1.5 |
    | A\\|B | 2 |
    """
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(value: object) -> str:
        return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def totals_rows(by_gpu: Mapping[str, Mapping[str, Schedule]],
                order: Sequence[str]) -> list[dict]:
    """One row per GPU: each strategy's total (the sum of its stages' measured times) and its
    speedup over one stream (sequential)."""
    rows = []
    for gpu, found in by_gpu.items():
        seq = found.get("sequential")
        row: dict = {"GPU": gpu}
        for strategy in order:
            if strategy not in found:
                continue
            ms = found[strategy].predicted_ms
            speed = f" ({seq.predicted_ms / ms:.2f}×)" if seq and ms > 0 else ""
            row[strategy] = f"{ms:.3f} ms{speed}"
        rows.append(row)
    return rows
