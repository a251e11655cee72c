"""A throwaway Redis server on 127.0.0.1 (Debian's ``redis-server``), for the stream tests.

``running_redis()`` starts a server on a free port with its own temporary folder, no RDB
snapshots (``--save ''``) and, when asked, the append-only file; it always stops the server and
removes the folder at the end. ``server.stop()`` and ``server.start()`` restart it on the same
port with the same data, as a server restart does.

The tests that need it are skipped when ``redis-server`` is not installed, unless
``MDP_REQUIRE_SERVERS`` is set (as CI sets it): then a missing binary fails the test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.jobs import free_port

REQUIRE_ENV = "MDP_REQUIRE_SERVERS"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


def _missing(message: str) -> None:
    """Skip the test, or fail it when ``MDP_REQUIRE_SERVERS`` is set."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message}; {REQUIRE_ENV} is set, so the Redis tests cannot be skipped")
    pytest.skip(message)


def require_redis_client() -> None:
    """Skip (or fail) the test when the ``redis`` client library (the ``redis`` extra) is not installed."""
    if importlib.util.find_spec("redis") is None:
        _missing("no redis client library: pip install -e '.[redis]'")


def redis_server_binary() -> str:
    """The path of ``redis-server`` (and the client library is there); else skip or fail the test."""
    require_redis_client()
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(found):
        _missing("no redis-server: install the Debian package (apt-get install redis-server)")
    return found


@dataclass
class RedisServer:
    """A server keeping its files in ``root`` and serving on 127.0.0.1:``port``."""

    binary: str
    root: Path
    port: int
    appendonly: bool = False
    password: str | None = None
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "redis.log"

    def url(self, db: int = 0, password: str | None = None) -> str:
        """A ``redis://`` url of database ``db`` (with ``password``, e.g. ``"${REDIS_PASSWORD}"``)."""
        auth = f":{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def client(self):
        """A synchronous client (bytes in, bytes out) of database 0."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=10)

    def start(self) -> None:
        """Start the server and return once it answers PING (after loading its append-only file)."""
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)]
        command += [
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--logfile",
            str(self.log),
        ]
        if self.password is not None:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"redis-server did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Shut the server down as SIGTERM does (it syncs the append-only file) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log (for failure messages)."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_redis(appendonly: bool = False, password: str | None = None) -> Iterator[RedisServer]:
    """A fresh server on a free 127.0.0.1 port; stopped and its folder removed on exit, whatever happened."""
    binary = redis_server_binary()
    server = RedisServer(
        binary, Path(tempfile.mkdtemp(prefix="mdp-redis-")), free_port(), appendonly, password
    )
    try:
        server.start()
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(server.root, ignore_errors=True)
