"""Every checked-in generated module reads like reviewed code: no local it assigns goes unread."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted([*(ROOT / "generated").glob("*.py"), *(ROOT / "tests" / "golden").glob("*/expected.py")])


def unread_locals(source: str) -> list[str]:
    """``function:name`` for each name a function assigns and neither it nor a nested one reads."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef):
            continue
        stored, loaded = set(), set()
        for node in ast.walk(function):
            if isinstance(node, ast.Name):
                (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
            elif isinstance(node, ast.Nonlocal | ast.Global):
                loaded.update(node.names)
        found += [f"{function.name}:{name}" for name in sorted(stored - loaded) if name != "_"]
    return found


def test_the_check_finds_an_unread_local():
    assert unread_locals("def f(batch):\n    n = len(batch)\n    return batch\n") == ["f:n"]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_generated_function_assigns_a_local_it_never_reads(module):
    assert unread_locals(module.read_text(encoding="utf-8")) == []
