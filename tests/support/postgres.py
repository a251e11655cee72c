"""A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's binaries), for the store tests.

``running_postgres()`` creates a cluster in a fresh temporary folder (``initdb``), starts it on
a free port with password authentication for the user :data:`USER`, and always stops it and
removes the folder at the end. ``server.stop()`` and ``server.start()`` restart it on the same
port, as a database restart does. PostgreSQL refuses to run as root, so when the tests run as
root the cluster belongs to the ``postgres`` user and its commands run through ``runuser``.

The tests that need it are skipped when no PostgreSQL binaries are installed, unless
``MDP_REQUIRE_SERVERS`` is set (as CI sets it): then a missing binary fails the test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.jobs import free_port

REQUIRE_ENV = "MDP_REQUIRE_SERVERS"
USER = "mdp"
PASSWORD = "mdp-test-secret"
OWNER = "postgres"  # the system user that owns the cluster when the tests run as root
COMMAND_TIMEOUT_S = 60
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
}


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest installed major version); skip the test
    without one, or fail it when ``MDP_REQUIRE_SERVERS`` is set."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    message = (
        "no PostgreSQL binaries (initdb, pg_ctl): install the Debian package (apt-get install postgresql)"
    )
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message}; {REQUIRE_ENV} is set, so the store tests cannot be skipped")
    pytest.skip(message)


@dataclass
class Postgres:
    """A cluster in ``root`` (data, socket folder, log) serving on 127.0.0.1:``port`` with ``settings``."""

    bin: Path
    root: Path
    port: int
    settings: dict[str, str]

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "postgres.log"

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """A ``postgresql://`` url for :data:`USER` with ``password`` (pass ``"${PGPASSWORD}"`` for a config)."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """What ``psycopg.connect`` takes to reach ``database`` as :data:`USER`."""
        return f"host=127.0.0.1 port={self.port} dbname={database} user={USER} password={PASSWORD} connect_timeout=5"

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        options += f" -c port={self.port} -c unix_socket_directories={self.root}"
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions and close connections)."""
        self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)

    def running(self) -> bool:
        """Whether the server runs."""
        return self._run(self.bin / "pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def create_database(self, name: str) -> str:
        """Create the database ``name`` (dropping an earlier one) and return its url."""
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str) -> list[tuple]:
        """The rows of ``sql`` run in ``database`` (a statement without rows returns [])."""
        import psycopg

        with psycopg.connect(self.conninfo(database), autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log (for failure messages)."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _pg_ctl(self, *args: str) -> None:
        result = self._run(self.bin / "pg_ctl", args[0], "-D", str(self.data), *args[1:], check=False)
        if result.returncode != 0:
            raise AssertionError(
                f"pg_ctl {args[0]} exited {result.returncode}: {result.stdout}{result.stderr}\n{self.log_tail()}"
            )

    def _run(self, *command, check: bool = True) -> subprocess.CompletedProcess:
        """Run a PostgreSQL command as the cluster's owner."""
        prefix = ["runuser", "-u", OWNER, "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *map(str, command)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=check,
            cwd=self.root,
        )


def _initdb(server: Postgres) -> None:
    """Create the cluster: superuser :data:`USER` with :data:`PASSWORD`, password auth on TCP."""
    password_file = server.root / "password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OWNER)
        for path in (server.root, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    result = server._run(
        server.bin / "initdb",
        "-D",
        server.data,
        "-U",
        USER,
        f"--pwfile={password_file}",
        "--auth-host=scram-sha-256",
        "--auth-local=scram-sha-256",
        "--no-sync",
        "--no-instructions",
        "-E",
        "UTF8",
        "--locale=C",
        check=False,
    )
    password_file.unlink()
    if result.returncode != 0:
        raise AssertionError(f"initdb exited {result.returncode}: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def running_postgres(settings: dict[str, str] | None = None) -> Iterator[Postgres]:
    """A fresh cluster, running on a free 127.0.0.1 port; stopped and removed on exit, whatever happened.

    ``settings`` override the server settings (fsync and synchronous commits are off by default,
    which a test does not need; a benchmark may want them on).
    """
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="mdp-postgres-"))  # not under pytest's root-only tmp folder
    server = Postgres(bin_dir, root, free_port(), {**_SETTINGS, **(settings or {})})
    try:
        _initdb(server)
        server.start()
        yield server
    finally:
        if server.data.exists() and server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
