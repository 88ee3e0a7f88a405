"""The examples in every module's docstrings still hold (they are documentation too).

Modules are found by walking the packages, so a new module's examples run without anyone
remembering to list it; a package with no example at all would be suspicious, so that is checked.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("ios_core", "sample_models")
SKIP = {"ios_core.__main__"}  # runs the CLI when imported


def modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


ALL = [name for package in PACKAGES for name in modules(package)]


@pytest.mark.parametrize("name", ALL)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, result


@pytest.mark.parametrize("package", PACKAGES)
def test_examples_exist(package: str) -> None:
    finder = doctest.DocTestFinder()
    found = sum(len(t.examples) for name in modules(package)
                for t in finder.find(importlib.import_module(name)))
    assert found > 0
