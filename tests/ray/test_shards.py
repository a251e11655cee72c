"""The same configs give the same stored rows on 1, 2 and 3 Ray shards as in one process; a
shard whose worker is killed is run again and the table is the undisturbed one; a config that
cannot be split is refused at the line that prevents it."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.ray.cluster import running_ray, shard_workers
from tests.stores import make_ticks, write_ticks
from tests.support.jobs import CONFIGS, MDP, TIMEOUT_S, free_port, job_env, run, stop, wait_for

OUTPUTS = {  # each bundled config's outputs: SQLite tables and JSON-lines files
    "bars": ["mdp-data/bars.db"],
    "routing": ["mdp-data/stock_bars.db", "mdp-data/etf_ticks.jsonl", "mdp-data/late_ticks.jsonl"],
    "window_stats": ["mdp-data/window_stats.jsonl"],
    "dedupe_buffer": ["mdp-data/dedupe_buffer.jsonl"],
}
SYMBOLS_100 = """\
name: hundred
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: ticks.csv, speed: {speed}}}}}
    - {{id: bars, type: operator.resample_ohlc, params: {{window: 1m}}}}
    - {{id: store, type: sink.store, params: {{url: "sqlite:///mdp-data/hundred.db"}}}}
  edges: [[ticks, bars], [bars, store]]
"""


@pytest.fixture(scope="module")
def cluster():
    with running_ray() as address:
        yield address


def outputs(folder: Path, paths: list[str]) -> dict[str, list]:
    """Every stored row of each output, sorted (shards write in their own order)."""
    found = {}
    for path in paths:
        target = folder / path
        assert target.exists(), f"{path} was not written"
        if path.endswith(".db"):
            with sqlite3.connect(target) as connection:
                tables = [
                    t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                ]
                found[path] = {
                    t: sorted(connection.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables
                }
        else:
            found[path] = sorted(target.read_text(encoding="utf-8").splitlines())
    return found


def layout(tmp_path: Path, name: str) -> Path:
    """A working folder with the config (unpaced, so that a run takes no longer than it must) and its data."""
    folder = tmp_path / name
    shutil.copytree(CONFIGS, folder / "configs")
    config = folder / "configs" / "dag" / f"{name}.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("rate: 2000", "rate: 0"), encoding="utf-8")
    return folder


def mdp_run(folder: Path, config: str, *options: str) -> subprocess.CompletedProcess:
    shutil.rmtree(folder / "mdp-data", ignore_errors=True)
    return run([MDP, "run", config, "--no-progress", *options], folder, job_env(folder))


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_a_bundled_config_stores_the_same_rows_on_any_number_of_shards(tmp_path, cluster, name):
    folder = layout(tmp_path, name)
    config = f"configs/dag/{name}.yaml"
    mdp_run(folder, config)
    expected = outputs(folder, OUTPUTS[name])
    assert any(expected.values())
    for shards in (1, 2, 3):
        result = mdp_run(folder, config, "--engine", "ray", "--shards", str(shards), "--address", cluster)
        assert f"on {shards} shard(s)" in result.stderr, result.stderr
        assert outputs(folder, OUTPUTS[name]) == expected, f"{shards} shards"
        assert not list((folder / "mdp-data").glob("*.shard-*")), "the shard files are joined"


def test_a_hundred_symbols_give_the_same_bars_and_counts_on_three_shards(tmp_path, cluster):
    write_ticks(
        tmp_path / "ticks.csv",
        make_ticks(30_000, step_ns=1_000_000, symbols=tuple(f"S{i}" for i in range(100))),
    )
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=0), encoding="utf-8")
    single = mdp_run(tmp_path, "hundred.yaml")
    expected = outputs(tmp_path, ["mdp-data/hundred.db"])
    sharded = mdp_run(tmp_path, "hundred.yaml", "--engine", "ray", "--shards", "3", "--address", cluster)
    assert outputs(tmp_path, ["mdp-data/hundred.db"]) == expected
    # per-shard counters are summed: the same summary lines as one process
    assert [line for line in single.stderr.splitlines() if line.startswith("  '")] == [
        line for line in sharded.stderr.splitlines() if line.startswith("  '")
    ]


SPLIT_AS_READ = """\
name: split
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: ticks.csv}}}}
    - {{id: before, type: operator.{before}}}
    - {{id: bars, type: operator.resample_ohlc, params: {{window: 1m}}}}
    - {{id: store, type: sink.store, params: {{url: "sqlite:///mdp-data/split.db"}}}}
  edges: [[ticks, before], [before, bars], [bars, store]]
"""
BEFORE = {  # a node before the exchange, and whether the replay can be split as it is read
    "filter, params: {where: 'size >= 2'}": True,
    "map, params: {fields: {symbol: 'symbol + \"X\"'}}": False,
}


@pytest.mark.parametrize("before", sorted(BEFORE))
def test_rows_set_aside_and_filtered_are_counted_once_whether_or_not_the_replay_is_split_as_read(
    tmp_path, cluster, before
):
    ticks = make_ticks(6_000, step_ns=1_000_000, symbols=tuple(f"S{i}" for i in range(30)))
    path = write_ticks(tmp_path / "ticks.csv", ticks)
    lines = path.read_text(encoding="utf-8").splitlines()
    bad = ["S1,not-a-time,1.0,1", "S2,1700000000000000000,nan,1", "S3,1", '"S4,1700000000000000000,1.0,1']
    for at, line in zip(range(100, 6_000, 1_400), bad):
        lines.insert(at, line)  # a bad row of a symbol's owner, and ones with no symbol to read
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "split.yaml").write_text(SPLIT_AS_READ.format(before=before), encoding="utf-8")
    explained = run(
        [MDP, "explain", "split.yaml", "--engine", "ray", "--shards", "3"], tmp_path, job_env(tmp_path)
    )
    assert ("split      'ticks'" in explained.stdout) == BEFORE[before], explained.stdout
    single = mdp_run(tmp_path, "split.yaml")
    expected = outputs(tmp_path, ["mdp-data/split.db"])
    sharded = mdp_run(tmp_path, "split.yaml", "--engine", "ray", "--shards", "3", "--address", cluster)
    assert outputs(tmp_path, ["mdp-data/split.db"]) == expected
    counts = summary_counts(single.stderr)
    assert sum("set aside by 'ticks'" in line for line in counts) == 4, single.stderr
    assert counts == summary_counts(sharded.stderr)


def summary_counts(stderr: str) -> list[str]:
    """The summary's lines of counters (not the time, nor how the job was split)."""
    return [line for line in stderr.splitlines() if line.startswith("  ") and not line.startswith("  on ")]


def start_two_shards(folder: Path, cluster: str) -> subprocess.Popen:
    """``mdp run hundred.yaml`` on two shards of ``cluster``, in the background."""
    command = [MDP, "run", "hundred.yaml", "--no-progress", "--engine", "ray", "--shards", "2"]
    return subprocess.Popen(
        [*command, "--address", cluster],
        cwd=folder,
        env=job_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_shard_is_run_again_and_the_table_is_the_undisturbed_one(tmp_path, cluster):
    write_ticks(tmp_path / "ticks.csv", make_ticks(20_000, symbols=tuple(f"S{i}" for i in range(10))))
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=0), encoding="utf-8")
    mdp_run(tmp_path, "hundred.yaml")
    expected = outputs(tmp_path, ["mdp-data/hundred.db"])
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=100), encoding="utf-8")  # about 2 s
    shutil.rmtree(tmp_path / "mdp-data")
    job = start_two_shards(tmp_path, cluster)
    try:
        wait_for(lambda: len(shard_workers()) == 2, 60, "two shards running", job)
        time.sleep(0.5)
        os.kill(shard_workers()[0], signal.SIGKILL)
        _out, err = job.communicate(timeout=TIMEOUT_S)
    finally:
        stop(job)
    assert job.returncode == 0, err
    assert outputs(tmp_path, ["mdp-data/hundred.db"]) == expected


def test_a_config_that_cannot_be_split_is_refused_at_its_line(tmp_path):
    (tmp_path / "live.yaml").write_text(
        "name: live\nrun: {engine: ray}\ndag:\n  nodes:\n"
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [A], count: 10}}\n"
        "    - {id: out, type: sink.null}\n  edges: [[ticks, out]]\n",
        encoding="utf-8",
    )
    result = run(
        [MDP, "run", "live.yaml"], tmp_path, job_env(tmp_path), check=False
    )  # run.engine asks for ray
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "live.yaml:5:" in result.stderr and "no stateful operator with a key" in result.stderr


def test_sigterm_cancels_the_shards_with_one_message(tmp_path, cluster):
    write_ticks(tmp_path / "ticks.csv", make_ticks(20_000, symbols=tuple(f"S{i}" for i in range(10))))
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=20), encoding="utf-8")  # about 10 s
    job = start_two_shards(tmp_path, cluster)
    try:
        wait_for(lambda: len(shard_workers()) == 2, 60, "two shards running", job)
        job.send_signal(signal.SIGTERM)
        _out, err = job.communicate(timeout=TIMEOUT_S)
    finally:
        stop(job)
    assert job.returncode == 1 and "Traceback" not in err, err
    assert err.rstrip().splitlines()[-1].startswith("error: job 'hundred': stopped by ")
    wait_for(lambda: not shard_workers(), 30, "the shards to be cancelled")


def test_checkpoints_asked_of_the_ray_engine_are_refused_not_ignored(tmp_path):
    write_ticks(tmp_path / "ticks.csv", make_ticks(100))
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=0), encoding="utf-8")
    command = [MDP, "run", "hundred.yaml", "--engine", "ray", "--checkpoint-dir", "ck"]
    result = run(command, tmp_path, job_env(tmp_path), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "the ray engine takes no checkpoints yet" in result.stderr
    assert not (tmp_path / "mdp-data" / "hundred.db").exists()


def test_a_cluster_address_where_nothing_answers_is_a_clear_error_not_a_wait(tmp_path):
    write_ticks(tmp_path / "ticks.csv", make_ticks(100))
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=0), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    command = [MDP, "run", "hundred.yaml", "--engine", "ray", "--address", address]
    result = run(command, tmp_path, job_env(tmp_path), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot reach the Ray cluster at {address}" in result.stderr
    assert time.monotonic() - started < 30  # Ray alone would retry for minutes


def test_a_replay_of_a_fifo_is_refused_on_shards_since_each_would_read_part_of_it(tmp_path, cluster):
    fifo = tmp_path / "ticks.csv"
    os.mkfifo(fifo)
    data = write_ticks(tmp_path / "source.csv", make_ticks(2_000)).read_bytes()

    def feed() -> None:
        try:
            with open(fifo, "wb") as pipe:  # waits for a reader
                pipe.write(data)
        except BrokenPipeError:  # the readers refused it
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    (tmp_path / "hundred.yaml").write_text(SYMBOLS_100.format(speed=0), encoding="utf-8")
    command = [MDP, "run", "hundred.yaml", "--no-progress", "--engine", "ray", "--address", cluster]
    result = run(command, tmp_path, job_env(tmp_path), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "not a regular file (a FIFO?): every shard reads the whole input" in result.stderr
    if writer.is_alive():  # no shard opened it: let the writer go
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    writer.join(10)
