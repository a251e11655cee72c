"""The older system's command lines: ``--config``/``-c`` for every command, ``--job`` for ``--job-name``."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.jobs import MDP, REPO, job_env

BARS = "configs/dag/bars.yaml"


def mdp(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([MDP, *args], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("flag", ["--config", "-c"])
@pytest.mark.parametrize("command", ["validate", "explain", "graph"])
def test_commands_take_the_config_as_an_option(command, flag):
    by_option, positional = mdp(command, flag, BARS), mdp(command, BARS)
    assert by_option.returncode == 0, by_option.stderr
    assert by_option.stdout == positional.stdout


def test_compile_check_takes_repeated_config_options():
    result = mdp("compile", "--check", "-c", BARS, "--config", "configs/dag/routing.yaml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["validate", "explain", "graph", "compile", "run"])
def test_a_positional_config_and_config_is_a_usage_error(command):
    result = mdp(command, BARS, "--config", BARS)
    assert result.returncode == 2, result.stderr
    words = " ".join(result.stderr.replace("│", " ").split())  # the message may wrap in a box
    assert "either as an argument or with --config, not both" in words
    assert "Traceback" not in result.stderr


def test_run_config_and_job_as_the_older_runbooks_write_them(tmp_path):
    db = tmp_path / "bars.db"
    args = [
        "run",
        "--config",
        BARS,
        "--job",
        "renamed",
        "--store-url",
        f"sqlite:///{db}",
        "--max-events",
        "2000",
    ]
    result = mdp(*args, env=job_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "job 'renamed' finished" in result.stderr
    assert db.exists()
