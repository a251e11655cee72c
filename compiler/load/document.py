"""A loaded config: its data plus a table of source spans keyed by path."""

from __future__ import annotations

from dataclasses import dataclass, field

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_*`` exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass
class Document:
    """The data of a config file and where each of its keys and values came from.

    ``values[path]`` is the span of the value at ``path`` (``("dag", "nodes", 3, "params",
    "where")``); ``keys[path]`` the span of the mapping key that introduced it.
    """

    file: str
    text: str
    data: object
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)

    def span(self, path: Path, prefer_key: bool = False) -> Span:
        """Return the best span for ``path``: the value (or key), else the nearest ancestor's.

        A path that names something absent (a missing required key) points at the mapping
        that should have held it.
        """
        path = tuple(path)
        while True:
            table_order = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for table in table_order:
                if path in table:
                    return table[path]
            if not path:
                return Span(self.file, 1, 1, 1, 2)
            path = path[:-1]

    def expression_span(self, path: Path, col: int, end_col: int) -> Span:
        """The span of columns ``col:end_col`` inside the expression string at ``path``.

        Accounts for the opening quote of a quoted scalar; a value spread over several lines
        points at its start.
        """
        value = self.span(path)
        if value.end_line != value.line:
            return value
        first = self.line_text(value.line)[value.column - 1 : value.column]
        start = value.column + (1 if first in ("'", '"') else 0)
        return Span(value.file, value.line, start + col, value.line, start + max(end_col, col + 1))

    def line_text(self, line: int) -> str:
        """Return one line of the source (1-based), without its newline."""
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""
