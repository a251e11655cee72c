"""sink.parquet: hive partitions that pandas, polars and DuckDB read back as the job's JSON lines."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compiler.components import parquet as parquet_component
from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse
from runtime_lib.errors import JobError
from runtime_lib.sinks import parquet_sink
from runtime_lib.sinks.parquet_sink import ParquetSink
from tests.support.jobs import MDP, job_env, parse_summary, run

T0 = 1_710_547_170_000_000_000  # 2024-03-15T23:59:30Z: the ticks run over midnight UTC
SECOND = 1_000_000_000
HOSTILE = ("AAPL", "a/b", "..", "x=y", "%41", "sp ace", "é", "007")
PART_GLOB = "**/*.parquet"
JOB = """\
name: parquet_out
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: ticks.csv}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1m}}
    - {id: bars_pq, type: sink.parquet, params: {path: out/bars, mode: MODE}}
    - {id: bars_jsonl, type: sink.jsonl, params: {path: out/bars.jsonl}}
    - {id: ticks_pq, type: sink.parquet, params: {path: out/ticks, rows_per_file: 7, mode: MODE}}
    - {id: ticks_jsonl, type: sink.jsonl, params: {path: out/ticks.jsonl}}
  edges: [[ticks, bars], [bars, bars_pq], [bars, bars_jsonl], [ticks, ticks_pq], [ticks, ticks_jsonl]]
"""


def tick_csv(path) -> None:
    """Ticks of hostile symbols a few seconds apart across midnight UTC, some with bid and exchange."""
    lines = ["symbol,ts,price,size,bid,exchange"]
    for i in range(96):
        symbol = HOSTILE[i % len(HOSTILE)]
        bid = f"{100 + i / 8 - 0.01}" if i % 3 else ""
        lines.append(
            f"{symbol},{T0 + i * 2 * SECOND},{100 + i / 8},{1 + i % 5},{bid},{'XNAS' if i % 2 else ''}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_job(tmp_path, mode: str = "append"):
    """Run the job of :data:`JOB` in ``tmp_path`` (ticks written first) and return its summary."""
    if not (tmp_path / "ticks.csv").exists():
        tick_csv(tmp_path / "ticks.csv")
    (tmp_path / "job.yaml").write_text(JOB.replace("MODE", mode), encoding="utf-8")
    result = run([MDP, "run", "job.yaml", "--no-progress"], tmp_path, job_env(tmp_path))
    return parse_summary(result.stderr)


def jsonl_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ordered(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (row["symbol"], row["ts"], json.dumps(row, sort_keys=True)))


def utc_day(ts: int) -> str:
    return datetime.fromtimestamp(ts // SECOND, tz=UTC).date().isoformat()


def as_records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Rows of a pandas frame as dicts of plain values, ``ts`` in integer nanoseconds, nulls left out."""
    records = []
    for row in frame.to_dict("records"):
        record = {name: row[name] for name in columns if not pd.isna(row[name])}
        record["ts"] = row["ts"].value
        record["symbol"] = str(row["symbol"])
        records.append(record)
    return records


def read_pandas(path) -> tuple[list[dict], list[str]]:
    frame = pd.read_parquet(path, engine="pyarrow")
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    dates = [str(day) for day in frame["date"]]
    return as_records(frame, [c for c in frame.columns if c != "date"]), dates


def read_polars(path) -> tuple[list[dict], list[str]]:
    frame = pl.read_parquet(str(path / PART_GLOB), hive_partitioning=True)
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    dates = [day.isoformat() for day in frame["date"]]
    frame = frame.with_columns(pl.col("ts").dt.epoch("ns"), pl.col("symbol").cast(pl.String)).drop("date")
    return [{k: v for k, v in row.items() if v is not None} for row in frame.to_dicts()], dates


def read_duckdb(path) -> tuple[list[dict], list[str]]:
    query = f"SELECT * REPLACE (epoch_ns(ts) AS ts) FROM read_parquet('{path / PART_GLOB}', hive_partitioning=true)"
    with duckdb.connect() as connection:
        cursor = connection.execute(query)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    dates = [row.pop("date").isoformat() for row in rows]
    return [{k: v for k, v in row.items() if v is not None} for row in rows], dates


@pytest.fixture(scope="module")
def job_output(tmp_path_factory):
    """The working directory of one run of :data:`JOB`, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("parquet_job")
    summary = run_job(root)
    assert summary.rows_written["ticks_pq"] == 96 and summary.rows_written["bars_pq"] > 16
    return root


@pytest.mark.parametrize(
    "reader", [read_pandas, read_polars, read_duckdb], ids=["pandas", "polars", "duckdb"]
)
def test_readers_get_the_rows_of_the_jsonl_sink(job_output, reader):
    for name in ("bars", "ticks"):
        expected = jsonl_rows(job_output / "out" / f"{name}.jsonl")
        rows, dates = reader(job_output / "out" / name)
        assert ordered(rows) == ordered(expected)  # floats compared exactly; sizes 3 == 3.0
        assert sorted(dates) == sorted(utc_day(row["ts"]) for row in expected)
        assert {row["symbol"] for row in rows} == set(HOSTILE)


def test_partitions_stay_inside_the_folder_with_encoded_names(job_output):
    root = job_output / "out" / "ticks"
    assert sorted(os.listdir(root)) == sorted(
        ["symbol=AAPL", "symbol=a%2Fb", "symbol=..", "symbol=x%3Dy", "symbol=%2541"]
        + ["symbol=sp%20ace", "symbol=%C3%A9", "symbol=007"]
    )
    for folder in os.listdir(root):
        assert sorted(os.listdir(root / folder)) == ["date=2024-03-15", "date=2024-03-16"]
        for day in os.listdir(root / folder):
            names = os.listdir(root / folder / day)
            assert names and all(parquet_sink.PART_FILE.match(name) for name in names)  # no temporary left
    assert sorted(os.listdir(job_output / "out")) == ["bars", "bars.jsonl", "ticks", "ticks.jsonl"]
    schema = pq.read_schema(next(root.glob(PART_GLOB)))
    assert str(schema.field("ts").type) == "timestamp[ns, tz=UTC]"
    assert schema.names[:4] == ["symbol", "ts", "price", "size"]  # in the order the fields came
    assert sorted(schema.names[4:]) == ["bid", "exchange"]


def test_append_adds_files_and_overwrite_replaces_the_partitions_it_writes(tmp_path):
    run_job(tmp_path)
    root = tmp_path / "out" / "ticks"
    first = sorted(path.name for path in root.glob(PART_GLOB))
    keep = root / "symbol=AAPL" / "date=2024-03-15" / "_notes.txt"  # a file of someone else's
    keep.write_text("mine", encoding="utf-8")
    untouched = root / "symbol=ZZZ" / "date=2024-03-15"  # a partition the job does not write
    untouched.mkdir(parents=True)
    table = pq.read_table(next(root.glob(PART_GLOB)))
    zzz = pa.array(["ZZZ"] * len(table)).dictionary_encode()
    pq.write_table(table.set_column(0, "symbol", zzz), untouched / "part-1-000000.parquet")

    run_job(tmp_path)  # append: the same rows again, in files of new names
    again = sorted(path.name for path in root.glob(PART_GLOB))
    assert len(again) == 2 * len(first) + 1 and set(first) < set(again)
    assert len(pd.read_parquet(root)) == 2 * 96 + len(pq.read_table(untouched / "part-1-000000.parquet"))

    run_job(tmp_path, mode="overwrite")
    frame = pd.read_parquet(root)
    assert (frame["symbol"] != "ZZZ").sum() == 96  # each partition written holds this run's rows only
    assert keep.read_text(encoding="utf-8") == "mine" and (untouched / "part-1-000000.parquet").exists()


def test_files_are_cut_at_rows_per_file_and_named_in_writing_order(tmp_path):
    sink = ParquetSink("out", path=str(tmp_path), rows_per_file=2)
    sink.write([{"symbol": "AAA", "ts": T0 + i, "price": float(i), "size": i} for i in range(5)])
    sink.close()
    files = sorted((tmp_path / "symbol=AAA" / "date=2024-03-15").iterdir())
    assert [pq.read_metadata(file).num_rows for file in files] == [2, 2, 1]
    assert [pq.read_table(file)["price"].to_pylist() for file in files] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert (sink.files_written, sink.rows_in_files) == (3, 5)


def test_the_buffer_bound_writes_every_partition(tmp_path):
    sink = ParquetSink("out", path=str(tmp_path), rows_per_file=100, max_buffered_rows=4)
    sink.write([{"symbol": s, "ts": T0, "price": 1.0, "size": 1} for s in ("A", "B", "C")])
    assert sink.files_written == 0
    sink.write([{"symbol": "D", "ts": T0, "price": 1.0, "size": 1}])
    assert sink.files_written == 4 and sink.rows_in_files == 4
    sink.close()
    assert sink.files_written == 4


def test_a_field_first_seen_after_the_first_file_is_left_out_with_a_warning(tmp_path, caplog):
    sink = ParquetSink("out", path=str(tmp_path), rows_per_file=1)
    sink.write([{"symbol": "A", "ts": T0, "price": 1.0, "size": 1, "note": None, "n": 3}])
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        sink.write([{"symbol": "A", "ts": T0 + 1, "price": 2.0, "size": 2, "bid": 1.5, "n": 4, "note": "x"}])
        sink.write([{"symbol": "B", "ts": T0 + 2, "price": 3.0, "size": 3.5, "bid": 2.5}])
    sink.close()
    warned = [record.getMessage() for record in caplog.records]
    assert len(warned) == 2 and "field 'bid' first had a value after" in warned[0] and "'note'" in warned[1]
    table = pq.read_table(tmp_path)
    assert table.schema.names[:5] == ["symbol", "ts", "price", "size", "n"]
    assert sorted(table["size"].to_pylist()) == [1.0, 2.0, 3.5] and sorted(table["n"].to_pylist()[:2]) == [
        3,
        4,
    ]


def test_a_value_that_does_not_fit_its_column_stops_the_job_clearly(tmp_path):
    sink = ParquetSink("out", path=str(tmp_path), rows_per_file=1)
    sink.write([{"symbol": "A", "ts": T0, "price": 1.0, "size": 1, "n": 3}])
    with pytest.raises(JobError, match=r"field 'n' holds a value that does not fit its column type int64"):
        sink.write([{"symbol": "A", "ts": T0, "price": 1.0, "size": 1, "n": "three"}])


@pytest.mark.parametrize(
    "record",
    [
        {"symbol": "", "ts": T0},
        {"symbol": None, "ts": T0},
        {"ts": T0},
        {"symbol": "A", "ts": "2024-03-15"},
        {"symbol": "A", "ts": 1.5e18},
    ],
)
def test_a_record_without_a_partition_is_refused_with_its_batch(tmp_path, record):
    sink = ParquetSink("out", path=str(tmp_path))
    good = {"symbol": "A", "ts": T0, "price": 1.0}
    with pytest.raises(JobError, match=r"record 2 of the batch cannot be partitioned"):
        sink.write([good, {**record, "price": 1.0}])
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_overwrite_removes_nothing_through_a_link_leading_outside(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "part-1-000000.parquet").write_bytes(b"not ours")
    root = tmp_path / "out"
    (root / "symbol=A").mkdir(parents=True)
    os.symlink(outside, root / "symbol=A" / "date=2024-03-15")
    sink = ParquetSink("out", path=str(root), mode="overwrite")
    sink.write([{"symbol": "A", "ts": T0, "price": 1.0}])
    with pytest.raises(JobError, match=r"leads outside"):
        sink.close()
    assert (outside / "part-1-000000.parquet").read_bytes() == b"not ours"


def test_a_path_that_is_a_file_is_refused_when_the_sink_starts(tmp_path):
    (tmp_path / "out").write_text("", encoding="utf-8")
    with pytest.raises(JobError, match=r"out: cannot create the folder"):
        ParquetSink("out", path=str(tmp_path / "out"))


def compile_errors(text: str) -> list[str]:
    with pytest.raises(DiagnosticError) as caught:
        analyse("c.yaml", text)
    return [f"{d.span.line}: {d.message}" for d in caught.value.diagnostics]


def test_the_compiler_checks_the_folder_against_other_files_and_a_date_field():
    text = """\
name: c
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: out/ticks}}
    - {id: dated, type: operator.map, params: {fields: {date: "ts // 86400000000000"}}}
    - {id: pq, type: sink.parquet, params: {path: out/ticks}}
    - {id: other, type: sink.jsonl, params: {path: ./out/ticks}}
  edges: [[ticks, dated], [dated, pq], [ticks, other]]
"""
    errors = compile_errors(text)
    assert any(e.startswith("6: the records have a field 'date'") for e in errors)
    assert any(e.startswith("6: sinks 'pq' and 'other' both write out/ticks") for e in errors)
    assert any(
        e.startswith("4: sink 'pq' would overwrite out/ticks, the input of source 'ticks'") for e in errors
    )


def test_the_compiler_needs_symbol_and_ts_upstream():
    text = """\
name: c
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: t.csv}}
    - {id: slim, type: operator.map, params: {fields: {p: price}, select: [p]}}
    - {id: pq, type: sink.parquet, params: {path: out}}
  edges: [[ticks, slim], [slim, pq]]
"""
    errors = compile_errors(text)
    assert errors == ["6: sink.parquet needs fields symbol, ts, which node 'slim' does not give"]


def test_the_compiler_defaults_are_the_sinks():
    assert parquet_component.DEFAULT_ROWS_PER_FILE == parquet_sink.DEFAULT_ROWS_PER_FILE
    assert parquet_component.DEFAULT_MAX_BUFFERED_ROWS == parquet_sink.DEFAULT_MAX_BUFFERED_ROWS
    assert (parquet_component.APPEND, parquet_component.PARTITION_DATE) == (
        parquet_sink.APPEND,
        parquet_sink.PARTITION_DATE,
    )
