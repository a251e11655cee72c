"""configure_logging and lifecycle: JSON lines and text lines as a job's real stderr shows them."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runtime_lib.log_format import LIFECYCLE_EVENTS, JsonFormatter, configure_logging, lifecycle

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30
ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<rest>.*)")

SCRIPT = """
import logging, pathlib, sys
from runtime_lib.log_format import configure_logging, lifecycle

configure_logging("INFO", "text")  # configured twice: the second call replaces the first
configure_logging("INFO", sys.argv[1])
log = logging.getLogger("mdp.job")
lifecycle("start", "job 'bars' started", job="bars", mode="dag", config=pathlib.Path("bars.yaml"))
log.info("plain %s line", "old\\nstyle")
log.debug("not shown at INFO")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("sink 'store' failed")
lifecycle("reconnect", "ib: lost the connection to 127.0.0.1:4002", node="ib", address="127.0.0.1:4002")
lifecycle("flush", "flushed 50% of it", node="bars", rows=3, odd={(1, 2): object()})
"""


def stderr_of(script: str, *args: str) -> list[str]:
    """The lines a ``python -c script args`` process writes to stderr."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


@pytest.fixture
def root_logger():
    """The root logger, with its handlers and level put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_event_fields_and_exception():
    lines = stderr_of(SCRIPT, "json")
    records = [json.loads(line) for line in lines]  # every line is one whole JSON object
    assert [r["event"] for r in records] == ["start", "log", "log", "reconnect", "flush"]
    for record in records:
        assert ISO_UTC_MS.fullmatch(record["ts"]), record["ts"]
        assert list(record)[:5] == ["ts", "level", "logger", "event", "message"]
    start, plain, failure, reconnect, flush = records
    assert start == {
        "ts": start["ts"],
        "level": "INFO",
        "logger": "mdp.lifecycle",
        "event": "start",
        "message": "job 'bars' started",
        "job": "bars",
        "mode": "dag",
        "config": "bars.yaml",
    }
    assert plain["message"] == "plain old\nstyle line" and plain["logger"] == "mdp.job"
    assert failure["level"] == "ERROR" and failure["message"] == "sink 'store' failed"
    assert failure["exc"].startswith("Traceback") and "ZeroDivisionError: division by zero" in failure["exc"]
    assert reconnect["level"] == "WARNING" and reconnect["node"] == "ib"
    assert reconnect["address"] == "127.0.0.1:4002"
    assert flush["message"] == "flushed 50% of it" and flush["rows"] == 3
    assert flush["odd"].startswith("{(1, 2): <object object at ")  # JSON cannot hold it: its str


def test_text_lines_keep_the_format_of_before():
    lines = stderr_of(SCRIPT, "text")
    rest = [match["rest"] for match in map(TEXT_LINE.fullmatch, lines) if match]
    assert rest == [
        "INFO mdp.lifecycle: job 'bars' started",  # the message only: no fields
        "INFO mdp.job: plain old",
        "ERROR mdp.job: sink 'store' failed",
        "WARNING mdp.lifecycle: ib: lost the connection to 127.0.0.1:4002",
        "INFO mdp.lifecycle: flushed 50% of it",
    ]
    assert lines[2] == "style line" and lines[4] == "Traceback (most recent call last):"
    before = stderr_of("""
        import logging
        logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("mdp.job").info("same")
        """)
    now = stderr_of("""
        import logging
        from runtime_lib.log_format import configure_logging
        configure_logging("INFO")
        logging.getLogger("mdp.job").info("same")
        """)
    assert [TEXT_LINE.fullmatch(line)["rest"] for line in before + now] == ["INFO mdp.job: same"] * 2


def test_on_a_terminal_each_record_first_clears_the_line():
    master, slave = os.openpty()
    try:
        job = subprocess.Popen(
            [sys.executable, "-c", "from runtime_lib.log_format import *; configure_logging('INFO');"
             "lifecycle('stop', 'job stopped')"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=slave,
        )  # fmt: skip
        os.close(slave)
        text, deadline = b"", time.monotonic() + TIMEOUT_S
        while b"\n" not in text and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    text += os.read(master, 4096)
                except OSError:  # the process ended and closed the terminal
                    break
        assert job.wait(TIMEOUT_S) == 0
    finally:
        os.close(master)
    assert text.startswith(b"\r\x1b[K") and text.rstrip().endswith(b"INFO mdp.lifecycle: job stopped")


def test_configuring_again_replaces_the_handler_and_keeps_others(root_logger):
    other = logging.NullHandler()
    root_logger.addHandler(other)
    configure_logging("WARNING", "json")
    configure_logging("DEBUG", "text")
    [to_stderr] = [h for h in root_logger.handlers if getattr(h, "stream", None) is sys.stderr]
    assert not isinstance(to_stderr.formatter, JsonFormatter)
    assert other in root_logger.handlers and root_logger.level == logging.DEBUG


def test_mistakes_are_value_errors(root_logger):
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")
    with pytest.raises(ValueError, match="unknown lifecycle event 'started'"):
        lifecycle("started", "job started")
    with pytest.raises(ValueError, match="may not be named event, message"):
        lifecycle("start", "job started", message="x", event="y", job="bars")
    assert "error" in LIFECYCLE_EVENTS
