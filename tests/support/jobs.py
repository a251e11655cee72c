"""Helpers for tests that run real jobs: a temporary working layout, subprocesses, summaries."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
BARS_CONFIG = "configs/dag/bars.yaml"  # as written in the checked-in module's header
GENERATED_BARS = REPO / "generated" / "bars.py"
PYTHON = sys.executable
MDP = str(Path(sys.executable).parent / "mdp")
TIMEOUT_S = 60


def make_layout(root: Path) -> Path:
    """A working directory laid out like the repository: ``configs/`` and ``generated/bars.py``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(CONFIGS, root / "configs", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "generated").mkdir()
    shutil.copy2(GENERATED_BARS, root / "generated" / "bars.py")
    return root


def job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment with a private ``mdp run`` cache below ``tmp_path``."""
    env = dict(os.environ)
    env["MDP_CACHE_DIR"] = str(tmp_path / "mdp-cache")
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a command to completion and return its result (exit 0 required when ``check``)."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def compile_config(config: Path, out: Path) -> Path:
    """Compile ``config`` into the module ``out`` (in this process) and return ``out``."""
    from compiler.driver import compile_file

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compile_file(config).source, encoding="utf-8")
    return out


def synthetic_config(name: str, *, rate: float, nodes: str, edges: str) -> str:
    """A DAG config whose endless source ``ticks`` emits synthetic ticks, ``rate`` a second.

    ``nodes`` and ``edges`` are YAML list items (indented by four spaces) for the rest.
    """
    return f"""\
name: {name}
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA, BBB, CCC], seed: 7, rate: {rate}, batch_size: 64}}
{nodes.rstrip()}
  edges:
{edges.rstrip()}
"""


@dataclass
class Summary:
    """The report a job prints when it ends, parsed."""

    job: str
    elapsed_s: float
    nodes: dict[str, dict[str, int | str]] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> reason -> count


_HEADLINE = re.compile(r"^job '(?P<job>[^']+)' finished in (?P<elapsed>\d+\.\d+) s$", re.M)
_ROWS = re.compile(r"^\s+rows written by '(?P<node>[^']+)': (?P<rows>\d+)$", re.M)
_COLUMNS = ("node", "type", "in", "out", "late", "dropped", "errors", "set_aside")
_SET_ASIDE = re.compile(r"^\s+set aside by '(?P<node>[^']+)': (?P<count>\d+) \((?P<reason>.*)\)$", re.M)


def parse_summary(text: str) -> Summary:
    """Find the summary in a job's stderr; fail the test when it is missing or malformed."""
    head = _HEADLINE.search(text)
    assert head, f"no summary in output:\n{text}"
    lines = text[head.end() :].strip("\n").splitlines()
    assert lines and lines[0].split() == list(_COLUMNS), f"bad summary header: {lines[:1]}"
    summary = Summary(head["job"], float(head["elapsed"]))
    for line in lines[1:]:
        match = _SET_ASIDE.match(line)
        if match:
            summary.set_aside.setdefault(match["node"], {})[match["reason"]] = int(match["count"])
            continue
        match = _ROWS.match(line)
        if match:
            summary.rows_written[match["node"]] = int(match["rows"])
            continue
        cells = line.split()
        if len(cells) != len(_COLUMNS) or not cells[0].startswith("'"):
            break
        node = cells[0].strip("'")
        summary.nodes[node] = {"type": cells[1], **{k: int(v) for k, v in zip(_COLUMNS[2:], cells[2:])}}
    assert summary.nodes, f"summary lists no nodes:\n{text}"
    return summary


def bar_rows(db: Path, table: str = "bars") -> list[tuple]:
    """Every row of a bar table, in key order."""
    with sqlite3.connect(db) as connection:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY symbol, interval, ts').fetchall()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout_s`` or when ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"job exited {process.returncode} while waiting for {what}\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    """Kill a job a test started, if it still runs (teardown after a failure)."""
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=TIMEOUT_S)
