"""Exit statuses and stderr of the real ``mdp`` console script: 0 ok, 1 config errors, 2 usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ERRORS = "tests/fixtures/errors"
SCRIPT = Path(sys.executable).parent / "mdp"
MDP = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "compiler.cli"]
FIXTURES = sorted(f"{ERRORS}/{p.name}" for p in (ROOT / ERRORS).glob("*.yaml"))


def mdp(*args: str) -> subprocess.CompletedProcess:
    """Run the console script from the repository root."""
    return subprocess.run([*MDP, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_valid_config_exits_0():
    result = mdp("validate", "configs/dag/bars.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (0, "configs/dag/bars.yaml: ok\n", "")


def test_warnings_alone_exit_0():
    result = mdp("validate", f"{ERRORS}/warning_dead_node.yaml")
    assert result.returncode == 0, result.stderr
    assert ": warning: " in result.stderr and result.stderr.endswith("\n1 warning\n")


@pytest.mark.parametrize("config", [f"{ERRORS}/unknown_param.yaml", f"{ERRORS}/config_missing.yaml"])
def test_config_errors_exit_1(config):
    result = mdp("validate", config)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"{config}:") and result.stderr.endswith("\n1 error\n"), result.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["validate", "--no-such-option", "configs/dag/bars.yaml"], "No such option"),
        (["validate"], "Missing argument"),
        (["explain"], "Missing argument"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_exit_2(args, says):
    result = mdp(*args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_no_fixture_makes_a_traceback():
    """All fixtures in one run (one process start); on a crash, find the fixtures that cause it."""
    result = mdp("validate", *FIXTURES, f"{ERRORS}/config_missing.yaml")
    if "Traceback" in result.stderr:
        crashing = [config for config in FIXTURES if "Traceback" in mdp("validate", config).stderr]
        pytest.fail(f"mdp validate printed a traceback for {crashing or 'the batch'}:\n{result.stderr}")
    assert result.returncode == 1, result.stderr
