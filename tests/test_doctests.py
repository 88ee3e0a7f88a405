"""The examples in the pure modules' docstrings still hold (they are documentation too)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("ios_core.ir.partition", "ios_core.ir.merge", "ios_core.search.dp",
           "ios_core.cost.measured")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
