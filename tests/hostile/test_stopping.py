"""A job always stops: SIGTERM, SIGINT and ``--duration`` act within a bound however it is blocked.

Each job here is stuck on purpose (a plugin that loops, an expression that computes for
minutes while holding the GIL, a stdout nobody reads). The first signal or the end of
``--duration`` starts the grace period; when it ends, or on a second signal, the job exits
with 124 or 128 + the signal number and says what it did not flush.
"""

from __future__ import annotations

import fcntl
import re
import signal
import struct
import subprocess
import termios
import time

import pytest

from tests.hostile.stopping_plugins import STARTED
from tests.support.jobs import (
    MDP,
    PYTHON,
    REPO,
    TIMEOUT_S,
    compile_config,
    job_env,
    parse_summary,
    stop,
    wait_for,
)

PIPE_FULL = 60_000  # bytes: about all that Linux's default 64 KiB pipe holds (its pages are not all full)
GRACE_S = 2
BOUND_S = GRACE_S + 5  # how long after the stop request the job may take to exit, generously
SOURCE = "{symbols: [AAA, BBB], seed: 7, rate: 0, batch_size: 64}"
HELD = "the open windows and held records of 'bars'"
BLOCKED_PUSH = (
    r"the push of a batch of 64 records from 'ticks' has not returned after \d+\.\d s "
    r"\(a plugin function or an expression that does not end\?\)"
)
CONFIGS = {
    # ticks -> bars -> a plugin that never returns: the first released bars get stuck.
    "spinning": """\
    - {id: bars, type: operator.resample_ohlc, params: {window: 1ms}}
    - {id: stuck, type: operator.map, params: {fn: "tests.hostile.stopping_plugins:spin"}}
    - {id: out, type: sink.null}
  edges:
    - [ticks, bars]
    - [bars, stuck]
    - [stuck, out]
""",
    # One record's expression computes for minutes inside a C call that holds the GIL.
    "heavy": """\
    - {id: mark, type: operator.map, params: {fn: "tests.hostile.stopping_plugins:announce"}}
    - {id: heavy, type: operator.map, params: {fields: {digit: "size ** (size * 10000000) % 7"}}}
    - {id: out, type: sink.null}
  edges:
    - [ticks, mark]
    - [mark, heavy]
    - [heavy, out]
""",
    # A JSON-lines sink on a stdout pipe that nobody reads: its writer blocks in write().
    "stalled": """\
    - {id: out, type: sink.jsonl, params: {path: "-"}}
  edges:
    - [ticks, out]
""",
    # Endless and busy, but never blocked.
    "busy": """\
    - {id: mark, type: operator.map, params: {fn: "tests.hostile.stopping_plugins:announce"}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1ms}}
    - {id: out, type: sink.null}
  edges:
    - [ticks, mark]
    - [mark, bars]
    - [bars, out]
""",
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """Every config of :data:`CONFIGS`, compiled once (the plugin module opted in by MDP_PLUGINS)."""
    folder = tmp_path_factory.mktemp("stopping")
    compiled = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MDP_PLUGINS", "tests.hostile")
        for name, rest in CONFIGS.items():
            config = folder / f"{name}.yaml"
            config.write_text(
                f"name: {name}\nmode: dag\ndag:\n  nodes:\n"
                f"    - {{id: ticks, type: provider.synthetic, params: {SOURCE}}}\n{rest}"
            )
            compiled[name] = compile_config(config, folder / f"{name}.py")
    return compiled


def plugin_env(cwd, **extra: str) -> dict[str, str]:
    """The environment of a job run in ``cwd``, with the repository importable for the plugin module."""
    return job_env(cwd, PYTHONPATH=str(REPO), MDP_PLUGINS="tests.hostile", **extra)


def start(module, cwd, *args: str, stdout=subprocess.DEVNULL, **env: str) -> subprocess.Popen:
    """Start a compiled job in ``cwd``; its stderr goes to ``cwd / "stderr.txt"``, so that no pipe
    but ``stdout`` can fill up."""
    environment = plugin_env(cwd, **env)
    with open(cwd / "stderr.txt", "w") as err:
        return subprocess.Popen(
            [PYTHON, str(module), *args], cwd=cwd, env=environment, stdout=stdout, stderr=err
        )


def finish(process: subprocess.Popen, since: float, cwd) -> tuple[int, str, float]:
    """Wait for the job to exit, reading nothing from it; return its status, its stderr and the
    seconds since ``since``."""
    try:
        process.wait(timeout=TIMEOUT_S)
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()
    return process.returncode, (cwd / "stderr.txt").read_text(), time.monotonic() - since


def unread(pipe) -> int:
    """How many bytes wait in ``pipe`` to be read."""
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def last_line(err: str) -> str:
    """The last line of a job's stderr, which must hold no traceback."""
    assert "Traceback" not in err, err
    return err.rstrip("\n").splitlines()[-1]


def grace_expired(cause: str, left: str) -> str:
    """The pattern of the message of a job that did not stop within the grace period."""
    return (
        rf"error: the job did not stop within {GRACE_S} s of {cause} "
        r"\(--stop-grace or MDP_STOP_GRACE_S gives it longer\); "
        rf"exiting with status 124 without flushing: {left}"
    )


def test_sigterm_while_a_plugin_never_returns_exits_124_after_the_grace(modules, tmp_path):
    process = start(modules["spinning"], tmp_path, "--stop-grace", str(GRACE_S))
    wait_for((tmp_path / STARTED).exists, 20, "the plugin to start spinning", process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status, err, elapsed = finish(process, signalled, tmp_path)
    assert status == 124, err
    assert GRACE_S - 0.5 <= elapsed < BOUND_S, err
    assert re.fullmatch(grace_expired("SIGTERM", f"{BLOCKED_PUSH}; {HELD}"), last_line(err)), err
    assert "finished in" not in err  # no summary claiming a clean end


SECOND_SIGNALS = [(signal.SIGTERM, 143), (signal.SIGINT, 130)]


@pytest.mark.parametrize("sig, status", SECOND_SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_exits_at_once(modules, tmp_path, sig, status):
    process = start(modules["spinning"], tmp_path, MDP_STOP_GRACE_S="600")
    wait_for((tmp_path / STARTED).exists, 20, "the plugin to start spinning", process)
    signalled = time.monotonic()
    process.send_signal(sig)
    time.sleep(0.5)
    process.send_signal(sig)
    code, err, elapsed = finish(process, signalled, tmp_path)
    assert code == status, err
    assert elapsed < 10, err  # not the 600 s grace
    assert re.fullmatch(
        rf"error: a second {sig.name} arrived while the job was stopping; exiting with status {status} "
        rf"without flushing: {BLOCKED_PUSH}; {HELD}",
        last_line(err),
    ), err


def test_duration_stops_a_job_whose_loop_is_blocked(modules, tmp_path):
    began = time.monotonic()
    process = start(modules["spinning"], tmp_path, "--duration", "1", "--stop-grace", str(GRACE_S))
    status, err, elapsed = finish(process, began, tmp_path)
    assert status == 124, err
    assert elapsed < 1 + BOUND_S + 5, err  # the module's start counts here too
    assert re.fullmatch(grace_expired("--duration 1 s", f"{BLOCKED_PUSH}; {HELD}"), last_line(err)), err


def test_sigterm_during_an_expression_that_holds_the_gil(modules, tmp_path):
    """No other thread runs during ``size ** (size * 10000000)``; the signal handlers and SIGALRM still do."""
    process = start(modules["heavy"], tmp_path, "--stop-grace", str(GRACE_S))
    wait_for((tmp_path / STARTED).exists, 20, "the first record to reach the expression", process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status, err, elapsed = finish(process, signalled, tmp_path)
    assert status == 124, err
    assert elapsed < BOUND_S, err
    assert re.fullmatch(grace_expired("SIGTERM", BLOCKED_PUSH), last_line(err)), err


def test_sigterm_with_a_stdout_nobody_reads(modules, tmp_path):
    process = start(modules["stalled"], tmp_path, "--stop-grace", str(GRACE_S), stdout=subprocess.PIPE)
    wait_for(lambda: unread(process.stdout) >= PIPE_FULL, 20, "a full stdout pipe", process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status, err, elapsed = finish(process, signalled, tmp_path)
    assert status == 124, err
    assert elapsed < BOUND_S, err
    left = r"sink 'out' \(stdout\): a write of \d+ rows in progress(, \d+ batches \(\d+ rows\) queued)?"
    assert re.fullmatch(grace_expired("SIGTERM", left), last_line(err)), err


def test_sigterm_on_a_busy_endless_job_flushes_and_exits_0(modules, tmp_path):
    process = start(modules["busy"], tmp_path)
    wait_for((tmp_path / STARTED).exists, 20, "the first batch", process)
    time.sleep(0.5)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status, err, elapsed = finish(process, signalled, tmp_path)
    assert status == 0, err
    assert elapsed < 10, err
    summary = parse_summary(err)
    assert summary.nodes["ticks"]["out"] > 0
    assert summary.nodes["bars"]["in"] == summary.nodes["mark"]["out"] == summary.nodes["ticks"]["out"]
    assert summary.nodes["out"]["in"] == summary.nodes["bars"]["out"] > 0  # the flushed windows included


BAD_LIMITS = [
    ("--max-events", "-5", "expected a whole number above 0, not '-5'"),
    ("--max-events", "0", "expected a whole number above 0, not '0'"),
    ("--duration", "nan", "expected a number of seconds above 0, not 'nan'"),
    ("--duration", "inf", "expected a number of seconds above 0, not 'inf'"),
    ("--duration", "-1", "expected a number of seconds above 0, not '-1"),
    ("--duration", "0", "expected a number of seconds above 0, not '0"),
    ("--stop-grace", "-inf", "expected a number of seconds above 0, not '-inf'"),
]


@pytest.mark.parametrize("option, value, says", BAD_LIMITS, ids=[f"{o}={v}" for o, v, _ in BAD_LIMITS])
def test_bad_limits_are_usage_errors_of_the_module(modules, tmp_path, option, value, says):
    result = subprocess.run(
        [PYTHON, str(modules["busy"]), f"{option}={value}"],
        cwd=tmp_path,
        env=plugin_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 2, result.stderr
    assert f"error: argument {option}: {says}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option, value, says", BAD_LIMITS, ids=[f"{o}={v}" for o, v, _ in BAD_LIMITS])
def test_bad_limits_are_usage_errors_of_mdp_run(tmp_path, option, value, says):
    result = subprocess.run(
        [MDP, "run", "no-such-config.yaml", f"{option}={value}"],
        cwd=tmp_path,
        env=plugin_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 2, result.stderr
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())  # the message, unboxed
    assert f"Invalid value for '{option}': {says}" in text, result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_grace_in_the_environment_is_an_error(modules, tmp_path):
    result = subprocess.run(
        [PYTHON, str(modules["busy"])],
        cwd=tmp_path,
        env=plugin_env(tmp_path, MDP_STOP_GRACE_S="soon"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 1, result.stderr
    expected = "error: MDP_STOP_GRACE_S: expected a number of seconds above 0, not 'soon'"
    assert last_line(result.stderr) == expected
