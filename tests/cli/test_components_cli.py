"""``mdp components``: the list, ``--json`` for tools, one type in detail, unknown types."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from compiler.cli import app
from compiler.components import REGISTRY, registry
from tests.support.example_plugin_install import activated

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def plugin_site():
    """The example plugin on sys.path, so the listings include a plugin type."""
    with activated() as site:
        yield site


def mdp(*args: str):
    """Run the command line in-process and return its result."""
    return runner.invoke(app, list(args))


def test_list_shows_every_type_with_summary_and_params():
    result = mdp("components")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name, component in registry().items():
        [index] = [i for i, line in enumerate(lines) if line.startswith(name + " ")]
        assert component.summary in lines[index]
        assert lines[index + 1].lstrip().startswith("params: ")
    starts = [
        line.split()[0] for line in lines if line and not line.startswith(" ") and "." in line.split()[0]
    ]
    assert [s.split(".")[0] for s in starts] == sorted(
        (s.split(".")[0] for s in starts), key=["provider", "operator", "sink"].index
    )
    scale = next(i for i, line in enumerate(lines) if line.startswith("operator.example_scale "))
    assert "[plugin: entry point 'scale' of mdp-example-plugin 0.1.0" in lines[scale]
    assert 'params: field="price", factor*, into=null' in lines[scale + 1]
    resample = next(i for i, line in enumerate(lines) if line.startswith("operator.resample_ohlc "))
    assert 'window*, key="symbol", allowed_lateness="0s"' in lines[resample + 1]


def test_json_lists_params_from_the_models():
    result = mdp("components", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_type = {entry["type"]: entry for entry in data["components"]}
    assert set(by_type) == set(registry())
    assert data["plugin_problems"] == []
    replay = by_type["provider.replay"]
    assert (replay["kind"], replay["origin"], replay["summary"]) == (
        "provider",
        "built-in",
        REGISTRY["provider.replay"].summary,
    )
    params = {p["name"]: p for p in replay["params"]}
    assert params["path"] == {
        "name": "path",
        "type": "string",
        "required": True,
        "description": "CSV or CSV.gz file, or Parquet: a .parquet file or a folder of them; relative to the working directory at run time",
        "constraints": {"minLength": 1},
    }
    assert params["symbols"]["type"] == "list[string] | null" and params["symbols"]["default"] is None
    assert params["batch_size"]["default"] == 1024 and params["batch_size"]["constraints"] == {
        "exclusiveMinimum": 0,
        "maximum": 100000,
    }
    window = {p["name"]: p for p in by_type["operator.resample_ohlc"]["params"]}
    assert window["window"]["type"] == "duration" and window["window"]["required"]
    assert window["idle_timeout"]["type"] == "duration | null"
    assert window["offset"]["default"] == "0s"
    assert window["fill"]["type"] == '"none" | "flat"'
    scale = by_type["operator.example_scale"]
    assert scale["kind"] == "operator" and scale["runtime"] == "mdp_example_plugin.runtime:Scale"
    assert [p["name"] for p in scale["params"] if p["required"]] == ["factor"]


def test_detail_shows_params_input_and_output():
    result = mdp("components", "operator.resample_ohlc")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("operator.resample_ohlc  (operator, built-in)\n")
    assert "  window: duration; required\n      bar width: 1s, 1m, 5m, 1h, ...\n" in text
    assert '  fill: "none" | "flat"; default "none"\n' in text
    assert "input:   depends on its params" in text  # ticks or bars (the input param)
    assert "output:  symbol, ts, interval, open, high, low, close, volume, count, vwap\n" in text
    assert "runtime: runtime_lib.operators.resample_ohlc:ResampleOHLC" in text


@pytest.mark.parametrize(
    ("type_name", "lines"),
    [
        (
            "provider.replay",
            [
                "input:   none (a source has no inputs)",
                "output:  symbol, ts, price, size; optional: bid, ask, bid_size, ask_size, exchange",
            ],
        ),
        (
            "operator.filter",
            ["output:  its input's records (same fields)", "runtime: none: inlined into fused loops"],
        ),
        ("operator.map", ["output:  depends on its params"]),
        ("sink.null", ["params: none", "input:   any records", "output:  none (a sink has no outputs)"]),
        ("operator.example_scale", ["  factor: number; required", "input:   depends on its params"]),
    ],
)
def test_detail_of_each_kind(type_name, lines):
    result = mdp("components", type_name)
    assert result.exit_code == 0, result.output
    shown = result.stdout.splitlines()
    for line in lines:
        assert any(s.startswith(line) for s in shown), result.stdout


def test_detail_as_json_and_by_import_path():
    by_name = json.loads(mdp("components", "--json", "sink.example_csv").stdout)
    by_path = json.loads(mdp("components", "--json", "mdp_example_plugin.components:CSV").stdout)
    assert by_name == by_path
    assert by_name["origin"].startswith("entry point 'sinks' of mdp-example-plugin")
    assert by_name["output"] == "none (a sink has no outputs)"


@pytest.mark.parametrize(
    ("type_name", "hint"),
    [
        ("operator.resample", "did you mean 'operator.resample_ohlc'?"),
        ("operator.example_scal", "did you mean 'operator.example_scale'?"),
        ("zzz", "known types: "),
    ],
)
def test_unknown_type_exits_1_with_a_hint(type_name, hint):
    result = mdp("components", type_name)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: unknown node type {type_name!r}\n  = hint: {hint}")
