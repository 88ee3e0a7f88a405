"""The house rule: ios_core's packages sit in layers and every import points down.

``ir`` ← ``frontend`` ← ``runtime`` ← ``cost`` ← ``search`` ← ``export`` / ``profiling`` ← ``cli`` /
``dropin``.
Imports made inside functions count as much as those at the top of a file: a lazy import that
runs upward is still a knot. The package's own ``__init__`` and ``__main__`` sit above all of them
(they re-export the public names).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ios_core"

# floor of each room; a room may import its own floor's modules only when it is the same room
FLOORS = {"ir": 0, "frontend": 1, "runtime": 2, "cost": 3, "search": 4, "export": 5,
          "profiling": 5, "cli": 6, "dropin": 6, "__init__": 7, "__main__": 8}
# what ios_core itself may import from outside (the GPU machine has nothing else)
ALLOWED_THIRD_PARTY = {"torch", "numpy", "networkx", "sample_models"}


def room_of(module: str) -> str:
    """The room ('ir', 'cost', ...) of a dotted module name inside ios_core."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines of imports made only for type checkers (``if TYPE_CHECKING:``)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)
                      if hasattr(n, "lineno")}
    return lines


def imports_of(path: Path, runtime_only: bool = False) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute names, relative ones resolved), with line numbers;
    ``runtime_only`` leaves out imports made only for type checkers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree) if runtime_only else set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from ios_core.x import y` may name a submodule y
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names
                      if (ROOT / (target + "." + alias.name).replace(".", "/")).exists()
                      or (ROOT / (target + "." + alias.name).replace(".", "/")).with_suffix(
                          ".py").exists()]
    return found


def room_edges() -> list[tuple[str, str, str]]:
    """(from room, to room, 'file:line') for every import between ios_core's rooms."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = room_of(module_name(path))
        if path.name in ("__init__.py", "__main__.py") and path.parent == PACKAGE:
            source = path.stem
        for target, line in imports_of(path):
            if target == "ios_core" or target.startswith("ios_core."):
                edges.append((source, room_of(target), f"{path.relative_to(ROOT)}:{line}"))
    return edges


def test_every_room_has_a_floor():
    rooms = {room_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert rooms - {"__main__"} <= set(FLOORS), f"rooms without a floor: {rooms - set(FLOORS)}"


def test_no_import_runs_upward():
    upward = [f"{where}: {a} imports {b}" for a, b, where in room_edges()
              if a != b and FLOORS[b] >= FLOORS[a]]
    assert not upward, "imports that run upward or sideways:\n" + "\n".join(upward)


def test_no_cycle_between_rooms():
    graph = nx.DiGraph((a, b) for a, b, _ in room_edges() if a != b)
    assert nx.is_directed_acyclic_graph(graph), list(nx.simple_cycles(graph))


def test_no_cycle_between_modules():
    """Modules of one room may use each other, but never in a circle (annotations apart: an
    ``if TYPE_CHECKING:`` import runs only in type checkers)."""
    graph = nx.DiGraph()
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        here = module_name(path)
        for target, _ in imports_of(path, runtime_only=True):
            # a package __init__ that re-exports its own modules is not a cycle of concepts
            if target in modules and target != here and not here == target.rpartition(".")[0]:
                graph.add_edge(here, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles


def test_only_allowed_third_party():
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    strange = [f"{p.relative_to(ROOT)}:{line}: {target}" for p in PACKAGE.rglob("*.py")
               for target, line in imports_of(p)
               if target.split(".")[0] not in stdlib | ALLOWED_THIRD_PARTY | {"ios_core"}]
    assert not strange, "ios_core imports only torch, numpy, networkx and the stdlib:\n" + \
        "\n".join(strange)


@pytest.mark.parametrize("room", ["ir"])
def test_pure_rooms_do_not_import_torch(room):
    heavy = [f"{p.relative_to(ROOT)}:{line}" for p in (PACKAGE / room).rglob("*.py")
             for target, line in imports_of(p) if target.split(".")[0] == "torch"]
    assert not heavy, heavy


def test_the_checker_sees_a_function_level_upward_import(tmp_path, monkeypatch):
    """The rule cannot pass vacuously: an upward import inside a function is caught."""
    fake = tmp_path / "ios_core"
    (fake / "ir").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "ir" / "__init__.py").write_text("")
    (fake / "ir" / "bad.py").write_text("def f():\n    from ios_core.search import dp\n")
    import sys

    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    edges = room_edges()
    assert ("ir", "search", "ios_core/ir/bad.py:2") in edges
