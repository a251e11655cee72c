"""``${ENV}`` references: resolved when the job runs, so a compiled module never holds a secret."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_text
from runtime_lib.env import ReferenceSyntaxError, env_text, split_references
from runtime_lib.errors import JobError
from runtime_lib.job import run as run_job
from runtime_lib.runner import RunOptions
from tests.support.compiled_module import load_compiled
from tests.support.jobs import REPO

SECRET = "s3cr3t-Pa55word"


def job(url: str, path: str = "configs/data/sample_ticks.csv.gz", symbols: str = "[AAPL, MSFT]") -> str:
    """A synthetic-ticks job whose store url (and a replay-free path param) are given."""
    return f"""\
name: secrets
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: {symbols}, count: 3000}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: 1s}}
    - id: store
      type: sink.store
      params: {{url: "{url}"}}
    - id: lines
      type: sink.jsonl
      params: {{path: "{path}"}}
  edges: [[ticks, bars], [bars, store], [bars, lines]]
"""


def test_the_module_holds_the_reference_not_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("MDP_TEST_SECRET_DIR", str(tmp_path / SECRET))
    source = compile_text("s.yaml", job("sqlite:///${MDP_TEST_SECRET_DIR}/bars.db")).source
    assert SECRET not in source and str(tmp_path) not in source
    assert 'url=env_text("sqlite:///${MDP_TEST_SECRET_DIR}/bars.db", "store")' in source
    assert "from runtime_lib.env import env_text" in source


def test_the_module_resolves_the_reference_when_it_runs(tmp_path):
    module = tmp_path / "job.py"
    module.write_text(
        compile_text(
            "s.yaml", job("sqlite:///${MDP_TEST_SECRET_DIR}/bars.db", "${MDP_TEST_SECRET_DIR}/bars.jsonl")
        ).source,
        encoding="utf-8",
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "MDP_TEST_SECRET_DIR": str(tmp_path / SECRET)}
    result = subprocess.run(
        [sys.executable, str(module), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / SECRET / "bars.db") as db:
        assert db.execute("select count(*) from bars").fetchone()[0] > 0
    assert (tmp_path / SECRET / "bars.jsonl").stat().st_size > 0


def test_a_missing_variable_is_a_job_error_naming_it_and_the_node(monkeypatch, capsys):
    monkeypatch.delenv("MDP_TEST_SECRET_DIR", raising=False)
    module = load_compiled(job("sqlite:///${MDP_TEST_SECRET_DIR}/bars.db"))
    with pytest.raises(JobError, match=r"node 'store': environment variable MDP_TEST_SECRET_DIR is not set"):
        module.run_local({})
    assert run_job(module.build, module.JOB_NAME, RunOptions(), quiet=True) == 1
    assert (
        "error: node 'store': environment variable MDP_TEST_SECRET_DIR is not set" in capsys.readouterr().err
    )


def test_references_inside_lists_are_resolved(monkeypatch):
    monkeypatch.setenv("MDP_TEST_SYMBOL", "IBM")
    source = compile_text("s.yaml", job("sqlite:///x.db", symbols='[AAPL, "${MDP_TEST_SYMBOL}"]')).source
    assert "IBM" not in source and 'symbols=("AAPL", env_text("${MDP_TEST_SYMBOL}", "ticks"))' in source
    module = load_compiled(job("sqlite:///x.db", symbols='[AAPL, "${MDP_TEST_SYMBOL}"]'))
    from runtime_lib.context import LocalContext

    ctx = LocalContext()
    module.build(ctx)
    assert ctx.sources["ticks"][2]["symbols"] == ("AAPL", "IBM")


def test_a_doubled_dollar_is_a_literal_dollar_brace():
    source = compile_text("s.yaml", job("sqlite:///price$${x}.db")).source
    assert 'url="sqlite:///price${x}.db"' in source and "env_text" not in source


def test_expressions_are_code_not_text():
    text = job("sqlite:///x.db").replace(
        "params: {window: 1s}", "params: {window: 1s, key: \"symbol + '${X}'\"}"
    )
    text = text.replace("[bars, store], ", "")  # the store keeps bars grouped by symbol only
    text = text.replace(
        '    - id: store\n      type: sink.store\n      params: {url: "sqlite:///x.db"}\n', ""
    )
    source = compile_text("s.yaml", text).source
    assert "env_text" not in source and 'r["symbol"] + "${X}"' in source


@pytest.mark.parametrize(
    "url, message, column",
    [
        ("sqlite:///${DATA_DIR/bars.db", "'${' without a closing '}'", 32),
        ("sqlite:///${}/bars.db", "an empty ${} reference", 32),
        ("sqlite:///${9LIVES}/bars.db", "bad environment variable name '9LIVES'", 32),
        ("sqlite:///$${ok}/${A B}/bars.db", "bad environment variable name 'A B'", 39),
    ],
)
def test_bad_references_are_located_compile_errors(url, message, column):
    with pytest.raises(DiagnosticError) as caught:
        analyse("s.yaml", job(url))
    [problem] = caught.value.diagnostics
    assert (problem.span.line, problem.span.column, problem.message) == (12, column, message)


def test_env_text_and_split_references():
    assert env_text("postgresql://app:${PW}@db/${DB}", "store", {"PW": SECRET, "DB": "ticks"}) == (
        f"postgresql://app:{SECRET}@db/ticks"
    )
    assert env_text("$${PW} costs $$5", "n", {}) == "${PW} costs $$5"
    assert env_text("${EMPTY}", "n", {"EMPTY": ""}) == ""
    with pytest.raises(ReferenceSyntaxError) as caught:
        split_references("ab${CD")
    assert (caught.value.start, caught.value.end) == (2, 6)
