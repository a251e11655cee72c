"""provider.replay over Parquet files and folders: the very ticks, set-aside rows and bars of the CSV."""

from __future__ import annotations

import asyncio
import csv
import gzip
import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse
from runtime_lib.errors import JobError
from runtime_lib.sources.replay import ReplaySource, read_ticks
from tests.support.jobs import CONFIGS, MDP, REPO, TIMEOUT_S, bar_rows, job_env, parse_summary, run

T0 = 1_710_509_400_000_000_000  # 2024-03-15T13:30:00Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TS_UTC = pa.timestamp("ns", tz="UTC")
SAMPLE = CONFIGS / "data" / "sample_ticks.csv.gz"


def parquet(path, columns: dict, **types) -> str:
    """Write ``columns`` (name: values, typed by ``types`` where given) as a Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: pa.array(values, types.get(name)) for name, values in columns.items()}
    pq.write_table(pa.table(arrays), path)
    return str(path)


def csv_file(path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows), encoding="utf-8")
    return str(path)


def read(path, **options) -> tuple[list[dict], list[tuple[str, str]]]:
    """The ticks of ``path`` and the (reason, detail) of each row set aside."""
    aside = []
    ticks = list(read_ticks(path, set_aside=lambda reason, detail: aside.append((reason, detail)), **options))
    return ticks, aside


def test_ticks_equal_those_of_the_same_rows_in_csv(tmp_path):
    rows = [
        ("AAPL", T0, 171.25, 100, 171.24, None, 300, None, "XNAS"),
        ("MSFT", T0 + 500_000_001, 415.5, 12.5, None, 415.6, None, 7, ""),
        ("AAPL", T0 + 1_000_000_000, 0.1, 0, 0.3, 0.30000000000000004, 0, 1, None),
    ]
    names = ("symbol", "ts", "price", "size", "bid", "ask", "bid_size", "ask_size", "exchange")
    text = [",".join("" if value is None else str(value) for value in row) for row in rows]
    expected, _ = read(csv_file(tmp_path / "t.csv", ",".join(names), text))
    assert expected[1] == {
        "symbol": "MSFT",
        "ts": T0 + 500_000_001,
        "price": 415.5,
        "size": 12.5,
        "ask": 415.6,
        "ask_size": 7,
    }
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}  # size: a float column
    for ts_type in (TS_UTC, pa.int64(), pa.timestamp("ns", tz="America/New_York")):
        ticks, aside = read(
            parquet(
                tmp_path / f"{ts_type}.parquet", columns, ts=ts_type, bid_size=pa.int64(), ask_size=pa.uint8()
            )
        )
        assert aside == []
        assert ticks == expected and [type(t["size"]) for t in ticks] == [float, float, float]
        assert [list(t) for t in ticks] == [list(t) for t in expected]  # the same fields, in the same order


def test_integer_sizes_stay_integers_and_microsecond_timestamps_are_exact(tmp_path):
    table = pa.table(
        {
            "ts": pa.array([T0 // 1000, T0 // 1000 + 1], pa.timestamp("us", tz="UTC")),
            "price": pa.array([1, 2], pa.int32()),
            "size": pa.array([3, 4], pa.int16()),
            "symbol": pa.array(["A", "B"]).dictionary_encode(),  # columns in any order, any text type
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    ticks, _ = read(str(tmp_path / "t.parquet"))
    assert ticks == [
        {"symbol": "A", "ts": T0, "price": 1.0, "size": 3},
        {"symbol": "B", "ts": T0 + 1000, "price": 2.0, "size": 4},
    ]
    assert [(type(t["price"]), type(t["size"])) for t in ticks] == [(float, int), (float, int)]


def test_bad_rows_are_set_aside_for_the_reasons_of_the_csv(tmp_path):
    rows = [
        ("AAA", T0, 10.5, 1, 1.0),
        ("", T0, 10.5, 1, None),
        (None, T0, 10.5, 1, None),
        ("AAA", None, 10.5, 1, None),
        ("AAA", T0, None, 1, None),
        ("AAA", T0, float("nan"), 1, None),
        ("AAA", T0, 10.5, None, None),
        ("AAA", T0, 10.5, -1, None),
        ("AAA", T0, 10.5, float("inf"), None),
        ("AAA", 10, 10.5, 1, None),
        ("AAA", T0, 10.5, 1, float("nan")),
        ("AAA", T0 + 1, 11.5, 2, None),
    ]
    names = ("symbol", "ts", "price", "size", "bid")
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    path = parquet(tmp_path / "t.parquet", columns, size=pa.float64())
    text = [",".join("" if v is None else str(v) for v in row) for row in rows]
    expected, csv_aside = read(csv_file(tmp_path / "t.csv", ",".join(names), text))
    ticks, aside = read(path)
    assert ticks == expected and len(ticks) == 2
    assert [reason for reason, _ in aside] == [reason for reason, _ in csv_aside]
    assert [reason for reason, _ in aside] == [
        "empty symbol",
        "empty symbol",
        "bad ts",
        "bad price",
        "price not finite",
        "bad size",
        "negative size",
        "size not finite",
        "ts out of range",
        "bid not finite",
    ]
    assert aside[2][1] == f"{path}: row 4: empty 'ts'"


def test_timestamps_in_seconds_stop_the_replay_before_the_first_tick(tmp_path):
    path = parquet(
        tmp_path / "s.parquet", {"symbol": ["A"], "ts": [T0 // 10**9], "price": [1.0], "size": [1]}
    )
    with pytest.raises(JobError, match=r"s.parquet: row 1: ts 1710509400 looks like seconds since the epoch"):
        read(path)
    later = parquet(
        tmp_path / "l.parquet",
        {"symbol": ["A", "A"], "ts": [T0, T0 // 10**9], "price": [1.0, 2.0], "size": [1, 1]},
    )
    ticks, aside = read(later)
    assert len(ticks) == 1 and aside[0][0] == "ts out of range" and "looks like seconds" in aside[0][1]


@pytest.mark.parametrize(
    "columns, types, message",
    [
        (
            {"symbol": ["A"], "ts": [T0], "price": [1.0], "size": [1]},
            {"ts": pa.timestamp("ns")},
            r"column 'ts' is timestamp\[ns\]; a timestamp without a time zone is not guessed",
        ),
        (
            {"symbol": ["A"], "ts": ["2024-03-15T13:30:00Z"], "price": [1.0], "size": [1]},
            {},
            r"column 'ts' is string; expected a timestamp",
        ),
        (
            {"symbol": ["A"], "ts": [T0], "price": ["1.0"], "size": [1]},
            {},
            r"column 'price' is string; expected numbers",
        ),
        (
            {"symbol": [1], "ts": [T0], "price": [1.0], "size": [1]},
            {},
            r"column 'symbol' is int64; expected text",
        ),
        (
            {"symbol": ["A"], "ts": [T0], "size": [1]},
            {},
            r"missing required column 'price' \(columns: symbol, ts, size\)",
        ),
    ],
)
def test_a_file_of_the_wrong_shape_stops_the_replay_naming_it(tmp_path, columns, types, message):
    path = parquet(tmp_path / "bad.parquet", columns, **types)
    with pytest.raises(JobError, match=f"^{tmp_path / 'bad.parquet'}: {message}"):
        read(path)


def test_a_file_that_is_not_parquet_or_missing_is_a_job_error(tmp_path):
    (tmp_path / "x.parquet").write_text("symbol,ts\n", encoding="utf-8")
    with pytest.raises(JobError, match=r"x.parquet: not a readable Parquet file"):
        read(str(tmp_path / "x.parquet"))
    with pytest.raises(JobError, match=r"gone.parquet: no such file"):
        read(str(tmp_path / "gone.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match=r"empty: the folder holds no .parquet files"):
        read(str(tmp_path / "empty"))


def test_a_hive_folder_gives_symbols_from_its_folders_in_sorted_file_order(tmp_path):
    table = pa.table(
        {
            "symbol": ["b/c", "A", "b/c", "A", "Z"],
            "ts": pa.array([T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5], TS_UTC),
            "price": [1.0, 2.0, 3.0, 4.0, 5.0],
            "size": [1, 2, 3, 4, 5],
        }
    )
    root = tmp_path / "ticks"
    ds.write_dataset(table, root, format="parquet", partitioning=["symbol"], partitioning_flavor="hive")
    assert "symbol" not in pq.read_schema(next(root.rglob("*.parquet"))).names  # only in the folder names
    (root / "_SUCCESS").write_text("", encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.parquet").write_text("not parquet", encoding="utf-8")
    ticks, _ = read(str(root))
    assert [(t["symbol"], t["price"]) for t in ticks] == [
        ("A", 2.0),
        ("A", 4.0),
        ("Z", 5.0),
        ("b/c", 1.0),
        ("b/c", 3.0),
    ]
    wanted, _ = read(str(root), symbols=["b/c"], ts_range=(T0 + 2, T0 + 100))
    assert [t["price"] for t in wanted] == [3.0]


def test_progress_counts_rows_against_the_total_in_the_footers(tmp_path):
    root = tmp_path / "ticks"
    for day, count in (("2024-03-15", 300), ("2024-03-16", 200)):
        columns = {
            "symbol": ["A"] * count,
            "ts": [T0 + i for i in range(count)],
            "price": [1.0] * count,
            "size": [1] * count,
        }
        parquet(root / f"date={day}" / "part-0.parquet", columns)
    source = ReplaySource("ticks", path=str(root), batch_size=100, symbols=("A",))
    seen = []

    async def consume() -> int:
        count = 0
        async for batch in source.batches():
            seen.append(source.progress())
            count += len(batch)
        return count

    assert asyncio.run(consume()) == 500
    assert seen[0] is not None and seen[-1] == (500, 500)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and {
        total for _, total in seen
    } == {500}


def sample_ticks() -> dict[str, list]:
    """The bundled sample's ticks read with csv and datetime only, as Parquet columns."""
    columns = {"symbol": [], "ts": [], "price": [], "size": []}
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as text:
        for row in csv.DictReader(text):
            delta = datetime.fromisoformat(row["ts"]) - EPOCH
            columns["symbol"].append(row["symbol"])
            columns["ts"].append(
                ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1_000
            )
            columns["price"].append(float(row["price"]))
            columns["size"].append(int(row["size"]))
    return columns


def bars_of(tmp_path, name: str, ticks_path: str):
    """The bars ``mdp run`` of the main bars config stores when it replays ``ticks_path``."""
    work = tmp_path / name
    work.mkdir()
    config = (CONFIGS / "dag" / "bars.yaml").read_text(encoding="utf-8")
    config = config.replace("configs/data/sample_ticks.csv.gz", ticks_path)
    (work / "bars.yaml").write_text(config, encoding="utf-8")
    result = run([MDP, "run", "bars.yaml", "--no-progress"], work, job_env(tmp_path))
    assert parse_summary(result.stderr).nodes["ticks"]["out"] == 20_000
    return bar_rows(work / "mdp-data" / "bars.db")


def test_the_bars_config_stores_the_same_bars_from_csv_and_parquet(tmp_path):
    columns = sample_ticks()
    table = pa.table({**columns, "ts": pa.array(columns["ts"], TS_UTC)})
    pq.write_table(table, tmp_path / "ticks.parquet", row_group_size=3_000)
    ds.write_dataset(
        table, tmp_path / "hive", format="parquet", partitioning=["symbol"], partitioning_flavor="hive"
    )
    expected = bars_of(tmp_path, "csv", str(SAMPLE))
    assert len(expected) > 1000
    assert bars_of(tmp_path, "parquet", str(tmp_path / "ticks.parquet")) == expected
    assert (
        bars_of(tmp_path, "folder", str(tmp_path / "hive")) == expected
    )  # per symbol, in the order of the CSV


def compile_errors(path: str) -> list[str]:
    text = f"""\
name: c
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: "{path}"}}}}
    - {{id: out, type: sink.null}}
  edges: [[ticks, out]]
"""
    try:
        analyse("c.yaml", text)
    except DiagnosticError as error:
        return [f"{d.span.line}:{d.span.column}: {d.message}" for d in error.diagnostics]
    return []


@pytest.mark.parametrize("path", ["t.csv", "t.CSV.gz", "ticks.parquet", "ticks/", "data/ticks", "ticks.fifo"])
def test_the_compiler_accepts_csv_parquet_and_folders(path):
    assert compile_errors(path) == []


@pytest.mark.parametrize(
    "path, what",
    [
        ("t.jsonl", "JSON lines"),
        ("t.pq", "Parquet under another name"),
        ("t.parquet.gz", "gzip-compressed Parquet"),
    ],
)
def test_the_compiler_refuses_other_formats_at_the_path(path, what):
    assert compile_errors(path) == [
        f"4:57: provider.replay reads CSV (.csv, .csv.gz) or Parquet (a .parquet file, or a folder of them); "
        f"{path!r} looks like {what}"
    ]


def test_without_pyarrow_parquet_input_and_output_say_what_to_install(tmp_path):
    script = (
        "import sys; sys.modules['pyarrow'] = None  # as if pyarrow were not installed\n"
        "from runtime_lib.errors import JobError\n"
        "from runtime_lib.sinks.parquet_sink import ParquetSink\n"
        "from runtime_lib.sources.replay import read_ticks\n"
        "for attempt in (lambda: list(read_ticks(sys.argv[1])), lambda: ParquetSink('out', path=sys.argv[2])):\n"
        "    try:\n"
        "        attempt()\n"
        "    except JobError as error:\n"
        "        print(error)\n"
    )
    path = parquet(tmp_path / "t.parquet", {"symbol": ["A"], "ts": [T0], "price": [1.0], "size": [1]})
    result = subprocess.run(
        [sys.executable, "-c", script, path, str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.stdout.splitlines() == [
        f"{path}: reading Parquet needs pyarrow: pip install 'mdp[parquet]'",
        "sink.parquet needs pyarrow: pip install 'mdp[parquet]'",
    ], result.stderr
