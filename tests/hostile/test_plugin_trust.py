"""Plugins are code, and code is opted into: a config imports only allowed modules.

A module is allowed when an installed package declares it through ``mdp.components`` entry
points, when the config lists it under ``plugins:``, or when ``MDP_PLUGINS`` lists it. The
standard library and mdp's own packages never are. A refused module is not imported, so none
of its code runs, even under ``mdp validate``.
"""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from compiler.components import ComponentNotFound, lookup, plugins, trust
from compiler.diagnostics import DiagnosticError, render_all
from compiler.driver import compile_text
from tests.support.compiled_module import load_compiled
from tests.support.example_plugin_install import activated
from tests.support.jobs import MDP, job_env, run

MARKER_MODULE = "mdp_marker_plugin"
ALLOW_HINT = "  = hint: if you trust its code, list it under plugins: in the config, or in MDP_PLUGINS"
NEVER_HINT = "  = hint: plugins come from packages of your own, listed under plugins: in the config"


def map_chain(fn: str, plugins_line: str = "") -> str:
    """The issue's config: a map builds a record whose keys are ``sh``, ``-c`` and a command, then
    ``fn`` is applied to it (``subprocess.run(record)`` would run ``sh -c 'touch pwned'``)."""
    return f"""\
name: shell
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA], count: 3, seed: 1}}
    - id: argv
      type: operator.map
      params: {{expr: "{{'sh': 0, '-c': 0, 'touch pwned': 0}}"}}
    - id: shell
      type: operator.map
      params: {{fn: "{fn}"}}
    - id: out
      type: sink.null
  edges:
    - [ticks, argv]
    - [argv, shell]
    - [shell, out]
{plugins_line}"""


def typed_node(type_text: str, plugins_line: str = "", params: str = "{}") -> str:
    """A config whose middle node's type is ``type_text`` (an import path), with ``params``."""
    return f"""\
name: typed
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA], count: 3, seed: 1}}
    - id: marked
      type: "{type_text}"
      params: {params}
    - id: out
      type: sink.null
  edges:
    - [ticks, marked]
    - [marked, out]
{plugins_line}"""


def errors_of(text: str, file: str = "trust.yaml") -> list[str]:
    """The rendered diagnostics of a config that must not compile, line by line."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text(file, text)
    return render_all(caught.value.diagnostics, {file: text}).splitlines()


def write_marker_module(folder: Path, name: str = MARKER_MODULE) -> Path:
    """A plugin module whose top-level code writes ``<folder>/<name>.ran``; return that marker path.

    It offers a record function ``tag`` and a component ``MARKED`` (``operator.marked``).
    """
    marker = folder / f"{name}.ran"
    (folder / f"{name}.py").write_text(
        textwrap.dedent(f"""\
            from pathlib import Path

            from compiler.components import Component, Params
            from runtime_lib.operators.base import Operator

            Path({str(marker)!r}).write_text("imported", encoding="utf-8")


            def tag(record):
                return {{**record, "tagged": True}}


            class Pass(Operator):
                def process(self, batch):
                    self.stats.add(len(batch), len(batch))
                    return batch


            MARKED = Component(
                "operator.marked", Params, "passes records on",
                output=lambda params, upstream: upstream,
                runtime="{name}:Pass", kwargs=lambda params: {{}},
            )
            """),
        encoding="utf-8",
    )
    return marker


@pytest.fixture
def marker_site(tmp_path, monkeypatch):
    """A folder on ``sys.path`` holding the marker module; yields (folder, marker path)."""
    folder = tmp_path / "site"
    folder.mkdir()
    marker = write_marker_module(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(trust.ENV_VAR, raising=False)
    yield folder, marker
    sys.modules.pop(MARKER_MODULE, None)


@pytest.mark.parametrize(
    ("fn", "module"),
    [
        ("subprocess:run", "subprocess"),
        ("os:system", "os"),
        ("builtins:exec", "builtins"),
        ("os.path:join", "os.path"),
    ],
)
def test_standard_library_functions_are_refused_at_the_fn(fn, module, monkeypatch):
    monkeypatch.setenv(trust.ENV_VAR, module)  # listing it does not help either
    lines = errors_of(map_chain(fn))
    assert (
        lines[0]
        == f"trust.yaml:12:20: error: module {module!r} is in the standard library, which is never a plugin"
    )
    assert lines[1] == f'   12 |       params: {{fn: "{fn}"}}'
    assert lines[3] == NEVER_HINT
    assert lines[-1] == "1 error"


def test_the_issue_reproduction_fails_validation_and_runs_nothing(tmp_path):
    (tmp_path / "shell.yaml").write_text(map_chain("subprocess:run"), encoding="utf-8")
    env = job_env(tmp_path)
    for command in ("validate", "run"):
        result = run([MDP, command, "shell.yaml"], cwd=tmp_path, env=env, check=False)
        assert result.returncode == 1, result
        first = result.stderr.splitlines()[0]
        assert first == (
            "shell.yaml:12:20: error: module 'subprocess' is in the standard library, which is never a plugin"
        ), result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("entry", "message", "hint"),
    [
        ("os", "module 'os' is in the standard library, which is never a plugin", NEVER_HINT),
        ("builtins", "module 'builtins' is in the standard library, which is never a plugin", NEVER_HINT),
        ("compiler.components", "module 'compiler.components' is part of mdp, not a plugin", NEVER_HINT),
        (
            "'my pkg'",
            "not a module name: 'my pkg'",
            "  = hint: write a dotted module name, for example mypkg.ops",
        ),
        ("3", "plugins.0: input should be a valid string", None),
    ],
)
def test_bad_plugins_entries_are_located(entry, message, hint):
    lines = errors_of(map_chain("lambda x: {**x}", plugins_line=f"plugins: [{entry}]\n"))
    assert lines[0] == f"trust.yaml:19:11: error: {message}", lines
    assert lines[1] == f"   19 | plugins: [{entry}]"
    assert (lines[3] == hint) if hint else not lines[3].startswith("  = hint"), lines


def test_type_import_path_is_refused_before_its_module_runs(marker_site):
    _, marker = marker_site
    lines = errors_of(typed_node(f"{MARKER_MODULE}:MARKED"))
    assert lines[0] == f"trust.yaml:8:13: error: module {MARKER_MODULE!r} is not an allowed plugin"
    assert lines[3] == ALLOW_HINT
    assert not marker.exists()
    assert MARKER_MODULE not in sys.modules


def test_fn_from_a_module_not_listed_is_refused_before_it_runs(marker_site):
    _, marker = marker_site
    lines = errors_of(map_chain(f"{MARKER_MODULE}:tag"))
    assert lines[0] == f"trust.yaml:12:20: error: module {MARKER_MODULE!r} is not an allowed plugin"
    assert lines[3] == ALLOW_HINT
    assert not marker.exists()


def test_mdp_validate_imports_nothing_not_allowed_and_plugins_key_opts_in(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    marker = write_marker_module(site)
    env = job_env(tmp_path, PYTHONPATH=str(site))
    env.pop(trust.ENV_VAR, None)
    (tmp_path / "refused.yaml").write_text(typed_node(f"{MARKER_MODULE}:MARKED"), encoding="utf-8")
    (tmp_path / "allowed.yaml").write_text(
        typed_node(f"{MARKER_MODULE}:MARKED", f"plugins: [{MARKER_MODULE}]\n"), encoding="utf-8"
    )

    result = run([MDP, "validate", "refused.yaml"], cwd=tmp_path, env=env, check=False)
    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[0]
        == f"refused.yaml:8:13: error: module {MARKER_MODULE!r} is not an allowed plugin"
    )
    assert not marker.exists()

    result = run([MDP, "validate", "allowed.yaml"], cwd=tmp_path, env=env)
    assert result.stdout.strip() == "allowed.yaml: ok"
    assert marker.read_text(encoding="utf-8") == "imported"


def test_mdp_plugins_variable_opts_in(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    marker = write_marker_module(site)
    (tmp_path / "tagged.yaml").write_text(map_chain(f"{MARKER_MODULE}:tag"), encoding="utf-8")
    env = job_env(tmp_path, PYTHONPATH=str(site), MDP_PLUGINS=f" other.pkg , {MARKER_MODULE} ")
    result = run([MDP, "validate", "tagged.yaml"], cwd=tmp_path, env=env)
    assert result.stdout.strip() == "tagged.yaml: ok"
    assert marker.exists()


def test_listed_plugin_function_runs_in_the_compiled_module(marker_site):
    module = load_compiled(map_chain(f"{MARKER_MODULE}:tag", f"plugins: [{MARKER_MODULE}]\n"))
    out = module.run_local({"ticks": [{"symbol": "AAA", "ts": 1, "price": 1.0, "size": 1}]})["out"]
    assert out == [{"sh": 0, "-c": 0, "touch pwned": 0, "tagged": True}]


def test_listing_a_package_allows_its_submodules_only_downwards():
    with trust.listing(["mypkg"]):
        assert trust.refusal("mypkg.ops.deep") is None
    with trust.listing(["mypkg.ops"]):
        assert trust.refusal("mypkg.ops.deep") is None
        assert trust.refusal("mypkg") == ("module 'mypkg' is not an allowed plugin", ALLOW_HINT[10:])
        assert trust.refusal("mypkg.opsx") == (
            "module 'mypkg.opsx' is not an allowed plugin",
            ALLOW_HINT[10:],
        )
    assert trust.refusal("mypkg.ops") is not None  # the config's list ends with its build


def test_a_listed_module_that_is_missing_or_broken_is_a_located_error(marker_site):
    folder, _ = marker_site
    (folder / "mdp_broken_plugin.py").write_text(
        "raise RuntimeError('no config for you')\n", encoding="utf-8"
    )
    lines = errors_of(map_chain("mdp_ghost_plugin:tag", "plugins: [mdp_ghost_plugin]\n"))
    assert (
        lines[0]
        == "trust.yaml:12:20: error: cannot import 'mdp_ghost_plugin:tag': no module named 'mdp_ghost_plugin'"
    )
    assert lines[3] == "  = hint: is the plugin's package installed in this environment?"
    lines = errors_of(map_chain("mdp_broken_plugin:tag", "plugins: [mdp_broken_plugin]\n"))
    assert lines[0] == (
        "trust.yaml:12:20: error: importing module 'mdp_broken_plugin' failed (RuntimeError: no config for you)"
    )
    sys.modules.pop("mdp_broken_plugin", None)


def test_an_installed_entry_point_package_is_allowed_without_listing():
    with activated():
        assert "mdp_example_plugin" in trust.installed_packages()
        assert trust.refusal("mdp_example_plugin.components") is None
        config = typed_node("mdp_example_plugin.components:SCALE", params="{field: price, factor: 2}")
        source = compile_text("trust.yaml", config).source
        assert "from mdp_example_plugin.runtime import Scale\n" in source
    assert trust.refusal("mdp_example_plugin.components") == (
        "module 'mdp_example_plugin.components' is not an allowed plugin",
        ALLOW_HINT[10:],
    )


def test_an_entry_point_into_the_standard_library_is_skipped_unloaded(monkeypatch):
    assert "this" not in sys.modules  # importing it would print the Zen of Python
    point = metadata.EntryPoint("zen", "this:s", plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        plugins.metadata, "entry_points", lambda group: [point] if group == point.group else []
    )
    plugins.refresh()
    try:
        found = plugins.installed({})
        assert found.problems == (
            "entry point 'zen' (this:s): module 'this' is in the standard library, which is never a plugin; skipped",
        )
        assert "this" not in sys.modules
        with pytest.raises(ComponentNotFound, match="module 'this' is in the standard library"):
            lookup("this:s")
    finally:
        monkeypatch.undo()
        plugins.refresh()
