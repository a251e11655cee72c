"""Bounds on what a config file may ask of the loader: its size, its nesting, its aliases.

A config is a few levels deep and uses an alias (``*name``) for a shared block of params now
and then. A file far beyond that is a mistake or an attack (the "billion laughs": a few lines
of aliases that expand to billions of values), and is refused with a located error before
it costs minutes or gigabytes.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, DiagnosticError
from .document import Span

MAX_CONFIG_CHARS = 4_000_000
MAX_NESTING = 100
MAX_ALIAS_NODES = 10_000


def check_size(file: str, text: str) -> None:
    """Refuse a config longer than :data:`MAX_CONFIG_CHARS` characters."""
    if len(text) > MAX_CONFIG_CHARS:
        span = Span(file, 1, 1, 1, 2)
        raise DiagnosticError(
            [
                Diagnostic(
                    span,
                    f"the config is {len(text):,} characters long; " f"the limit is {MAX_CONFIG_CHARS:,}",
                    "split it into several pipelines",
                )
            ]
        )


def too_deep(span: Span) -> DiagnosticError:
    """The error for a list or mapping at ``span`` nested more than :data:`MAX_NESTING` deep."""
    return DiagnosticError(
        [
            Diagnostic(
                span,
                f"the config is nested more than {MAX_NESTING} levels deep",
                "a config needs only a few levels of lists and mappings",
            )
        ]
    )


def too_deep_through_alias(span: Span, name: str) -> DiagnosticError:
    """The error for an alias at ``span`` whose value, put there, nests too deep."""
    return DiagnosticError(
        [
            Diagnostic(
                span,
                f"alias *{name} nests the config more than {MAX_NESTING} levels deep",
                "write the value out, or alias a smaller part of it",
            )
        ]
    )


def too_many_alias_nodes(span: Span) -> DiagnosticError:
    """The error for the alias at ``span`` that takes the expansion past :data:`MAX_ALIAS_NODES`."""
    return DiagnosticError(
        [
            Diagnostic(
                span,
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values",
                "each *alias repeats its anchored value, and aliases inside it repeat "
                "theirs; write the values out, or use fewer nested aliases",
            )
        ]
    )


def self_reference(span: Span, name: str) -> DiagnosticError:
    """The error for an alias at ``span`` inside the value its anchor names."""
    return DiagnosticError(
        [
            Diagnostic(
                span,
                f"alias *{name} is inside the value it refers to",
                f"a value cannot contain itself; move *{name} out of &{name}",
            )
        ]
    )
