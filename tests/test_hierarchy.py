"""ios_core.ir.hierarchy: the module-path group tree that the app opens one level at a time.

Small hand-made graphs with the shapes of the real cases: NASNet (a numbered container of cells
spliced into the top level), Inception (one-op branches compressed), RandWire (node modules
interleaved with the stage's adds: a non-convex module dissolved, a wide stage cut into depth
bands), and a model whose names carry no module path at all.
"""

from __future__ import annotations

import random

import pytest

from ios_core.ir.graph import OpGraph, OpNode, TensorSpec
from ios_core.ir.hierarchy import build_hierarchy, is_convex


def _graph(edges: list[tuple[str, tuple[str, ...]]], name: str = "net") -> OpGraph:
    nodes = tuple(OpNode(n, "conv" if n.endswith("conv") else "act", ins or ("x",), (1, 8))
                  for n, ins in edges)
    return OpGraph(name, (TensorSpec("x", (1, 8)),), nodes, (nodes[-1].name,))


def nasnet_like(cells: int = 20) -> OpGraph:
    """A stem, ``cells.0``... each reading the two cells before it (as NASNet's do), a head."""
    edges = [("stem.conv", ())]
    prev, cur = "stem.conv", "stem.conv"
    for c in range(cells):
        p = f"cells.{c}"
        edges += [(f"{p}.left.relu", (cur,)), (f"{p}.left.conv", (f"{p}.left.relu",)),
                  (f"{p}.right.conv", (prev,)), (f"{p}.add", (f"{p}.left.conv", f"{p}.right.conv")),
                  (f"{p}.cat", (f"{p}.add", f"{p}.left.conv"))]
        prev, cur = cur, f"{p}.cat"
    edges += [("fc", (cur,))]
    return _graph(edges)


def randwire_like(nodes: int = 60, seed: int = 0) -> OpGraph:
    """One stage of random-graph nodes (``stage.nodes.k``, 2 ops each) whose inputs are summed by
    the stage's own ``add`` ops, so the ``stage.nodes`` module is not convex."""
    rng = random.Random(seed)
    edges: list[tuple[str, tuple[str, ...]]] = [("stem_conv", ())]
    outs = ["stem_conv"]
    for k in range(nodes):
        srcs = tuple(rng.sample(outs[-6:], min(len(outs), rng.choice((1, 2)))))
        if len(srcs) > 1:
            edges.append((f"stage.add_{k}", srcs))
            srcs = (f"stage.add_{k}",)
        edges += [(f"stage.nodes.{k}.relu", srcs),
                  (f"stage.nodes.{k}.conv", (f"stage.nodes.{k}.relu",))]
        outs.append(f"stage.nodes.{k}.conv")
    edges.append(("head", (outs[-1],)))
    return _graph(edges)


def _check_tree(graph: OpGraph, h, max_children: int) -> None:
    """Every op under exactly one leaf path; every group's ops are its children's; all convex;
    no level longer than ``max_children``."""
    for gid, group in h.groups.items():
        under = [op for child in group.children for op in h.ops(child)]
        assert sorted(under) == sorted(group.ops), gid
        assert len(set(under)) == len(under), gid
        assert len(group.children) <= max_children, (gid, len(group.children))
        assert is_convex(graph, group.ops), gid
        assert gid not in graph  # a group id is never an op name
    assert sorted(h.groups[""].ops) == sorted(n.name for n in graph.nodes)
    for node in graph.nodes:
        assert h.ancestors(node.name)[0] == ""


def test_numbered_cells_are_spliced_into_the_top_level_and_open_one_at_a_time():
    g = nasnet_like()
    h = build_hierarchy(g)
    _check_tree(g, h, 30)
    assert h.children("") == ("stem.conv", *(f"cells.{c}" for c in range(20)), "fc")
    assert h.children("cells.3") == ("cells.3.left", "cells.3.right.conv", "cells.3.add",
                                     "cells.3.cat")
    assert h.children("cells.3.left") == ("cells.3.left.relu", "cells.3.left.conv")
    assert h.ancestors("cells.3.left.conv") == ("", "cells.3", "cells.3.left")
    assert h.item_under("cells.3.left.conv", "") == "cells.3"
    assert h.item_under("cells.3.left.conv", "cells.4") is None
    # too many cells for the limit: the container stays one box, and opens to its cells
    small = build_hierarchy(g, max_children=12)
    _check_tree(g, small, 12)
    assert small.children("") == ("stem.conv", "cells", "fc")
    assert len(small.children("cells")) <= 12
    assert [small.groups[b].how for b in small.children("cells")] == ["band"] * 2


def test_a_level_has_its_items_edges_and_outside_stubs():
    g = nasnet_like(4)
    h = build_hierarchy(g)
    top = h.level(g)
    assert top.from_outside == (("x", "stem.conv"),) and top.to_outside == (("fc", "output"),)
    assert ("cells.0", "cells.1") in top.edges and ("cells.0", "cells.2") in top.edges
    cell = h.level(g, "cells.2")
    assert cell.items == h.children("cells.2")
    assert set(cell.from_outside) == {("cells.1", "cells.2.left"),
                                      ("cells.0", "cells.2.right.conv")}
    assert set(cell.to_outside) == {("cells.2.cat", "cells.3")}
    assert ("cells.2.left", "cells.2.add") in cell.edges
    inner = h.level(g, "cells.2.left")  # an outside op seen from two levels down: its cell
    assert inner.from_outside == (("cells.1", "cells.2.left.relu"),)
    assert cell.item_of()["cells.2.left.conv"] == "cells.2.left"


def test_one_op_modules_are_their_op():
    edges = [("stem.conv", ())]
    for b in ("branch1x1", "branch3x3"):
        edges.append((f"Mixed_5b.{b}.conv", ("stem.conv",)))
    edges.append(("Mixed_5b.cat", ("Mixed_5b.branch1x1.conv", "Mixed_5b.branch3x3.conv")))
    g = _graph(edges)
    h = build_hierarchy(g)
    assert h.children("") == ("stem.conv", "Mixed_5b")
    assert h.children("Mixed_5b") == ("Mixed_5b.branch1x1.conv", "Mixed_5b.branch3x3.conv",
                                      "Mixed_5b.cat")
    assert set(h.groups) == {"", "Mixed_5b"}


def test_interleaved_random_graph_nodes_are_dissolved_and_banded_by_depth():
    g = randwire_like()
    assert not is_convex(g, [n.name for n in g.nodes if ".nodes." in n.name])
    h = build_hierarchy(g, max_children=20)
    _check_tree(g, h, 20)
    assert "stage.nodes" not in h.groups and "stage" in h.groups
    bands = h.children("stage")
    assert all(h.groups[b].how == "band" for b in bands) and 2 <= len(bands) <= 20
    assert all(h.groups[b].label.startswith("stage [depth") for b in bands)
    # the random-graph nodes stay whole, inside the bands
    node_groups = [c for b in bands for c in h.children(b) if ".nodes." in c]
    assert node_groups and all(len(h.ops(c)) == 2 for c in node_groups)
    # bands follow depth: no edge goes from a later band back to an earlier one
    rank = {op: i for i, b in enumerate(bands) for op in h.ops(b)}
    assert all(rank[s] <= rank[n.name] for n in g.nodes if n.name in rank
               for s in n.inputs if s in rank)


@pytest.mark.parametrize("n", [1, 29, 31, 200, 1000])
def test_names_without_module_paths_are_banded_recursively(n):
    edges = [(f"relu_{i}", (f"relu_{i - 1}",) if i else ()) for i in range(n)]
    g = _graph(edges)
    h = build_hierarchy(g)
    _check_tree(g, h, 30)
    assert len(h.children("")) == min(n, len(h.children("")))
    if n > 30:
        assert all(h.groups[c].how == "band" for c in h.children(""))


def test_search_finds_ops_by_name_in_graph_order():
    h = build_hierarchy(nasnet_like(12))
    assert h.search("cells.1.ADD") == ["cells.1.add"]
    assert h.search("cells.1") [:2] == ["cells.1.left.relu", "cells.1.left.conv"]
    assert len(h.search("cells.1")) == 15  # cells.1 and cells.10, .11
    assert h.search("  ") == [] and h.search("nothing") == []
    assert h.search("conv", limit=3) == ["stem.conv", "cells.0.left.conv", "cells.0.right.conv"]


def test_open_groups_lists_every_group_depth_first():
    h = build_hierarchy(nasnet_like(3))
    assert h.open_groups() == ["", "cells.0", "cells.0.left", "cells.1", "cells.1.left",
                               "cells.2", "cells.2.left"]
    with pytest.raises(ValueError, match="at least 2"):
        build_hierarchy(nasnet_like(3), max_children=1)
