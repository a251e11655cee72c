"""Run settings: flags > MDP_UNIFIED_* > config file > defaults, each setting on its own."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
import yaml
from typer.testing import CliRunner

from compiler.cli import app
from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, analyse_document, compile_document, compile_text
from compiler.overlay import load_with_settings
from compiler.settings import RunSettings
from tests.support.compiled_module import without_config_locations

DAG = """\
name: from-file
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {symbols: [AAPL, MSFT], count: 3000, seed: 4}
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1s}
    - id: store
      type: sink.store
      params: {url: "sqlite:///file.db", table: bars}
    - id: other_store
      type: sink.store
      params: {url: "sqlite:///other.db"}
  edges: [[ticks, bars], [bars, store], [bars, other_store]]
run: {metrics_port: 9301, log_level: WARNING}
classic:
  spec:
    tenant_id: demo
    pipeline_id: p1
    source: synthetic
    symbols: [AAPL]
    overrides: {ticks_per_sec: 0, bar_window_sec: 2, batch_size: 100, database_url: "sqlite:///classic.db"}
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("MDP_UNIFIED_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "job.yaml"
    path.write_text(DAG, encoding="utf-8")
    return path


def pipeline_of(settings: RunSettings):
    """The compiled pipeline of the config the settings name, with the settings applied."""
    return compile_document(load_with_settings(settings).doc).plan.pipeline


def params(pipeline, node_id: str) -> dict:
    return pipeline.node(node_id).params.model_dump()


def test_defaults_apply_when_no_level_sets_a_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bare = tmp_path / "bare.yaml"
    bare.write_text(DAG.split("run:")[0], encoding="utf-8")
    settings = RunSettings.resolve(config=bare)
    assert (settings.metrics_port, settings.log_level, settings.store_url) == (None, "INFO", None)
    assert settings.origin("metrics_port") == "file/default"


def test_the_config_file_level(config):
    settings = RunSettings.resolve(config=config)
    assert (settings.mode, settings.job_name, settings.metrics_port, settings.log_level) == (
        "dag",
        "from-file",
        9301,
        "WARNING",
    )
    pipeline = pipeline_of(settings)
    assert pipeline.name == "from-file" and params(pipeline, "store")["url"] == "sqlite:///file.db"


def test_the_environment_wins_over_the_file(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_METRICS_PORT", "9400")
    monkeypatch.setenv("MDP_UNIFIED_LOG_LEVEL", "debug")
    monkeypatch.setenv("MDP_UNIFIED_JOB_NAME", "from-env")
    monkeypatch.setenv("MDP_UNIFIED_STORE_URL", "sqlite:///env.db")
    settings = RunSettings.resolve(config=config)
    assert (settings.metrics_port, settings.log_level, settings.job_name) == (9400, "DEBUG", "from-env")
    assert settings.origin("metrics_port") == "env"
    pipeline = pipeline_of(settings)
    assert pipeline.name == "from-env"
    assert params(pipeline, "store")["url"] == params(pipeline, "other_store")["url"] == "sqlite:///env.db"
    assert params(pipeline, "store")["table"] == "bars"  # the rest of the node is the file's


def test_flags_win_over_the_environment(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_METRICS_PORT", "9400")
    monkeypatch.setenv("MDP_UNIFIED_JOB_NAME", "from-env")
    monkeypatch.setenv("MDP_UNIFIED_STORE_URL", "sqlite:///env.db")
    monkeypatch.setenv("MDP_UNIFIED_LOG_LEVEL", "DEBUG")
    settings = RunSettings.resolve(
        config=config,
        metrics_port=9500,
        job_name="from-flag",
        store_url="sqlite:///flag.db",
        log_level="error",
    )
    assert (settings.metrics_port, settings.log_level, settings.job_name) == (9500, "ERROR", "from-flag")
    pipeline = pipeline_of(settings)
    assert pipeline.name == "from-flag" and params(pipeline, "store")["url"] == "sqlite:///flag.db"


def test_mode_from_each_level_picks_the_section(config, monkeypatch):
    assert pipeline_of(RunSettings.resolve(config=config)).node("ticks").params.count == 3000
    monkeypatch.setenv("MDP_UNIFIED_MODE", "classic")
    classic = pipeline_of(RunSettings.resolve(config=config))
    assert params(classic, "store")["url"] == "sqlite:///classic.db"
    assert params(classic, "ticks")["rate"] == 0  # the classic section, ticks_per_sec: 0
    assert pipeline_of(RunSettings.resolve(config=config, mode="dag")).node("ticks").params.count == 3000


def test_the_store_url_in_classic_mode_sets_database_url(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_STORE_URL", "sqlite:///env.db")
    pipeline = pipeline_of(RunSettings.resolve(config=config, mode="classic"))
    assert params(pipeline, "store")["url"] == "sqlite:///env.db"


def test_the_config_path_from_the_environment_and_from_the_flag(config, tmp_path, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text(DAG.replace("from-file", "other-file"), encoding="utf-8")
    monkeypatch.setenv("MDP_UNIFIED_CONFIG", str(config))
    assert RunSettings.resolve().job_name == "from-file"
    assert RunSettings.resolve(config=other).job_name == "other-file"


def test_dag_json_overrides_one_field_of_one_node(config, monkeypatch):
    monkeypatch.setenv(
        "MDP_UNIFIED_DAG_JSON", json.dumps({"nodes": [{"id": "bars", "params": {"window": "5s"}}]})
    )
    pipeline = pipeline_of(RunSettings.resolve(config=config))
    assert params(pipeline, "bars")["window"] == 5_000_000_000
    assert (
        params(pipeline, "ticks")["count"] == 3000 and params(pipeline, "store")["url"] == "sqlite:///file.db"
    )
    assert sorted(pipeline.graph) == ["bars", "other_store", "store", "ticks"]


def test_dag_json_adds_nodes_and_replaces_lists(config, monkeypatch):
    edges = [["ticks", "bars"], ["bars", "null"], ["bars", "other_store"], ["bars", "store"]]
    overlay = {
        "nodes": [{"id": "null", "type": "sink.null"}, {"id": "ticks", "params": {"symbols": ["IBM"]}}],
        "edges": edges,
    }
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", json.dumps(overlay))
    pipeline = analyse_settings(config)
    assert params(pipeline, "ticks")["symbols"] == ["IBM"] and params(pipeline, "ticks")["seed"] == 4
    assert pipeline.node("null").span.file == "$MDP_UNIFIED_DAG_JSON"
    # Replaced, not appended: appending would repeat three edges (a "duplicate edge" error).
    assert sorted(pipeline.graph.edges) == sorted(map(tuple, edges))


def analyse_settings(config):
    """The checked pipeline before optimisation (nodes that reach no sink are still in it)."""
    return analyse_document(load_with_settings(RunSettings.resolve(config=config)).doc)


def test_classic_json_overrides_one_field(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_CLASSIC_JSON", '{"spec": {"overrides": {"bar_window_sec": 0.5}}}')
    pipeline = pipeline_of(RunSettings.resolve(config=config, mode="classic"))
    assert params(pipeline, "bars")["window"] == 500_000_000
    assert params(pipeline, "ticks")["batch_size"] == 100 and params(pipeline, "ticks")["rate"] == 0


def test_classic_json_can_hold_the_whole_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: only-env\nmode: classic\n", encoding="utf-8")
    spec = {"spec": {"tenant_id": "t", "pipeline_id": "p", "source": "synthetic", "symbols": ["AAPL"]}}
    monkeypatch.setenv("MDP_UNIFIED_CLASSIC_JSON", json.dumps(spec))
    assert params(pipeline_of(RunSettings.resolve(config=bare)), "ticks")["symbols"] == ["AAPL"]


def _diagnostics(call) -> list[str]:
    with pytest.raises(DiagnosticError) as caught:
        call()
    return [f"{d.span.file}:{d.span.line}:{d.span.column}: {d.message}" for d in caught.value.diagnostics]


def test_mistakes_in_variables_are_located_in_their_text(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", '{"nodes": [{"id": "bars",\n "params": {"window": "5 sec"}}]}')
    [problem] = _diagnostics(lambda: pipeline_of(RunSettings.resolve(config=config)))
    assert problem.startswith("$MDP_UNIFIED_DAG_JSON:2:23: not a duration: '5 sec'")
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", '{"nodes": [}')
    assert _diagnostics(lambda: pipeline_of(RunSettings.resolve(config=config))) == [
        "$MDP_UNIFIED_DAG_JSON:1:12: invalid JSON: Expecting value"
    ]
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", "[1]")
    assert _diagnostics(lambda: pipeline_of(RunSettings.resolve(config=config))) == [
        "$MDP_UNIFIED_DAG_JSON:1:1: MDP_UNIFIED_DAG_JSON must be a JSON object"
    ]


def test_bad_and_unknown_variables_are_errors(config, monkeypatch):
    monkeypatch.setenv("MDP_UNIFIED_METRICS_PORT", "abc")
    monkeypatch.setenv("MDP_UNIFIED_METRIC_PORT", "9000")
    assert _diagnostics(lambda: RunSettings.resolve(config=config)) == [
        "$MDP_UNIFIED_METRICS_PORT:1:1: metrics_port: input should be a valid integer, "
        "unable to parse string as an integer",
        "$MDP_UNIFIED_METRIC_PORT:1:1: unknown setting MDP_UNIFIED_METRIC_PORT",
    ]


def test_a_bad_mode_or_name_is_reported_at_the_flag(config):
    assert _diagnostics(lambda: pipeline_of(RunSettings.resolve(config=config, mode="stream"))) == [
        "--mode:1:1: mode: input should be 'dag' or 'classic'"
    ]


def test_a_store_url_for_a_job_without_a_store_is_an_error(config, monkeypatch):
    monkeypatch.setenv(
        "MDP_UNIFIED_DAG_JSON",
        '{"nodes": [{"id": "store", "type": "sink.null", "params": null}, '
        '{"id": "other_store", "type": "sink.null", "params": null}]}',
    )
    assert _diagnostics(
        lambda: pipeline_of(RunSettings.resolve(config=config, store_url="sqlite:///x.db"))
    ) == ["--store-url:1:1: a store URL is set but the pipeline has no sink.store node"]


def test_json_configs_compile_like_yaml_and_are_located(tmp_path):
    data = yaml.safe_load(DAG)
    data["dag"]["nodes"][1]["params"]["window"] = "1s"
    text = json.dumps(data, indent="\t")
    from_json = compile_text("job.json", text).source
    from_yaml = compile_text("job.yaml", yaml.safe_dump(data)).source

    def code(source: str) -> list[str]:
        lines = without_config_locations(source).splitlines()
        return [line for line in lines if not line.lstrip().startswith(("#", "CONFIG_"))]

    assert code(from_json) == code(from_yaml)
    data["dag"]["nodes"][0]["params"]["count"] = 1e3  # a JSON number, though PyYAML would read 1e3 as text
    bad = json.dumps(data, indent=2).replace('"window": "1s"', '"window": "1 sec"')
    [problem] = _diagnostics(lambda: analyse("job.json", bad))
    line = next(i for i, row in enumerate(bad.splitlines(), 1) if '"1 sec"' in row)
    assert problem.startswith(f"job.json:{line}:21: not a duration: '1 sec'")


def test_mdp_run_uses_flags_environment_and_file(config, tmp_path):
    env = {
        "MDP_CACHE_DIR": str(tmp_path / "cache"),
        "MDP_UNIFIED_STORE_URL": "sqlite:///env.db",
        "MDP_UNIFIED_DAG_JSON": '{"nodes": [{"id": "ticks", "params": {"count": 2000}}]}',
    }
    flags = ["--job-name", "cli-job", "--store-url", "sqlite:///flag.db"]
    result = CliRunner().invoke(app, ["run", str(config), *flags], env=env)
    assert result.exit_code == 0, result.output + str(result.exception)
    assert "job 'cli-job' finished" in result.stderr
    with sqlite3.connect(tmp_path / "flag.db") as db:
        assert db.execute("select count(*) from bars").fetchone()[0] > 0
    assert not (tmp_path / "env.db").exists() and not (tmp_path / "file.db").exists()
    [ticks_row] = [line.split() for line in result.stderr.splitlines() if line.strip().startswith("'ticks'")]
    assert ticks_row[2:4] == ["0", "2000"]  # the count from MDP_UNIFIED_DAG_JSON


def test_mdp_run_reports_setting_mistakes_with_their_text(config, tmp_path):
    result = CliRunner().invoke(app, ["run", str(config)], env={"MDP_UNIFIED_METRICS_PORT": "nine"})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:3] == [
        "$MDP_UNIFIED_METRICS_PORT:1:1: error: metrics_port: input should be a valid integer, "
        "unable to parse string as an integer",
        "    1 | nine",
        "      | ^~~~",
    ]


def test_mdp_run_needs_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2 and "MDP_UNIFIED_CONFIG" in result.output
