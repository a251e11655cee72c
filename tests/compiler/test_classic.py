"""Classic specs: lowered to the DAG form, same output and module as the hand-written DAG."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from pydantic import Field

from compiler.classic import lower_classic
from compiler.components import REGISTRY, Component, Params
from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_text
from compiler.load.yaml_spans import load_yaml
from compiler.schema import TICK
from runtime_lib.metrics import NodeCollector
from runtime_lib.runner import LiveContext
from runtime_lib.sources.synthetic import synthetic_ticks
from tests.support.compiled_module import load_compiled, without_config_locations
from tests.support.jobs import REPO

CLASSIC = """\
name: demo-classic
mode: classic
classic:
  spec:
    tenant_id: demo
    pipeline_id: p1
    source: synthetic
    symbols: [AAPL, MSFT]
    duration_sec: 10
    operator: bars
    sink: store
    overrides: {ticks_per_sec: 50, bar_window_sec: 1, bar_allowed_lateness_sec: 0, batch_size: 500,
                database_url: "sqlite:///mdp-data/demo.db"}
"""

HAND_WRITTEN = """\
name: demo-dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {symbols: [AAPL, MSFT], rate: 50, batch_size: 500}
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1s, allowed_lateness: 0s}
    - id: store
      type: sink.store
      params: {url: "sqlite:///mdp-data/demo.db"}
  edges: [[ticks, bars], [bars, store]]
run: {duration: 10s, labels: {tenant_id: demo, pipeline_id: p1}}
"""


def classic(source: str = "synthetic", symbols: str = "[AAPL, MSFT]", extra: str = "", **overrides) -> str:
    """A classic config; ``overrides`` become the spec's overrides (written as YAML flow values)."""
    lines = [f"    {key}: {value}" for key, value in overrides.items()]
    body = "\n".join(["  overrides:"] + ["  " + line for line in lines]) if lines else ""
    spec = f"tenant_id: demo\npipeline_id: p1\nsource: {source}\n"
    spec += f"symbols: {symbols}\n" if symbols else ""
    spec += extra
    return (
        "name: job\nmode: classic\nclassic:\n  spec:\n"
        + textwrap.indent(spec, "    ")
        + (textwrap.indent(body, "  ") + "\n" if body else "")
    )


def disordered_ticks(count: int = 6000, seed: int = 3) -> list[dict]:
    """Synthetic ticks (1 ms apart) with some arriving up to 40 ms behind their neighbours."""
    ticks = list(synthetic_ticks(("AAPL", "MSFT"), seed=seed, count=count))
    rng = random.Random(seed)
    for i in range(0, len(ticks) - 40, 40):
        j = i + rng.randrange(40)
        ticks[i], ticks[j] = ticks[j], ticks[i]
    return ticks


def comparable(source: str) -> list[str]:
    """Module lines without comments, docstring title, name, mode, path, hash and config locations:
    what the code does."""
    skip = ("#", "JOB_NAME =", "JOB_MODE =", "CONFIG_PATH =", "CONFIG_SHA256 =", '"""Job ')
    return [
        line for line in without_config_locations(source).splitlines() if not line.strip().startswith(skip)
    ]


def test_classic_and_hand_written_dag_compile_to_the_same_code():
    lowered = compile_text("classic.yaml", CLASSIC).source
    assert comparable(lowered) == comparable(compile_text("dag.yaml", HAND_WRITTEN).source)
    assert 'JOB_MODE = "classic"' in lowered
    labels = '"labels": {"pipeline_id": "p1", "tenant_id": "demo"}'
    assert 'RUN_DEFAULTS = {"duration": 10.0, ' + labels + "}" in lowered


@pytest.mark.parametrize("window, lateness", [(1, 0), (0.25, 0.02), (2, 0.05)])
def test_classic_and_hand_written_dag_give_the_same_bars(window, lateness):
    text = classic(
        "replay",
        "[AAPL, MSFT]",
        replay_path="ticks.csv",
        bar_window_sec=window,
        bar_allowed_lateness_sec=lateness,
    )
    dag = HAND_WRITTEN.replace("provider.synthetic", "provider.replay").replace(
        "{symbols: [AAPL, MSFT], rate: 50, batch_size: 500}",
        "{path: ticks.csv, symbols: [AAPL, MSFT], speed: 1}",
    )
    dag = dag.replace(
        "window: 1s, allowed_lateness: 0s",
        f"window: {round(window * 1000)}ms, allowed_lateness: {round(lateness * 1000)}ms",
    )
    ticks = disordered_ticks()
    from_classic = load_compiled(text).run_local({"ticks": ticks})
    from_dag = load_compiled(dag).run_local({"ticks": ticks})
    assert from_classic["store"] and from_classic == from_dag


def _lowered(text: str):
    doc, problems = lower_classic(load_yaml("c.yaml", text))
    assert problems == []
    return doc


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_lowered_nodes_point_at_the_classic_fields():
    pipeline = analyse("c.yaml", CLASSIC)
    assert [(n.id, n.type) for n in pipeline.ordered()] == [
        ("ticks", "provider.synthetic"),
        ("bars", "operator.resample_ohlc"),
        ("store", "sink.store"),
    ]
    assert pipeline.node("ticks").span.line == _line_of(CLASSIC, "source:")
    assert pipeline.node("bars").span.line == _line_of(CLASSIC, "operator:")
    assert pipeline.node("store").span.line == _line_of(CLASSIC, "sink:")
    doc = pipeline.doc
    assert doc.span(("dag", "nodes", 1, "params", "window")).line == _line_of(CLASSIC, "bar_window_sec")
    url = doc.span(("dag", "nodes", 2, "params", "url"))
    assert (url.line, CLASSIC.splitlines()[url.line - 1][url.column - 1 : url.end_column - 1]) == (
        _line_of(CLASSIC, "database_url"),
        '"sqlite:///mdp-data/demo.db"',
    )
    assert doc.span(("dag", "nodes", 0, "params", "symbols")).line == _line_of(CLASSIC, "symbols:")


def test_an_override_of_zero_is_a_real_zero():
    doc = _lowered(classic(ticks_per_sec=0, bar_allowed_lateness_sec=0))
    source, bars, _store = doc.data["dag"]["nodes"]
    assert source["params"]["rate"] == 0 and bars["params"]["allowed_lateness"] == "0s"
    replay = _lowered(classic("replay", replay_path="t.csv", replay_speed=0)).data["dag"]["nodes"][0]
    assert replay["params"]["speed"] == 0
    module = compile_text("c.yaml", classic(ticks_per_sec=0)).source
    assert "rate=0.0," in module


def test_absent_overrides_take_the_older_runtime_defaults():
    doc = _lowered(classic())
    source, bars, store = doc.data["dag"]["nodes"]
    assert source["params"] == {"symbols": ["AAPL", "MSFT"], "rate": 100.0}
    assert bars["params"] == {"window": "1s", "allowed_lateness": "0s"}
    assert store["params"] == {"url": "sqlite:///mdp-data/demo/p1.db"}
    replay = _lowered(classic("replay", symbols="", replay_path="t.csv")).data["dag"]["nodes"][0]
    assert replay["params"] == {"path": "t.csv", "speed": 1.0}


def test_every_override_reaches_its_node():
    doc = _lowered(
        classic(
            bar_window_sec=0.5,
            bar_allowed_lateness_sec=2,
            batch_size=7,
            ticks_per_sec=12.5,
            database_url='"sqlite:///x.db"',
        )
    )
    source, bars, store = doc.data["dag"]["nodes"]
    assert source["params"] == {"symbols": ["AAPL", "MSFT"], "batch_size": 7, "rate": 12.5}
    assert bars["params"] == {"window": "500ms", "allowed_lateness": "2s"}
    assert store["params"] == {"url": "sqlite:///x.db"}


def test_sink_database_is_the_store_and_tenant_and_pipeline_become_metrics_labels():
    doc = _lowered(classic(extra="sink: database\n"))
    assert doc.data["dag"]["nodes"][2]["type"] == "sink.store"
    assert doc.data["run"]["labels"] == {"tenant_id": "demo", "pipeline_id": "p1"}
    ctx = LiveContext()
    ctx.stats("ticks", "provider.synthetic")
    families = list(NodeCollector("job", ctx, {"tenant_id": "demo", "pipeline_id": "p1"}).collect())
    sample = families[0].samples[0]
    assert sample.labels == {
        "job": "job",
        "node": "ticks",
        "type": "provider.synthetic",
        "pipeline_id": "p1",
        "tenant_id": "demo",
    }


def test_without_duration_the_job_runs_until_the_source_ends():
    module = compile_text("c.yaml", classic()).source
    assert '"duration"' not in module


def test_duration_sec_is_the_default_run_duration(tmp_path):
    text = classic(
        extra="duration_sec: 0.6\n", ticks_per_sec=200, database_url=f'"sqlite:///{tmp_path}/bars.db"'
    )
    module = tmp_path / "job.py"
    module.write_text(compile_text("c.yaml", text).source, encoding="utf-8")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(module)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert 0.6 <= time.monotonic() - started < 20, "the endless source was not stopped by duration_sec"
    with sqlite3.connect(tmp_path / "bars.db") as db:
        assert db.execute("select count(*) from bars").fetchone()[0] > 0


def test_a_file_with_both_sections_compiles_the_one_mode_picks():
    both = CLASSIC + "dag:\n" + HAND_WRITTEN.split("dag:\n", 1)[1].split("run:")[0].replace("ticks", "feed")
    assert analyse("c.yaml", both).node("ticks").type == "provider.synthetic"
    as_dag = both.replace("mode: classic", "mode: dag")
    assert "feed" in analyse("c.yaml", as_dag).graph


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(DiagnosticError) as caught:
        analyse("c.yaml", text)
    return [(d.span.line, d.message) for d in caught.value.diagnostics]


def test_ibkr_without_the_provider_is_a_located_error(monkeypatch):
    monkeypatch.delitem(REGISTRY, "provider.ibkr.stream", raising=False)
    text = classic("ibkr")
    [(line, message)] = _problems(text)
    assert line == _line_of(text, "source: ibkr")
    assert message == "the ibkr provider is not available: node type 'provider.ibkr.stream' is not registered"


class _FakeIbkrParams(Params):
    symbols: list[str] = Field(min_length=1)
    stream: str = "quotes"
    batch_size: int = 1024


def test_ibkr_lowers_to_the_ibkr_provider_when_it_is_registered(monkeypatch):
    fake = Component(
        "provider.ibkr.stream",
        _FakeIbkrParams,
        "fake",
        output=lambda params, upstream: TICK,
        runtime="runtime_lib.sources.synthetic:SyntheticSource",
        kwargs=lambda params: {},
    )
    monkeypatch.setitem(REGISTRY, "provider.ibkr.stream", fake)
    node = analyse("c.yaml", classic("ibkr", batch_size=64)).node("ticks")
    assert (node.type, node.params.symbols, node.params.stream, node.params.batch_size) == (
        "provider.ibkr.stream",
        ["AAPL", "MSFT"],
        "trades",
        64,
    )
    text = classic("ibkr", ticks_per_sec=5)
    expected = (_line_of(text, "ticks_per_sec"), "ticks_per_sec applies only to source: synthetic")
    assert _problems(text) == [expected]


def test_duration_and_labels_given_twice_are_errors():
    text = classic(extra="duration_sec: 5\n") + "run: {duration: 5s, labels: {tenant_id: x}}\n"
    assert [m for _, m in _problems(text)] == [
        "the run duration is given twice: duration_sec and run.duration",
        "label 'tenant_id' comes from the classic spec's tenant_id",
    ]


def test_a_run_section_next_to_a_classic_spec_is_kept():
    doc = _lowered(classic() + "run: {metrics_port: 9200, labels: {team: quant}}\n")
    assert doc.data["run"] == {
        "metrics_port": 9200,
        "labels": {"team": "quant", "tenant_id": "demo", "pipeline_id": "p1"},
    }
