"""The endings of a DP state: the stages that may run last among the ops still to schedule.

:func:`index_part` builds, once per part, the bitmask tables that every state's enumeration
looks up (:class:`PartIndex`): the connected groups of at most ``r`` ops filed under their last
op, the classes of convolutions that merge, and the concats that may end a merge stage. How the
enumeration is exact and duplicate-free is explained in :mod:`ios_core.search.dp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ios_core.cost.base import Groups
from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import concat_of_merge, merge_key
from ios_core.search.bitsets import bits, combine_disjoint, components

__all__ = ["PartIndex", "connected_groups", "index_part"]


@dataclass
class PartIndex:
    """Bitmask tables of one part: what every state's ending enumeration looks up."""

    names: list[str]
    succ: list[int]  # successors inside the part
    pred: list[int]  # predecessors inside the part
    nbr: list[int]  # succ | pred
    groups_by_top: list[list[tuple[int, int]]]  # op -> [(group mask, successors outside it)]
    merge_classes: list[int]  # masks of ops that merge with each other (2+ ops each)
    r: int
    s: int
    # (concat's bit, the convs it joins, their readers other than it): merge stages ending in it
    merge_cats: list[tuple[int, int, int]] = field(default_factory=list)
    cat_mask: int = 0  # every concat of merge_cats: a view, no part of a merge stage's work

    @property
    def n(self) -> int:
        return len(self.names)

    def group_names(self, mask: int) -> Groups:
        """The groups of an ending: its weakly connected components, in topological order."""
        return tuple(tuple(self.names[i] for i in bits(c)) for c in components(mask, self.nbr))

    def ending_groups(self, ending: int) -> list[int]:
        """The groups (components) of a concurrent ending, ordered by their lowest op.

        Faster than a graph search: the component holding the ending's highest op ``t`` has
        ``t`` as its last op, so it is the largest set filed under ``t`` inside the ending
        (every other one there is a connected subset of it).
        """
        out = []
        while ending:
            t = ending.bit_length() - 1
            for g, _ in self.groups_by_top[t]:  # largest first
                if g & ending == g:
                    break
            out.append(g)
            ending ^= g
        out.sort(key=lambda g: g & -g)
        return out

    def concurrent_endings(self, state: int, sinks: int) -> list[int]:
        """All endings of ``state`` with at most ``s`` groups of at most ``r`` ops each."""
        valid = []
        for t in bits(sinks):
            for g, out in self.groups_by_top[t]:
                if g & state == g and not out & state:
                    valid.append(g)
        return combine_disjoint(valid, self.s)

    def merge_endings(self, state: int, sinks: int) -> list[int]:
        """Every set of two or more sinks that merge into one wide convolution, and every sink
        concat with the convolutions it joins where nothing else in ``state`` reads them."""
        found = [cat | convs for cat, convs, others in self.merge_cats
                 if cat & sinks and convs & state == convs and not others & state]
        for cls in self.merge_classes:
            ready = cls & sinks
            if ready & (ready - 1):  # two or more bits
                sub = ready
                while sub:
                    if sub & (sub - 1):
                        found.append(sub)
                    sub = (sub - 1) & ready
        return found


def connected_groups(
    succ: Sequence[int], pred: Sequence[int], anc: Sequence[int], r: int
) -> list[list[tuple[int, int]]]:
    """For each op ``t``: the connected op sets of at most ``r`` ops whose last op is ``t``.

    Each entry is ``(mask, out)`` with ``out`` the successors leaving the set; sets that can
    never be successor-closed in a downset (a leaving edge leads back to an ancestor) are dropped.
    Enumeration is ESU-style (Wernicke 2006): each connected set is grown from ``t`` once.
    """
    n = len(succ)
    nbr = [a | b for a, b in zip(succ, pred, strict=True)]
    table: list[list[tuple[int, int]]] = []
    for t in range(n):
        below = (1 << t) - 1
        found = []
        stack = [(1 << t, nbr[t] & below, nbr[t] | (1 << t))]
        while stack:
            sub, ext, seen = stack.pop()
            found.append(sub)
            if sub.bit_count() >= r:
                continue
            while ext:
                low = ext & -ext
                ext ^= low
                w = low.bit_length() - 1
                excl = nbr[w] & below & ~seen
                stack.append((sub | low, ext | excl, seen | excl))
        found.sort(key=lambda g: (-g.bit_count(), g))  # largest first: see ending_groups
        table.append(_closable(found, succ, anc))
    return table


def _closable(masks: list[int], succ: Sequence[int], anc: Sequence[int]) -> list[tuple[int, int]]:
    """Keep the sets that are successor-closed in some downset; attach their leaving edges."""
    kept = []
    for g in masks:
        out = ups = 0
        for i in bits(g):
            out |= succ[i]
            ups |= anc[i]
        out &= ~g
        if not out & ups:
            kept.append((g, out))
    return kept


def index_part(graph: OpGraph, names: Sequence[str], r: int, s: int, merges: bool,
               merge_concat: bool = False) -> PartIndex:
    """Build the bitmask tables of a part (ops listed in topological order); ``merge_concat``
    adds merge stages that end in their concat (module docstring)."""
    pos = {name: i for i, name in enumerate(names)}
    n = len(names)
    succ, pred = [0] * n, [0] * n
    for i, name in enumerate(names):
        for p in graph.predecessors(name):
            j = pos.get(p)
            if j is not None:  # inputs from earlier parts are simply available
                pred[i] |= 1 << j
                succ[j] |= 1 << i
    anc = [0] * n
    for i in range(n):
        for j in bits(pred[i]):
            anc[i] |= anc[j] | (1 << j)
    classes: dict[Any, int] = {}
    if merges:
        for i, name in enumerate(names):
            key = merge_key(graph, name)
            if key is not None:
                classes[key] = classes.get(key, 0) | (1 << i)
    merge_cats = _merge_cats(graph, names, pos, succ) if merges and merge_concat else []
    return PartIndex(
        names=list(names),
        succ=succ,
        pred=pred,
        nbr=[a | b for a, b in zip(succ, pred, strict=True)],
        groups_by_top=connected_groups(succ, pred, anc, r),
        merge_classes=[m for m in classes.values() if m & (m - 1)],
        r=r,
        s=s,
        merge_cats=merge_cats,
        cat_mask=sum(cat for cat, _, _ in merge_cats),
    )


def _merge_cats(graph: OpGraph, names: Sequence[str], pos: dict[str, int], succ: Sequence[int]
                ) -> list[tuple[int, int, int]]:
    """(concat bit, mask of the convs it joins, their other readers) for each such concat whose
    convs are all in the part."""
    found = []
    for name in names:
        convs = concat_of_merge(graph, name)
        if convs is None or any(c not in pos for c in convs):
            continue
        cat = 1 << pos[name]
        mask = readers = 0
        for c in convs:
            mask |= 1 << pos[c]
            readers |= succ[pos[c]]
        found.append((cat, mask, readers & ~cat))
    return found
