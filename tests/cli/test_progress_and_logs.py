"""``mdp run`` and ``python module.py`` as an operator sees them: a progress line on a terminal
only, and ``--log-format json`` giving one JSON object per line with the lifecycle events."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess

from tests.support.jobs import BARS_CONFIG, MDP, PYTHON, TIMEOUT_S, job_env, make_layout, run

PROGRESS = re.compile(r"[\d,]+ records +[\d,]+/s")  # what every progress line starts with


def run_on_terminal(args: list[str], cwd, env) -> tuple[int, str]:
    """Run ``args`` with stderr on a real pseudo-terminal; return the exit status and what it drew."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    drawn = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], TIMEOUT_S)
            assert ready, "the job wrote nothing for a minute"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the job has exited
                break
            if not chunk:
                break
            drawn += chunk
        status = process.wait(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return status, drawn.decode("utf-8", "replace")


def test_a_replay_on_a_terminal_shows_its_progress_to_100_percent(tmp_path):
    root = make_layout(tmp_path / "work")
    status, drawn = run_on_terminal([MDP, "run", BARS_CONFIG], root, job_env(tmp_path))
    assert status == 0, drawn
    lines = [line for line in drawn.replace("\r\n", "\n").split("\r") if PROGRESS.search(line)]
    assert lines, f"no progress line on the terminal:\n{drawn}"
    final = lines[-1]
    assert "20,000 records" in final and "100%" in final, final
    assert "job 'bars' finished" in drawn  # the summary still follows


def test_no_progress_line_with_no_progress_or_off_a_terminal(tmp_path):
    root = make_layout(tmp_path / "work")
    status, drawn = run_on_terminal([MDP, "run", BARS_CONFIG, "--no-progress"], root, job_env(tmp_path))
    assert status == 0 and not PROGRESS.search(drawn), drawn
    piped = run([MDP, "run", BARS_CONFIG], root, job_env(tmp_path))
    assert not PROGRESS.search(piped.stderr), piped.stderr
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as JSON (the test fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines()]


def test_json_logs_are_one_object_per_line_with_the_lifecycle_events(tmp_path):
    root = make_layout(tmp_path / "work")
    result = run([MDP, "run", BARS_CONFIG, "--log-format", "json"], root, job_env(tmp_path))
    entries = json_lines(result.stderr)
    assert [entry["event"] for entry in entries] == ["start", "flush", "stop"]  # never one per record
    start, flush, stop = entries
    assert (start["job"], start["mode"], start["sources"]) == ("bars", "dag", ["ticks"])
    assert flush["operators"] == ["bars_1m"]
    assert stop["status"] == 0 and stop["error"] is None
    assert stop["rows_written"]["store"] == stop["nodes"]["store"]["events_in"] > 0
    assert all(entry["ts"].endswith("Z") and entry["level"] == "INFO" for entry in entries)


def test_a_failing_job_in_json_ends_with_an_error_event_and_no_plain_text(tmp_path):
    root = make_layout(tmp_path / "work")
    (root / "data").mkdir(exist_ok=True)
    config = root / "configs" / "dag" / "bars.yaml"
    config.write_text(config.read_text().replace("configs/data/sample_ticks.csv.gz", "data/missing.csv"))
    result = run([MDP, "run", BARS_CONFIG, "--log-format", "json"], root, job_env(tmp_path), check=False)
    assert result.returncode == 1
    entries = json_lines(result.stderr)
    assert [entry["event"] for entry in entries][-2:] == ["stop", "error"]
    error = entries[-1]
    assert error["level"] == "WARNING" and "missing.csv" in error["error"], error


def test_the_generated_module_takes_the_same_log_format(tmp_path):
    root = make_layout(tmp_path / "work")
    result = run(
        [PYTHON, "generated/bars.py", "--log-format", "json", "--no-progress"], root, job_env(tmp_path)
    )
    assert [entry["event"] for entry in json_lines(result.stderr)] == ["start", "flush", "stop"]
