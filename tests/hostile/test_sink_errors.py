"""Every sink failure names its sink, where it writes (without secrets) and the error; exit 1, and
the rows written before the failure stay."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time

import pytest

from runtime_lib.errors import JobError
from runtime_lib.sinks.sqlite_store import SqliteStore
from tests.support.jobs import PYTHON, REPO, TIMEOUT_S, compile_config, job_env, stop

BOUND_S = 20
KEPT = r"(it had written no rows|the (?P<rows>\d+) rows it wrote before stay)"
CONFIGS = {
    "full_disk": """\
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, count: 200}}
    - {id: out, type: sink.jsonl, params: {path: /dev/full}}
  edges:
    - [ticks, out]
""",
    # Bars of CCC get a count above 2**63, which SQLite cannot store.
    "overflow": """\
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA, BBB, CCC], seed: 7, count: 3000}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1ms}}
    - {id: huge, type: operator.map, params: {fields: {count: "count * 2 ** 70 if symbol == 'CCC' else count"}}}
    - {id: store, type: sink.store, params: {url: "sqlite:///out/bars.db"}}
  edges:
    - [ticks, bars]
    - [bars, huge]
    - [huge, store]
""",
    "listing": """\
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, count: 10}}
    - {id: listify, type: operator.map, params: {fn: "tests.hostile.stopping_plugins:as_list"}}
    - {id: out, type: sink.jsonl, params: {path: out.jsonl}}
  edges:
    - [ticks, listify]
    - [listify, out]
""",
    "closed_stdout": """\
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, rate: 0}}
    - {id: out, type: sink.jsonl, params: {path: "-"}}
  edges:
    - [ticks, out]
""",
    "unopenable": """\
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, count: 10}}
    - {id: out, type: sink.jsonl, params: {path: taken/out.jsonl}}
  edges:
    - [ticks, out]
""",
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """Every config of :data:`CONFIGS`, compiled once (the plugin module opted in by MDP_PLUGINS)."""
    folder = tmp_path_factory.mktemp("sink_errors")
    compiled = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MDP_PLUGINS", "tests.hostile")
        for name, rest in CONFIGS.items():
            config = folder / f"{name}.yaml"
            config.write_text(f"name: {name}\nmode: dag\ndag:\n  nodes:\n{rest}")
            compiled[name] = compile_config(config, folder / f"{name}.py")
    return compiled


def failure(module, cwd) -> str:
    """Run a job that must fail; return the last line of its stderr, after the common checks."""
    env = job_env(cwd, PYTHONPATH=str(REPO), MDP_PLUGINS="tests.hostile")
    result = subprocess.run(
        [PYTHON, str(module)], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert "finished in" not in result.stderr  # no summary claiming success
    return result.stderr.rstrip("\n").splitlines()[-1]


def test_a_full_disk_names_the_jsonl_sink(modules, tmp_path):
    assert failure(modules["full_disk"], tmp_path) == (
        "error: sink 'out' (/dev/full) failed: cannot write: No space left on device; it had written no rows"
    )


def test_an_integer_sqlite_cannot_hold_names_the_store_and_keeps_earlier_rows(modules, tmp_path):
    line = failure(modules["overflow"], tmp_path)
    match = re.fullmatch(
        r"error: sink 'store' \(sqlite:///out/bars.db\) failed: count = \d+ of the bar \('CCC', '1ms', \d+\) "
        rf"is too large for SQLite \(a 64-bit integer\); {KEPT}",
        line,
    )
    assert match, line
    with sqlite3.connect(tmp_path / "out" / "bars.db") as connection:
        stored = connection.execute("SELECT count(*), count(DISTINCT symbol) FROM bars WHERE symbol = 'CCC'")
        assert stored.fetchone() == (0, 0)
        (rows,) = connection.execute("SELECT count(*) FROM bars").fetchone()
    assert rows == int(match["rows"] or 0)


def test_a_plugin_that_returns_a_list_stops_the_job_at_the_sink(modules, tmp_path):
    assert re.fullmatch(
        r"error: sink 'out' \(out\.jsonl\) failed: record 1 of the batch is a list, not a record of named "
        r"fields: \['AAA', \d+\.\d+\]; it had written no rows",
        failure(modules["listing"], tmp_path),
    )
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_a_closed_stdout_names_the_sink_without_a_traceback(modules, tmp_path):
    env = job_env(tmp_path, PYTHONPATH=str(REPO))
    with open(tmp_path / "stderr.txt", "w") as err:
        process = subprocess.Popen(
            [PYTHON, str(modules["closed_stdout"])], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err
        )
    process.stdout.close()  # the reader went away: writes fail with EPIPE
    began = time.monotonic()
    try:
        process.wait(timeout=TIMEOUT_S)
    finally:
        stop(process)
    assert time.monotonic() - began < BOUND_S
    text = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 1, text
    assert "Traceback" not in text and "Exception ignored" not in text, text
    line = text.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(
        rf"error: sink 'out' \(stdout\) failed: cannot write: Broken pipe; {KEPT}", line
    ), text


def test_a_sink_that_cannot_open_names_itself(modules, tmp_path):
    (tmp_path / "taken").write_text("a file where the sink wants a folder")
    assert failure(modules["unopenable"], tmp_path) == (
        "error: sink 'out' failed: taken/out.jsonl: cannot open for writing: File exists"
    )


def test_a_store_url_in_a_message_hides_its_password():
    with pytest.raises(JobError) as caught:
        SqliteStore("store", url="postgresql://mdp:s3cret@db.example/bars")
    assert str(caught.value).startswith("bad SQLite URL 'postgresql://mdp:***@db.example/bars': expected ")
