"""Generated modules need only runtime_lib and the standard library, never the compiler's stack."""

from __future__ import annotations

import ast
import json
import sys

from tests.support.jobs import (
    PYTHON,
    REPO,
    bar_rows,
    compile_config,
    free_port,
    job_env,
    make_layout,
    run,
    synthetic_config,
)

COMPILER_STACK = ("compiler", "jinja2", "black", "networkx", "typer", "pydantic", "pydantic_settings", "yaml")

# Runs in a fresh interpreter: blocks the compiler's stack, then loads a generated module from
# its file, calls run_local, and runs its command line (argv after the module path).
ISOLATED = r"""
import importlib.abc, importlib.util, json, runpy, sys

BLOCKED = frozenset(sys.argv[1].split(","))
already = sorted(n for n in sys.modules if n.partition(".")[0] in BLOCKED)
refused = []

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            refused.append(name)
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Blocker())
try:
    import jinja2
    blocker_works = False
except ImportError:
    blocker_works = True

path, mode, rest = sys.argv[2], sys.argv[3], sys.argv[4:]
report = {"already": already, "blocker_works": blocker_works}
if mode == "local":
    spec = importlib.util.spec_from_file_location("isolated_job", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report["result"] = module.run_local(json.loads(rest[0]))
else:
    sys.argv = [path, *rest]
    try:
        runpy.run_path(path, run_name="__main__")
        report["exit"] = None
    except SystemExit as exc:
        report["exit"] = exc.code
report["loaded"] = sorted(n for n in sys.modules if n.partition(".")[0] in BLOCKED)
report["refused"] = sorted(set(refused))
report["runtime_lib"] = "runtime_lib" in sys.modules
print("REPORT " + json.dumps(report))
"""


def run_isolated(tmp_path, module, mode: str, *args: str) -> tuple[dict, str]:
    """Run ``module`` in a blocked interpreter (cwd ``tmp_path``); return its report and stderr."""
    result = run(
        [PYTHON, "-c", ISOLATED, ",".join(COMPILER_STACK), str(module), mode, *args],
        tmp_path,
        job_env(tmp_path),
    )
    [line] = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    report = json.loads(line[len("REPORT ") :])
    assert report["already"] == [], "imported before the blocker was installed"
    assert report["blocker_works"]
    assert report["loaded"] == []
    assert report["refused"] == ["jinja2"], "only the check above may ask for the compiler's stack"
    assert report["runtime_lib"]
    return report, result.stderr


def test_run_local_without_the_compiler_stack(tmp_path):
    minute = 60_000_000_000
    ticks = [
        {"symbol": "A", "ts": 5 * minute + 1, "price": 10.0, "size": 100},
        {"symbol": "A", "ts": 5 * minute + 2, "price": 12.0, "size": 50},  # filtered out (size < 100)
        {"symbol": "A", "ts": 5 * minute + 3, "price": 9.0, "size": 300},
        {"symbol": "B", "ts": 5 * minute + 4, "price": 50.0, "size": 200},
        {"symbol": "A", "ts": 6 * minute, "price": 11.0, "size": 100},
    ]
    report, _ = run_isolated(tmp_path, REPO / "generated" / "bars.py", "local", json.dumps({"ticks": ticks}))
    bars = {(b["symbol"], b["ts"]): b for b in report["result"]["store"]}
    assert set(bars) == {("A", 5 * minute), ("B", 5 * minute), ("A", 6 * minute)}
    first = bars[("A", 5 * minute)]
    assert (first["open"], first["high"], first["low"], first["close"]) == (10.0, 10.0, 9.0, 9.0)
    assert (first["volume"], first["count"], first["interval"]) == (400, 2, "1m")
    assert first["vwap"] == (10.0 * 100 + 9.0 * 300) / 400


def test_command_line_without_the_compiler_stack(tmp_path):
    root = make_layout(tmp_path / "work")
    report, stderr = run_isolated(root, root / "generated" / "bars.py", "main", "--max-events", "3000")
    assert report["exit"] == 0, stderr
    assert "job 'bars' finished" in stderr
    rows = bar_rows(root / "mdp-data" / "bars.db")
    assert rows and sum(row[8] for row in rows) > 2000


def test_synthetic_source_map_and_metrics_without_the_compiler_stack(tmp_path):
    config = tmp_path / "iso.yaml"
    config.write_text(
        synthetic_config(
            "iso",
            rate=0,
            nodes="""\
    - id: big
      type: operator.filter
      params: {where: "size >= 100"}
    - id: lots
      type: operator.map
      params: {fields: {lots: "math.floor(size / 100)"}}
    - id: out
      type: sink.jsonl
      params: {path: out/iso.jsonl}""",
            edges="""\
    - [ticks, big]
    - [big, lots]
    - [lots, out]""",
        )
    )
    module = compile_config(config, tmp_path / "iso_job.py")
    report, stderr = run_isolated(
        tmp_path, module, "main", "--max-events", "2000", "--metrics-port", str(free_port())
    )
    assert report["exit"] == 0, stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "iso.jsonl").read_text().splitlines()]
    assert records and all(r["lots"] == r["size"] // 100 and r["size"] >= 100 for r in records)


def imported_top_names(tree: ast.AST) -> set[str]:
    """Top-level names of every absolute import in ``tree``, at any depth."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_runtime_lib_imports_none_of_the_compiler_stack():
    files = sorted((REPO / "runtime_lib").rglob("*.py"))
    assert len(files) > 10
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        forbidden = imported_top_names(tree) & set(COMPILER_STACK)
        assert not forbidden, f"{file.relative_to(REPO)} imports {sorted(forbidden)}"


def test_checked_in_module_imports_only_runtime_lib_and_the_standard_library():
    tree = ast.parse((REPO / "generated" / "bars.py").read_text(encoding="utf-8"))
    names = imported_top_names(tree)
    assert "runtime_lib" in names
    assert names - {"runtime_lib"} <= set(sys.stdlib_module_names), names
