"""What the command line imports: each command loads only what it uses, so it starts quickly.

Each command runs in a fresh interpreter, the way the ``mdp`` console script starts it, and
reports the modules loaded by the time it exits.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import compiler.components
from compiler.components import BUILT_INS, REGISTRY

ROOT = Path(__file__).parents[2]
BARS = "configs/dag/bars.yaml"
# argv[1]: where to write the loaded module names; the rest: mdp's arguments.
RUN_AND_LIST_MODULES = r"""
import json, sys
listing, sys.argv = sys.argv[1], ["mdp", *sys.argv[2:]]
from compiler.cli import main
try:
    main()
finally:
    with open(listing, "w", encoding="utf-8") as out:
        json.dump(sorted(sys.modules), out)
"""
CODE_GENERATION = ("black", "jinja2", "compiler.codegen.emit", "compiler.codegen.chain")
# What only a running source needs: the event loop and the synthetic stream's tables.
SOURCE_RUNTIME = ("asyncio", "runtime_lib.sources.pacing", "runtime_lib.sources.synthetic")
# What only `mdp run` needs: the job runner, metrics and the run settings.
RUN_ONLY = (
    "runtime_lib.job",
    "runtime_lib.runner",
    "prometheus_client",
    "pydantic_settings",
    "compiler.settings",
)
COMPILER_STAGES = (
    "networkx",
    "pydantic",
    "yaml",
    "compiler.driver",
    "compiler.components",
    "compiler.codegen",
)
UNUSED_BY_BARS = ("ibkr", "routing", "window", "flow")


def loaded_by(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``mdp *args`` in a fresh interpreter; its result and the modules it had loaded."""
    listing = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, str(listing), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, set(json.loads(listing.read_text(encoding="utf-8")))


def packages_in(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_help_loads_no_compiler_stage(tmp_path):
    result, modules = loaded_by(tmp_path, "--help")
    assert result.returncode == 0 and "validate" in result.stdout, result.stderr
    assert packages_in(modules, COMPILER_STAGES + CODE_GENERATION + RUN_ONLY) == []


@pytest.mark.parametrize("command", ["validate", "explain"])
def test_checking_a_config_loads_neither_code_generator_nor_runner(tmp_path, command):
    result, modules = loaded_by(tmp_path, command, BARS)
    assert result.returncode == 0, result.stderr
    assert packages_in(modules, CODE_GENERATION + RUN_ONLY + SOURCE_RUNTIME) == []
    assert "compiler.driver" in modules  # the check really ran


def test_validate_loads_only_the_component_families_the_config_uses(tmp_path):
    result, modules = loaded_by(tmp_path, "validate", BARS)
    assert (result.returncode, result.stdout) == (0, f"{BARS}: ok\n"), result.stderr
    families = {f"compiler.components.{family}" for family in ("providers", "stateless", "resample", "sinks")}
    assert families <= modules
    assert packages_in(modules, tuple(f"compiler.components.{f}" for f in UNUSED_BY_BARS)) == []


def test_compile_still_generates_the_module(tmp_path):
    target = tmp_path / "bars.py"
    result, modules = loaded_by(tmp_path, "compile", BARS, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert {"black", "jinja2", "compiler.codegen.emit"} <= modules  # the listing does see lazy imports
    compile(target.read_text(encoding="utf-8"), str(target), "exec")


def test_built_in_table_names_every_component_where_it_is_defined():
    defined = {}
    for info in pkgutil.iter_modules(compiler.components.__path__):
        module = importlib.import_module(f"compiler.components.{info.name}")
        for component in getattr(module, "COMPONENTS", ()):
            defined[component.type_name] = info.name
    assert BUILT_INS == defined
    for type_name, family in BUILT_INS.items():
        module = importlib.import_module(f"compiler.components.{family}")
        assert REGISTRY[type_name] in module.COMPONENTS and REGISTRY[type_name].type_name == type_name


def test_registry_answers_membership_without_loading_families(tmp_path):
    probe = (
        "import sys; from compiler.components import REGISTRY; "
        "assert 'operator.window' in REGISTRY and 'operator.nope' not in REGISTRY; "
        "assert len(list(REGISTRY)) == len(REGISTRY) > 10; "
        "print('compiler.components.window' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "False\n"), result.stderr
