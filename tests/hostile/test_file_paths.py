"""No two writers on one file, no writer over an input.

The compiler refuses the clashes written in the config (normalised paths, a store's database
file, gzip inputs) with an error at both nodes; the job refuses the clashes only known when it
starts (``${ENV}`` paths, symbolic and hard links) before it opens or truncates anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler.cli import app
from tests.support.jobs import MDP, job_env, parse_summary, run

TICKS = "symbol,ts,price,size\n" + "".join(
    f"AAPL,2024-03-15T09:30:{second:02d}.000000-04:00,{100 + second}.5,10\n" for second in range(20)
)


def config(*nodes: str, edges: str) -> str:
    """A DAG config named ``paths`` with the given node items (each a ``- id: ...`` block)."""
    body = "".join(f"    {node.strip()}\n" for node in nodes)
    return f"name: paths\ndag:\n  nodes:\n{body}  edges: {edges}\n"


def replay(node_id: str, path: str) -> str:
    """A ``provider.replay`` node reading ``path``."""
    return f'- {{id: {node_id}, type: provider.replay, params: {{path: "{path}"}}}}'


def jsonl(node_id: str, path: str) -> str:
    """A ``sink.jsonl`` node writing ``path``."""
    return f'- {{id: {node_id}, type: sink.jsonl, params: {{path: "{path}"}}}}'


def store(node_id: str, url: str) -> str:
    """A ``sink.store`` node writing bars to ``url``."""
    return f'- {{id: {node_id}, type: sink.store, params: {{url: "{url}"}}}}'


BARS = "- {id: bars, type: operator.resample_ohlc, params: {window: 1m}}"
INPUT = replay("ticks", "data/ticks.csv")


def validate(tmp_path: Path, monkeypatch, text: str) -> tuple[str, int]:
    """``mdp validate c.yaml`` run in-process in ``tmp_path``: its stderr and exit status."""
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate", "c.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.stderr, result.exit_code


def errors(stderr: str) -> list[str]:
    """The ``file:line:col: error: message`` lines of rendered diagnostics."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def test_two_sinks_on_one_normalised_path_are_refused_at_both_nodes(tmp_path, monkeypatch):
    text = config(
        INPUT, jsonl("a", "out/x.jsonl"), jsonl("b", "./out/x.jsonl"), edges="[[ticks, a], [ticks, b]]"
    )
    stderr, status = validate(tmp_path, monkeypatch, text)
    assert status == 1
    assert errors(stderr) == [
        "c.yaml:5:48: error: sinks 'a' and 'b' both write out/x.jsonl",
        "c.yaml:6:48: error: sinks 'a' and 'b' both write out/x.jsonl",
    ]
    assert (
        stderr.count(
            "= hint: give each sink its own file: two sinks writing one file break each " "other's output"
        )
        == 2
    )


def test_a_sink_on_a_gzip_input_is_refused_at_the_sink_and_the_source(tmp_path, monkeypatch):
    text = config(
        replay("ticks", "data/x.csv.gz"), jsonl("out", "data/../data/x.csv.gz"), edges="[[ticks, out]]"
    )
    stderr, status = validate(tmp_path, monkeypatch, text)
    assert status == 1
    message = "sink 'out' would overwrite data/x.csv.gz, the input of source 'ticks'"
    assert errors(stderr) == [f"c.yaml:4:57: error: {message}", f"c.yaml:5:50: error: {message}"]
    assert (
        stderr.count(
            "= hint: the sink opens its file for writing when the job starts, before 'ticks' "
            "reads it: write to another file"
        )
        == 2
    )


def test_a_store_database_and_a_jsonl_file_of_one_path_are_one_file(tmp_path, monkeypatch):
    text = config(
        INPUT,
        BARS,
        store("db", "sqlite:///out/x.db"),
        jsonl("lines", "out/x.db"),
        edges="[[ticks, bars], [bars, db], [bars, lines]]",
    )
    stderr, status = validate(tmp_path, monkeypatch, text)
    assert status == 1
    assert errors(stderr) == [
        "c.yaml:6:48: error: sinks 'db' and 'lines' both write out/x.db",
        "c.yaml:7:52: error: sinks 'db' and 'lines' both write out/x.db",
    ]


def test_two_stores_may_share_a_database_and_two_sources_may_share_an_input(tmp_path, monkeypatch):
    text = config(
        replay("a", "data/ticks.csv"),
        replay("b", "./data/ticks.csv"),
        BARS,
        store("one", "sqlite:///out/x.db"),
        store("two", "sqlite:///./out/x.db"),
        edges="[[a, bars], [b, bars], [bars, one], [bars, two]]",
    )
    assert validate(tmp_path, monkeypatch, text) == ("", 0)


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "sqlite:///:memory:",
            "an in-memory database is lost when the job ends; give a file path such as sqlite:///mdp-data/bars.db",
        ),
        (
            "sqlite:////",
            "store url names a directory (/), not a database file; give a file path such as "
            "sqlite:///mdp-data/bars.db",
        ),
        (
            "sqlite:///out/",
            "store url names a directory (out/), not a database file; give a file path such as "
            "sqlite:///mdp-data/bars.db",
        ),
        (
            "sqlite:///existing",
            "store url names a directory (existing), not a database file; give a file path "
            "such as sqlite:///mdp-data/bars.db",
        ),
    ],
)
def test_a_store_url_naming_no_file_is_refused_at_the_url(tmp_path, monkeypatch, url, message):
    (tmp_path / "existing").mkdir()
    text = config(INPUT, BARS, store("db", url), edges="[[ticks, bars], [bars, db]]")
    stderr, status = validate(tmp_path, monkeypatch, text)
    assert (errors(stderr), status) == ([f"c.yaml:6:48: error: {message}"], 1)


def test_a_nul_character_in_a_path_is_refused_at_the_path(tmp_path, monkeypatch):
    text = config(INPUT, jsonl("out", "out\\0x.jsonl"), edges="[[ticks, out]]")
    stderr, status = validate(tmp_path, monkeypatch, text)
    assert (errors(stderr), status) == (["c.yaml:5:50: error: a file path cannot contain a NUL character"], 1)


def run_job(tmp_path: Path, text: str, **env: str):
    """``mdp run c.yaml`` in ``tmp_path`` (holding ``data/ticks.csv``), with extra variables."""
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    return run([MDP, "run", "c.yaml"], cwd=tmp_path, env=job_env(tmp_path, **env), check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory with the input ``data/ticks.csv``."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ticks.csv").write_text(TICKS, encoding="utf-8")
    return tmp_path


def test_two_sinks_on_one_file_through_a_variable_are_refused_before_any_file_is_opened(workdir):
    text = config(
        INPUT,
        jsonl("a", "out/x.jsonl"),
        jsonl("b", "${OUT}/../out/x.jsonl"),
        edges="[[ticks, a], [ticks, b]]",
    )
    result = run_job(workdir, text, OUT="out")
    real = os.path.realpath(workdir / "out" / "x.jsonl")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: sinks 'a' (path out/x.jsonl) and 'b' (path out/../out/x.jsonl) "
        f"write the same file {real}: give each sink its own file\n"
    )
    assert not (workdir / "out").exists()


def test_a_sink_on_the_input_through_a_variable_leaves_the_input_byte_identical(workdir):
    text = config(INPUT, jsonl("out", "${DATA}/ticks.csv"), edges="[[ticks, out]]")
    result = run_job(workdir, text, DATA=str(workdir / "data"))
    real = os.path.realpath(workdir / "data" / "ticks.csv")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: sink 'out' (path {workdir}/data/ticks.csv) would overwrite the input "
        f"of source 'ticks' (path data/ticks.csv), the file {real}: write the output to "
        "another file\n"
    )
    assert (workdir / "data" / "ticks.csv").read_text(encoding="utf-8") == TICKS


@pytest.mark.parametrize("link", [os.symlink, os.link], ids=["symlink", "hard link"])
def test_a_sink_on_a_linked_input_is_refused_and_the_input_kept(workdir, link):
    link(workdir / "data" / "ticks.csv", workdir / "data" / "alias.csv")
    text = config(replay("ticks", "data/alias.csv"), jsonl("out", "data/ticks.csv"), edges="[[ticks, out]]")
    result = run_job(workdir, text)
    assert result.returncode == 1
    real = os.path.realpath(workdir / "data" / "ticks.csv")
    assert result.stderr == (
        "error: sink 'out' (path data/ticks.csv) would overwrite the input of source "
        f"'ticks' (path data/alias.csv), the file {real}: write the output to another "
        "file\n"
    )
    assert (workdir / "data" / "ticks.csv").read_text(encoding="utf-8") == TICKS


def test_sinks_on_their_own_files_run_and_stores_share_a_database(workdir):
    text = config(
        INPUT,
        BARS,
        jsonl("lines", "out/lines.jsonl"),
        store("one", "sqlite:///out/bars.db"),
        store("two", "sqlite:///${OUT}/bars.db"),
        edges="[[ticks, lines], [ticks, bars], [bars, one], [bars, two]]",
    )
    result = run_job(workdir, text, OUT="out")
    assert result.returncode == 0, result.stderr
    assert parse_summary(result.stderr).rows_written == {"lines": 20, "one": 1, "two": 1}
    assert sorted(p.name for p in workdir.iterdir()) == ["c.yaml", "data", "mdp-cache", "out"]
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["bars.db", "lines.jsonl"]
