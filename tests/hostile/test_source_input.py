"""Sources check what they read: implausible rows are set aside and counted, broken files stop
the job with file and line, long lines cannot exhaust memory, and a FIFO never blocks the loop."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from runtime_lib.errors import JobError
from runtime_lib.sources.replay import ReplaySource, read_ticks
from runtime_lib.stats import NodeStats
from runtime_lib.timeutil import utc_ns
from tests.support.jobs import MDP, TIMEOUT_S, job_env, parse_summary, run, stop, wait_for

HEADER = "symbol,ts,price,size\n"
T0 = 1_710_509_400_000_000_000  # 2024-03-15T13:30:00Z
GOOD = [f"AAA,{T0 + i * 1_000_000_000},10.0,{100 + i}\n" for i in range(8)]
BAD = {
    "ts out of range": [
        f"AAA,{2**63 + 5},10.0,1\n",
        "AAA,1700000000,10.0,1\n",
        "AAA,1985-01-01T00:00:00Z,10.0,1\n",
    ],
    "negative size": [f"AAA,{T0},10.0,-5\n"],
    "price not finite": [f"AAA,{T0},nan,1\n", f"AAA,{T0},1e999,1\n"],
    "size not finite": [f"AAA,{T0},10.0,inf\n"],
    "size out of range": [f"AAA,{T0},10.0,{2**63}\n"],
    "bad price": [f"AAA,{T0},ten,1\n"],
    "bad ts": [f"AAA,{T0 // 10**9}.5,10.0,1\n", "AAA,2024-03-15T09:30:00,10.0,1\n"],
    "wrong field count": [f"AAA,{T0},10.0\n"],
    "empty symbol": [f",{T0},10.0,1\n"],
}


def mixed_file(tmp_path):
    """Four good rows, then the bad rows, then four more good rows (sizes 100 to 107, 1 s apart)."""
    bad = [row for rows in BAD.values() for row in rows]
    path = tmp_path / "mixed.csv"
    path.write_text(HEADER + "".join(GOOD[:4] + bad + GOOD[4:]), encoding="utf-8")
    return path


def replay(path, **params) -> tuple[list[dict], NodeStats]:
    """Run a ReplaySource over ``path`` in-process: its ticks and its counters."""
    source = ReplaySource("ticks", path=str(path), **params)
    source.stats = stats = NodeStats("ticks", "provider.replay")

    async def collect() -> list[dict]:
        return [tick async for batch in source.batches() for tick in batch]

    return asyncio.run(collect()), stats


def test_rows_that_are_not_ticks_are_set_aside_counted_by_reason(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "mdp.job")
    path = mixed_file(tmp_path)
    ticks, stats = replay(path)
    assert [t["size"] for t in ticks] == list(range(100, 108))
    assert stats.set_aside == {reason: len(rows) for reason, rows in BAD.items()}
    logged = [r.getMessage() for r in caplog.records]
    assert (
        f"node 'ticks' set aside a record (ts out of range): {path}:6: ts {2**63 + 5} "
        "is outside ts_range 1990-01-01..2100-01-01"
    ) in logged
    assert f"node 'ticks' set aside a record (negative size): {path}:9: size -5 is negative" in logged
    assert (
        f"node 'ticks' set aside a record (price not finite): {path}:10: "
        "'price' is not a finite number: 'nan'"
    ) in logged


def test_a_seconds_value_among_nanoseconds_is_set_aside_with_the_unit_it_looks_like(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "mdp.job")
    path = mixed_file(tmp_path)
    replay(path)
    assert (
        f"node 'ticks' set aside a record (ts out of range): {path}:7: ts 1700000000 is outside ts_range "
        "1990-01-01..2100-01-01; it looks like seconds since the epoch, and ts must be integer nanoseconds"
    ) in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    ("ts", "unit"),
    [
        (1_700_000_000, "seconds"),
        (1_700_000_000_000, "milliseconds"),
        (1_700_000_000_000_000, "microseconds"),
    ],
)
def test_a_file_whose_first_timestamps_are_in_a_coarser_unit_stops_the_replay(tmp_path, ts, unit):
    path = tmp_path / "coarse.csv"
    path.write_text(HEADER + f"AAA,{ts},10.0,1\nAAA,{ts + 1},10.0,1\n", encoding="utf-8")
    with pytest.raises(JobError) as caught:
        replay(path)
    assert str(caught.value) == (
        f"{path}:2: ts {ts} looks like {unit} since the epoch; "
        "ts must be integer nanoseconds (or ISO-8601 with an offset)"
    )


def test_ts_range_sets_the_plausible_range(tmp_path):
    path = mixed_file(tmp_path)
    ticks, stats = replay(path, ts_range=(T0 + 1_000_000_000, utc_ns(2024, 3, 16)))
    assert [t["size"] for t in ticks] == list(range(101, 108))
    # ts is checked before price and size: the rows at T0 are now out of range, whatever else they hold
    assert stats.set_aside == {"ts out of range": 10, "bad ts": 2, "wrong field count": 1, "empty symbol": 1}


def test_a_byte_order_mark_before_the_header_is_read_as_nothing(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD[0]).encode())
    assert list(read_ticks(str(path))) == [{"symbol": "AAA", "ts": T0, "price": 10.0, "size": 100}]


def test_a_header_that_is_not_utf8_stops_the_replay(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes((HEADER + GOOD[0]).encode("utf-16"))
    with pytest.raises(JobError) as caught:
        replay(path)
    assert str(caught.value) == f"{path}:1: the header is not a line of UTF-8 CSV"


def test_a_row_with_an_open_quote_or_bytes_that_are_not_utf8_is_set_aside_alone(tmp_path):
    path = tmp_path / "garbled.csv"
    open_quote = f'"AAA,{T0},10.0,1\n'
    path.write_bytes(
        (HEADER + GOOD[0] + open_quote + GOOD[1]).encode() + b"AAA,\xff,10.0,1\n" + GOOD[2].encode()
    )
    ticks, stats = replay(path)
    assert [t["size"] for t in ticks] == [100, 101, 102]
    assert stats.set_aside == {"open quote": 1, "not UTF-8": 1}


def test_a_quote_left_open_on_the_last_line_is_set_aside(tmp_path):
    path = tmp_path / "tail.csv"
    path.write_text(HEADER + GOOD[0] + f'AAA,{T0},10.0,"1', encoding="utf-8")
    ticks, stats = replay(path)
    assert [t["size"] for t in ticks] == [100]
    assert stats.set_aside == {"open quote": 1}


def test_the_replay_waits_for_a_fifo_writer_without_blocking_the_event_loop(tmp_path):
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)
    source = ReplaySource("ticks", path=str(fifo))
    beats = 0

    async def main() -> list[dict]:
        nonlocal beats
        reading = asyncio.ensure_future(_first_batch(source))
        while beats < 20:  # 0.2 s in which the loop keeps running while open() waits for a writer
            await asyncio.sleep(0.01)
            beats += 1
        assert not reading.done()
        writer = threading.Thread(
            target=lambda: fifo.write_text(HEADER + "".join(GOOD[:4]), encoding="utf-8")
        )
        writer.start()
        batch = await asyncio.wait_for(reading, 10)
        writer.join()
        return batch

    assert [t["size"] for t in asyncio.run(main())] == [100, 101, 102, 103]
    assert beats == 20


async def _first_batch(source: ReplaySource) -> list[dict]:
    stream = source.batches()
    try:
        return await stream.__anext__()
    finally:
        await stream.aclose()


# -- end to end: mdp run ------------------------------------------------------------------------

REPLAY_TO_BARS = """\
name: hostile
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {{path: {path}{extra}}}
    - id: bars_1m
      type: operator.resample_ohlc
      params: {{window: 1m}}
    - id: store
      type: sink.store
      params: {{url: "sqlite:///bars.db"}}
  edges:
    - [ticks, bars_1m]
    - [bars_1m, store]
"""


def volumes(db) -> list[int]:
    """The volume of every bar in ``db``, in time order."""
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT volume FROM bars ORDER BY ts")]


def job(tmp_path, data, extra: str = "") -> subprocess.CompletedProcess:
    """``mdp run`` a replay of ``data`` into 1-minute bars in ``tmp_path/bars.db``."""
    config = tmp_path / "job.yaml"
    config.write_text(REPLAY_TO_BARS.format(path=data, extra=extra), encoding="utf-8")
    return run([MDP, "run", str(config)], cwd=tmp_path, env=job_env(tmp_path), check=False)


def test_a_job_counts_set_aside_rows_in_its_summary_and_writes_only_good_ticks(tmp_path):
    result = job(tmp_path, mixed_file(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert summary.set_aside == {"ticks": {reason: len(rows) for reason, rows in BAD.items()}}
    assert summary.nodes["ticks"]["out"] == 8
    assert volumes(tmp_path / "bars.db") == [sum(range(100, 108))]  # the good ticks alone, in one bar


def test_a_file_of_nothing_but_bad_rows_fails_the_job(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_text(
        HEADER + "".join(row for rows in BAD.values() for row in rows if "1700000000," not in row)
    )
    result = job(tmp_path, path)
    assert result.returncode == 1
    assert "error: 'ticks' set aside every record it received (see the warnings above)" in result.stderr
    assert sum(parse_summary(result.stderr).set_aside["ticks"].values()) == 12


def test_seconds_in_the_first_row_stop_the_job_with_file_and_line(tmp_path):
    path = tmp_path / "seconds.csv"
    path.write_text(HEADER + "AAA,1700000000,10.0,1\n", encoding="utf-8")
    result = job(tmp_path, path)
    assert result.returncode == 1
    assert (
        f"error: {path}:2: ts 1700000000 looks like seconds since the epoch; "
        "ts must be integer nanoseconds (or ISO-8601 with an offset)"
    ) in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stderr.write(done.stderr)\n"
)


@pytest.mark.parametrize(("name", "megabytes"), [("long.csv", 20), ("long.csv.gz", 200)])
def test_a_huge_line_stops_the_job_before_it_is_read_into_memory(tmp_path, name, megabytes):
    path = tmp_path / name
    with gzip.open(path, "wb", compresslevel=1) if name.endswith(".gz") else open(path, "wb") as out:
        out.write(HEADER.encode() + GOOD[0].encode())
        chunk = b"A" * (1 << 20)
        for _ in range(megabytes):
            out.write(chunk)
        out.write(b",1,1,1\n")
    config = tmp_path / "job.yaml"
    config.write_text(REPLAY_TO_BARS.format(path=path, extra=""), encoding="utf-8")
    probe = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, MDP, "run", str(config)],
        cwd=tmp_path,
        env=job_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    status, peak_kib = map(int, probe.stdout.split())
    assert status == 1, probe.stderr
    assert (
        f"error: {path}:3: line longer than 1048576 bytes (max_line_bytes); is this a CSV file of ticks?"
        in probe.stderr
    )
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"  # a whole-line read would take gigabytes


def test_max_line_bytes_lowers_the_bound(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + GOOD[0] + "AAA," + "9" * 300 + ",10.0,1\n", encoding="utf-8")
    result = job(tmp_path, path, extra=", max_line_bytes: 256")
    assert result.returncode == 1
    assert (
        f"error: {path}:3: line longer than 256 bytes (max_line_bytes); is this a CSV file of ticks?"
        in result.stderr
    )


REPLAY_TO_JSONL = """\
name: fifo
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {{path: {path}}}
    - id: out
      type: sink.jsonl
      params: {{path: out.jsonl}}
  edges:
    - [ticks, out]
"""


def fifo_job(tmp_path) -> tuple[subprocess.Popen, os.PathLike]:
    """Start ``mdp run`` of a replay from a FIFO into ``out.jsonl``; wait until it runs (its sink
    has created the file) and return the process and the FIFO."""
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)
    config = tmp_path / "job.yaml"
    config.write_text(REPLAY_TO_JSONL.format(path=fifo), encoding="utf-8")
    process = subprocess.Popen(
        [MDP, "run", str(config)],
        cwd=tmp_path,
        env=job_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (tmp_path / "out.jsonl").exists(), TIMEOUT_S, "the job to start", process)
    except BaseException:
        stop(process)
        raise
    return process, fifo


def test_sigterm_stops_a_replay_that_waits_for_a_fifo_writer(tmp_path):
    process, _fifo = fifo_job(tmp_path)
    try:
        time.sleep(1.0)  # the replay now waits in open() for a writer that never comes
        assert process.poll() is None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=TIMEOUT_S)
        assert time.monotonic() - started < 10
    finally:
        stop(process)
    assert process.returncode == 0, err  # a clean stop, not the hard exit of a job that hung
    assert parse_summary(err).nodes["ticks"]["out"] == 0


def test_a_fifo_replays_what_its_writer_sends(tmp_path):
    process, fifo = fifo_job(tmp_path)
    try:
        fifo.write_text(HEADER + "".join(GOOD[:4]), encoding="utf-8")
        _out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 0, err
    assert parse_summary(err).nodes["ticks"]["out"] == 4
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["size"] for line in lines] == [100, 101, 102, 103]


def test_an_endless_synthetic_source_with_the_largest_batches_stops_on_time(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: endless\ndag:\n  nodes:\n"
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], batch_size: 100000}}\n"
        "    - {id: out, type: sink.null, params: {}}\n"
        "  edges:\n    - [ticks, out]\n",
        encoding="utf-8",
    )
    result = run(
        [MDP, "run", str(config), "--duration", "2"], cwd=tmp_path, env=job_env(tmp_path), check=False
    )
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert summary.elapsed_s < 10
    assert summary.nodes["ticks"]["out"] >= 100_000
