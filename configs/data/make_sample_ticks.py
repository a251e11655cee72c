"""Write the bundled sample: one trading day of synthetic ticks for four symbols.

Run from the repository root::

    python configs/data/make_sample_ticks.py            # rewrites configs/data/sample_ticks.csv.gz
    python configs/data/make_sample_ticks.py --out x.gz  # writes elsewhere

The output is byte-identical on every run (fixed seed, gzip header without a timestamp), so
the committed file can be checked against a fresh one.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Lets the script run from a plain checkout, where the project is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import csv  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from runtime_lib.sources.synthetic import synthetic_ticks  # noqa: E402
from runtime_lib.timeutil import NS_PER_SECOND, parse_timestamp_ns  # noqa: E402

SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ")
SEED = 20240315
# 2024-03-15 is after the switch to daylight saving time (2024-03-10): New York is at -04:00.
NEW_YORK = timezone(timedelta(hours=-4))
SESSION_OPEN = "2024-03-15T09:30:00-04:00"
SESSION_SECONDS = 390 * 60  # 09:30 to 16:00
TICKS = 20_000
STEP_NS = SESSION_SECONDS * NS_PER_SECOND // TICKS  # 1.17 s, a whole number of microseconds
COLUMNS = ("symbol", "ts", "price", "size", "bid", "ask", "bid_size", "ask_size")
DEFAULT_OUT = Path(__file__).resolve().parent / "sample_ticks.csv.gz"
MEMBER_NAME = "sample_ticks.csv"


def format_ts(ns: int) -> str:
    """Render epoch nanoseconds as New York local time with microseconds and the offset.

    >>> format_ts(1_710_509_400_000_000_000)
    '2024-03-15T09:30:00.000000-04:00'
    """
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    if fraction % 1000:
        raise ValueError(f"{ns} is not a whole number of microseconds")
    moment = datetime.fromtimestamp(seconds, tz=NEW_YORK) + timedelta(microseconds=fraction // 1000)
    return moment.isoformat(timespec="microseconds")


def sample_csv() -> bytes:
    """Return the sample as uncompressed CSV bytes."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    start_ts = parse_timestamp_ns(SESSION_OPEN)
    for tick in synthetic_ticks(SYMBOLS, seed=SEED, count=TICKS, start_ts=start_ts, step_ns=STEP_NS):
        writer.writerow(
            (
                tick["symbol"],
                format_ts(tick["ts"]),
                f"{tick['price']:.2f}",
                tick["size"],
                f"{tick['bid']:.2f}",
                f"{tick['ask']:.2f}",
                tick["bid_size"],
                tick["ask_size"],
            )
        )
    return text.getvalue().encode("utf-8")


def write_sample(out: Path) -> int:
    """Write the gzip-compressed sample to ``out`` and return its size in bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=MEMBER_NAME, mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(sample_csv())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT.name})"
    )
    args = parser.parse_args(argv)
    size = write_sample(args.out)
    print(f"wrote {args.out} ({size} bytes, {TICKS} ticks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
