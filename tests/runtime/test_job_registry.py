"""Job records in the state directory: written while a job runs, read back, judged alive or dead, pruned."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime_lib import job_registry
from runtime_lib.job_files import jobs_dir, record_file_name
from runtime_lib.job_liveness import is_running, process_start_ticks
from runtime_lib.job_records import KEEP_PER_JOB, load_records, prune_folder
from runtime_lib.job_registry import JobRecord
from runtime_lib.runner import LiveContext, RunOptions
from tests.support.jobs import wait_for

DAY_NS = 86_400 * 1_000_000_000
HOST = socket.gethostname()


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """A private state directory (not yet created), rewritten every 50 ms instead of every second."""
    root = tmp_path / "state"
    monkeypatch.setenv("MDP_STATE_DIR", str(root))
    monkeypatch.setattr(job_registry, "WRITE_INTERVAL_S", 0.05)
    return root


def live_context() -> LiveContext:
    """A context with one source and one operator, as a built job has them."""
    ctx = LiveContext()
    ctx.source("ticks", "provider.synthetic", object)
    ctx.stats("big", "operator.filter")
    return ctx


def only_record(root: Path) -> dict:
    records, problems = load_records(jobs_dir(root))
    assert problems == [] and len(records) == 1, (records, problems)
    return records[0].view()


def test_a_run_is_recorded_while_it_runs_and_ends_stopped(state):
    ctx = live_context()
    options = RunOptions(metrics_port=9123, mode="classic", config_path="c.yaml", config_sha256="ab" * 32)
    record = JobRecord.open("bars", options, ctx)
    try:
        wait_for(lambda: load_records(jobs_dir(state))[0], 5, "the first record")
        first = only_record(state)
        assert first["state"] == "running" and first["exit_code"] is None
        assert (first["job"], first["mode"], first["pid"], first["hostname"]) == (
            "bars",
            "classic",
            os.getpid(),
            HOST,
        )
        assert (first["config_path"], first["config_sha256"]) == ("c.yaml", "ab" * 32)
        assert first["metrics"] == "http://127.0.0.1:9123"
        assert first["lag_s"] is None and first["totals"] == {
            "events_in": 0,
            "events_out": 0,
            "rows_written": 0,
        }
        assert set(first["nodes"]) == {"ticks", "big"}
        ticks, big = ctx.node_stats["ticks"], ctx.node_stats["big"]
        ticks.add(0, 40)
        ticks.newest_ts = time.time_ns() - 3_000_000_000
        big.add(40, 30)
        big.dropped = 10
        big.set_aside_one("outlier", "test")
        wait_for(
            lambda: only_record(state)["totals"]["events_in"] == 40, 5, "the record to follow the counters"
        )
    finally:
        record.close(0)
    final = only_record(state)
    assert (final["state"], final["exit_code"], final["last_error"]) == ("stopped", 0, None)
    assert final["nodes"]["big"] == {
        "type": "operator.filter",
        "in": 40,
        "out": 30,
        "late": 0,
        "dropped": 10,
        "errors": 0,
        "set_aside": 1,
        "set_aside_reasons": {"outlier": 1},
        "newest_ts": None,
    }
    assert 3 <= final["lag_s"] < 60
    assert final["updated_ns"] >= first["updated_ns"] and final["uptime_s"] >= first["uptime_s"]
    assert stat.S_IMODE(state.stat().st_mode) == stat.S_IMODE(jobs_dir(state).stat().st_mode) == 0o700
    [path] = jobs_dir(state).iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name == record_file_name("bars", os.getpid(), final["started_ns"])


def test_a_failed_run_keeps_its_exit_code_and_last_error(state):
    record = JobRecord.open("bars", RunOptions(), live_context())
    record.failed("sink 'store' failed: disk full")
    assert record.close(3) == 3
    final = only_record(state)
    assert (final["state"], final["exit_code"]) == ("failed", 3)
    assert final["last_error"] == "sink 'store' failed: disk full"
    assert final["metrics"] is None


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", ".hidden", "x" * 300, "é ✓\t%2F", "-1-2"])
def test_any_job_name_stays_one_file_inside_the_jobs_folder(state, name):
    JobRecord.open(name, RunOptions(), live_context()).close(0)
    assert sorted(p.name for p in state.parent.iterdir()) == ["state"]
    assert [p.name for p in state.iterdir()] == ["jobs"]
    [path] = jobs_dir(state).iterdir()
    assert path.is_file() and path.name[0] not in ".-" and len(path.name.encode()) < 255
    assert only_record(state)["job"] == name


def test_an_unusable_state_directory_costs_one_warning_not_the_job(tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MDP_STATE_DIR", str(tmp_path / "a-file" / "state"))
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        record = JobRecord.open("bars", RunOptions(), live_context())
        record.failed("boom")
        assert record.close(1) == 1
    assert [r.getMessage() for r in caplog.records if "job record" in r.getMessage()] == [
        f"job record: cannot create {tmp_path / 'a-file' / 'state'} (mdp list will not show this run): "
        f"[Errno 20] Not a directory: '{tmp_path / 'a-file' / 'state'}'"
    ]


def test_a_record_that_can_no_longer_be_written_warns_once(state, caplog):
    record = JobRecord.open("bars", RunOptions(), live_context())
    try:
        wait_for(lambda: load_records(jobs_dir(state))[0], 5, "the first record")
        with caplog.at_level(logging.WARNING, logger="mdp.job"):
            for path in jobs_dir(state).iterdir():
                path.unlink()
            jobs_dir(state).rmdir()
            time.sleep(0.5)  # about ten failed writes
    finally:
        record.close(0)
    warnings = [r for r in caplog.records if "job record: cannot write" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


def test_liveness_tells_a_running_process_from_a_gone_a_zombie_and_a_reused_pid():
    me, ticks = os.getpid(), process_start_ticks(os.getpid())
    assert is_running(me, ticks) and is_running(me, None)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert not is_running(gone.pid, None)
    if ticks is None:
        pytest.skip("no /proc: start times cannot be compared")
    assert not is_running(me, ticks + 1)  # same pid, another start time: a reused pid
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(zombie.pid, signal.SIGKILL)
        wait_for(lambda: not is_running(zombie.pid, None), 10, "the child to become a zombie")
        assert zombie.poll() is not None  # it was a zombie, reaped only now
    finally:
        zombie.kill()
        zombie.wait(timeout=30)


def write_record(
    folder: Path, job: str, state: str, age_days: float, *, start_ticks=None, host=HOST, pid=None
):
    """A record as a job writes it, started and last updated ``age_days`` ago."""
    now = time.time_ns()
    started = now - int(age_days * DAY_NS) - 1000
    pid = os.getpid() if pid is None else pid
    data = {
        "format": 1,
        "job": job,
        "mode": "dag",
        "state": state,
        "pid": pid,
        "pid_start_ticks": start_ticks,
        "hostname": host,
        "started_ns": started,
        "updated_ns": started + 1000,
        "exit_code": None if state == "running" else 0,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record_file_name(job, pid, started)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_pruning_drops_old_and_surplus_finished_runs_never_a_running_one(tmp_path):
    folder = tmp_path / "jobs"
    me = process_start_ticks(os.getpid())
    keep = {
        write_record(folder, "bars", "stopped", 6),
        write_record(folder, "bars", "running", 30, start_ticks=me),  # alive here: kept however old
        write_record(folder, "far", "running", 1, host="elsewhere"),  # cannot be checked from here
    }
    drop = {
        write_record(folder, "bars", "stopped", 8),
        write_record(folder, "bars", "failed", 9),
        write_record(folder, "gone", "running", 8, pid=2**31 - 1),
        write_record(folder, "far", "running", 8, host="elsewhere"),
    }
    if me is not None:  # our pid with another start time: a run that died, its pid reused
        drop.add(write_record(folder, "reused", "running", 8, start_ticks=me + 1))
    many = [write_record(folder, "many", "stopped", day / 100) for day in range(KEEP_PER_JOB + 5)]
    keep |= set(many[:KEEP_PER_JOB])
    drop |= set(many[KEEP_PER_JOB:])
    stale_temp = folder / ".many-1-1.json.tmp"
    fresh_temp = folder / ".many-2-2.json.tmp"
    stale_temp.write_text("{")
    fresh_temp.write_text("{")
    os.utime(stale_temp, (time.time() - 7200,) * 2)
    prune_folder(folder)
    assert {p for p in folder.iterdir() if not p.name.startswith(".")} == keep
    assert not stale_temp.exists() and fresh_temp.exists()


def test_unreadable_files_are_reported_and_skipped(tmp_path):
    folder = tmp_path / "jobs"
    good = write_record(folder, "bars", "stopped", 0)
    (folder / "garbage.json").write_text("{not json")
    (folder / "list.json").write_text("[1, 2]")
    (folder / "nameless.json").write_text(json.dumps({"state": "running", "pid": 1}))
    (folder / "odd.json").write_text(
        json.dumps({"job": "x", "state": "paused", "pid": 1, "started_ns": 1, "updated_ns": 1})
    )
    (folder / ".bars-1-1.json.tmp").write_text("{")
    (folder / "notes.txt").write_text("ignored")
    records, problems = load_records(folder)
    assert [r.path for r in records] == [good]
    assert {path.name: reason for path, reason in problems} == {
        "garbage.json": "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "list.json": "not a job record (not a JSON object)",
        "nameless.json": "not a job record (no str 'job')",
        "odd.json": "not a job record (unknown state 'paused')",
    }
