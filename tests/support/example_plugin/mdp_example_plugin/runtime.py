"""What generated modules run: imports only runtime_lib and the standard library."""

from __future__ import annotations

import csv

from runtime_lib.operators.base import Operator
from runtime_lib.sinks.base import Sink
from runtime_lib.stats import NodeStats


class Scale(Operator):
    """Write ``record[field] * factor`` to ``into``; drop (and count) records without the field.

    >>> op = Scale("x", NodeStats("x", "operator.example_scale"), field="size", factor=2.0, into="double")
    >>> op.process([{"size": 3}, {"size": None}])
    [{'size': 3, 'double': 6.0}]
    >>> op.stats.dropped
    1
    """

    def __init__(self, node_id: str, stats: NodeStats, *, field: str, factor: float, into: str) -> None:
        super().__init__(node_id, stats)
        self.field = field
        self.factor = factor
        self.into = into

    def process(self, batch: list[dict]) -> list[dict]:
        """Return the scaled copies of the records that carry the field."""
        out = [{**r, self.into: r[self.field] * self.factor} for r in batch if r.get(self.field) is not None]
        self.stats.dropped += len(batch) - len(out)
        self.stats.add(len(batch), len(out))
        return out


class CsvSink(Sink):
    """Write ``columns`` of each record to a CSV file, after a header row."""

    def __init__(self, node_id: str, *, path: str, columns: tuple[str, ...]) -> None:
        super().__init__(node_id)
        self.columns = columns
        self._file = open(path, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)

    def write(self, batch: list[dict]) -> int:
        """Write one row per record and return the number written."""
        self._writer.writerows([record.get(c) for c in self.columns] for record in batch)
        self._file.flush()
        return len(batch)

    def close(self) -> None:
        """Close the file."""
        self._file.close()
