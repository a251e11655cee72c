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

    def value_at(self, path: Path) -> object:
        """The data at ``path``, or None where the path leads to nothing.

        >>> Document("a.yaml", "", {"dag": {"nodes": [{"id": "ticks"}]}}).value_at(("dag", "nodes", 0, "id"))
        'ticks'
        >>> Document("a.yaml", "", {"dag": {}}).value_at(("dag", "nodes", 0)) is None
        True
        """
        data = self.data
        for part in path:
            try:
                data = data[part]
            except (KeyError, IndexError, TypeError):
                return None
        return data

    def clear(self, path: Path) -> None:
        """Forget the spans of ``path`` and of everything under it.

        >>> here = Span("a.yaml", 1, 1, 1, 2)
        >>> doc = Document("a.yaml", "", {}, values={("a",): here, ("a", "b"): here, ("c",): here})
        >>> doc.clear(("a",))
        >>> list(doc.values)
        [('c',)]
        """
        path = tuple(path)
        for table in (self.values, self.keys):
            for old in [p for p in table if p[: len(path)] == path]:
                del table[old]

    def point(self, path: Path, span: Span, key_span: Span | None = None) -> None:
        """Make ``path`` a single value at ``span`` (its key at ``key_span``, else ``span`` too),
        forgetting any spans under it.

        >>> doc = Document("a.yaml", "", {}, values={("url", 0): Span("a.yaml", 4, 8, 4, 20)})
        >>> doc.point(("url",), Span("--store-url", 1, 1, 1, 9))
        >>> doc.span(("url",)).file, doc.span(("url",), prefer_key=True).file, ("url", 0) in doc.values
        ('--store-url', '--store-url', False)
        """
        path = tuple(path)
        self.clear(path)
        self.values[path] = span
        self.keys[path] = key_span or span

    def copy_spans(self, path: Path, source: Document, source_path: Path = ()) -> None:
        """Give ``path`` and everything under it the spans that ``source_path`` and everything
        under it have in ``source``, forgetting the spans ``path`` had.

        >>> there = Span("b.json", 3, 5, 3, 9)
        >>> overlay = Document("b.json", "", {}, values={("nodes",): there, ("nodes", 0): there})
        >>> doc = Document("a.yaml", "", {}, values={("dag", "old"): Span("a.yaml", 2, 3, 2, 9)})
        >>> doc.copy_spans(("dag",), overlay)
        >>> sorted(doc.values) == [("dag", "nodes"), ("dag", "nodes", 0)]
        True
        >>> doc.copy_spans(("dag", "edges"), overlay, ("nodes",))
        >>> doc.span(("dag", "edges", 0)).line
        3
        """
        path, source_path = tuple(path), tuple(source_path)
        self.clear(path)
        for mine, theirs in ((self.values, source.values), (self.keys, source.keys)):
            for p, span in theirs.items():
                if p[: len(source_path)] == source_path:
                    mine[path + p[len(source_path) :]] = span

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
