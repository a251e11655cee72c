"""The older system's ways of writing a config, turned into the one shape the compiler reads.

- ``dag: {graph: {nodes, edges}}`` is the same as ``dag: {nodes, edges}`` (also in
  ``MDP_UNIFIED_DAG_JSON``, whose object is a ``dag`` section);
- without ``mode:``, a config with only a ``classic:`` section is classic, any other is DAG;
- without ``name:``, the job is named after the config file's stem (``jobs/eu_bars.yaml`` is
  job ``eu_bars``).

Each value keeps the position it was written at, so a mistake inside ``graph:`` is reported
where it is; an inferred value points at what it was inferred from.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..diagnostics import Diagnostic, DiagnosticError
from .document import Document, Path, Span

JOB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def normalise(doc: Document) -> Document:
    """Rewrite ``doc`` (in place) into the current shape; return it.

    Raises :class:`DiagnosticError` where both shapes are written at once, or where the file's
    stem cannot name the job.

    >>> doc = normalise(Document("jobs/eu_bars.yaml", "", {"dag": {"graph": {"nodes": [], "edges": []}}}))
    >>> doc.data
    {'dag': {'nodes': [], 'edges': []}, 'mode': 'dag', 'name': 'eu_bars'}
    >>> normalise(Document("x.yaml", "", {"name": "x", "classic": {}})).data["mode"]
    'classic'
    """
    if not isinstance(doc.data, dict):
        return doc
    lift_graph(doc, ("dag",))
    _infer_mode(doc)
    _default_name(doc)
    return doc


def lift_graph(doc: Document, section: Path) -> None:
    """Move the keys of ``<section>.graph`` up into ``<section>``, with their spans."""
    holder = doc.value_at(section)
    if not isinstance(holder, dict) or not isinstance(holder.get("graph"), dict):
        return
    graph = holder["graph"]
    both = [key for key in graph if key in holder]
    if both:
        raise DiagnosticError(
            [
                Diagnostic(
                    doc.span(section + ("graph",), prefer_key=True),
                    f"{'.'.join(map(str, section))} has {both[0]!r} both directly and under 'graph'",
                    "write the nodes and edges once: either under graph: (the older form) or "
                    "directly in the section",
                )
            ]
        )
    before = Document(doc.file, doc.text, None, dict(doc.values), dict(doc.keys))
    del holder["graph"]
    for key, value in graph.items():
        holder[key] = value
        doc.copy_spans(section + (key,), before, section + ("graph", key))
    doc.clear(section + ("graph",))


def _infer_mode(doc: Document) -> None:
    if "mode" in doc.data:
        return
    classic_only = "classic" in doc.data and "dag" not in doc.data
    doc.data["mode"] = "classic" if classic_only else "dag"
    if classic_only:
        doc.point(("mode",), doc.span(("classic",), prefer_key=True))


def _default_name(doc: Document) -> None:
    if "name" in doc.data:
        return
    stem = PurePosixPath(doc.file.replace("\\", "/")).stem
    here = Span(doc.file, 1, 1, 1, 2)
    if not JOB_NAME.match(stem):
        raise DiagnosticError(
            [
                Diagnostic(
                    here,
                    f"the config has no name, and its file name {stem!r} cannot name the job",
                    "add `name: <job name>` (letters, digits, _, . and -, up to 100 characters)",
                )
            ]
        )
    doc.data["name"] = stem
    doc.point(("name",), here)
