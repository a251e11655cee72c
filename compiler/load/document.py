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
    texts: dict[str, str] = field(default_factory=dict)  # other sources spans point into (flags, variables)

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
        """The span of characters ``col:end_col`` of the string value at ``path``, in the source.

        Accounts for the opening quote and for escapes (``\\"`` in double quotes, ``''`` in
        single quotes), so the caret lands under the right characters; a value spread over
        several lines points at its start.
        """
        value = self.span(path)
        if value.end_line != value.line:
            return value
        line = self.line_text(value.line, value.file)
        columns = _value_columns(line, value.column - 1)
        start = columns[min(col, len(columns) - 1)]
        end = columns[min(max(end_col, col + 1), len(columns) - 1)]
        return Span(value.file, value.line, start + 1, value.line, end + 1)

    def line_text(self, line: int, file: str | None = None) -> str:
        """Return one line of the source (1-based), without its newline.

        ``file`` names another source that some spans point into (one of ``texts``).
        """
        text = self.text if file is None or file == self.file else self.texts.get(file, "")
        lines = text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


_ESCAPE_WIDTH = {"x": 3, "u": 5, "U": 9}


def _value_columns(line: str, start: int) -> list[int]:
    """For each character of the scalar starting at ``line[start]``, its column in ``line``
    (0-based), plus one entry for the position just after the value."""
    quote = line[start : start + 1]
    if quote not in ("'", '"'):
        return list(range(start, len(line) + 1))
    columns, i = [], start + 1
    while i < len(line) and not (line[i] == quote and not (quote == "'" and line[i + 1 : i + 2] == "'")):
        columns.append(i)
        if quote == '"' and line[i] == "\\":
            i += _ESCAPE_WIDTH.get(line[i + 1 : i + 2], 2)
        else:
            i += 2 if quote == "'" and line[i : i + 2] == "''" else 1
    columns.append(i)
    return columns
