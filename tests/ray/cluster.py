"""A throwaway local Ray cluster on 127.0.0.1 for the tests: ``ray start --head``, then ``ray stop``.

The tests are skipped without Ray, unless ``MDP_REQUIRE_SERVERS`` is set (as CI sets it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import free_port

RAY = str(Path(sys.executable).parent / "ray")


def require_ray() -> None:
    """Skip the test without Ray installed, or fail it when ``MDP_REQUIRE_SERVERS`` is set."""
    try:
        import ray  # noqa: F401
    except ImportError:
        message = "Ray is not installed (pip install -e '.[ray]')"
        if os.environ.get("MDP_REQUIRE_SERVERS"):
            pytest.fail(f"{message}; MDP_REQUIRE_SERVERS is set, so the Ray tests cannot be skipped")
        pytest.skip(message)


@contextlib.contextmanager
def running_ray(cpus: int = 3) -> Iterator[str]:
    """A head node on a free port of 127.0.0.1 with ``cpus`` CPUs; yields its address."""
    require_ray()
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    command = [RAY if Path(RAY).exists() else shutil.which("ray"), "start", "--head", f"--port={port}"]
    command += [
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={cpus}",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([command[0], "stop", "--force"], env=env, capture_output=True, timeout=120)


def shard_workers() -> list[int]:
    """The pids of the Ray worker processes of the shards now (Ray names them ``ray::ShardRunner``...)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if cmdline.startswith(b"ray::ShardRunner"):
                found.append(int(entry.name))
    return found
