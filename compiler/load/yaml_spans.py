"""A PyYAML loader that records the span of every mapping key and value."""

from __future__ import annotations

import yaml

from ..diagnostics import Diagnostic, DiagnosticError
from . import limits
from .document import Document, Span


def _span(file: str, node: yaml.Node) -> Span:
    return _mark_span(file, node.start_mark, node.end_mark)


def _mark_span(file: str, start: yaml.Mark, end: yaml.Mark) -> Span:
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


_COLLECTION_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)


class _SpanLoader(yaml.SafeLoader):
    """SafeLoader that bounds nesting and alias expansion while it composes the node tree.

    Each composed node's ``(values, levels)`` is kept: how many values it stands for once its
    aliases are expanded, and how many lists and mappings deep it is. An alias adds its
    target's values to a running total, so the billion laughs stops at its first alias past
    :data:`~compiler.load.limits.MAX_ALIAS_NODES`, before anything is expanded.
    """

    def __init__(self, file: str, text: str) -> None:
        super().__init__(text)
        self.file = file
        self.open_collections = 0
        self.alias_values = 0
        self.shapes: dict[yaml.Node, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        """Compose one node (PyYAML's own step), refusing what would nest or expand too far."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.anchors:
                self._count_alias(event, self.anchors[event.anchor])
            return super().compose_node(parent, index)
        collection = isinstance(event, _COLLECTION_STARTS)
        if collection and self.open_collections >= limits.MAX_NESTING:
            raise limits.too_deep(_mark_span(self.file, event.start_mark, event.end_mark))
        self.open_collections += collection
        try:
            node = super().compose_node(parent, index)
        finally:
            self.open_collections -= collection
        self.shapes[node] = _shape(node, self.shapes)
        return node

    def _count_alias(self, event: yaml.AliasEvent, target: yaml.Node) -> None:
        span = _mark_span(self.file, event.start_mark, event.end_mark)
        if target not in self.shapes:  # still being composed: the alias is inside its own anchor
            raise limits.self_reference(span, event.anchor)
        values, levels = self.shapes[target]
        if self.open_collections + levels > limits.MAX_NESTING:
            raise limits.too_deep_through_alias(span, event.anchor)
        self.alias_values += values
        if self.alias_values > limits.MAX_ALIAS_NODES:
            raise limits.too_many_alias_nodes(span)


def _shape(node: yaml.Node, shapes: dict[yaml.Node, tuple[int, int]]) -> tuple[int, int]:
    """(values, levels) of a node whose children are all composed: see :class:`_SpanLoader`."""
    if isinstance(node, yaml.ScalarNode):
        return 1, 0
    children = node.value
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    shaped = [shapes[child] for child in children]
    return 1 + sum(values for values, _ in shaped), 1 + max((levels for _, levels in shaped), default=0)


def _walk(file: str, root: yaml.Node, doc: Document, loader: _SpanLoader) -> object:
    """Construct plain data from the node tree, recording the span of every key and value.

    A loop over an explicit stack, in document order; the loader has already bounded the
    nesting and the alias expansion, so the work is bounded too. Each stack entry is a node
    with the path, container and slot its value goes to; a mapping's entries also carry
    their key node, and the key (checked here) completes the path and names the slot.
    """
    top: list = [None]
    stack: list[tuple] = [(root, (), top, 0, None)]
    while stack:
        node, path, container, slot, key_node = stack.pop()
        if key_node is not None:
            slot = loader.construct_object(key_node, deep=True)
            if not isinstance(slot, (str, int, float, bool)) or slot is None:
                raise DiagnosticError(
                    [Diagnostic(_span(file, key_node), "a mapping key must be a plain scalar")]
                )
            if slot in container:
                raise DiagnosticError([Diagnostic(_span(file, key_node), f"duplicate key {slot!r}")])
            path = path + (slot,)
            doc.keys[path] = _span(file, key_node)
        doc.values[path] = _span(file, node)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            value: object = {}
            stack.extend((v, path, value, None, k) for k, v in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            value = [None] * len(node.value)
            items = list(enumerate(node.value))
            stack.extend((child, path + (i,), value, i, None) for i, child in reversed(items))
        else:
            value = loader.construct_object(node, deep=True)
        container[slot] = value
    return top[0]


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
    message = (
        f"invalid YAML: {exc.problem or exc.context}"
        if mark is not context
        else f"invalid YAML: {exc.context}"
    )
    return Diagnostic(Span(file, line, column, line, column + 1), message, hint)


def _reader_diagnostic(file: str, text: str, exc: yaml.reader.ReaderError) -> Diagnostic:
    """Locate a character that YAML does not allow in a file (a control character, say)."""
    pos = exc.position
    line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
    return Diagnostic(
        Span(file, line, column, line, column + 1),
        f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}",
        "remove it, or write it as an escape inside double quotes",
    )


def load_yaml(file: str, text: str) -> Document:
    """Parse YAML ``text`` (read from ``file``) into a :class:`Document` with spans.

    Syntax errors become a :class:`DiagnosticError` that points at the offending line, and so
    does a file beyond the bounds of :mod:`compiler.load.limits`.

    >>> doc = load_yaml("x.yaml", "a:\\n  b: [1, 2]\\n")
    >>> doc.data, doc.values[("a", "b", 1)].line, doc.values[("a", "b", 1)].column
    ({'a': {'b': [1, 2]}}, 2, 10)
    """
    limits.check_size(file, text)
    try:
        loader = _SpanLoader(file, text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, found before parsing
        raise DiagnosticError([_reader_diagnostic(file, text, exc)]) from None
    try:
        root = loader.get_single_node()
        doc = Document(file=file, text=text, data=None)
        if root is not None:
            doc.data = _walk(file, root, doc, loader)
        return doc
    except yaml.MarkedYAMLError as exc:
        raise DiagnosticError([_syntax_diagnostic(file, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise DiagnosticError([Diagnostic(Span(file, 1, 1, 1, 2), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
