"""Store tests (SQLite and a throwaway PostgreSQL server), and the helpers they share: tick
files to replay, job configs that write them, and the tables' rows read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

START_NS = 1_710_000_000_000_000_000  # 2024-03-09T16:00:00Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAST_RETRY = "{max_attempts: 200, initial_backoff: 50ms, max_backoff: 200ms}"


def make_ticks(
    count: int, step_ns: int = 10_000_000, symbols: tuple[str, ...] = ("AAA", "BBB")
) -> list[dict]:
    """``count`` ticks ``step_ns`` apart, cycling through ``symbols``; every seventh repeats the
    tick before it exactly (two trades of one symbol, price and size at one nanosecond)."""
    ticks = []
    for i in range(count):
        if i % 7 == 6:
            ticks.append(dict(ticks[-1]))
            continue
        symbol = symbols[i % len(symbols)]
        ticks.append(
            {
                "symbol": symbol,
                "ts": START_NS + i * step_ns + 123,
                "price": 100.0 + (i % 13) * 0.25,
                "size": 1 + i % 5,
            }
        )
    return ticks


def write_ticks(path: Path, ticks: list[dict]) -> Path:
    """Write ``ticks`` as a replay CSV (ts as integer nanoseconds) and return ``path``."""
    lines = ["symbol,ts,price,size"] + [f"{t['symbol']},{t['ts']},{t['price']!r},{t['size']}" for t in ticks]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def store_config(
    name: str, ticks_csv: str, sinks: dict[str, str], speed: float = 0, window: str = "1s"
) -> str:
    """A job replaying ``ticks_csv`` (at ``speed``) into ``window`` bars; ``sinks`` maps each sink
    id to its ``type`` and ``params`` as YAML flow text; ids ending in ``ticks`` take the ticks,
    the others the bars."""
    nodes = [
        f"    - id: ticks\n      type: provider.replay\n      params: {{path: {ticks_csv}, speed: {speed}, batch_size: 64}}",
        f"    - id: bars\n      type: operator.resample_ohlc\n      params: {{window: {window}}}",
    ]
    edges = ["    - [ticks, bars]"]
    for sink_id, node in sinks.items():
        nodes.append(f"    - id: {sink_id}\n{node}")
        edges.append(f"    - [{'ticks' if sink_id.endswith('ticks') else 'bars'}, {sink_id}]")
    return (
        f"name: {name}\nmode: dag\ndag:\n  nodes:\n"
        + "\n".join(nodes)
        + "\n  edges:\n"
        + "\n".join(edges)
        + "\n"
    )


def store_node(url: str, table_mode: str = "bars", retry: str = FAST_RETRY) -> str:
    """The YAML of a ``sink.store`` node's type and params (for :func:`store_config`)."""
    return f'      type: sink.store\n      params: {{url: "{url}", table_mode: {table_mode}, retry: {retry}}}'


def ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of a timestamptz read back (microsecond precision)."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def stored_bars(postgres, database: str) -> int:
    """How many bars the job has committed so far."""
    try:
        return postgres.query(database, "SELECT count(*) FROM bars")[0][0]
    except Exception:  # the store has not created its table yet
        return 0
