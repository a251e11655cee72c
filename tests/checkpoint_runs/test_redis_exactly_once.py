"""A Redis stream -> bars -> PostgreSQL job, and a stream -> stream job, killed with SIGKILL and
started again: the table and the output stream equal those of an undisturbed run (exactly once)."""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from runtime_lib.redis_codec import encode_record
from tests.stores import make_ticks
from tests.streams.jobs import stream_records
from tests.support.jobs import MDP, TIMEOUT_S, job_env, run, stop
from tests.support.postgres import PASSWORD, running_postgres
from tests.support.redis_server import running_redis

TICKS = 40_000
KILLS = 3
BARS = "SELECT symbol, interval, ts, open, high, low, close, volume, count, vwap FROM bars ORDER BY 1, 2, 3"
CONFIG = """\
name: {name}
mode: dag
run:
  checkpoint: {{every: 200ms, dir: ck}}
dag:
  nodes:
    - id: ticks
      type: provider.redis_stream
      params: {{url: "{redis}", stream: ticks, {reading}, block: 100ms, batch_size: 500}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: 1s}}
    - id: store
      type: sink.store
      params: {{url: "{postgres}"}}
    - id: out
      type: sink.redis_stream
      params: {{url: "{redis}", stream: "bars-{name}"}}
  edges:
    - [ticks, bars]
    - [bars, store]
    - [bars, out]
"""


@pytest.fixture(scope="module")
def servers():
    """A Redis server holding the stream of ticks, and a PostgreSQL server."""
    with running_redis(appendonly=True) as redis, running_postgres() as postgres:
        client = redis.client()
        pipeline = client.pipeline(transaction=False)
        for tick in make_ticks(TICKS):
            pipeline.xadd("ticks", encode_record(tick))
        pipeline.execute()
        yield redis, postgres


def write_job(tmp_path, servers, name: str, reading: str) -> str:
    redis, postgres = servers
    postgres.create_database(name)
    text = CONFIG.format(
        name=name, redis=redis.url(), postgres=postgres.url(name, "${PGPASSWORD}"), reading=reading
    )
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return f"{name}.yaml"


def finish(tmp_path, config: str) -> None:
    """Run ``config`` until it has read the whole stream (the stream has no end: it is stopped)."""
    run(
        [MDP, "run", config, "--no-progress", "--duration", "4"],
        tmp_path,
        job_env(tmp_path, PGPASSWORD=PASSWORD),
    )


@pytest.mark.parametrize(
    "reading", ["start: earliest", "group: bars, consumer: bars-1"], ids=["alone", "consumer-group"]
)
def test_a_killed_stream_job_commits_every_bar_exactly_once(tmp_path, servers, reading):
    redis, postgres = servers
    group = "group" in reading
    suffix = "_group" if group else ""
    finish(tmp_path, write_job(tmp_path, servers, f"undisturbed{suffix}", "start: earliest"))
    name = f"killed{suffix}"
    config = write_job(tmp_path, servers, name, reading)
    moments = random.Random(3)
    for _kill in range(KILLS):  # each run resumes from the last checkpoint its sinks committed
        job = subprocess.Popen(
            [MDP, "run", config, "--no-progress"],
            cwd=tmp_path,
            env=job_env(tmp_path, PGPASSWORD=PASSWORD),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(moments.uniform(0.9, 1.6))
            assert job.poll() is None, job.communicate()[1].decode()
            job.send_signal(signal.SIGKILL)
            job.communicate(timeout=TIMEOUT_S)
        finally:
            stop(job)
    finish(tmp_path, config)
    expected = postgres.query(f"undisturbed{suffix}", BARS)
    assert len(expected) > 100
    assert postgres.query(name, BARS) == expected
    client = redis.client()
    # the same bars, none twice; their order depends on where batches were cut, which a resume changes
    written, undisturbed = stream_records(client, f"bars-{name}"), stream_records(
        client, f"bars-undisturbed{suffix}"
    )
    assert sorted(map(repr, written)) == sorted(map(repr, undisturbed))
    if group:  # what the last checkpoint holds is acknowledged: nothing is left pending
        assert client.xpending("ticks", "bars")["pending"] == 0
