"""A replay of 1,000,000 ticks into SQLite and into PostgreSQL, killed with SIGKILL at 5 random
moments and started again each time, ends with the table of an undisturbed run, and its bars
count every input tick once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.checkpoint_runs import job_config
from tests.stores import make_ticks, write_ticks
from tests.support.jobs import MDP, TIMEOUT_S, job_env, run, stop
from tests.support.postgres import PASSWORD, running_postgres

TICKS = 1_000_000  # 10,000 s of event time, 10 ms apart, two symbols
SPEED = 1_000  # about 10 s of replay in all
KILLS = 5
BARS = "SELECT symbol, interval, ts, open, high, low, close, volume, count, vwap FROM bars ORDER BY 1, 2, 3"


@pytest.fixture(scope="module")
def ticks_csv(tmp_path_factory):
    """The million ticks, written once for the module."""
    return write_ticks(tmp_path_factory.mktemp("ticks") / "ticks.csv", make_ticks(TICKS))


@pytest.fixture(scope="module")
def postgres():
    """One throwaway server for the PostgreSQL case."""
    with running_postgres() as server:
        yield server


def sqlite_bars(folder, name: str) -> list[tuple]:
    with sqlite3.connect(folder / "out" / f"{name}.db") as connection:
        return connection.execute(BARS).fetchall()


def killed_and_resumed(tmp_path, config: str, env: dict, seed: int) -> int:
    """Run ``config`` to its end, killing it with SIGKILL at ``KILLS`` random moments; return how many kills landed."""
    moments = random.Random(seed)
    landed = 0
    for _attempt in range(KILLS * 3):
        job = subprocess.Popen(
            [MDP, "run", config, "--no-progress"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + (moments.uniform(0.8, 2.5) if landed < KILLS else TIMEOUT_S)
            while job.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if job.poll() is None and landed < KILLS:
                job.send_signal(signal.SIGKILL)
                job.communicate(timeout=TIMEOUT_S)
                landed += 1
                continue
            _out, err = job.communicate(timeout=TIMEOUT_S)
        finally:
            stop(job)
        assert job.returncode == 0, err.decode()
        return landed
    raise AssertionError("the job never finished")


def test_sqlite_table_after_five_kills_equals_the_undisturbed_one(tmp_path, ticks_csv):
    env = job_env(tmp_path)
    (tmp_path / "undisturbed.yaml").write_text(
        job_config("undisturbed", ticks_csv, "sqlite:///out/undisturbed.db", 0)
    )
    run([MDP, "run", "undisturbed.yaml", "--no-progress"], tmp_path, env)
    expected = sqlite_bars(tmp_path, "undisturbed")
    assert sum(row[8] for row in expected) == TICKS
    config = job_config("resumed", ticks_csv, "sqlite:///out/resumed.db", SPEED, checkpoint_every="200ms")
    (tmp_path / "resumed.yaml").write_text(config)
    assert killed_and_resumed(tmp_path, "resumed.yaml", env, seed=11) == KILLS
    assert sqlite_bars(tmp_path, "resumed") == expected
    assert not any((tmp_path / "ck" / "resumed").glob("*.snapshot")), "a finished job keeps no checkpoint"


def test_postgres_table_after_five_kills_equals_the_undisturbed_one(tmp_path, ticks_csv, postgres):
    env = job_env(tmp_path, PGPASSWORD=PASSWORD)
    for name in ("undisturbed", "resumed"):
        postgres.create_database(name)
    url = postgres.url("undisturbed", "${PGPASSWORD}")
    (tmp_path / "undisturbed.yaml").write_text(job_config("undisturbed", ticks_csv, url, 0))
    run([MDP, "run", "undisturbed.yaml", "--no-progress"], tmp_path, env)
    expected = postgres.query("undisturbed", BARS)
    assert sum(row[8] for row in expected) == TICKS
    url = postgres.url("resumed", "${PGPASSWORD}")
    (tmp_path / "resumed.yaml").write_text(
        job_config("resumed", ticks_csv, url, SPEED, checkpoint_every="200ms")
    )
    assert killed_and_resumed(tmp_path, "resumed.yaml", env, seed=12) == KILLS
    assert postgres.query("resumed", BARS) == expected
