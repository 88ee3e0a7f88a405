"""Bitmask helpers for the DP: an op set of a part is an ``int`` whose bit ``i`` is op ``i``.

Python's arbitrary-precision ints make set union, intersection and "lowest op" single machine-level
operations on parts of up to a few hundred ops, far faster than sets of names; these helpers are
the few loops over them that the DP and its ending tables share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = ["bits", "bits_masks", "combine_disjoint", "components", "downsets"]


def bits(mask: int) -> Iterator[int]:
    """Indices of the set bits of ``mask``, lowest first.

    >>> list(bits(0b10110))
    [1, 2, 4]
    """
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def bits_masks(mask: int) -> Iterator[int]:
    """The single-bit masks of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low
        mask ^= low


def components(mask: int, nbr: Sequence[int]) -> list[int]:
    """Weakly connected components of the ops in ``mask``, ordered by their lowest op."""
    comps = []
    rest = mask
    while rest:
        comp = frontier = rest & -rest
        while frontier:
            low = frontier & -frontier
            frontier ^= low
            new = nbr[low.bit_length() - 1] & rest & ~comp
            comp |= new
            frontier |= new
        rest &= ~comp
        comps.append(comp)
    return comps


def combine_disjoint(groups: Sequence[int], s: int) -> list[int]:
    """Unions of 1..s pairwise disjoint masks of ``groups``, each combination once.

    Combinations are built in list order (smaller counts first), so the result is deterministic.

    >>> combine_disjoint([0b001, 0b010, 0b100], s=2)
    [1, 2, 4, 3, 5, 6]
    >>> combine_disjoint([0b011, 0b010, 0b100], s=3)
    [3, 2, 4, 7, 6]
    """
    top = min(s, len(groups))
    by_count: list[list[int]] = [[] for _ in range(top + 1)]
    for g in groups:
        for c in range(top - 1, 0, -1):  # high counts first, so g joins each combination once
            by_count[c + 1] += [m | g for m in by_count[c] if not m & g]
        by_count[1].append(g)
    return [m for level in by_count for m in level]


def downsets(pred: Sequence[int]) -> dict[int, int]:
    """Every downset of the part, mapped to its sinks (ops no other op of it reads).

    Built op by op: appending op ``x`` (last in topological order) keeps every downset and adds
    ``D | x`` for each downset ``D`` that holds ``x``'s predecessors; in ``D | x``, ``x`` is a
    sink and its predecessors are not. By induction the order lists every subset before its
    supersets, so a state comes after every state it reaches by removing an ending.

    >>> downsets([0b0, 0b1])  # op 1 reads op 0
    {0: 0, 1: 1, 3: 2}
    """
    states, sinks = [0], [0]
    for x, px in enumerate(pred):
        bit = 1 << x
        keep = ~px
        grown = [(d, sk) for d, sk in zip(states, sinks, strict=True) if d & px == px]
        states += [d | bit for d, _ in grown]
        sinks += [(sk & keep) | bit for _, sk in grown]
    return dict(zip(states, sinks, strict=True))
