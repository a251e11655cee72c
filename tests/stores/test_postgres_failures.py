"""``mdp run`` into a real PostgreSQL server that fails: restarted under a replay (the job waits,
retries and ends with the table an undisturbed run writes), a job killed and run again, bad
credentials and a table that does not fit (exit 1, one message naming the sink)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from tests.stores import make_ticks, store_config, store_node, stored_bars, write_ticks
from tests.support.jobs import MDP, TIMEOUT_S, job_env, parse_summary, run, stop, wait_for
from tests.support.postgres import PASSWORD, running_postgres

TICKS = 3000  # 30 s of event time: 3 s of replay at speed 10
SPEED = 10
TABLES = {
    "bars": "SELECT * FROM bars ORDER BY symbol, interval, ts",
    "ticks": "SELECT * FROM ticks ORDER BY symbol, ts_ns, price, size, seq",
}


@pytest.fixture(scope="module")
def postgres():
    """One throwaway server for the tests that do not restart it."""
    with running_postgres() as server:
        yield server


def write_job(tmp_path, postgres, database: str, speed: float, extra: dict | None = None) -> str:
    """Write ``<database>.yaml``: the replay of ``ticks.csv`` into bars and ticks tables of
    ``database`` (the url reads ``${PGPASSWORD}``), plus the ``extra`` sinks; return its name."""
    if not (tmp_path / "ticks.csv").exists():
        write_ticks(tmp_path / "ticks.csv", make_ticks(TICKS))
    url = postgres.url(database, "${PGPASSWORD}")
    sinks = {"store": store_node(url), "raw_ticks": store_node(url, "ticks"), **(extra or {})}
    config = f"{database}.yaml"
    (tmp_path / config).write_text(store_config(database, "ticks.csv", sinks, speed=speed), encoding="utf-8")
    return config


def tables(postgres, database: str) -> dict[str, list[tuple]]:
    """Every row of the job's two tables, in key order."""
    return {table: postgres.query(database, sql) for table, sql in TABLES.items()}


def reference(tmp_path, postgres) -> dict[str, list[tuple]]:
    """The tables an undisturbed run writes."""
    postgres.create_database("reference")
    run(
        [MDP, "run", write_job(tmp_path, postgres, "reference", speed=0)],
        tmp_path,
        job_env(tmp_path, PGPASSWORD=PASSWORD),
    )
    written = tables(postgres, "reference")
    assert len(written["bars"]) == 60 and len(written["ticks"]) == TICKS
    return written


def start_job(tmp_path, config: str) -> subprocess.Popen:
    """``mdp run config`` in the background, with the right password."""
    return subprocess.Popen(
        [MDP, "run", config],
        cwd=tmp_path,
        env=job_env(tmp_path, PGPASSWORD=PASSWORD),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_database_restart_during_a_replay_pauses_the_job_and_loses_nothing(tmp_path):
    with running_postgres() as postgres:
        expected = reference(tmp_path, postgres)
        postgres.create_database("restarted")
        job = start_job(tmp_path, write_job(tmp_path, postgres, "restarted", speed=SPEED))
        try:
            wait_for(lambda: stored_bars(postgres, "restarted") >= 4, 20, "the first bars", job)
            postgres.stop("fast")  # ends the job's sessions, as a restart does
            time.sleep(0.8)  # writes fail meanwhile: connection refused
            assert job.poll() is None, "the job must wait for the database, not stop"
            postgres.start()
            out, err = job.communicate(timeout=TIMEOUT_S)
        finally:
            stop(job)
        assert job.returncode == 0, err
        assert re.search(
            r"sink '(store|raw_ticks)': a write of \d+ rows failed; attempt 2/200 in 0\.05 s", err
        ), err
        assert "Connection refused" in err or "terminating connection" in err, err
        assert parse_summary(err).rows_written == {"store": 60, "raw_ticks": TICKS}
        assert tables(postgres, "restarted") == expected


def test_a_job_killed_during_a_replay_and_run_again_leaves_the_undisturbed_tables(tmp_path, postgres):
    expected = reference(tmp_path, postgres)
    postgres.create_database("killed")
    config = write_job(tmp_path, postgres, "killed", speed=SPEED)
    job = start_job(tmp_path, config)
    try:
        wait_for(lambda: stored_bars(postgres, "killed") >= 4, 20, "the first bars", job)
        job.send_signal(signal.SIGKILL)
        job.communicate(timeout=TIMEOUT_S)
    finally:
        stop(job)
    partial = tables(postgres, "killed")
    assert 0 < len(partial["bars"]) < 60 and len(partial["ticks"]) < TICKS
    run(
        [MDP, "run", write_job(tmp_path, postgres, "killed", speed=0)],
        tmp_path,
        job_env(tmp_path, PGPASSWORD=PASSWORD),
    )
    assert tables(postgres, "killed") == expected


def test_a_bad_password_stops_the_job_with_one_message_and_the_other_sinks_flushed(tmp_path, postgres):
    postgres.create_database("denied")
    jsonl = {"out_ticks": "      type: sink.jsonl\n      params: {path: out/ticks.jsonl}"}
    config = write_job(tmp_path, postgres, "denied", speed=0, extra=jsonl)
    wrong = "not-the-password-42"
    result = run([MDP, "run", config], tmp_path, job_env(tmp_path, PGPASSWORD=wrong), check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and wrong not in result.stderr + result.stdout
    assert result.stderr.count("password authentication failed") == 1, result.stderr
    assert re.fullmatch(
        rf"error: sink '(store|raw_ticks)' \(postgresql://mdp:\*\*\*@127\.0\.0\.1:{postgres.port}/denied\) failed: "
        r'cannot connect to PostgreSQL: password authentication failed for user "mdp"; it had written no rows',
        result.stderr.rstrip("\n").splitlines()[-1],
    ), result.stderr
    written = (tmp_path / "out" / "ticks.jsonl").read_text(encoding="utf-8")
    assert written.endswith("\n") and all(json.loads(line)["symbol"] for line in written.splitlines())


def test_a_table_that_does_not_fit_stops_the_job_with_a_message_naming_the_sink(tmp_path, postgres):
    postgres.create_database("misfit")
    postgres.query("misfit", "CREATE TABLE bars (symbol text, interval text, ts bigint)")
    result = run(
        [MDP, "run", write_job(tmp_path, postgres, "misfit", speed=0)],
        tmp_path,
        job_env(tmp_path, PGPASSWORD=PASSWORD),
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith(
        f"error: sink 'store' (postgresql://mdp:***@127.0.0.1:{postgres.port}/misfit) failed: "
        "table 'bars' does not fit a bars store: it lacks open, high, low, close, volume, count, vwap; "
        "ts is bigint, not timestamp with time zone (a bars store writes "
    ), result.stderr
    assert "give the store another table, or move this one away" in last
