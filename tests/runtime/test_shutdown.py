"""SIGTERM and SIGINT stop a live job cleanly: sources stop, windows flush, the store gets it all."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import pytest

from runtime_lib.sources.synthetic import DEFAULT_START_TS
from tests.support.jobs import (
    MDP,
    PYTHON,
    TIMEOUT_S,
    bar_rows,
    compile_config,
    job_env,
    parse_summary,
    stop,
    synthetic_config,
    wait_for,
)

RATE = 400  # ticks per second, paced: event time moves with wall time
STEP_NS = 1_000_000_000 // RATE
SECOND_NS = 1_000_000_000
CONFIG = synthetic_config(
    "live",
    rate=RATE,
    nodes="""\
    - id: bars_1s
      type: operator.resample_ohlc
      params: {window: 1s}
    - id: store
      type: sink.store
      params: {url: "sqlite:///out/live.db"}""",
    edges="""\
    - [ticks, bars_1s]
    - [bars_1s, store]""",
)


@pytest.fixture(scope="module")
def live_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    config = folder / "live.yaml"
    config.write_text(CONFIG)
    return compile_config(config, folder / "live.py")


def interrupt(command: list[str], cwd, env, sig: signal.Signals) -> tuple[int, str]:
    """Start a job, signal it mid-window once it has stored its first bars; return status, stderr."""
    db = cwd / "out" / "live.db"
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(db.exists, 20, "the first stored bars", process)
        time.sleep(0.5)  # about 1.5 s into the run: in the middle of a window
        assert process.poll() is None
        process.send_signal(sig)
        _out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop(process)
    return process.returncode, err


def assert_everything_stored(err: str, db) -> None:
    summary = parse_summary(err)
    ticks = summary.nodes["ticks"]["out"]
    assert ticks > RATE  # more than a second of ticks, so a window closed before the signal
    assert summary.nodes["bars_1s"]["in"] == ticks
    assert summary.nodes["bars_1s"]["late"] == 0
    rows = bar_rows(db)
    assert summary.rows_written["store"] == summary.nodes["bars_1s"]["out"] == len(rows)
    # Every tick is in a stored bar, the last (partial) window included.
    assert sum(row[8] for row in rows) == ticks
    per_window = Counter()
    for i in range(ticks):
        ts = DEFAULT_START_TS + i * STEP_NS
        per_window[ts - ts % SECOND_NS] += 1
    stored = Counter()
    for _symbol, _interval, ts, *_prices, _volume, count, _vwap in rows:
        stored[ts] += count
    # The window of the last tick can only have been released by the flush on the signal: no
    # later tick moved the watermark past its end.
    assert stored == per_window


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_flushes_and_exits_zero(tmp_path, live_module, sig):
    status, err = interrupt([PYTHON, str(live_module)], tmp_path, job_env(tmp_path), sig)
    assert status == 0, err
    assert "Traceback" not in err
    assert_everything_stored(err, tmp_path / "out" / "live.db")


def test_ctrl_c_on_mdp_run_flushes_and_exits_zero(tmp_path):
    (tmp_path / "live.yaml").write_text(CONFIG)
    status, err = interrupt([MDP, "run", "live.yaml"], tmp_path, job_env(tmp_path), signal.SIGINT)
    assert status == 0, err
    assert "Traceback" not in err
    assert_everything_stored(err, tmp_path / "out" / "live.db")
