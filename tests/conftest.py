"""Shared pytest options: regenerate golden and error files instead of comparing with them."""

from __future__ import annotations


def pytest_addoption(parser):
    """``--update-golden`` rewrites tests/golden/*/expected.py from the current compiler;
    ``--update-errors`` rewrites tests/fixtures/errors/*.err from the current diagnostics.
    """
    parser.addoption("--update-golden", action="store_true", help="rewrite golden expected modules")
    parser.addoption(
        "--update-errors",
        action="store_true",
        help="rewrite tests/fixtures/errors/*.err from the current diagnostics",
    )
