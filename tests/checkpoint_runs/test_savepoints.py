"""SIGTERM with checkpoints on takes a savepoint that keeps the open windows; the next run resumes
from it. A config change that keeps a node's state shape (a filter's threshold) keeps its state; one that does not is
refused at the node's line, unless --allow-state-reset names it. ``mdp state`` shows and clears it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.checkpoint_runs import job_config
from tests.stores import make_ticks, write_ticks
from tests.support.jobs import MDP, TIMEOUT_S, job_env, run, stop, wait_for

RATE = 400  # synthetic ticks per second, paced: event time moves with wall time
SYNTHETIC = """\
name: {name}
mode: dag
{run}dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA, BBB, CCC], seed: 7, rate: {rate}, count: 1600, batch_size: 16}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: 1s}}
    - id: store
      type: sink.store
      params: {{url: "sqlite:///out/{name}.db"}}
  edges:
    - [ticks, bars]
    - [bars, store]
"""
CHECKPOINTS = "run:\n  checkpoint: {every: 300ms, dir: ck}\n"


def bars(folder, name: str) -> list[tuple]:
    with sqlite3.connect(folder / "out" / f"{name}.db") as connection:
        return connection.execute("SELECT * FROM bars ORDER BY symbol, interval, ts").fetchall()


def stored(db) -> int:
    """How many bars ``db`` holds (0 before the store created it or its table)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT count(*) FROM bars").fetchone()[0]
    except sqlite3.Error:
        return 0


def start(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [MDP, "run", *args, "--no-progress"],
        cwd=tmp_path,
        env=job_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def terminated_mid_run(tmp_path, config: str, db: str) -> str:
    """Start ``config``, send SIGTERM once it has stored bars and is in the middle of a window; return stderr."""
    job = start(tmp_path, config)
    try:
        wait_for(lambda: stored(tmp_path / "out" / db) > 0, 30, "the first stored bars", job)
        time.sleep(0.45)
        assert job.poll() is None, "the job ended before the signal"
        job.send_signal(signal.SIGTERM)
        _out, err = job.communicate(timeout=TIMEOUT_S)
    finally:
        stop(job)
    assert job.returncode == 0, err
    return err


def test_a_bar_spanning_a_sigterm_and_restart_equals_the_uninterrupted_one(tmp_path):
    (tmp_path / "whole.yaml").write_text(SYNTHETIC.format(name="whole", run="", rate=RATE))
    run([MDP, "run", "whole.yaml", "--no-progress"], tmp_path, job_env(tmp_path))
    expected = bars(tmp_path, "whole")
    (tmp_path / "split.yaml").write_text(SYNTHETIC.format(name="split", run=CHECKPOINTS, rate=RATE))
    err = terminated_mid_run(tmp_path, "split.yaml", "split.db")
    assert "savepoint" in err and "flushed the open windows" not in err, err
    before = bars(tmp_path, "split")
    assert 0 < len(before) < len(expected)
    assert before == [row for row in expected if row in before], "only complete bars are stored at the signal"
    second = run([MDP, "run", "split.yaml", "--no-progress"], tmp_path, job_env(tmp_path))
    assert "resumed job 'split' from checkpoint" in second.stderr, second.stderr
    assert bars(tmp_path, "split") == expected


@pytest.fixture
def replay_job(tmp_path):
    """A slow replay of 20,000 ticks with checkpoints, stopped by SIGTERM once: its savepoint is there."""
    write_ticks(tmp_path / "ticks.csv", make_ticks(20_000))
    config = job_config(
        "upgraded", tmp_path / "ticks.csv", "sqlite:///out/upgraded.db", 40, checkpoint_every="300ms"
    )
    (tmp_path / "upgraded.yaml").write_text(config)
    terminated_mid_run(tmp_path, "upgraded.yaml", "upgraded.db")
    return config


def test_a_changed_window_is_refused_at_the_node_unless_its_state_may_reset(tmp_path, replay_job):
    (tmp_path / "upgraded.yaml").write_text(replay_job.replace("window: 1s", "window: 2s"))
    refused = run([MDP, "run", "upgraded.yaml", "--no-progress"], tmp_path, job_env(tmp_path), check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    line = next(i for i, text in enumerate(replay_job.splitlines(), 1) if "id: bars" in text)
    assert (
        f"upgraded.yaml:{line}: node 'bars' (operator.resample_ohlc): window changed from 1s to 2s "
        "since the checkpoint, so its saved state does not fit (run with --allow-state-reset bars"
    ) in refused.stderr, refused.stderr
    reset = run(
        [MDP, "run", "upgraded.yaml", "--no-progress", "--allow-state-reset", "bars"],
        tmp_path,
        job_env(tmp_path),
    )
    assert "started empty: 'bars'" in reset.stderr, reset.stderr


def test_a_changed_filter_threshold_keeps_the_windows_state(tmp_path, replay_job):
    changed = replay_job.replace("size >= 0", "size >= 2")
    assert changed != replay_job
    (tmp_path / "upgraded.yaml").write_text(changed)
    resumed = run([MDP, "run", "upgraded.yaml", "--no-progress"], tmp_path, job_env(tmp_path))
    assert "resumed job 'upgraded' from checkpoint" in resumed.stderr, resumed.stderr


def test_state_show_and_clear(tmp_path, replay_job):
    shown = run([MDP, "state", "show", "upgraded", "--checkpoint-dir", "ck"], tmp_path, job_env(tmp_path))
    assert "node" in shown.stdout and "'bars'" not in shown.stdout and "bars" in shown.stdout, shown.stdout
    assert "source ticks: position" in shown.stdout, shown.stdout
    header = json.loads(
        run(
            [MDP, "state", "show", "upgraded", "--checkpoint-dir", "ck", "--json"],
            tmp_path,
            job_env(tmp_path),
        ).stdout
    )
    assert header["job"] == "upgraded" and header["nodes"]["bars"]["type"] == "operator.resample_ohlc"
    assert header["nodes"]["bars"]["keys"] == 2
    cleared = run([MDP, "state", "clear", "upgraded", "--checkpoint-dir", "ck"], tmp_path, job_env(tmp_path))
    assert "removed" in cleared.stdout
    missing = run(
        [MDP, "state", "show", "upgraded", "--checkpoint-dir", "ck"], tmp_path, job_env(tmp_path), check=False
    )
    assert missing.returncode == 1 and "has no checkpoint" in missing.stderr


def test_a_damaged_snapshot_stops_the_job_with_a_message_and_leaves_the_table_alone(tmp_path, replay_job):
    [snapshot] = sorted((tmp_path / "ck" / "upgraded").glob("*.snapshot"))[-1:]
    data = snapshot.read_bytes()
    snapshot.write_bytes(data[: len(data) - 40])  # a torn write, or a full disk
    before = bars(tmp_path, "upgraded")
    refused = run([MDP, "run", "upgraded.yaml", "--no-progress"], tmp_path, job_env(tmp_path), check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"checkpoint file ck/upgraded/{snapshot.name} is damaged" in refused.stderr
    assert "run with --fresh" in refused.stderr
    assert bars(tmp_path, "upgraded") == before
    fresh = run([MDP, "run", "upgraded.yaml", "--no-progress", "--fresh"], tmp_path, job_env(tmp_path))
    assert "resumed" not in fresh.stderr
