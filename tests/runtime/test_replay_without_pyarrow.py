"""Without pyarrow (the runtime-only install) the replay reads every row the standard-library way,
with the same ticks and set-aside rows, and a compiled replay job runs as usual."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runtime_lib.errors import JobError
from runtime_lib.sources import replay
from tests.support.jobs import REPO, TIMEOUT_S, bar_rows, compile_config, job_env, parse_summary

BLOCK_PYARROW = "import sys; sys.modules['pyarrow'] = None  # as if pyarrow were not installed\n"
READ = BLOCK_PYARROW + (
    "import json\n"
    "from runtime_lib.sources import replay\n"
    "aside = []\n"
    "ticks = list(replay.read_ticks(sys.argv[1], set_aside=lambda *row: aside.append(row)))\n"
    "print(json.dumps({'fast': replay.FAST_READER, 'ticks': ticks, 'aside': aside}))\n"
)
RUN_MODULE = BLOCK_PYARROW + (
    "import runpy\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n"
    "    print('pyarrow imported:', sys.modules.get('pyarrow') is not None, file=sys.stderr)\n"
)
T0 = 1_710_509_400_000_000_000
ROWS = [f"AAA,{T0 + i * 1_000_000_000},10.5,{100 + i},XNAS" for i in range(50)]
BAD = ["AAA,nan,10.5,1,", f"AAA,{T0},ten,1,", f'"AAA,{T0},10.5,1,', f"AAA,{T0},10.5,-1,"]
CONFIG = """\
name: no_pyarrow
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: {path}}}}}
    - {{id: bars_1m, type: operator.resample_ohlc, params: {{window: 1m}}}}
    - {{id: store, type: sink.store, params: {{url: "sqlite:///bars.db"}}}}
  edges: [[ticks, bars_1m], [bars_1m, store]]
"""


def tick_file(tmp_path):
    """Fifty good ticks with four bad rows among them."""
    path = tmp_path / "ticks.csv"
    lines = ROWS[:20] + BAD + ROWS[20:]
    path.write_text("symbol,ts,price,size,exchange\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def python(*args: str, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    """Run this interpreter with ``args`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


def test_without_pyarrow_the_rows_are_read_the_standard_library_way(tmp_path):
    path = tick_file(tmp_path)
    done = python("-c", READ, str(path))
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    aside: list = []
    expected = list(replay.read_ticks(str(path), set_aside=lambda *row: aside.append(row), fast=False))
    assert read["fast"] is False
    assert read["ticks"] == expected and len(expected) == 50
    assert [tuple(row) for row in read["aside"]] == aside
    assert [reason for reason, _detail in aside] == ["bad ts", "bad price", "open quote", "negative size"]


def test_a_compiled_replay_job_runs_without_pyarrow(tmp_path):
    module = compile_config(_config(tmp_path), tmp_path / "job.py")
    done = python("-c", RUN_MODULE, str(module), cwd=tmp_path, env=job_env(tmp_path, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert "pyarrow imported: False" in done.stderr
    summary = parse_summary(done.stderr)
    assert summary.nodes["ticks"]["out"] == 50
    assert sum(summary.set_aside["ticks"].values()) == 4
    assert sum(row[7] for row in bar_rows(tmp_path / "bars.db")) == sum(range(100, 150))


def test_asking_for_the_fast_reading_without_pyarrow_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(replay, "ArrowBlocks", None)
    with pytest.raises(JobError, match="needs pyarrow 15 or later"):
        list(replay.read_ticks(str(tick_file(tmp_path)), fast=True))


def _config(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(CONFIG.format(path=tick_file(tmp_path)), encoding="utf-8")
    return config
