"""SIGTERM in the middle of a replay into PostgreSQL: the source stops, the batches in flight
drain, the store commits, the job exits 0, and every tick the source read is accounted for: in
a stored bar, or counted as filtered out or late."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.stores import make_ticks, store_node, stored_bars, write_ticks
from tests.support.jobs import MDP, TIMEOUT_S, job_env, parse_summary, stop, wait_for
from tests.support.postgres import PASSWORD, running_postgres

TICKS = 4000  # 40 s of event time, 4 s of replay at speed 10
LATE_EVERY = 50  # every 50th tick is moved 3 s back in event time: beyond the 1 s lateness
CONFIG = """\
name: interrupted
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {{path: ticks.csv, speed: 10, batch_size: 64}}
    - id: sized
      type: operator.filter
      params: {{where: "size != 3"}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: 1s, allowed_lateness: 1s}}
    - id: store
{store}
  edges:
    - [ticks, sized]
    - [sized, bars]
    - [bars, store]
"""


@pytest.fixture(scope="module")
def postgres():
    """One throwaway server for the test."""
    with running_postgres() as server:
        yield server


def disordered_ticks() -> list[dict]:
    """Ticks in event-time order except every :data:`LATE_EVERY`-th, which arrives 3 s late."""
    ticks = make_ticks(TICKS)
    for i in range(LATE_EVERY - 1, TICKS, LATE_EVERY):
        ticks[i] = {**ticks[i], "ts": ticks[i]["ts"] - 3_000_000_000}
    return ticks


def test_sigterm_mid_replay_commits_every_tick_read_into_a_bar_or_a_counter(tmp_path, postgres):
    postgres.create_database("interrupted")
    write_ticks(tmp_path / "ticks.csv", disordered_ticks())
    store = store_node(postgres.url("interrupted", "${PGPASSWORD}"))
    (tmp_path / "job.yaml").write_text(CONFIG.format(store=store), encoding="utf-8")
    job = subprocess.Popen(
        [MDP, "run", "job.yaml"],
        cwd=tmp_path,
        env=job_env(tmp_path, PGPASSWORD=PASSWORD),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: stored_bars(postgres, "interrupted") >= 6, 30, "the first bars", job)
        job.send_signal(signal.SIGTERM)
        _out, err = job.communicate(timeout=TIMEOUT_S)
    finally:
        stop(job)
    assert job.returncode == 0, err
    assert "Traceback" not in err
    summary = parse_summary(err)
    read = summary.nodes["ticks"]["out"]
    assert 0 < read < TICKS, "the signal came in the middle of the replay"
    sized, bars = summary.nodes["sized"], summary.nodes["bars"]
    filtered = sized["in"] - sized["out"]
    assert sized["in"] == read and filtered > 0 and bars["in"] == sized["out"]
    assert bars["late"] > 0 and bars["dropped"] == 0
    rows = postgres.query("interrupted", "SELECT count, symbol FROM bars")
    assert summary.rows_written["store"] == bars["out"] == len(rows)
    assert sum(count for count, _symbol in rows) + bars["late"] + filtered == read
