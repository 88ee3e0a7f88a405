"""Operators grouped the way the model is written: a tree of groups to open one level at a time.

A model of 866 operators (NASNet) cannot be drawn as one DAG; its module tree (``cells.3`` holds
``cells.3.comb0_left`` holds ``cells.3.comb0_left.depthwise1``...) is how its author thinks of it.
The frontend names every operator by the module path that created it, so the tree is read from
the names alone, split at the dots. Four rules turn the raw path tree into levels worth drawing:

1. **Compress**: a module with one operator is that operator; a module with one child is that child
   (``Mixed_5b.branch1x1`` is just the op ``Mixed_5b.branch1x1.conv``).
2. **Dissolve** a module whose operators are not *convex* (a path leaves it and comes back, as in
   RandWire, where ``stages.1.nodes`` are interleaved with the stage's ``add`` ops): drawn as one
   box it would make a cycle, so its children take its place.
3. **Splice** a numbered container (``cells`` of ``cells.0``... ``cells.19``, an ``nn.Sequential``
   or ``nn.ModuleList``) into its parent when the parent stays within ``max_children`` items, so
   NASNet's top level shows its 20 cells rather than one box of 780 operators.
4. **Band** a level of more than ``max_children`` items (RandWire's stages: 32 random-graph nodes
   and 20 adds each; any model whose names carry no module path): its items, sorted by their depth
   in the level's own DAG (longest path over the items, cycles among them condensed first), are
   cut into consecutive runs of at most ``max_children``. A run of a depth-sorted order is convex,
   so a band is a box like any module; its id is ``parent#k`` and its label names its depths.

Group ids are module paths (``""`` is the root) or band ids; they never equal an operator name.
Everything here is pure and torch-free.

>>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
>>> def op(name, *inputs): return OpNode(name, "act", inputs or ("x",), (1, 4))
>>> g = OpGraph("net", (TensorSpec("x", (1, 4)),), (op("stem"), op("a.b.c", "stem"),
...     op("a.d", "a.b.c"), op("head", "a.d")), ("head",))
>>> h = build_hierarchy(g)
>>> h.children(""), h.children("a")
(('stem', 'a', 'head'), ('a.b.c', 'a.d'))
>>> h.ancestors("a.b.c"), h.item_under("a.d", "")
(('', 'a'), 'a')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ios_core.ir.graph import OpGraph

__all__ = ["MAX_CHILDREN", "Group", "Hierarchy", "Level", "build_hierarchy", "is_convex"]

MAX_CHILDREN = 30  # items per level: NASNet's 26 top-level items fit, a RandWire stage's 52 do not
ROOT = ""


@dataclass(frozen=True)
class Group:
    """A box of the drawing: a module (``how="module"``), a band of a too-wide level
    (``"band"``) or the whole model (``"root"``)."""

    id: str
    label: str
    children: tuple[str, ...]  # group ids and op names, in topological order of their first op
    ops: tuple[str, ...]  # every operator under the group, in topological order
    how: str


@dataclass(frozen=True)
class Level:
    """One open group as a small DAG: its children as items, the edges between them, and the
    outside world as stubs (``from_outside``: (outside item, item that reads it); ``to_outside``:
    (item, outside item it feeds)). An outside item is a graph input, or the biggest box that
    holds the outside op without holding the open group (``cells.2`` seen from ``cells.3``)."""

    group: str
    items: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    from_outside: tuple[tuple[str, str], ...]
    to_outside: tuple[tuple[str, str], ...]
    item_ops: Mapping[str, tuple[str, ...]]

    def item_of(self) -> dict[str, str]:
        """op name -> the item of this level that holds it."""
        return {op: item for item, ops in self.item_ops.items() for op in ops}


@dataclass(frozen=True)
class Hierarchy:
    """The group tree of one graph (see the module docstring for how it is built)."""

    groups: Mapping[str, Group]
    parent: Mapping[str, str]  # item (group id or op name) -> id of the group that lists it
    _order: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def is_group(self, item: str) -> bool:
        return item in self.groups

    def children(self, group: str) -> tuple[str, ...]:
        return self.groups[group].children

    def ops(self, item: str) -> tuple[str, ...]:
        """The operators under an item (an op is its own single operator)."""
        return self.groups[item].ops if item in self.groups else (item,)

    def ancestors(self, item: str) -> tuple[str, ...]:
        """The groups that hold ``item``, from the root down to its parent."""
        chain = []
        while item in self.parent:
            item = self.parent[item]
            chain.append(item)
        return tuple(reversed(chain))

    def item_under(self, op: str, group: str) -> str | None:
        """The child of ``group`` that holds ``op`` (None when ``op`` is not under ``group``)."""
        path = (*self.ancestors(op), op)
        return path[path.index(group) + 1] if group in path[:-1] else None

    def label(self, item: str) -> str:
        return self.groups[item].label if item in self.groups else item

    def outside_item(self, op: str, group: str) -> str:
        """What stands for ``op`` when ``group`` is open and ``op`` is not under it: the
        biggest box holding ``op`` but not ``group`` (``op`` itself if there is none)."""
        mine = (*self.ancestors(group), group)
        theirs = self.ancestors(op)
        common = 0
        while common < min(len(mine), len(theirs)) and mine[common] == theirs[common]:
            common += 1
        return theirs[common] if common < len(theirs) else op

    def level(self, graph: OpGraph, group: str = ROOT) -> Level:
        """``group`` open: its items, the edges between them, and stubs for the outside."""
        items = self.children(group)
        item_ops = {item: self.ops(item) for item in items}
        where = {op: item for item, ops in item_ops.items() for op in ops}
        edges: dict[tuple[str, str], None] = {}
        ins: dict[tuple[str, str], None] = {}
        outs: dict[tuple[str, str], None] = {}
        inputs = set(graph.input_names)
        for op, item in where.items():
            for src in graph[op].inputs:
                if src in where:
                    if where[src] != item:
                        edges[(where[src], item)] = None
                elif src in inputs:
                    ins[(src, item)] = None
                else:
                    ins[(self.outside_item(src, group), item)] = None
            for dst in graph.consumers(op):
                if dst not in where:
                    outs[(item, self.outside_item(dst, group))] = None
        outs.update(((item, "output"), None) for item in (where.get(o) for o in graph.outputs)
                    if item is not None)

        def rank(pair: tuple[str, str]) -> tuple[int, int]:
            return (self._first(pair[0]), self._first(pair[1]))

        return Level(group, items, tuple(sorted(edges, key=rank)), tuple(sorted(ins, key=rank)),
                     tuple(sorted(outs, key=rank)), item_ops)

    def _first(self, item: str) -> int:
        """Topological rank of an item's first op (graph inputs first, "output" last)."""
        if item in self.groups:
            return self._order[self.groups[item].ops[0]]
        return self._order.get(item, len(self._order) if item == "output" else -1)

    def search(self, query: str, limit: int | None = None) -> list[str]:
        """Operators whose name holds ``query`` (any case), in topological order; whole-word
        dots in the query match the name's dots.

        >>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
        >>> g = OpGraph("n", (TensorSpec("x", (1,)),), tuple(OpNode(n, "act", ("x",), (1,))
        ...     for n in ("cells.0.add", "cells.1.add", "fc")), ("fc",))
        >>> build_hierarchy(g).search("ADD"), build_hierarchy(g).search("1.add")
        (['cells.0.add', 'cells.1.add'], ['cells.1.add'])
        """
        q = query.strip().lower()
        if not q:
            return []
        found = [op for op in sorted(self._order, key=self._order.__getitem__) if q in op.lower()]
        return found if limit is None else found[:limit]

    def open_groups(self) -> list[str]:
        """Every group id, depth first from the root (the order of a "jump to" list)."""
        out, todo = [], [ROOT]
        while todo:
            gid = todo.pop()
            out.append(gid)
            todo.extend(reversed([c for c in self.children(gid) if c in self.groups]))
        return out

    def depth(self, group: str) -> int:
        return len(self.ancestors(group))


# ---- building ------------------------------------------------------------------------------------
@dataclass
class _Trie:
    path: str
    op: str | None = None  # an operator named exactly ``path``
    kids: dict[str, _Trie] = field(default_factory=dict)


def build_hierarchy(graph: OpGraph, max_children: int = MAX_CHILDREN) -> Hierarchy:
    """The group tree of ``graph`` by module path, compressed, with non-convex modules dissolved,
    numbered containers spliced and wide levels banded (module docstring)."""
    if max_children < 2:
        raise ValueError(f"max_children must be at least 2, not {max_children}")
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    builder = _Builder(graph, order, max_children)
    root_items = builder.items_of(_path_trie(graph))
    while len(root_items) == 1 and root_items[0] in builder.groups:  # a model wrapped in one module
        root_items = list(builder.groups.pop(root_items[0]).children)
    root_items = builder.fit(ROOT, graph.name or "model", root_items)
    builder.groups[ROOT] = Group(ROOT, graph.name or "model", tuple(root_items),
                                 tuple(n.name for n in graph.nodes), "root")
    groups = _reachable(builder.groups)
    parent = {child: gid for gid, g in groups.items() for child in g.children}
    return Hierarchy(groups, parent, order)


def _path_trie(graph: OpGraph) -> _Trie:
    root = _Trie(ROOT)
    for node in graph.nodes:
        at, path = root, []
        for part in node.name.split("."):
            path.append(part)
            at = at.kids.setdefault(part, _Trie(".".join(path)))
        at.op = node.name
    return root


def _reachable(groups: dict[str, Group]) -> dict[str, Group]:
    """The groups still listed under the root (splicing and lifting leave orphans behind)."""
    keep, todo = {}, [ROOT]
    while todo:
        gid = todo.pop()
        keep[gid] = groups[gid]
        todo.extend(c for c in groups[gid].children if c in groups)
    return keep


class _Builder:
    def __init__(self, graph: OpGraph, order: Mapping[str, int], max_children: int) -> None:
        self.graph, self.order, self.max = graph, order, max_children
        self.groups: dict[str, Group] = {}
        self.containers: set[str] = set()  # numbered containers, candidates for splicing

    def first(self, item: str) -> int:
        return self.order[self.groups[item].ops[0]] if item in self.groups else self.order[item]

    def ops_of(self, items: Iterable[str]) -> tuple[str, ...]:
        ops = [op for it in items for op in (self.groups[it].ops if it in self.groups else (it,))]
        return tuple(sorted(ops, key=self.order.__getitem__))

    def items_of(self, node: _Trie) -> list[str]:
        """The items that stand for ``node`` in its parent's list (rules 1-3; 4 via ``fit``)."""
        kids = [node.op] if node.op is not None else []
        for child in node.kids.values():
            kids += self.items_of(child)
        kids.sort(key=self.first)
        if node.path == ROOT:
            return kids
        ops = self.ops_of(kids)
        if len(kids) == 1:  # rule 1: one operator, or one child, is that child
            return kids
        if not is_convex(self.graph, ops, self.order):  # rule 2
            return kids
        kids = self.splice(kids)
        gid = node.path if node.path not in self.order else node.path + "#"
        self.groups[gid] = Group(gid, node.path, tuple(self.fit(gid, node.path, kids)), ops,
                                 "module")
        numbered = len(node.kids) > 1 and all(k.isdigit() for k in node.kids) and node.op is None
        if numbered and len(kids) <= self.max:  # a banded container stays closed
            self.containers.add(gid)
        return [gid]

    def splice(self, kids: list[str]) -> list[str]:
        """Rule 3: open numbered containers in place while the list stays short enough."""
        out = list(kids)
        for kid in kids:
            if kid in self.containers:
                inner = self.groups[kid].children
                if len(out) - 1 + len(inner) <= self.max:
                    at = out.index(kid)
                    out[at:at + 1] = inner
        return out

    def fit(self, gid: str, label: str, kids: list[str]) -> list[str]:
        """Rule 4: cut a too-long list into bands by depth, recursively, until it fits."""
        kids = self.splice(kids) if gid == ROOT else kids
        if len(kids) <= self.max:
            return kids
        units = _depth_units(self.graph, kids, {k: self.ops_of([k]) for k in kids}, self.first)
        return self.bands(gid, label or "model", units)

    def bands(self, gid: str, label: str, units: list[tuple[int, list[str]]]) -> list[str]:
        """At most ``max`` consecutive runs of ``units``, each a band (itself cut again while it
        holds too many items); band ids extend ``gid`` with ``#k``, so they never collide."""
        items = [it for _, unit in units for it in unit]
        n = len(units)
        if len(items) <= self.max or n == 1:  # one cycle of items cannot be cut: left whole
            return items
        k = min(self.max, n, math.ceil(len(items) / self.max))
        out = []
        for b in range(k):
            chunk = units[b * n // k:(b + 1) * n // k]
            lo, hi = chunk[0][0] + 1, chunk[-1][0] + 1
            bid = f"{gid}#{b + 1}"
            depth = f"depth {lo}" if lo == hi else f"depths {lo}–{hi}"
            inner = self.bands(bid, label, chunk)
            self.groups[bid] = Group(bid, f"{label} [{depth}]", tuple(inner),
                                     self.ops_of(it for _, unit in chunk for it in unit), "band")
            out.append(bid)
        return out


def _depth_units(graph: OpGraph, items: Sequence[str], item_ops: Mapping[str, Sequence[str]],
                 first) -> list[tuple[int, list[str]]]:
    """(depth, items) per strongly connected set of ``items`` (nearly always one item), sorted by
    depth in the items' own DAG and then by first op: any run of this list is convex."""
    import networkx as nx

    where = {op: it for it in items for op in item_ops[it]}
    dag = nx.DiGraph()
    dag.add_nodes_from(items)
    for op, it in where.items():
        for src in graph[op].inputs:
            if where.get(src, it) != it:
                dag.add_edge(where[src], it)
    cond = nx.condensation(dag)
    depth: dict[int, int] = {}
    for c in nx.topological_sort(cond):
        depth[c] = max((depth[p] + 1 for p in cond.predecessors(c)), default=0)
    units = [(depth[c], sorted(cond.nodes[c]["members"], key=first)) for c in cond.nodes]
    return sorted(units, key=lambda u: (u[0], first(u[1][0])))


def is_convex(graph: OpGraph, ops: Iterable[str], order: Mapping[str, int] | None = None) -> bool:
    """True when no path leaves ``ops`` and comes back (so the set can be drawn as one box of a
    DAG); only ops before the set's last one can lie on such a path.

    >>> from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
    >>> def op(name, *inputs): return OpNode(name, "act", inputs or ("x",), (1,))
    >>> g = OpGraph("n", (TensorSpec("x", (1,)),), (op("a"), op("b", "a"), op("c", "b")), ("c",))
    >>> is_convex(g, ["a", "b"]), is_convex(g, ["a", "c"])
    (True, False)
    """
    inside = set(ops)
    if not inside:
        return True
    order = order or {n.name: i for i, n in enumerate(graph.nodes)}
    last = max(order[o] for o in inside)
    todo = [c for o in inside for c in graph.consumers(o) if c not in inside and order[c] < last]
    seen = set(todo)
    while todo:
        for c in graph.consumers(todo.pop()):
            if c in inside:
                return False
            if c not in seen and order[c] < last:
                seen.add(c)
                todo.append(c)
    return True
