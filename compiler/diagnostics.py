"""Compiler diagnostics: an error with a source span, rendered like a compiler's message."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .load.document import Span


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a config, with where it is and, optionally, how to fix it."""

    span: Span
    message: str
    hint: str | None = None
    severity: str = "error"

    def sort_key(self) -> tuple:
        """Order diagnostics by file position, then text, so reports are stable."""
        return (self.span.file, self.span.line, self.span.column, self.message)


class DiagnosticError(Exception):
    """Raised with every diagnostic found; the CLI renders them and exits with status 1."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} error(s)")
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)


def render(diagnostic: Diagnostic, source_text: str) -> str:
    """Render a diagnostic with its source line, a caret under the span, and the hint.

    >>> from compiler.load.document import Span
    >>> d = Diagnostic(Span("c.yaml", 2, 10, 2, 15), "unknown field 'prize'", "did you mean 'price'?")
    >>> print(render(d, "a: 1\\nb: where: prize > 0\\n"))
    c.yaml:2:10: error: unknown field 'prize'
        2 | b: where: prize > 0
          |          ^~~~~
      = hint: did you mean 'price'?
    """
    span = diagnostic.span
    lines = source_text.splitlines()
    head = f"{span.file}:{span.line}:{span.column}: {diagnostic.severity}: {diagnostic.message}"
    out = [head]
    if 0 < span.line <= len(lines):
        text = lines[span.line - 1].replace("\t", " ")
        gutter = f"{span.line:>5} | "
        out.append(gutter + text)
        width = span.end_column - span.column if span.end_line == span.line else len(text) - span.column + 1
        width = max(1, min(width, max(1, len(text) - span.column + 1)))
        out.append(" " * (len(gutter) - 2) + "| " + " " * (span.column - 1) + "^" + "~" * (width - 1))
    if diagnostic.hint:
        out.append(f"  = hint: {diagnostic.hint}")
    return "\n".join(out)


def render_all(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """Render diagnostics in position order, followed by a count line."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    blocks = [render(d, sources.get(d.span.file, "")) for d in ordered]
    errors = sum(d.severity == "error" for d in ordered)
    warnings = len(ordered) - errors
    summary = ", ".join(
        part
        for part in (
            f"{errors} error{'s' * (errors != 1)}" if errors else "",
            f"{warnings} warning{'s' * (warnings != 1)}" if warnings else "",
        )
        if part
    )
    return "\n".join(blocks) + (f"\n{summary}" if summary else "")


def report(
    diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], texts: dict[str, str] | None = None
) -> None:
    """Print diagnostics with their source lines to stderr.

    ``texts`` holds the text of values given as flags or variables, by the name their spans use;
    every other file named is read from disk (an unreadable one shows no source lines).
    """
    if not diagnostics:
        return
    sources = dict(texts or {})
    for diagnostic in diagnostics:
        file = diagnostic.span.file
        if file not in sources:
            try:
                sources[file] = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[file] = ""
    print(render_all(list(diagnostics), sources), file=sys.stderr)
