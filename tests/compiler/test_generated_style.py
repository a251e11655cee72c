"""Every checked-in generated module reads like reviewed code: no local it assigns goes unread,
and black, configured as for the rest of the project, finds nothing to change."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def test_black_with_the_projects_configuration_leaves_every_generated_module_unchanged():
    # black reads [tool.black] from pyproject.toml, as ``black --check .`` does for the project
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--diff", *(str(m.relative_to(ROOT)) for m in MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(MODULES)} files would be left unchanged" in result.stderr
