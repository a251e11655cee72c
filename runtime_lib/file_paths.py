"""No two writers on one file, no writer on an input: checked when the job starts.

The compiler refuses the clashes it can see in the config's text; the paths that refer to
``${NAME}`` variables, symbolic links and hard links are only known when the job starts. A sink
opens (and a JSON-lines sink truncates) its file while ``build`` creates it, and ``build`` may
create a sink before the source whose file it names, so :func:`check_build_files` runs
``build`` once on a context that records params and opens nothing, and checks every path
before the real build.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import combinations

from .context import BuildContext, Push
from .errors import JobError
from .sinks.jsonl import STDOUT
from .sinks.sqlite_store import URL_PREFIX

READ, WRITE, UPDATE = "read", "write", "update"


def _store_files(params: dict) -> list[tuple[str, str]]:
    url = str(params["url"])
    return [(UPDATE, url[len(URL_PREFIX) :])] if url.startswith(URL_PREFIX) else []  # else the store says why


def _jsonl_files(params: dict) -> list[tuple[str, str]]:
    path = str(params["path"])
    return [] if path == STDOUT else [(WRITE, path)]


FILES: dict[str, Callable[[dict], list[tuple[str, str]]]] = {
    "provider.replay": lambda params: [(READ, str(params["path"]))],
    "sink.jsonl": _jsonl_files,
    "sink.parquet": lambda params: [(WRITE, str(params["path"]))],
    "sink.store": _store_files,
}
"""For each node type that opens files, the (mode, path) of each file, from its keyword arguments:
``read`` (an input), ``write`` (truncated, this node's alone), ``update`` (an SQLite database,
which several stores may share)."""


class _Recorder(BuildContext):
    """A context whose sinks record their params instead of opening anything."""

    def __init__(self) -> None:
        super().__init__()
        self.sink_params: dict[str, tuple[str, dict]] = {}

    def sink(self, node_id: str, node_type: str, cls: type, **params) -> Push:
        """Record the sink's type and params; its push function does nothing."""
        self.stats(node_id, node_type)
        self.sink_params[node_id] = (node_type, params)
        return lambda batch: None


def declared_files(build: Callable[[BuildContext], None]) -> list[tuple[str, str, str]]:
    """(node id, mode, path) of every file the nodes of ``build`` open, paths as the job sees
    them (``${NAME}`` resolved), sources first, each group in the order ``build`` creates it."""
    recorder = _Recorder()
    build(recorder)
    nodes = [(node_id, node_type, params) for node_id, (node_type, _cls, params) in recorder.sources.items()]
    nodes += [(node_id, node_type, params) for node_id, (node_type, params) in recorder.sink_params.items()]
    return [
        (node_id, mode, path)
        for node_id, node_type, params in nodes
        for mode, path in FILES.get(node_type, lambda params: [])(params)
    ]


def file_identity(node_id: str, path: str) -> tuple:
    """What two paths naming one file share: device and inode for an existing file (so hard
    links match), else the real path (symbolic links and ``..`` resolved)."""
    try:
        real = os.path.realpath(path)
    except ValueError:
        raise JobError(f"node {node_id!r}: file path {path!r} contains a NUL character") from None
    try:
        status = os.stat(real)
    except OSError:
        return ("path", os.path.normcase(real))
    return ("inode", status.st_dev, status.st_ino)


def _clash(first: tuple[str, str, str], second: tuple[str, str, str]) -> str | None:
    """The message when two nodes' claims on one file cannot both hold, else None."""
    (node_a, mode_a, path_a), (node_b, mode_b, path_b) = first, second
    if mode_a == mode_b == READ or mode_a == mode_b == UPDATE:
        return None  # several readers are fine, and SQLite lets several stores share a database
    if READ in (mode_a, mode_b):
        reader_first = sorted((first, second), key=lambda claim: claim[1] != READ)
        (source, _, source_path), (sink, _, sink_path) = reader_first
        return (
            f"sink {sink!r} (path {sink_path}) would overwrite the input of source {source!r} "
            f"(path {source_path}), the file {os.path.realpath(sink_path)}: write the output to another file"
        )
    return (
        f"sinks {node_a!r} (path {path_a}) and {node_b!r} (path {path_b}) write the same file "
        f"{os.path.realpath(path_a)}: give each sink its own file"
    )


def check_files(claims: list[tuple[str, str, str]]) -> None:
    """Raise :class:`JobError` naming both nodes and the file when two sinks write one file or
    a sink writes a source's input; ``claims`` are (node id, mode, path)."""
    identities = [file_identity(node_id, path) for node_id, _, path in claims]
    clashes = []
    for (first, id_a), (second, id_b) in combinations(zip(claims, identities), 2):
        if first[0] != second[0] and id_a == id_b:
            clash = _clash(first, second)
            if clash is not None:
                clashes.append(clash)
    if clashes:
        raise JobError("; ".join(clashes))


def check_build_files(build: Callable[[BuildContext], None]) -> None:
    """Check the files of the job ``build`` creates before anything is opened or truncated."""
    check_files(declared_files(build))
