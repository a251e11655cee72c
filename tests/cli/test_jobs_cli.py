"""`mdp list` and `mdp status --job NAME` over real `mdp run` processes and hand-written records."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from runtime_lib.job_files import jobs_dir
from tests.cli.test_cli_imports import loaded_by, packages_in
from tests.runtime.test_job_registry import write_record
from tests.support.jobs import (
    CONFIGS,
    MDP,
    TIMEOUT_S,
    free_port,
    job_env,
    parse_summary,
    run,
    stop,
    synthetic_config,
    wait_for,
)

SAMPLE = CONFIGS / "data" / "sample_ticks.csv.gz"
LIVE = synthetic_config(
    "live", rate=200, nodes="    - id: out\n      type: sink.null", edges="    - [ticks, out]"
)
REPLAY = """\
name: {name}
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {{path: "{path}"}}
    - id: big
      type: operator.filter
      params: {{where: "size >= 100"}}
    - id: out
      type: sink.null
  edges:
    - [ticks, big]
    - [big, out]
"""
NOT_LOADED_BY_LIST = ("compiler.driver", "compiler.build", "networkx", "yaml", "jinja2", "black")
# What the compiler validates with: the job commands load none of it.
COMPILER_VALIDATION = ("compiler.spec", "compiler.settings", "compiler.components", "pydantic_settings")


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """The configs, and one compile cache for every run of this module."""
    folder = tmp_path_factory.mktemp("jobs-cli")
    (folder / "live.yaml").write_text(LIVE)
    (folder / "sample.yaml").write_text(REPLAY.format(name="sample", path=SAMPLE))
    tiny = folder / "tiny.csv"
    tiny.write_text(
        "symbol,ts,price,size\nAAA,2024-03-15T09:30:00Z,10.0,100\nAAA,2024-03-15T09:30:01Z,10.5,5\n"
    )
    (folder / "tiny.yaml").write_text(REPLAY.format(name="tiny", path=tiny))
    return folder


@pytest.fixture
def env(tmp_path, configs):
    """The environment of a test's processes: its own state directory, the module's compile cache."""
    return job_env(tmp_path, MDP_STATE_DIR=str(tmp_path / "state"), MDP_CACHE_DIR=str(configs / "cache"))


def mdp(env, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([MDP, *args], cwd=None, env=env, check=check)


def listed(env, *args: str) -> list[dict]:
    result = mdp(env, "list", "--json", *args)
    assert result.stderr == ""
    return json.loads(result.stdout)


def start(env, configs, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [MDP, "run", str(configs / "live.yaml"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def running_with(env, process: subprocess.Popen, least: int) -> dict:
    """Wait until `mdp list` shows the live job running with more than ``least`` events in."""
    seen = {}

    def shown() -> bool:
        rows = listed(env)
        seen.update(rows[0] if rows else {})
        return bool(rows) and rows[0]["state"] == "running" and rows[0]["totals"]["events_in"] > least

    wait_for(shown, 30, f"`mdp list` to show more than {least} events in", process)
    return seen


def test_a_live_job_is_listed_with_growing_counters_then_stopped_by_sigterm(env, configs):
    port = free_port()
    process = start(env, configs, "--metrics-port", str(port))
    try:
        first = running_with(env, process, 0)
        later = running_with(env, process, first["totals"]["events_in"])
        assert (later["job"], later["mode"], later["pid"]) == ("live", "dag", process.pid)
        assert later["metrics"] == f"http://127.0.0.1:{port}"
        assert later["config_path"] == str(configs / "live.yaml") and len(later["config_sha256"]) == 64
        assert later["nodes"]["out"]["in"] > 0 and later["sinks"]["out"]["rows_written"] > 0
        assert isinstance(later["sinks"]["out"]["queue_depth"], int)
        assert later["lag_s"] > 0
        table = mdp(env, "list").stdout.splitlines()
        assert table[0].split() == ["NAME", "MODE", "STATE", "PID", "UPTIME", "IN", "OUT", "LAG", "METRICS"]
        assert table[1].split()[:4] == ["live", "dag", "running", str(process.pid)]
        assert table[1].split()[-1] == f"http://127.0.0.1:{port}"
        status = mdp(env, "status", "--job", "live").stdout
        assert status.startswith("job 'live' (dag): running\n")
        node_rows = {line.split()[0]: line.split()[1:] for line in status.splitlines() if "sink.null" in line}
        assert node_rows["out"][0] == "sink.null" and int(node_rows["out"][1]) > 0
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 0, err
    summary = parse_summary(err)
    [final] = listed(env)
    assert (final["state"], final["exit_code"], final["last_error"]) == ("stopped", 0, None)
    assert final["totals"]["events_in"] == summary.nodes["ticks"]["out"]
    assert final["totals"]["events_out"] == summary.nodes["out"]["in"]
    assert json.loads(mdp(env, "status", "--job-name", "live", "--json").stdout) == final


def test_a_killed_job_is_shown_dead(env, configs):
    process = start(env, configs)
    try:
        running_with(env, process, 0)
        process.kill()
        process.wait(timeout=TIMEOUT_S)
    finally:
        stop(process)
    [row] = listed(env)
    assert (row["state"], row["pid"], row["exit_code"]) == ("dead", process.pid, None)
    assert mdp(env, "status", "--job", "live").stdout.startswith("job 'live' (dag): dead\n")


def test_a_finished_replay_is_stopped_with_the_totals_of_its_summary(env, configs):
    result = mdp(env, "run", str(configs / "sample.yaml"))
    summary = parse_summary(result.stderr)
    [row] = listed(env)
    assert (row["job"], row["state"], row["exit_code"], row["metrics"]) == ("sample", "stopped", 0, None)
    assert row["totals"] == {
        "events_in": summary.nodes["ticks"]["out"],
        "events_out": summary.nodes["out"]["in"],
        "rows_written": summary.rows_written["out"],
    }
    assert summary.nodes["ticks"]["out"] == 20_000 > summary.nodes["out"]["in"]
    for node, counters in summary.nodes.items():
        recorded = row["nodes"][node]
        assert {key: recorded[key] for key in counters} == counters
    assert row["newest_event_at"].startswith("2024-03-15T") and row["lag_s"] > 86_400  # the sample's day


def test_list_shows_the_newest_run_of_each_job_and_all_runs_with_all(env, configs):
    for _ in range(2):
        mdp(env, "run", str(configs / "tiny.yaml"))
    [newest] = listed(env)
    runs = listed(env, "--all")
    assert [r["job"] for r in runs] == ["tiny", "tiny"] and runs[0] == newest
    assert runs[0]["started_ns"] > runs[1]["started_ns"]
    assert mdp(env, "list", "--all").stdout.count("\ntiny ") == 2


def test_a_job_whose_nodes_refuse_everything_is_failed_with_its_error(env, configs, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,ts,price,size\nAAA,1980-03-15T09:30:00Z,10.0,100\n")  # ts out of range
    (tmp_path / "bad.yaml").write_text(REPLAY.format(name="bad", path=bad))
    assert mdp(env, "run", str(tmp_path / "bad.yaml"), check=False).returncode == 1
    [row] = listed(env)
    assert (row["state"], row["exit_code"]) == ("failed", 1)
    assert row["last_error"] == "'ticks' set aside every record it received"
    assert (
        "  last error 'ticks' set aside every record it received\n"
        in mdp(env, "status", "--job", "bad").stdout
    )


def test_an_unknown_job_names_the_jobs_there_are(env, tmp_path):
    state = tmp_path / "state"
    result = mdp(env, "status", "--job", "x", check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: no job named 'x' on this host (no jobs recorded in {state})\n"
    assert mdp(env, "list").stdout == f"no jobs recorded in {state}\n" and listed(env) == []
    write_record(jobs_dir(state), "b", "stopped", 0)
    write_record(jobs_dir(state), "a", "failed", 0)
    result = mdp(env, "status", "--job", "x", check=False)
    assert (result.returncode, result.stderr) == (1, "error: no job named 'x' on this host (jobs: a, b)\n")
    assert "Missing option '--job'" in mdp(env, "status", check=False).stderr


def test_corrupt_records_are_skipped_with_one_line_each(env, tmp_path):
    folder = jobs_dir(tmp_path / "state")
    write_record(folder, "good", "stopped", 0)
    (folder / "broken.json").write_text('{"job": "half')
    (folder / "alien.json").write_text('{"job": "alien", "nodes": 3}')
    for args in (["list"], ["list", "--json"], ["status", "--job", "good"]):
        result = mdp(env, *args)
        assert "Traceback" not in result.stderr and "good" in result.stdout
        assert sorted(result.stderr.splitlines()) == [
            f"warning: skipped {folder / 'alien.json'}: not a job record (no str 'state')",
            f"warning: skipped {folder / 'broken.json'}: Unterminated string starting at: line 1 column 9 (char 8)",
        ]


def test_list_prunes_old_records_and_shows_hostile_names_escaped(env, tmp_path):
    folder = jobs_dir(tmp_path / "state")
    old = write_record(folder, "old", "stopped", 8)
    write_record(folder, "../evil\x1b[2J", "stopped", 0)
    assert [row["job"] for row in listed(env)] == ["../evil\x1b[2J"]
    assert not old.exists()
    shown = mdp(env, "list").stdout
    assert "\x1b" not in shown and "../evil\\x1b[2J " in shown
    assert mdp(env, "status", "--job", "../evil\x1b[2J").stdout.startswith(
        "job '../evil\\x1b[2J' (dag): stopped"
    )


@pytest.mark.parametrize("args", [("list",), ("list", "--json"), ("status", "--job", "x")])
def test_job_commands_load_no_compiler_stage(tmp_path, monkeypatch, args):
    monkeypatch.setenv("MDP_STATE_DIR", str(tmp_path / "state"))
    write_record(jobs_dir(tmp_path / "state"), "x", "stopped", 0)
    result, modules = loaded_by(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert packages_in(modules, NOT_LOADED_BY_LIST + COMPILER_VALIDATION) == []
    # typer 0.29 converts every option through pydantic (typer._adapters); nothing else loads it.
    assert "pydantic" not in modules or "typer._adapters" in modules
    assert "runtime_lib.job_records" in modules  # the command really ran
