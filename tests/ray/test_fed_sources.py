"""Sources without an end on Ray shards: one feeder reads the source and sends each record to its
symbol's shard, with a bound on batches in flight. Endless synthetic ticks and a Redis stream,
stopped by ``--max-events``, store the rows of one process on 2 and 3 shards; SIGTERM ends the
source and the shards flush, exit 0, nothing read is lost; a source that cannot be fed is refused
at its line."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.ray.cluster import running_ray
from tests.streams.jobs import SAMPLE_TICK_COUNT, SAMPLE_TICKS, dag, start_job, write_config
from tests.support.jobs import MDP, TIMEOUT_S, bar_rows, job_env, run, stop, wait_for
from tests.support.redis_server import running_redis

BARS = ("bars", "operator.resample_ohlc", "{window: 1s}")
ENDLESS = ("ticks", "provider.synthetic", "{symbols: [A, B, C, D, E, F, G, H], seed: 7, rate: 0}")


@pytest.fixture(scope="module")
def cluster():
    with running_ray() as address:
        yield address


def job(name: str, source: tuple[str, str, str], db: str) -> str:
    """``source`` -> 1 s bars -> SQLite ``db``."""
    store = ("store", "sink.store", f"{{url: 'sqlite:///{db}'}}")
    return dag(name, [source, BARS, store], [("ticks", "bars"), ("bars", "store")])


def mdp_run(folder: Path, config: Path, *options: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([MDP, "run", str(config), "--no-progress", *options], folder, job_env(folder), check=check)


@pytest.mark.parametrize("shards", [2, 3])
def test_endless_synthetic_ticks_cut_at_max_events_store_the_bars_of_one_process(tmp_path, cluster, shards):
    config = write_config(tmp_path, "endless", job("endless", ENDLESS, "bars.db"))
    mdp_run(tmp_path, config, "--max-events", "40000")
    expected = bar_rows(tmp_path / "bars.db")
    (tmp_path / "bars.db").unlink()
    result = mdp_run(
        tmp_path,
        config,
        "--max-events",
        "40000",
        "--engine",
        "ray",
        "--shards",
        str(shards),
        "--address",
        cluster,
    )
    assert f"on {shards} shard(s)" in result.stderr, result.stderr
    assert len(expected) > 100 and bar_rows(tmp_path / "bars.db") == expected


def test_a_redis_stream_fed_to_two_shards_gives_the_bars_of_one_process(tmp_path, cluster):
    with running_redis() as server:
        url = server.url()
        replay = ("ticks", "provider.replay", f"{{path: {SAMPLE_TICKS}}}")
        produce = dag(
            "produce",
            [replay, ("out", "sink.redis_stream", f'{{url: "{url}", stream: ticks}}')],
            [("ticks", "out")],
        )
        mdp_run(tmp_path, write_config(tmp_path, "produce", produce))
        stream = ("ticks", "provider.redis_stream", f'{{url: "{url}", stream: ticks, start: earliest}}')
        config = write_config(tmp_path, "consume", job("consume", stream, "bars.db"))
        limit = ("--max-events", str(SAMPLE_TICK_COUNT))
        mdp_run(tmp_path, config, *limit)
        expected = bar_rows(tmp_path / "bars.db")
        (tmp_path / "bars.db").unlink()
        explained = run(
            [MDP, "explain", str(config), "--engine", "ray", "--shards", "2"], tmp_path, job_env(tmp_path)
        )
        assert "feeder     'ticks' (provider.redis_stream)" in explained.stdout, explained.stdout
        mdp_run(tmp_path, config, *limit, "--engine", "ray", "--shards", "2", "--address", cluster)
    assert len(expected) > 50 and bar_rows(tmp_path / "bars.db") == expected


def test_sigterm_ends_an_endless_source_and_the_shards_flush_everything_read(tmp_path, cluster):
    config = write_config(tmp_path, "endless", job("endless", ENDLESS, "bars.db"))
    options = ("--no-progress", "--engine", "ray", "--shards", "2", "--address", cluster)
    process = start_job(tmp_path, config, *options)
    try:
        wait_for(lambda: (tmp_path / "bars.db").exists(), TIMEOUT_S, "the shards to open the store", process)
        wait_for(lambda: _stored_ticks(tmp_path / "bars.db") > 0, TIMEOUT_S, "the first bars", process)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 0 and "Traceback" not in err, err
    read = next(int(line.split()[3]) for line in err.splitlines() if line.startswith("  'ticks'"))
    assert read > 0 and _stored_ticks(tmp_path / "bars.db") == read  # every tick read is in a bar


def _stored_ticks(db: Path) -> int:
    """How many ticks the stored bars count (0 before the table exists)."""
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute("SELECT coalesce(sum(count), 0) FROM bars").fetchone()[0]
    except sqlite3.OperationalError:  # no table yet
        return 0


@pytest.mark.parametrize(
    "source, before, message",
    [
        (
            ENDLESS,
            ("rename", "operator.map", "{fields: {symbol: 'symbol + \"X\"'}}"),
            "with their symbol unchanged",
        ),
        (
            (
                "ticks",
                "provider.redis_stream",
                "{url: 'redis://127.0.0.1:1/0', stream: s, group: g, consumer: c}",
            ),
            None,
            "a consumer group acknowledges what the sinks wrote",
        ),
    ],
)
def test_a_source_without_an_end_that_cannot_be_fed_is_refused_at_its_line(tmp_path, source, before, message):
    nodes = [source] + ([before] if before else []) + [BARS, ("out", "sink.null", "{}")]
    ids = [node[0] for node in nodes]
    config = write_config(tmp_path, "live", dag("live", nodes, list(zip(ids, ids[1:]))))
    result = mdp_run(tmp_path, config, "--engine", "ray", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "live.yaml:5:" in result.stderr and message in result.stderr, result.stderr
