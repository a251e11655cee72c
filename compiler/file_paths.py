"""No two writers on one file, no writer on an input: checked on the paths a config writes.

Each component declares the files its node opens (:attr:`Component.files`). A path without a
``${NAME}`` reference is known now: it is normalised against the working directory (where
``mdp run`` also runs the job), so ``out/x.jsonl`` and ``./out/x.jsonl`` are one file, and a
store's ``sqlite:///x.db`` is the file ``x.db``. Symbolic and hard links, and paths that refer
to variables, are only known when the job starts: :mod:`runtime_lib.file_paths` checks those.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from runtime_lib.env import ReferenceSyntaxError, split_references

from .diagnostics import Diagnostic
from .ir import Node, Pipeline

WRITERS_HINT = "give each sink its own file: two sinks writing one file break each other's output"


def literal_path(text: str) -> str | None:
    """The path ``text`` stands for, if it refers to no variable (``$${`` is a literal ``${``).

    >>> literal_path("out/$${x}.jsonl"), literal_path("${DIR}/x.jsonl")
    ('out/${x}.jsonl', None)
    """
    try:
        parts = split_references(text)
    except ReferenceSyntaxError:
        return None  # reported by the reference check
    if any(kind == "ref" for kind, _ in parts):
        return None
    return "".join(text for _, text in parts)


def same_file_key(path: str) -> str:
    """What two paths naming one file have in common before any file exists: the normalised
    absolute path, relative paths taken from the working directory."""
    return os.path.normcase(os.path.abspath(path))


class Claim(NamedTuple):
    """A file one node opens: the param naming it, ``read``/``write``/``update``, and its path."""

    node: Node
    param_path: tuple
    mode: str
    path: str


def _claims(pipeline: Pipeline) -> dict[str, list[Claim]]:
    """Every file a node opens whose path is known now, grouped by the file (see
    :func:`same_file_key`), nodes in config order."""
    found: dict[str, list[Claim]] = {}
    for node in pipeline.in_config_order():
        if node.component is None or node.params is None:
            continue
        for param_path, mode, text in node.component.files(node.params):
            path = literal_path(text)
            if path is not None:
                found.setdefault(same_file_key(path), []).append(Claim(node, param_path, mode, path))
    return found


def _listed(claims: list[Claim]) -> str:
    """``'a', 'b' and 'c'``: the nodes of ``claims``."""
    names = [repr(claim.node.id) for claim in claims]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _clashes(claims: list[Claim]) -> list[tuple[Claim, str, str | None]]:
    """(claim to blame, message, hint) for each clash among the claims on one file."""
    shown = os.path.normpath(claims[0].path)
    nul = "a file path cannot contain a NUL character"
    found = [(claim, nul, None) for claim in claims if "\0" in claim.path]
    readers = [claim for claim in claims if claim.mode == "read"]
    writers = [claim for claim in claims if claim.mode != "read"]
    if len(writers) > 1 and any(claim.mode == "write" for claim in writers):
        message = f"sinks {_listed(writers)} {'both' if len(writers) == 2 else 'all'} write {shown}"
        found += [(claim, message, WRITERS_HINT) for claim in writers]
    for writer in writers:
        for reader in readers:
            source = repr(reader.node.id)
            message = f"sink {writer.node.id!r} would overwrite {shown}, the input of source {source}"
            hint = (
                f"the sink opens its file for writing when the job starts, before {source} reads it: "
                "write to another file"
            )
            found += [(writer, message, hint), (reader, message, hint)]
    return found


def check_file_paths(pipeline: Pipeline) -> list[Diagnostic]:
    """Located diagnostics at the path params of the nodes whose files clash: sinks writing one
    file (several stores may share a database), or a sink writing a source's input."""
    found = []
    for claims in _claims(pipeline).values():
        for claim, message, hint in _clashes(claims):
            span = pipeline.span(claim.node, "params", *claim.param_path)
            found.append(Diagnostic(span, message, hint))
    return found
