"""``${NAME}`` references in string params: checked when compiling, resolved when the job runs.

The params of the nodes that generated code instantiates (sources, stateful operators, sinks)
may refer to environment variables. The compiler checks each reference's syntax and writes
``env_text('<the text as written>', '<node id>')`` into the module instead of a literal, so
the variable is read by :func:`runtime_lib.env.env_text` at run time and its value never
appears in generated code. ``$${`` is a literal ``${``. Expression params are code, not text:
they are left alone.
"""

from __future__ import annotations

from runtime_lib.env import NAME_RULE, ReferenceSyntaxError, split_references

from ..components import Code
from ..diagnostics import Diagnostic
from ..ir import Pipeline
from .literals import py_literal

ENV_IMPORT = "from runtime_lib.env import env_text"
_HINT = f"write ${{NAME}}; {NAME_RULE}; write $${{ for a literal ${{"


def _strings(value: object, path: tuple) -> list[tuple[tuple, str]]:
    """Every string inside ``value`` (nested lists and mappings included), with its path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _strings(item, path + (key,))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _strings(item, path + (i,))]
    return []


def check_references(pipeline: Pipeline) -> list[Diagnostic]:
    """A located diagnostic for each malformed reference in the params of instantiated nodes."""
    found = []
    for node_id in pipeline.graph:
        node = pipeline.node(node_id)
        if node.component is None or node.component.runtime is None:
            continue
        params = pipeline.doc.value_at(node.path + ("params",)) or {}
        code_params = set(node.component.expressions(node.params))
        for path, text in _strings(params, ()):
            if "${" not in text or any(path[: len(p)] == p for p in code_params):
                continue
            try:
                split_references(text)
            except ReferenceSyntaxError as exc:
                span = pipeline.expression_span(node, ("params", *path), exc.start, exc.end)
                found.append(Diagnostic(span, exc.message, _HINT))
    return found


def _resolved(value: object, node_id: str) -> object:
    if isinstance(value, str):
        if "${" not in value:
            return value
        parts = split_references(value)
        if all(kind == "text" for kind, _ in parts):
            return "".join(text for _, text in parts)
        return Code(f"env_text({value!r}, {node_id!r})", (ENV_IMPORT,))
    if isinstance(value, (tuple, list)):
        items = [_resolved(item, node_id) for item in value]
        if any(isinstance(item, Code) for item in items):
            return Code(py_literal(type(value)(items)), (ENV_IMPORT,))
        return type(value)(items)
    if isinstance(value, dict):
        items = {key: _resolved(item, node_id) for key, item in value.items()}
        if any(isinstance(item, Code) for item in items.values()):
            return Code(py_literal(items), (ENV_IMPORT,))
        return items
    return value


def with_env_refs(kwargs: dict, node_id: str) -> dict:
    """Constructor keyword arguments with each string that refers to a variable made a run-time lookup.

    >>> with_env_refs({"url": "sqlite:///${DIR}/bars.db", "table": "bars"}, "store")["url"].text
    "env_text('sqlite:///${DIR}/bars.db', 'store')"
    >>> with_env_refs({"path": "a$${b}"}, "ticks")
    {'path': 'a${b}'}
    """
    return {name: _resolved(value, node_id) for name, value in kwargs.items()}
