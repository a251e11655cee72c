"""Third-party components end to end: entry points, import-path types, validation, codegen, runs."""

from __future__ import annotations

import csv
import doctest
import logging
import re
from importlib import metadata
from pathlib import Path

import pytest

from compiler.components import REGISTRY, Component, ComponentNotFound, lookup, plugins, registry
from compiler.diagnostics import DiagnosticError, render_all
from compiler.driver import compile_text
from runtime_lib.job import run as run_job
from runtime_lib.runner import RunOptions
from tests.support.compiled_module import load_compiled
from tests.support.example_plugin_install import activated

TICKS = [
    {"symbol": "AAA", "ts": 1, "price": 10.0, "size": 3},
    {"symbol": "AAA", "ts": 2, "price": 10.5, "size": None},
    {"symbol": "BBB", "ts": 3, "price": 20.0, "size": 7},
]


@pytest.fixture(scope="module", autouse=True)
def plugin_site():
    """The example plugin, installed once per run, on sys.path for this module's tests."""
    with activated() as site:
        yield site


def job(
    scale_type: str = "operator.example_scale",
    scale_params: str = "{field: size, factor: 100, into: shares}",
    csv_path: str = "out.csv",
    plugins: str = "[]",
) -> str:
    """A config: synthetic ticks -> scale -> filter on the new field -> CSV sink.

    ``plugins`` is the config's list of modules it opts into (the installed example plugin is
    allowed without being listed, through its entry points).
    """
    return f"""\
name: plugin_job
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA, BBB], count: 40, seed: 3}}
    - id: scale
      type: {scale_type}
      params: {scale_params}
    - id: positive
      type: operator.filter
      params: {{where: "shares > 0"}}
    - id: out
      type: sink.example_csv
      params: {{path: {csv_path}, columns: [symbol, ts, shares]}}
  edges:
    - [ticks, scale]
    - [scale, positive]
    - [positive, out]
plugins: {plugins}
"""


def errors_of(text: str, file: str = "plugin.yaml") -> str:
    """The rendered diagnostics of a config that must not compile."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text(file, text)
    return render_all(caught.value.diagnostics, {file: text})


def test_entry_points_add_types_and_builtins_stay_apart():
    types = registry()
    assert {"operator.example_scale", "sink.example_csv"} <= set(types)
    assert not {"operator.example_scale", "sink.example_csv"} & set(REGISTRY)
    assert types["operator.filter"] is REGISTRY["operator.filter"]
    assert lookup("sink.example_csv").runtime == "mdp_example_plugin.runtime:CsvSink"


def test_generated_module_imports_the_plugin_runtime_by_name():
    source = compile_text("plugin.yaml", job()).source
    assert "from mdp_example_plugin.runtime import Scale\n" in source
    assert "from mdp_example_plugin.runtime import CsvSink\n" in source
    call = 'ctx.operator("scale","operator.example_scale",Scale,field="size",factor=100.0,into="shares")'
    assert call in re.sub(r"\s+", "", source)
    assert "mdp_example_plugin.components" not in source  # the compiler's side stays out


def test_run_local_gives_the_plugin_behaviour():
    module = load_compiled(job())
    out = module.run_local({"ticks": TICKS})["out"]
    assert out == [{**TICKS[0], "shares": 300.0}, {**TICKS[2], "shares": 700.0}]


def test_import_path_type_compiles_like_the_registered_name():
    def body(source: str) -> str:
        return source[source.index("def build") :]  # the headers hold the config's hash

    by_name = compile_text("plugin.yaml", job()).source
    by_path = compile_text("plugin.yaml", job(scale_type='"mdp_example_plugin.components:SCALE"')).source
    assert body(by_path) == body(by_name)
    module = load_compiled(job(scale_type="mdp_example_plugin.components:SCALE"))
    assert module.run_local({"ticks": TICKS})["out"][0]["shares"] == 300.0


def test_live_run_writes_through_the_plugin_sink(tmp_path):
    target = tmp_path / "scaled.csv"
    module = load_compiled(job(csv_path=str(target)))
    assert run_job(module.build, module.JOB_NAME, RunOptions(), quiet=True) == 0
    with open(target, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["symbol", "ts", "shares"]
    assert len(rows) > 1 and all(float(shares) > 0 for _, _, shares in rows[1:])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("{field: size, factor: 0}", "plugin.yaml:10:37: error: factor must not be 0"),
        (
            "{field: size, factor: lots}",
            "plugin.yaml:10:37: error: factor: input should be a valid number, unable to parse string as a number",
        ),
        (
            "{field: size, factr: 2}",
            "plugin.yaml:10:15: error: missing required key 'factor' in params of operator.example_scale",
        ),
        ("{field: sise, factor: 2, into: shares}", "plugin.yaml:10:23: error: unknown field 'sise'"),
    ],
)
def test_plugin_params_are_validated_with_locations(params, expected):
    report = errors_of(job(scale_params=params))
    assert report.splitlines()[0].startswith(expected), report


def test_plugin_sink_params_are_checked_against_the_input():
    report = errors_of(job().replace("columns: [symbol, ts, shares]", "columns: [symbol, tss, shares]"))
    assert report.splitlines()[0] == "plugin.yaml:16:49: error: unknown field 'tss'", report
    assert "did you mean 'ts'?" in report
    report = errors_of(job().replace("columns: [symbol, ts, shares]", "columns: []"))
    assert report.startswith("plugin.yaml:16:40: error: columns: list should have at least 1 item"), report


def test_unknown_param_gets_did_you_mean():
    report = errors_of(job(scale_params="{field: size, factor: 2, into: shares, factr: 3}"))
    assert "plugin.yaml:10:54: error: unknown key 'factr' in params of operator.example_scale" in report
    assert "= hint: did you mean 'factor'?" in report


@pytest.mark.parametrize(
    ("type_text", "message", "hint"),
    [
        (
            "operator.example_scal",
            "unknown node type 'operator.example_scal'",
            "did you mean 'operator.example_scale'?",
        ),
        (
            '"mdp_example_plugin.components:SCAL"',
            "module 'mdp_example_plugin.components' has no attribute 'SCAL'",
            "did you mean 'SCALE'?",
        ),
        (
            '"no_such_package.components:SCALE"',
            "cannot import 'no_such_package.components:SCALE': no module named 'no_such_package'",
            "is the plugin's package installed in this environment?",
        ),
        (
            '"mdp_example_plugin.components:ScaleParams"',
            "'mdp_example_plugin.components:ScaleParams' cannot be used as a node type: it is a "
            "ModelMetaclass, not an mdp Component",
            plugins.IMPORT_PATH_HINT,
        ),
        (
            '"mdp_example_plugin components:SCALE"',
            "not an import path: 'mdp_example_plugin components:SCALE'",
            plugins.IMPORT_PATH_HINT,
        ),
        (
            '"tests.compiler.test_plugins:NO_RUNTIME"',
            "runtime 'mdp_example_plugin.runtime:Missing' of 'operator.example_broken': "
            "module 'mdp_example_plugin.runtime' has no attribute 'Missing'",
            None,
        ),
        (
            '"tests.compiler.test_plugins:SHADOW_FILTER"',
            "'tests.compiler.test_plugins:SHADOW_FILTER' defines 'operator.filter', which is a built-in type",
            "a plugin component needs a type name of its own",
        ),
    ],
)
def test_bad_plugin_types_are_located_diagnostics(type_text, message, hint):
    report = errors_of(job(scale_type=type_text, plugins="[no_such_package, tests.compiler.test_plugins]"))
    lines = report.splitlines()
    assert lines[0] == f"plugin.yaml:9:13: error: {message}", report
    assert lines[1].strip().startswith("9 |       type:")
    assert (lines[3] == f"  = hint: {hint}") if hint else not lines[3].startswith("  = hint"), report


# Components that the entry-point tests below register under fabricated entry points.
SHADOW_FILTER = Component(
    "operator.filter",
    REGISTRY["operator.filter"].params,
    "a plugin reusing a built-in name",
    output=lambda params, upstream: upstream,
    runtime="mdp_example_plugin.runtime:Scale",
    kwargs=lambda params: {},
)
NO_RUNTIME = Component(
    "operator.example_broken",
    REGISTRY["operator.filter"].params,
    "runtime class missing",
    output=lambda params, upstream: upstream,
    runtime="mdp_example_plugin.runtime:Missing",
    kwargs=lambda params: {},
)
TWIN_A = Component(
    "operator.twin",
    REGISTRY["operator.filter"].params,
    "one of two with this name",
    output=lambda params, upstream: upstream,
    runtime="mdp_example_plugin.runtime:Scale",
    kwargs=lambda params: {},
)
TWIN_B = Component(
    "operator.twin",
    REGISTRY["operator.filter"].params,
    "the other one",
    output=lambda params, upstream: upstream,
    runtime="mdp_example_plugin.runtime:Scale",
    kwargs=lambda params: {},
)
NOT_A_COMPONENT = {"type": "operator.nope"}


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Replace the installed entry points by the ones a test names (``name=value`` pairs)."""

    def install(**values: str) -> None:
        points = [
            metadata.EntryPoint(name, value, plugins.ENTRY_POINT_GROUP) for name, value in values.items()
        ]
        monkeypatch.setattr(
            plugins.metadata, "entry_points", lambda group: [p for p in points if p.group == group]
        )
        plugins.refresh()

    yield install
    plugins.refresh()


def test_builtin_name_wins_with_a_warning(fake_entry_points, caplog):
    fake_entry_points(
        shadow="tests.compiler.test_plugins:SHADOW_FILTER", scale="mdp_example_plugin.components:SCALE"
    )
    with caplog.at_level(logging.WARNING, logger="mdp.plugins"):
        found = plugins.installed(REGISTRY)
    assert registry()["operator.filter"] is REGISTRY["operator.filter"]
    assert "operator.example_scale" in found.plugins
    [problem] = found.problems
    assert "'operator.filter' is a built-in type; the built-in is used" in problem
    assert problem in caplog.text


def test_two_plugins_with_one_name_are_both_withheld(fake_entry_points):
    fake_entry_points(a="tests.compiler.test_plugins:TWIN_A", b="tests.compiler.test_plugins:TWIN_B")
    found = plugins.installed(REGISTRY)
    assert "operator.twin" not in found.plugins and "operator.twin" in found.conflicts
    with pytest.raises(ComponentNotFound, match="defined by more than one plugin") as caught:
        lookup("operator.twin")
    assert "import path" in caught.value.hint
    assert lookup("tests.compiler.test_plugins:TWIN_B") is TWIN_B  # an import path picks one


def test_broken_entry_points_are_skipped_not_fatal(fake_entry_points):
    fake_entry_points(
        gone="no_such_plugin_module:THING",
        odd="tests.compiler.test_plugins:NOT_A_COMPONENT",
        scale="mdp_example_plugin.components:SCALE",
    )
    found = plugins.installed(REGISTRY)
    assert list(found.plugins) == ["operator.example_scale"]
    assert any("'gone'" in p and "failed to load (ModuleNotFoundError" in p for p in found.problems)
    assert any("'odd'" in p and "it is a dict, not an mdp Component" in p for p in found.problems)


def test_builtin_lookups_do_not_load_plugins(fake_entry_points):
    fake_entry_points(gone="no_such_plugin_module:THING")
    assert lookup("operator.filter") is REGISTRY["operator.filter"]
    assert plugins._entry_point_components.cache_info().currsize == 0


def test_example_plugin_declares_its_entry_points(plugin_site):
    dist = metadata.distribution("mdp-example-plugin")
    assert Path(dist.locate_file("")) == plugin_site  # the temporary install, not the environment
    points = {ep.name: ep.value for ep in dist.entry_points if ep.group == plugins.ENTRY_POINT_GROUP}
    assert points == {
        "scale": "mdp_example_plugin.components:SCALE",
        "sinks": "mdp_example_plugin.components:SINKS",
    }


def test_example_runtime_docstring_examples_hold():
    import mdp_example_plugin.runtime

    result = doctest.testmod(mdp_example_plugin.runtime)
    assert result.attempted and not result.failed
