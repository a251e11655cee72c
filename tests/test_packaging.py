"""The wheel: built offline, ships the templates, and its installed copy compiles like the repo."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.jobs import BARS_CONFIG, GENERATED_BARS, PYTHON, REPO, job_env, make_layout, run

# Runs outside the repository with the installed copy first on the path, and without the
# editable install's finder (which would quietly fill in a module the wheel lacks from the
# repository): compiles argv[1] into argv[2] with the installed command line, then reports
# where every loaded module of the project came from.
COMPILE_WITH_INSTALLED = r"""
import json, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import compiler.cli
sys.argv = ["mdp", "compile", sys.argv[1], "-o", sys.argv[2]]
try:
    compiler.cli.main()
    code = 0
except SystemExit as exc:
    code = exc.code
ours = ("compiler", "runtime_lib", "mdp_templates")
origins = {n: getattr(m, "__file__", None) for n, m in sys.modules.items() if n.partition(".")[0] in ours}
print("ORIGIN " + json.dumps(origins))
sys.exit(code)
"""


def copy_sources(target: Path) -> Path:
    """Copy what the build reads (pyproject, readme, package folders) so it writes nothing in the repo."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    folders = {package.split(".")[0] for package in setuptools["packages"]}
    folders = {setuptools.get("package-dir", {}).get(folder, folder) for folder in folders}
    target.mkdir()
    shutil.copy2(REPO / "pyproject.toml", target)
    readme = project["project"].get("readme")
    if readme and (REPO / readme).exists():
        shutil.copy2(REPO / readme, target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in sorted(folders):
        shutil.copytree(REPO / folder, target / folder, ignore=ignore)
    return target


@pytest.mark.slow  # builds and installs a wheel: 5 to 10 s, more on a busy machine
def test_wheel_ships_templates_and_compiles_byte_identically(tmp_path):
    assert importlib.util.find_spec(
        "wheel"
    ), "building without isolation needs the test extra: pip install -e '.[test]'"
    env = job_env(tmp_path)
    source = copy_sources(tmp_path / "src")
    wheels = tmp_path / "wheels"
    run(
        [
            PYTHON,
            "-m",
            "pip",
            "wheel",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            ".",
            "-w",
            str(wheels),
        ],
        source,
        env,
    )
    [wheel] = wheels.glob("mdp-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    templates = {f"mdp_templates/{p.name}" for p in (REPO / "templates").glob("*.j2")}
    assert templates and templates <= names, sorted(templates - names)
    assert "mdp_templates/__init__.py" in names
    modules = {
        p.relative_to(source).as_posix()
        for folder in ("compiler", "runtime_lib")
        for p in (source / folder).rglob("*.py")
    }
    assert "compiler/codegen/emit.py" in modules
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"

    site = tmp_path / "site"
    run(
        [PYTHON, "-m", "pip", "install", "--no-index", "--no-deps", "--target", str(site), str(wheel)],
        tmp_path,
        env,
    )

    work = make_layout(tmp_path / "work")
    out = tmp_path / "compiled.py"
    result = run(
        [PYTHON, "-c", COMPILE_WITH_INSTALLED, str(work / BARS_CONFIG), str(out)],
        work,
        job_env(tmp_path, PYTHONPATH=str(site)),
    )
    [line] = [line for line in result.stdout.splitlines() if line.startswith("ORIGIN ")]
    origins = json.loads(line[len("ORIGIN ") :])
    assert {"compiler", "compiler.codegen.emit", "mdp_templates", "runtime_lib"} <= set(origins)
    for name, file in origins.items():
        assert file and Path(file).is_relative_to(site), f"{name} came from {file}, not the installed wheel"
    assert out.read_bytes() == GENERATED_BARS.read_bytes()
