"""``${NAME}`` references in config strings, resolved from the environment when a job starts.

A compiled module holds the reference text, never a variable's value, so a secret such as a
database password stays out of generated code. ``$${`` stands for a literal ``${``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import JobError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NAME_RULE = "a name is letters, digits and underscores, not starting with a digit"


class ReferenceSyntaxError(ValueError):
    """A malformed ``${...}`` reference, with the 0-based columns ``[start, end)`` it spans."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


def split_references(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``("text", literal)`` and ``("ref", NAME)`` parts, in order.

    Raises :class:`ReferenceSyntaxError` for ``${`` without ``}`` and for a bad name.

    >>> split_references("sqlite:///${DATA_DIR}/bars.db")
    [('text', 'sqlite:///'), ('ref', 'DATA_DIR'), ('text', '/bars.db')]
    >>> split_references("price in $${USD}")
    [('text', 'price in ${USD}')]
    >>> split_references("${A}${B}")
    [('ref', 'A'), ('ref', 'B')]
    """
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if not text.startswith("${", i):
            literal.append(text[i])
            i += 1
            continue
        end = text.find("}", i + 2)
        if end < 0:
            raise ReferenceSyntaxError("'${' without a closing '}'", i, len(text))
        name = text[i + 2 : end]
        if not _NAME.match(name):
            what = "an empty ${} reference" if not name else f"bad environment variable name {name!r}"
            raise ReferenceSyntaxError(what, i, end + 1)
        if literal:
            parts.append(("text", "".join(literal)))
            literal = []
        parts.append(("ref", name))
        i = end + 1
    if literal:
        parts.append(("text", "".join(literal)))
    return parts


def env_text(text: str, node_id: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``${NAME}`` replaced by the variable's value (``$${`` gives ``${``).

    A variable that is not set is a :class:`JobError` naming it and the node whose param
    refers to it.

    >>> env_text("sqlite:///${DIR}/bars.db", "store", {"DIR": "/data"})
    'sqlite:////data/bars.db'
    >>> env_text("${PASSWORD}", "store", {})
    Traceback (most recent call last):
    ...
    runtime_lib.errors.JobError: node 'store': environment variable PASSWORD is not set (a param refers to ${PASSWORD})
    """
    environ = os.environ if environ is None else environ
    out = []
    for kind, value in split_references(text):
        if kind == "text":
            out.append(value)
        elif value in environ:
            out.append(environ[value])
        else:
            raise JobError(
                f"node {node_id!r}: environment variable {value} is not set (a param refers to ${{{value}}})"
            )
    return "".join(out)
