"""The DP's search made visible: a recorder of its observer callbacks and a DOT drawing.

A state is a downset of the block's ops (closed under predecessors); its cost is the fastest way
to run exactly those ops. The DP picks the *last* stage of every state, so a transition is drawn
from ``S - stage`` to ``S``: left to right reads in execution order, from nothing run to all run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ios_core.search.config import SearchConfig
from ios_core.search.explain import DP_KNOBS
from ios_core.search.observer import SearchObserver

from .colors import STRATEGY_COLORS
from .dot import q

Groups = tuple[tuple[str, ...], ...]
DP_STRATEGIES = ("ios-both", "ios-parallel", "ios-merge")
Key = tuple[frozenset[str], str, Groups]  # (state, strategy, groups)


@dataclass(frozen=True)
class Transition:
    state: frozenset[str]
    strategy: str
    groups: Groups
    stage_ms: float
    total_ms: float

    @property
    def key(self) -> Key:
        return (self.state, self.strategy, self.groups)

    @property
    def before(self) -> frozenset[str]:
        return self.state - {n for g in self.groups for n in g}


@dataclass
class DPRecord:
    """Everything one DP run told its observer."""

    cost: dict[frozenset[str], float] = field(default_factory=dict)
    best: dict[frozenset[str], tuple[str, Groups]] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)  # the part's, as on_part_end gave them

    def chosen_path(self, full: frozenset[str]) -> list[Transition]:
        """The argmin chain from the whole block back to nothing, in execution order."""
        by_key = {t.key: t for t in self.transitions}
        path, state = [], full
        while state and state in self.best:
            strategy, groups = self.best[state]
            t = by_key[(state, strategy, groups)]
            path.append(t)
            state = t.before
        return path[::-1]


class DPRecorder(SearchObserver):
    """Collects on_state / on_transition into a :class:`DPRecord` (turns on the DP's step hooks)."""

    def __init__(self) -> None:
        self.record = DPRecord()

    def on_state(self, part_index: int, remaining: tuple[str, ...], cost_ms: float,
                 best: tuple[str, Groups]) -> None:
        self.record.cost[frozenset(remaining)] = cost_ms
        self.record.best[frozenset(remaining)] = best

    def on_transition(self, part_index: int, remaining: tuple[str, ...], strategy: str,
                      groups: Groups, stage_ms: float, total_ms: float) -> None:
        self.record.transitions.append(
            Transition(frozenset(remaining), strategy, groups, stage_ms, total_ms))

    def on_part_end(self, part_index: int, stats: Mapping[str, Any]) -> None:
        self.record.stats = dict(stats)


def pruned(full: DPRecord, pruned_run: DPRecord) -> list[Transition]:
    """Transitions the unpruned DP tried that the pruned one never did."""
    kept = {t.key for t in pruned_run.transitions}
    return [t for t in full.transitions if t.key not in kept]


def prune_reason(t: Transition, r: int, s: int) -> str:
    if t.strategy == "concurrent":
        longest = max(len(g) for g in t.groups)
        if longest > r:
            return f"a group of {longest} ops > r={r}"
        if len(t.groups) > s:
            return f"{len(t.groups)} groups > s={s}"
    return "pruned"


def knobs_text(strategy: str, config: SearchConfig) -> str:
    """The knobs one part's DP runs with, in words."""
    words = [strategy, f"r = {config.r}", f"s = {config.s}"]
    if strategy != "ios-parallel":
        words.append("merges may end in their concat" if config.merge_concat
                     else "merges never take their concat")
    words.append(f"branch and bound at slack {config.bound_slack:g}"
                 if config.bound_slack is not None else "no branch and bound")
    return ", ".join(words)


def _knob(config: SearchConfig, knob: str) -> str:
    value = getattr(config, knob)
    if knob == "bound_slack":
        return "none" if value is None else f"{value:g}"
    if knob == "merge_concat":
        return "on" if value else "off"
    return str(value)


KNOB_NAMES = {"r": "r", "s": "s", "bound_slack": "branch-and-bound slack",
              "merge_concat": "merges ending in their concat"}


def view_differences(search_strategy: str, searched: SearchConfig, strategy: str,
                     shown: SearchConfig, ops: Sequence[str],
                     search_parts: Sequence[Sequence[str]]) -> list[str]:
    """How a teaching view's DP over ``ops`` differs from the search that made the schedule, in
    words (none when it is the search's own DP): strategy, every knob the DP reads, and the part
    (``search_parts``: the search's parts that hold any of ``ops``)."""
    notes = []
    if search_strategy not in DP_STRATEGIES:
        notes.append(f"the search is {search_strategy}, which runs no DP; this view runs "
                     f"{strategy} with its knobs")
    elif strategy != search_strategy:
        notes.append(f"{strategy} here, {search_strategy} in the search")
    for knob in DP_KNOBS:
        if getattr(shown, knob) != getattr(searched, knob):
            notes.append(f"{KNOB_NAMES.get(knob, knob)} = {_knob(shown, knob)} here (the search: "
                         f"{_knob(searched, knob)})")
    if len(search_parts) != 1 or set(search_parts[0]) != set(ops):
        sizes = ", ".join(str(len(p)) for p in search_parts)
        notes.append(f"the search solved these {len(ops)} ops in {len(search_parts)} "
                     f"part{'s' if len(search_parts) > 1 else ''} of {sizes} ops (at most "
                     f"{searched.max_part_ops} ops and {searched.max_part_states:,} DP states "
                     "each); this view solves them as one part")
    return notes


def short_names(ops: Sequence[str]) -> dict[str, str]:
    """op -> 'op1', 'op2', … in block order: state labels stay short."""
    return {name: f"{i + 1}" for i, name in enumerate(ops)}


def state_label(state: frozenset[str], ids: dict[str, str]) -> str:
    if not state:
        return "∅"
    return "{" + ",".join(sorted((ids[n] for n in state), key=int)) + "}"


def stage_text(strategy: str, groups: Groups, ids: dict[str, str]) -> str:
    parts = ["+".join(ids[n] for n in g) if strategy == "merge" else "→".join(ids[n] for n in g)
             for g in groups]
    return ("merge " if strategy == "merge" else "") + " ‖ ".join(parts)


def dp_dot(record: DPRecord, ops: Sequence[str], removed: Sequence[Transition] = (),
           selected: frozenset[str] | None = None) -> str:
    """States (with their optimal cost) and transitions; the chosen path bold red, pruned
    transitions grey and dashed, the selected state outlined."""
    ids = short_names(ops)
    full = frozenset(ops)
    path = {t.key for t in record.chosen_path(full)}
    states = set(record.cost) | {frozenset()} | {t.before for t in record.transitions}
    node = {st: f"s{i}" for i, st in enumerate(sorted(states, key=lambda x: (len(x), sorted(x))))}
    lines = ["digraph DP {", '  rankdir=LR; ranksep=0.6; nodesep=0.15; fontname="Helvetica";',
             '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
             'fillcolor="#f4f4f4"];', '  edge [fontname="Helvetica", fontsize=9];']
    for st, nid in node.items():
        cost = record.cost.get(st, 0.0)
        label = f"{state_label(st, ids)}\n{cost:.4f} ms"
        extra = ', penwidth=3, color="#d62728"' if st == selected else ""
        on_path = st == full or not st or any(k[0] == st for k in path)
        fill = ', fillcolor="#fde0dd"' if on_path else ""
        lines.append(f"  {nid} [label={q(label)}{fill}{extra}];")
    for t in record.transitions:
        chosen = t.key in path
        color = "#d62728" if chosen else STRATEGY_COLORS.get(t.strategy, "#888888")
        style = f'color="{color}", penwidth={3 if chosen else 1}'
        style += ", style=dashed" if t.strategy == "merge" and not chosen else ""
        label = f"{stage_text(t.strategy, t.groups, ids)}\n{t.stage_ms:.4f}"
        lines.append(f"  {node[t.before]} -> {node[t.state]} [label={q(label)}, {style}];")
    for t in removed:
        if t.before in node and t.state in node:
            label = f"✂ {stage_text(t.strategy, t.groups, ids)}"
            lines.append(f"  {node[t.before]} -> {node[t.state]} [label={q(label)}, "
                         'color="#bbbbbb", fontcolor="#999999", style=dotted, constraint=false];')
    lines.append("}")
    return "\n".join(lines)
