"""Where job records live: the state directory, one JSON file per run, each replaced atomically.

The state directory is ``$MDP_STATE_DIR`` if set, else ``$XDG_STATE_HOME/mdp``, else
``~/.local/state/mdp``; a run's record is ``jobs/<job name>-<pid>-<start ns>.json`` in it, with
the job name escaped so that any name stays one file inside ``jobs/``.
"""

from __future__ import annotations

import hashlib
import os
import string
import threading
from collections.abc import Mapping
from pathlib import Path

STATE_DIR_ENV = "MDP_STATE_DIR"
RECORD_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
MAX_STEM_CHARS = 100  # an escaped name longer than this is cut and given a hash of the whole name
_KEPT = frozenset(string.ascii_letters + string.digits + "_-.")


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory: ``$MDP_STATE_DIR``, else ``$XDG_STATE_HOME/mdp``, else ``~/.local/state/mdp``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG specification says.

    >>> str(state_dir({"MDP_STATE_DIR": "/srv/mdp", "XDG_STATE_HOME": "/x"}))
    '/srv/mdp'
    >>> str(state_dir({"XDG_STATE_HOME": "/home/ana/.state"}))
    '/home/ana/.state/mdp'
    >>> state_dir({"XDG_STATE_HOME": "relative"}) == Path.home() / ".local" / "state" / "mdp"
    True
    """
    environ = os.environ if environ is None else environ
    if environ.get(STATE_DIR_ENV):
        return Path(environ[STATE_DIR_ENV])
    xdg = environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "mdp"
    return Path.home() / ".local" / "state" / "mdp"


def jobs_dir(root: Path) -> Path:
    """The folder of the job records in the state directory ``root``."""
    return root / "jobs"


def make_jobs_dir(root: Path) -> Path:
    """Create the state directory and its ``jobs/`` (mode 0700) where missing; return ``jobs/``."""
    folder = jobs_dir(root)
    for directory in (root, folder):
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def file_stem(job_name: str) -> str:
    """The job name as the start of a file name: letters, digits, ``_``, ``-`` and ``.`` are kept
    (``-`` and ``.`` not first), every other character becomes ``%XX`` per UTF-8 byte.

    >>> file_stem("bars.v2")
    'bars.v2'
    >>> file_stem("../etc/passwd")
    '%2E.%2Fetc%2Fpasswd'
    >>> file_stem("-rf *")
    '%2Drf%20%2A'
    >>> len(file_stem("x" * 500)) <= MAX_STEM_CHARS
    True
    """
    escaped = "".join(
        char if char in _KEPT and not (i == 0 and char in "-.") else _percent(char)
        for i, char in enumerate(job_name)
    )
    if len(escaped) <= MAX_STEM_CHARS:
        return escaped
    digest = hashlib.sha256(job_name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{escaped[: MAX_STEM_CHARS - 17]}~{digest}"


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def record_file_name(job_name: str, pid: int, started_ns: int) -> str:
    """``<escaped job name>-<pid>-<start ns>.json``: one file per run.

    >>> record_file_name("bars", 4242, 1700000000000000000)
    'bars-4242-1700000000000000000.json'
    """
    return f"{file_stem(job_name)}-{pid}-{started_ns}{RECORD_SUFFIX}"


def is_record_file(name: str) -> bool:
    """Whether a file name in ``jobs/`` is a record (the hidden temporary files are not)."""
    return name.endswith(RECORD_SUFFIX) and not name.startswith(".")


def is_temp_file(name: str) -> bool:
    """Whether a file name in ``jobs/`` is the temporary file of an atomic write."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new, never half.

    The text goes to a hidden temporary file beside it (mode 0600), which then replaces ``path``;
    the file is named after the writing thread, so two threads writing the same record never clash.
    """
    temp = path.with_name(f".{path.name}.{threading.get_native_id()}{TEMP_SUFFIX}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
