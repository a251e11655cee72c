"""Shared pytest options (regenerate golden and error files) and a private job state directory."""

from __future__ import annotations

import os

import pytest


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


@pytest.fixture(autouse=True, scope="session")
def private_state_dir(tmp_path_factory):
    """Job records of every run in the tests (and of the jobs they start) go to a throwaway state
    directory, never the user's; a test that reads records sets its own ``MDP_STATE_DIR``."""
    os.environ["MDP_STATE_DIR"] = str(tmp_path_factory.mktemp("mdp-state"))
    yield
