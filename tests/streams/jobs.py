"""Configs and runs of real ``mdp run`` jobs that read and write Redis streams."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path

from runtime_lib.redis_codec import decode_record
from tests.support.jobs import MDP, REPO, TIMEOUT_S, job_env, run

SAMPLE_TICKS = REPO / "configs" / "data" / "sample_ticks.csv.gz"
SAMPLE_TICK_COUNT = 20_000
FAST_RETRY = "{max_attempts: 200, initial_backoff: 20ms, max_backoff: 200ms}"


def dag(name: str, nodes: Iterable[tuple[str, str, str]], edges: Iterable[tuple[str, str]]) -> str:
    """A DAG config: ``nodes`` are (id, type, params as a YAML flow mapping)."""
    lines = [f"name: {name}", "mode: dag", "dag:", "  nodes:"]
    for node_id, node_type, params in nodes:
        lines += [f"    - id: {node_id}", f"      type: {node_type}", f"      params: {params}"]
    lines.append("  edges:")
    lines += [f"    - [{a}, {b}]" for a, b in edges]
    return "\n".join(lines) + "\n"


def write_config(folder: Path, name: str, text: str) -> Path:
    """Write config ``name``.yaml into ``folder`` and return its path."""
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def mdp_run(
    folder: Path, config: Path, *options: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess:
    """Run ``mdp run config`` to its end in ``folder``."""
    return run([MDP, "run", str(config), *options], folder, job_env(folder, **env), check=check)


def start_job(folder: Path, config: Path, *options: str) -> subprocess.Popen:
    """Start ``mdp run config`` in ``folder``; the test stops it (and :func:`tests.support.jobs.stop` on failure)."""
    return subprocess.Popen(
        [MDP, "run", str(config), *options],
        cwd=folder,
        env=job_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    """Wait for a job to end on its own; its exit status and stderr."""
    _out, err = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, err


def stream_records(client, stream: str) -> list[dict]:
    """Every record of ``stream``, in order."""
    return [decode_record(fields) for _id, fields in client.xrange(stream)]


def jsonl_lines(path: Path) -> list[str]:
    """The complete lines of a JSON lines file (a line being written is left out)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [line for line in text.split("\n")[:-1] if line]


def write_ticks(client, stream: str, count: int) -> None:
    """Add ``count`` numbered tick records (field ``n``) to ``stream``."""
    from runtime_lib.redis_codec import encode_record

    pipeline = client.pipeline(transaction=False)
    for n in range(count):
        pipeline.xadd(stream, encode_record({"symbol": "AAA", "ts": n, "price": 1.0 + n, "size": 1, "n": n}))
    pipeline.execute()


def numbers(records: Iterable[dict]) -> list[int]:
    """The ``n`` field of each record."""
    return [record["n"] for record in records]


def as_json(records: Iterable[dict]) -> list[str]:
    """Records as compact JSON text, for counting equal ones."""
    return [json.dumps(record, separators=(",", ":")) for record in records]
