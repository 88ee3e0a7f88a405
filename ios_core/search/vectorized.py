"""The IOS DP of one part with numpy: every state's endings at once, then one pass per layer.

The plain DP (:class:`ios_core.search.dp._Search`) spends microseconds of Python per transition,
and a RandWire or NASNet part has up to millions of them. Here the same recurrence runs on
arrays and picks the same stages, ties included:

1. **States** (the part's downsets) are ordered by size, then in
   :func:`~ios_core.search.bitsets.downsets` order. An ending makes a state smaller, so the
   states of one size (a *layer*) depend only on earlier layers.
2. **Concurrent endings**, one *level* per number of groups. Level 1 is every valid group of
   every state (one matrix test; it also gives ``state - group``, the only state looked up by
   its mask). Level ``c + 1`` joins each valid group ``g`` of a state with each level-``c``
   ending of that state whose groups all start before ``g`` (lowest op) and do not overlap it.
   A level stays sorted by (state, last group), so those parents are a contiguous run, found
   with no search, and an ending is built once, adding its groups in the order the batch folds
   them in (below). Its rest is ``rest(parent) - g``, read from the level-1 table (``g`` is a
   valid group of ``rest(parent)`` too).
3. **Merge endings** through :meth:`~ios_core.search.endings.PartIndex.merge_endings` on the
   states that have two mergeable sinks or a joinable concat (few).
4. **Latencies**: concurrent stages through a :class:`~ios_core.search.batch.ConcurrentBatch`,
   whose running sums each join extends by one group (groups by lowest op, as ``stage_cost``
   gets them, so the floats are the scalar ones); merge stages one by one through
   ``stage_cost`` (a few hundred in a model).
5. **The DP**, one layer at a time: ``cost[rest] + latency`` for its transitions, the minimum per
   state, and of the transitions reaching it the first in the plain DP's order: fewer groups
   first, merges last, and among endings of as many groups the order of
   :func:`~ios_core.search.bitsets.combine_disjoint`, which each ending's ``key`` encodes
   (:func:`transitions`). Ties are common (two stages in either order cost the same), so this
   is what makes the stages the plain DP's.

It computes the *full* DP. With ``bound_slack`` set, the plain DP costs fewer stages, and its
choice is the full DP's wherever its bound holds (:mod:`ios_core.search.dp`): the batch vouches
for the bound on concurrent stages (:mod:`ios_core.search.batch`); merge stages are checked here
against their ops alone and their sub-merges. Where a check fails, or the part has more than
:data:`MAX_OPS` ops, :func:`solve_vectorized` returns None and the caller runs the plain DP; the
stages it picks are costed again through ``stage_cost``, and a difference also means None.

A distinct stage is counted once, at its *own* state: the smallest downset holding it, which is
the one whose sinks all lie in the stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ios_core.cost.base import Groups, StageCost
from ios_core.search.batch import BatchFactory, ConcurrentBatch
from ios_core.search.bitsets import bits
from ios_core.search.endings import PartIndex

__all__ = ["MAX_OPS", "MERGE_ORDER", "Block", "Solved", "Transitions", "solve_layers",
           "solve_vectorized", "stage_groups", "transitions", "walk_back"]

MAX_OPS = 62  # bitmasks live in int64
_CHUNK = 1 << 22  # matrix cells per block when testing every group against every state
_BITS = 62  # key bits per int64 word (kept clear of the sign bit)
MERGE_ORDER = 127  # Transitions.order of a merge: after every concurrent ending

# called after each layer with (states solved, transitions looked at, distinct stages costed);
# it may raise to stop the search
Progress = Callable[[int, int, int], None]


@dataclass
class Block:
    """Transitions of one kind: the concurrent endings of ``order`` groups, or the merges
    (``order`` = :data:`MERGE_ORDER`), sorted by state. Within a state, the plain DP lists them by
    ``key`` (see :func:`transitions`)."""

    order: int
    state: np.ndarray  # index into Transitions.states of each transition's state
    rest: np.ndarray  # index into Transitions.states of state minus ending
    latency: np.ndarray  # float64
    key: np.ndarray  # int64, shape (words, transitions), least significant word first
    mask: np.ndarray | None = None  # endings (merges only: kept for the bound's check)

    def __len__(self) -> int:
        return len(self.state)


@dataclass
class Transitions:
    """Every (state, ending) pair of a part, in blocks; ending = ``states[state] ^ states[rest]``.

    The plain DP's enumeration order, which breaks ties, is: concurrent endings by their number
    of groups, merges last (the blocks' order), then ``key`` within a block.
    """

    states: np.ndarray  # int64 masks by size, then downsets() order; states[0] is the empty set
    layer_ends: np.ndarray  # states[layer_ends[k - 1]:layer_ends[k]] hold k ops
    blocks: list[Block]
    distinct: int  # distinct stages among the endings (what a measured search would time)

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)

    @cached_property
    def layer_cuts(self) -> list[np.ndarray]:
        """Per block, where each layer's transitions start (blocks are sorted by state)."""
        return [np.searchsorted(b.state, self.layer_ends) for b in self.blocks]

    @cached_property
    def state_heads(self) -> list[np.ndarray]:
        """Per block, where each state's transitions start."""
        return [np.flatnonzero(np.r_[True, b.state[1:] != b.state[:-1]]) for b in self.blocks]


@dataclass
class Solved:
    """The DP tables of a part solved on arrays."""

    tr: Transitions
    cost: np.ndarray  # best cost per state
    choice: np.ndarray  # (block, index in block) of each state's best last stage; -1: empty set


# a level of concurrent endings while it is built: state, level-1 row of its last group, rest,
# mask, key words, running sums of the batch
Level = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]


def transitions(ix: PartIndex, states_sinks: dict[int, int], concurrent: bool, merges: bool,
                batch: ConcurrentBatch, merge_cost: Callable[[int], float]) -> Transitions:
    """All transitions of the part with their latencies (module docstring, steps 1-4);
    ``merge_cost(mask)`` is a merge stage's latency. ``ix.n`` must be at most :data:`MAX_OPS`.

    Concurrent endings are *built* in order of their groups' lowest ops, the order the batch
    folds them in, so that each join adds one group to its parent's running sums. The plain DP
    lists them otherwise (:func:`~ios_core.search.bitsets.combine_disjoint`): those of ``c``
    groups by their last group in the state's valid-group list, then the one before, and so on:
    that is, by the number whose bit ``i`` is set when the ending holds the state's ``i``-th
    valid group. That number is each ending's ``key`` (in words of :data:`_BITS` bits).
    """
    gen = np.fromiter(states_sinks, dtype=np.int64, count=len(states_sinks))
    gen_sinks = np.fromiter(states_sinks.values(), dtype=np.int64, count=len(states_sinks))
    size = np.bitwise_count(gen)
    by_size = np.argsort(size, kind="stable")
    states, sinks = gen[by_size], gen_sinks[by_size]
    layer_ends = np.searchsorted(size[by_size], np.arange(ix.n + 1), side="right")
    lookup = np.argsort(states)  # states[lookup] is sorted: find a state by its mask
    sorted_states = states[lookup]

    def index_of(masks: np.ndarray) -> np.ndarray:
        return lookup[np.searchsorted(sorted_states, masks)]

    groups = [g for table in ix.groups_by_top for g, _ in table]
    g_mask = np.array(groups, dtype=np.int64)
    g_out = np.array([o for table in ix.groups_by_top for _, o in table], dtype=np.int64)
    g_low = np.array([(g & -g).bit_length() for g in groups], dtype=np.int64)
    n_groups = len(groups)

    # level 1: every (state, valid group); a group's place in its state's list gives its key bit
    st1, p1 = _valid_pairs(states, g_mask, g_out)
    ptr = np.searchsorted(st1, np.arange(len(states) + 1))  # level-1 rows of each state
    place = np.arange(len(st1)) - ptr[st1]
    words = max(1, -(-int(np.diff(ptr).max(initial=0)) // _BITS))
    by_low = np.lexsort((g_low[p1], st1))  # rows of a state by their group's lowest op
    st1, p1, place = st1[by_low], p1[by_low], place[by_low]
    key1 = np.zeros((words, len(st1)), dtype=np.int64)
    key1[place // _BITS, np.arange(len(st1))] = np.left_shift(1, place % _BITS)
    mask1 = g_mask[p1]
    rest1 = index_of(states[st1] ^ mask1)
    rest_of = np.full(len(states) * n_groups, -1, dtype=np.int64)  # (state, group) -> rest
    rest_of[st1 * n_groups + p1] = rest1
    blocks = [Block(1, st1, rest1, batch.alone()[p1], key1)]
    distinct = int(np.count_nonzero((sinks[st1] & ~mask1) == 0))

    level: Level | None = (st1, np.arange(len(st1)), rest1, mask1, key1, batch.start(p1))
    for c in range(2, ix.s + 1 if concurrent else 1):
        assert level is not None
        level = _join(level, st1, p1, ptr, g_mask, key1, rest_of, n_groups, batch)
        if level is None:
            break
        st, _, rest, mask, key, sums = level
        blocks.append(Block(c, st, rest, batch.finish(sums, c), key))
        distinct += int(np.count_nonzero((sinks[st] & ~mask) == 0))
    del rest_of, level

    if merges:
        m_state, m_mask, m_place = _merge_endings(ix, states, sinks)
        if len(m_state):
            uniq, inverse = np.unique(m_mask, return_inverse=True)
            lat_u = np.array([merge_cost(int(m)) for m in uniq])
            m_key = np.zeros((words, len(m_state)), dtype=np.int64)
            m_key[0] = m_place
            blocks.append(Block(MERGE_ORDER, m_state, index_of(states[m_state] ^ m_mask),
                                lat_u[inverse], m_key, m_mask))
            distinct += len(uniq)
    return Transitions(states, layer_ends, blocks, distinct)


def _join(level: Level, st1: np.ndarray, p1: np.ndarray, ptr: np.ndarray, g_mask: np.ndarray,
          key1: np.ndarray, rest_of: np.ndarray, n_groups: int, batch: ConcurrentBatch
          ) -> Level | None:
    """The next level: each level-1 row ``k`` joined with the endings of its state whose last
    group comes before ``k`` (a contiguous run, since a level is sorted by state, then last
    row), where disjoint. Rows are taken in blocks so that no temporary outgrows
    :data:`_CHUNK` entries. None when no ending has one more group."""
    st, last, rest, mask, key, sums = level
    below = np.zeros(len(st1) + 1, dtype=np.int64)  # endings whose last row is below k
    np.cumsum(np.bincount(last, minlength=len(st1)), out=below[1:])
    lo = below[ptr[st1]]  # the first ending of k's state
    count = below[:-1] - lo
    ends = np.cumsum(count)
    if not len(ends) or ends[-1] == 0:
        return None
    g_row = g_mask[p1]
    offset = lo - (ends - count)  # candidate i of row k joins parent i + offset[k]
    pieces = []
    a = 0
    while a < len(st1):
        base = int(ends[a] - count[a])
        b = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), a + 1)
        n = int(ends[b - 1]) - base
        if n:
            # the parents of a row are consecutive
            row = np.repeat(np.arange(a, b), count[a:b])
            parent = np.arange(base, base + n) + offset[row]
            g = g_row[row]
            parent_mask = mask[parent]
            free = np.flatnonzero((parent_mask & g) == 0)
            row, parent = row[free], parent[free]
            q = p1[row]
            pieces.append((
                st1[row], row, rest_of[rest[parent] * n_groups + q], parent_mask[free] | g[free],
                key[:, parent] | key1[:, row], batch.add(tuple(x[parent] for x in sums), q),
            ))
        a = b
    if not sum(len(piece[0]) for piece in pieces):
        return None
    if len(pieces) == 1:
        return pieces[0]
    cat = [np.concatenate([piece[i] for piece in pieces], axis=-1) for i in range(5)]
    sums_cat = tuple(np.concatenate([piece[5][i] for piece in pieces])
                     for i in range(len(pieces[0][5])))
    return cat[0], cat[1], cat[2], cat[3], cat[4], sums_cat


def _valid_pairs(states: np.ndarray, g_mask: np.ndarray, g_out: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(state, group) index pairs where the group is valid in the state: inside it, with no
    successor in it. In row-major order (by state, then group)."""
    rows = max(1, _CHUNK // max(len(g_mask), 1))
    st_parts, p_parts = [], []
    for a in range(0, len(states), rows):
        block = states[a:a + rows, None]
        ok = ((block & g_mask) == g_mask) & ((block & g_out) == 0)
        s, p = np.nonzero(ok)
        st_parts.append(s + a)
        p_parts.append(p)
    return np.concatenate(st_parts), np.concatenate(p_parts)


def _merge_endings(ix: PartIndex, states: np.ndarray, sinks: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(state index, mask, place in the state's list) of every merge ending, by state then in
    the plain DP's order: only the states with a joinable concat or two ready ops of one class
    are looked at."""
    hot = np.zeros(len(states), dtype=bool)
    for cat, convs, others in ix.merge_cats:
        hot |= ((sinks & cat) != 0) & ((states & convs) == convs) & ((states & others) == 0)
    for cls in ix.merge_classes:
        hot |= np.bitwise_count(sinks & cls) >= 2
    st_out: list[int] = []
    mask_out: list[int] = []
    place: list[int] = []
    for i in np.flatnonzero(hot).tolist():
        found = ix.merge_endings(int(states[i]), int(sinks[i]))
        st_out += [i] * len(found)
        mask_out += found
        place += range(len(found))
    return (np.array(st_out, dtype=np.int64), np.array(mask_out, dtype=np.int64),
            np.array(place, dtype=np.int64))


def merge_bound_holds(tr: Transitions, ix: PartIndex, alone_op: Callable[[int], float],
                      slack: float) -> bool:
    """Whether the plain DP's bound holds on every merge stage of the part: each takes at least
    ``slack`` times each of its convs alone and each of its sub-merges one conv smaller."""
    merges = [b for b in tr.blocks if b.order == MERGE_ORDER]
    if not merges or merges[0].mask is None:
        return True
    masks, first = np.unique(merges[0].mask, return_index=True)
    lat = dict(zip(masks.tolist(), merges[0].latency[first].tolist(), strict=True))
    for m, ms in lat.items():
        for b in bits(m & ~ix.cat_mask):
            sub = m ^ (1 << b)
            if ms < slack * alone_op(b):
                return False
            if sub & (sub - 1) and sub in lat and ms < slack * lat[sub]:
                return False
    return True


def solve_layers(tr: Transitions, progress: Progress | None = None,
                 again: tuple[Solved, int] | None = None) -> Solved:
    """Step 5: best cost and last stage of every state, layer by layer; of the transitions that
    reach a state's best cost, the first in the plain DP's order (block, then ``key``).

    ``again = (solved, k)``: ``tr`` changed only in transitions of states of layer ``k`` and
    above (lazy measuring, :mod:`ios_core.search.lazy`): the layers below keep ``solved``'s
    answers, and only the others are solved again."""
    n = len(tr.states)
    cost = np.zeros(n)
    choice = np.full((n, 2), -1, dtype=np.int64)
    from_layer = 1
    if again is not None:
        cost, choice = again[0].cost.copy(), again[0].choice.copy()
        from_layer = max(1, again[1])
    cuts, heads = tr.layer_cuts, tr.state_heads
    seen = 0
    for k in range(from_layer, len(tr.layer_ends)):
        first, end = int(tr.layer_ends[k - 1]), int(tr.layer_ends[k])
        cost[first:end] = np.inf
        pieces = []
        for j, block in enumerate(tr.blocks):
            a, b = int(cuts[j][k - 1]), int(cuts[j][k])
            if a == b:
                continue
            state = block.state[a:b]
            total = cost[block.rest[a:b]] + block.latency[a:b]
            head = heads[j]
            starts = head[np.searchsorted(head, a):np.searchsorted(head, b)] - a
            ids = state[starts]
            cost[ids] = np.minimum(cost[ids], np.minimum.reduceat(total, starts))
            pieces.append((j, a, state, total))
            seen += b - a
        hits = []
        for j, a, state, total in pieces:
            hit = np.flatnonzero(total == cost[state])
            hits.append((np.full(len(hit), j), hit + a, state[hit]))
        block_of, index, state = (np.concatenate(h) for h in zip(*hits, strict=True))
        if len(state) > end - first:  # ties: the first in enumeration order wins
            order = np.lexsort((*_keys(tr, block_of, index), block_of, state))
            block_of, index, state = block_of[order], index[order], state[order]
            keep = np.r_[True, state[1:] != state[:-1]]
            block_of, index, state = block_of[keep], index[keep], state[keep]
        choice[state, 0] = block_of
        choice[state, 1] = index
        if progress is not None:
            progress(end, seen, tr.distinct)
    return Solved(tr, cost, choice)


def _keys(tr: Transitions, block_of: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The key words (rows, least significant first) of the given transitions."""
    words = tr.blocks[0].key.shape[0]
    out = np.zeros((words, len(index)), dtype=np.int64)
    for j, block in enumerate(tr.blocks):
        sel = np.flatnonzero(block_of == j)
        if len(sel):
            out[:, sel] = block.key[:, index[sel]]
    return out


def walk_back(solved: Solved, start: int | None = None) -> list[tuple[bool, int, float]]:
    """(is merge, ending mask, latency) of the best stages of the whole part (or of state index
    ``start``), in run order."""
    tr = solved.tr
    i = len(tr.states) - 1 if start is None else start  # the whole part: the last layer's state
    out = []
    while i > 0:
        j, t = (int(x) for x in solved.choice[i])
        block = tr.blocks[j]
        rest = int(block.rest[t])
        out.append((block.order == MERGE_ORDER, int(tr.states[i] ^ tr.states[rest]),
                    float(block.latency[t])))
        i = rest
    return out[::-1]


def stage_groups(ix: PartIndex, mask: int, merge: bool) -> Groups:
    """The stage of an ending as groups of op names (as the plain DP's ``_Search.groups``)."""
    if merge:
        return (tuple(ix.names[i] for i in bits(mask)),)
    return tuple(tuple(ix.names[i] for i in bits(g)) for g in ix.ending_groups(mask))


def solve_vectorized(
    ix: PartIndex,
    states_sinks: dict[int, int],
    concurrent: bool,
    merges: bool,
    batch: BatchFactory,
    stage_cost: Callable[[str, Groups], StageCost],
    slack: float | None,
    progress: Progress | None = None,
) -> tuple[list[tuple[str, Groups, StageCost]], float, dict] | None:
    """Solve a part on arrays: (stages in run order, cost, statistics), or None where the plain
    DP must run instead (module docstring). ``progress`` hears of each layer solved."""
    if ix.n > MAX_OPS:
        return None
    groups = [g for table in ix.groups_by_top for g, _ in table]
    costs = batch(ix.names, groups)
    merge_seen: dict[int, StageCost] = {}

    def merge_cost(mask: int) -> float:
        found = merge_seen[mask] = stage_cost("merge", stage_groups(ix, mask, True))
        return found.ms

    tr = transitions(ix, states_sinks, concurrent, merges, costs, merge_cost)
    if slack is not None:
        single = {g: i for i, g in enumerate(groups) if g & (g - 1) == 0}
        alone = costs.alone()
        if not merge_bound_holds(tr, ix, lambda b: float(alone[single[1 << b]]), slack):
            return None
    solved = solve_layers(tr, progress)
    stages = []
    for merge, mask, ms in walk_back(solved):
        groups_named = stage_groups(ix, mask, merge)
        if merge:
            stages.append(("merge", groups_named, merge_seen[mask]))
            continue
        check = stage_cost("concurrent", groups_named)
        if check.ms != ms:  # the batch disagrees with the model: never trust it here
            return None
        stages.append(("concurrent", groups_named, check))
    stats = {
        "states": len(tr.states),
        "transitions": len(tr),
        "stages_costed": tr.distinct,
        "cache_hits": len(tr) - tr.distinct,
        "transitions_pruned": 0,
        "engine": "numpy",
    }
    return stages, float(solved.cost[-1]), stats
