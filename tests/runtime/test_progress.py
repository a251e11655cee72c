"""Source.progress of replay and synthetic sources, and the progress bar drawn on a real terminal."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import re
import select
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from runtime_lib.progress import ProgressBar
from runtime_lib.sources.ibkr import IbkrSource
from runtime_lib.sources.replay import ReplaySource
from runtime_lib.sources.synthetic import SyntheticSource

T0 = 1_710_509_400_000_000_000
FAST = 0.05  # the redraw interval of the bars started here, in seconds
READ_TIMEOUT_S = 5.0
LINE = re.compile(r"\r  (?P<records>[\d,]+) records  (?P<rate>[\d,]+)/s(?P<rest>[^\r\x1b]*)\x1b\[K")


def write_ticks(path, rows: int) -> str:
    """A tick file of ``rows`` rows (gzip-compressed when the name ends in .gz); return its path."""
    text = "symbol,ts,price,size\n" + "".join(
        f"AAPL,{T0 + i},{100 + i % 50}.25,{1 + i % 9}\n" for i in range(rows)
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write(text)
    return str(path)


def take_batches(source, count: int | None) -> int:
    """Run ``source`` for ``count`` batches (all of them when None), counting its records on its
    stats as a run does; return the number of records."""

    async def run() -> int:
        stream, taken, records = source.batches(), 0, 0
        async for batch in stream:
            records += len(batch)
            source.stats.add(0, len(batch))
            taken += 1
            if count is not None and taken >= count:
                break
        await stream.aclose()
        return records

    return asyncio.run(run())


@pytest.fixture
def terminal():
    """A real pseudo-terminal: the stream to draw on (its slave side) and the master fd to read."""
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8")
    yield stream, master
    try:
        stream.close()
    except OSError:  # the terminal was closed under it on purpose
        pass
    try:
        os.close(master)
    except OSError:
        pass


class Screen:
    """What has been written to a terminal, read from its master side with a deadline."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.text = ""

    def read_for(self, seconds: float) -> str:
        """Read whatever arrives within ``seconds``; return all text read so far."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the slave side is closed
                    break
                self.text += data.decode()
        return self.text

    def wait_for(self, pattern: re.Pattern, after: int = 0) -> re.Match:
        """The first match of ``pattern`` in what is read from offset ``after`` on; fail after a while."""
        deadline = time.monotonic() + READ_TIMEOUT_S
        while (match := pattern.search(self.text, after)) is None:
            assert time.monotonic() < deadline, f"no {pattern.pattern!r} on the terminal in {self.text!r}"
            self.read_for(0.05)
        return match


def test_synthetic_progress_counts_ticks_against_count_and_endless_has_none():
    source = SyntheticSource("ticks", symbols=("AAPL",), count=1_000, batch_size=100)
    assert source.progress() == (0, 1_000)
    take_batches(source, 3)
    assert source.progress() == (300, 1_000)
    whole = SyntheticSource("ticks", symbols=("AAPL",), count=1_000, batch_size=300)
    take_batches(whole, None)
    assert whole.progress() == (1_000, 1_000)
    endless = SyntheticSource("ticks", symbols=("AAPL",), batch_size=100)
    take_batches(endless, 2)
    assert endless.progress() is None


@pytest.mark.parametrize("name", ["ticks.csv", "ticks.csv.gz"])
def test_replay_progress_is_bytes_read_of_the_file_size(tmp_path, name):
    path = write_ticks(tmp_path / name, 120_000)  # several 1 MiB blocks, even compressed
    size = os.path.getsize(path)
    source = ReplaySource("ticks", path=path, batch_size=1_000)
    assert source.progress() is None  # not open yet
    take_batches(source, 2)
    done, total = source.progress()
    assert total == size and 0 < done < size
    whole = ReplaySource("ticks", path=path, batch_size=1_000)
    take_batches(whole, None)
    assert whole.progress() == (size, size)


def test_replay_progress_read_from_another_thread_only_grows(tmp_path):
    path = write_ticks(tmp_path / "ticks.csv", 200_000)
    source = ReplaySource("ticks", path=path, batch_size=500)
    seen, finished = [], threading.Event()

    def watch() -> None:
        while not finished.is_set():
            seen.append(source.progress())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        take_batches(source, None)
    finally:
        finished.set()
        watcher.join(READ_TIMEOUT_S)
    known = [done for done, _total in filter(None, seen)]
    assert known == sorted(known) and known[-1] == os.path.getsize(path)
    assert len(set(known)) > 2  # it moved in steps as the file was read


def test_replay_from_a_fifo_has_no_progress(tmp_path):
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)
    text = "symbol,ts,price,size\n" + "".join(f"AAPL,{T0 + i},100.5,1\n" for i in range(50))

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as out:
            out.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    source = ReplaySource("ticks", path=str(fifo), batch_size=10)
    try:
        assert take_batches(source, None) == 50
    finally:
        writer.join(READ_TIMEOUT_S)
    assert source.progress() is None


def test_bar_shows_percent_and_eta_when_the_size_is_known(terminal):
    stream, master = terminal
    screen = Screen(master)
    source = SyntheticSource("ticks", symbols=("AAPL", "MSFT"), count=1_000, batch_size=100)
    take_batches(source, 5)
    sources: dict = {}
    bar = ProgressBar(sources, stream, interval=FAST).start()
    sources["ticks"] = source  # the run fills the dict once the bar has started
    match = screen.wait_for(LINE)
    assert match["records"] == "500"
    assert re.fullmatch(r"  50%  ETA \d+:\d\d", match["rest"]), match[0]
    take_batches(source, 3)
    later = screen.wait_for(re.compile(r"800 records  [\d,]+/s  80%  ETA \d+:\d\d\x1b\[K"), match.end())
    bar.stop()
    final = screen.wait_for(re.compile(LINE.pattern + r"\r?\n"), later.end())
    assert final["records"] == "800" and final["rest"] == "  80%"  # no ETA once stopped


def test_bar_without_known_size_shows_records_and_rate_only(terminal):
    stream, master = terminal
    screen = Screen(master)
    source = SyntheticSource("ticks", symbols=("AAPL",), batch_size=250)
    take_batches(source, 4)
    bar = ProgressBar.start_if_wanted({"ticks": source}, stream)  # the default interval
    assert bar is not None
    match = screen.wait_for(LINE)
    assert match["records"] == "1,000" and match["rest"] == ""
    bar.stop()
    assert "%" not in screen.read_for(0.2) and "ETA" not in screen.text


def test_bar_with_several_sources_counts_all_and_waits_for_the_least_advanced(terminal, tmp_path):
    stream, master = terminal
    screen = Screen(master)
    ahead = SyntheticSource("ahead", symbols=("AAPL",), count=1_000, batch_size=100)
    behind = SyntheticSource("behind", symbols=("MSFT",), count=1_000, batch_size=100)
    take_batches(ahead, 9)
    take_batches(behind, 2)
    bar = ProgressBar({"ahead": ahead, "behind": behind}, stream, interval=FAST).start()
    match = screen.wait_for(LINE)
    bar.stop()
    assert match["records"] == "1,100" and match["rest"].startswith("  20%  ETA ")


def test_no_bar_off_a_terminal_or_when_disabled(terminal):
    stream, master = terminal
    source = SyntheticSource("ticks", symbols=("AAPL",), count=10)
    not_a_terminal = io.StringIO()
    assert ProgressBar.start_if_wanted({"ticks": source}, not_a_terminal) is None
    assert ProgressBar.start_if_wanted({"ticks": source}, stream, enabled=False) is None
    time.sleep(2 * FAST)
    assert not_a_terminal.getvalue() == ""
    assert Screen(master).read_for(0.3) == ""
    assert all(t.name != "mdp-progress" for t in threading.enumerate())


def test_no_bar_for_a_live_source(terminal):
    stream, master = terminal
    live = IbkrSource("ib", symbols=("AAPL",), registry=CollectorRegistry())
    bar = ProgressBar({"ib": live}, stream, interval=FAST).start()
    time.sleep(4 * FAST)
    bar.stop()
    assert Screen(master).read_for(0.3) == ""


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_terminal_gone_ends_the_bar_quietly(terminal):
    stream, master = terminal
    screen = Screen(master)
    source = SyntheticSource("ticks", symbols=("AAPL",), count=100)
    bar = ProgressBar({"ticks": source}, stream, interval=FAST).start()
    screen.wait_for(LINE)
    os.close(master)  # writes to the terminal now fail
    time.sleep(4 * FAST)
    bar.stop()  # neither the thread nor stop raises
    bar.stop()
    assert all(t.name != "mdp-progress" for t in threading.enumerate())


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_closed_stream_ends_the_bar_quietly(terminal):
    stream, _master = terminal
    source = SyntheticSource("ticks", symbols=("AAPL",), count=100)
    bar = ProgressBar({"ticks": source}, stream, interval=FAST).start()
    stream.close()
    time.sleep(4 * FAST)
    bar.stop()
    assert all(t.name != "mdp-progress" for t in threading.enumerate())
