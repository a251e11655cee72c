"""JSON configs: the data as JSON defines it, with spans from the YAML span loader.

JSON is close to YAML, but PyYAML reads YAML 1.1, which differs on a few points that matter:
``1e5`` is a string there, tabs may not separate tokens, and an escaped surrogate pair stays
two characters. So the values come from :func:`json.loads`, and only the positions come from
:func:`~compiler.load.yaml_spans.load_yaml`. Valid JSON has the same keys and nesting under
both readers; tabs (which valid JSON has only between tokens) are replaced by spaces first,
which keeps every column. A duplicate key, which JSON takes as "last one wins", is an error.
"""

from __future__ import annotations

import json
import re

from ..diagnostics import Diagnostic, DiagnosticError
from . import limits
from .document import Document, Span
from .yaml_spans import load_yaml

_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def load_json(file: str, text: str) -> Document:
    """Parse JSON ``text`` (read from ``file``) into a :class:`Document` with spans.

    >>> doc = load_json("x.json", '{"a": {"b": [1, 2e3]}}')
    >>> doc.data, doc.values[("a", "b", 1)].column
    ({'a': {'b': [1, 2000.0]}}, 17)
    """
    limits.check_size(file, text)
    _check_nesting(file, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        span = Span(file, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        raise DiagnosticError([Diagnostic(span, f"invalid JSON: {exc.msg}")]) from None
    try:
        spans = load_yaml(file, text.replace("\t", " "))
    except DiagnosticError as exc:
        if any(d.message.startswith("duplicate key") for d in exc.diagnostics):
            raise
        # Valid JSON that PyYAML cannot read (rare: a key longer than 1024 characters, say):
        # keep the data; diagnostics then point at the start of the file.
        return Document(file=file, text=text, data=data)
    return Document(file=file, text=text, data=data, values=spans.values, keys=spans.keys)


def _check_nesting(file: str, text: str) -> None:
    """Refuse an array or object nested deeper than the limit, before :func:`json.loads`
    (which recurses, and fails at some thousand levels) sees it; strings are skipped."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > limits.MAX_NESTING:
                pos = match.start()
                line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
                raise limits.too_deep(Span(file, line, column, line, column + 1))
        elif bracket in "]}":
            depth -= 1
