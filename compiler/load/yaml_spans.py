"""A PyYAML loader that records the span of every mapping key and value."""

from __future__ import annotations

import yaml

from ..diagnostics import Diagnostic, DiagnosticError
from .document import Document, Path, Span


def _span(file: str, node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


class _SpanLoader(yaml.SafeLoader):
    """SafeLoader that builds plain data and fills span tables while it constructs."""


def _walk(file: str, node: yaml.Node, path: Path, doc: Document, loader: _SpanLoader) -> object:
    doc.values[path] = _span(file, node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise DiagnosticError(
                    [Diagnostic(_span(file, key_node), "a mapping key must be a plain scalar")]
                )
            if key in result:
                raise DiagnosticError(
                    [Diagnostic(_span(file, key_node), f"duplicate key {key!r}")]
                )
            child = path + (key,)
            doc.keys[child] = _span(file, key_node)
            result[key] = _walk(file, value_node, child, doc, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(file, item, path + (i,), doc, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _syntax_diagnostic(file: str, text: str, exc: yaml.MarkedYAMLError) -> Diagnostic:
    """Locate a YAML syntax error; where the problem is only found at the end of the file, point
    at where the unfinished construct began (PyYAML's context mark) instead."""
    problem, context = exc.problem_mark, exc.context_mark
    mark = problem or context
    last_line = max(len(text.splitlines()), 1)
    hint = None
    if context is not None and problem is not None:
        if problem.line + 1 > last_line or exc.problem and "end of stream" in exc.problem:
            mark = context
            hint = f"found the end of the file: {exc.problem}"
        else:
            hint = f"{exc.context} that starts at line {context.line + 1}, column {context.column + 1}"
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"invalid YAML: {exc.problem or exc.context}" if mark is not context else f"invalid YAML: {exc.context}"
    return Diagnostic(Span(file, line, column, line, column + 1), message, hint)


def load_yaml(file: str, text: str) -> Document:
    """Parse YAML ``text`` (read from ``file``) into a :class:`Document` with spans.

    Syntax errors become a :class:`DiagnosticError` that points at the offending line.

    >>> doc = load_yaml("x.yaml", "a:\\n  b: [1, 2]\\n")
    >>> doc.data, doc.values[("a", "b", 1)].line, doc.values[("a", "b", 1)].column
    ({'a': {'b': [1, 2]}}, 2, 10)
    """
    loader = _SpanLoader(text)
    try:
        root = loader.get_single_node()
        doc = Document(file=file, text=text, data=None)
        if root is not None:
            doc.data = _walk(file, root, (), doc, loader)
        return doc
    except yaml.MarkedYAMLError as exc:
        raise DiagnosticError([_syntax_diagnostic(file, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise DiagnosticError([Diagnostic(Span(file, 1, 1, 1, 2), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
