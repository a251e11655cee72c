"""Apply the run settings that flags and ``MDP_UNIFIED_*`` give to a loaded config.

Only settings given as a flag or a variable change the config (the file's own values are the
lower level). Each change keeps the position it came from: a value from ``--mode`` points at
``--mode:1:1``, one from ``MDP_UNIFIED_DAG_JSON`` at its line and column in that JSON text. So
the compiler reports a bad value where the user wrote it.

``MDP_UNIFIED_DAG_JSON`` and ``MDP_UNIFIED_CLASSIC_JSON`` are merged field by field: mappings
merge key by key, the entries of ``dag.nodes`` are matched by ``id`` (an unknown id adds a
node), and any other value (a list such as ``edges`` or ``symbols``, a number, a string)
replaces the config's value. The store URL replaces the ``url`` of every ``sink.store`` node
(in classic mode: ``overrides.database_url``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, DiagnosticError
from .driver import read_config
from .ir import node_path
from .load.config import load_config
from .load.document import Document
from .load.json_spans import load_json
from .load.older_shapes import lift_graph
from .settings import RunSettings, text_span


@dataclass
class Overlaid:
    """A config with the settings applied: its file, its text, the document, and what changed."""

    file: str
    text: str
    doc: Document
    applied: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """The changes as canonical text: part of the cache key of the compiled module."""
        return json.dumps(self.applied, sort_keys=True)


def _editable(doc: Document, texts: dict[str, str]) -> Document:
    """A copy of ``doc`` to change: its data and span tables copied, ``texts`` added."""
    return Document(
        doc.file, doc.text, copy.deepcopy(doc.data), dict(doc.values), dict(doc.keys), {**doc.texts, **texts}
    )


def _merge(doc: Document, target: dict, path: tuple, overlay: Document, opath: tuple, value: dict) -> None:
    for key, item in value.items():
        here, there = path + (key,), opath + (key,)
        current = target.get(key)
        if isinstance(current, dict) and isinstance(item, dict):
            _merge(doc, current, here, overlay, there, item)
        elif here == ("dag", "nodes") and isinstance(current, list) and isinstance(item, list):
            _merge_nodes(doc, current, overlay, there, item)
        else:
            target[key] = copy.deepcopy(item)
            doc.copy_spans(here, overlay, there)


def _merge_nodes(doc: Document, nodes: list, overlay: Document, opath: tuple, items: list) -> None:
    """Merge overlay nodes into the node with the same id; a node with a new id is added."""
    index = {
        n.get("id"): i for i, n in enumerate(nodes) if isinstance(n, dict) and isinstance(n.get("id"), str)
    }
    for j, item in enumerate(items):
        i = index.get(item.get("id")) if isinstance(item, dict) else None
        if i is not None:
            _merge(doc, nodes[i], node_path(i), overlay, opath + (j,), item)
        else:
            nodes.append(copy.deepcopy(item))
            doc.copy_spans(node_path(len(nodes) - 1), overlay, opath + (j,))


def _section(doc: Document, settings: RunSettings, section: str) -> str | None:
    """Merge the JSON object of ``MDP_UNIFIED_<SECTION>_JSON`` into the config's section."""
    name = f"{section}_json"
    if not settings.given(name):
        return None
    text = getattr(settings, name)
    overlay = load_json(settings.shown_as(name), text)
    if section == "dag":
        lift_graph(overlay, ())  # the older system's {"graph": {"nodes": ..., "edges": ...}}
    if not isinstance(overlay.data, dict):
        example = '{"nodes": [{"id": "store", "params": {...}}]}' if section == "dag" else '{"spec": {...}}'
        raise DiagnosticError(
            [
                Diagnostic(
                    overlay.span(()),
                    f"{settings.shown_as(name)[1:]} must be a JSON object",
                    f"for example {example}",
                )
            ]
        )
    if not isinstance(doc.data.get(section), dict):
        doc.data[section] = {}
        doc.copy_spans((section,), overlay)
    _merge(doc, doc.data[section], (section,), overlay, (), overlay.data)
    return text


def _store_url(doc: Document, settings: RunSettings) -> str | None:
    """Set the url of every sink.store node (classic: the spec's database_url)."""
    if not settings.given("store_url"):
        return None
    url, shown = settings.store_url, settings.shown_as("store_url")
    span = text_span(shown, url)
    data = doc.data
    if data.get("mode") == "classic":
        spec = data.get("classic", {}).get("spec") if isinstance(data.get("classic"), dict) else None
        if isinstance(spec, dict):
            if not isinstance(spec.get("overrides"), dict):
                spec["overrides"] = {}
            spec["overrides"]["database_url"] = url
            doc.point(("classic", "spec", "overrides", "database_url"), span)
        return url
    nodes = data.get("dag", {}).get("nodes") if isinstance(data.get("dag"), dict) else None
    stores = [i for i, n in enumerate(nodes or []) if isinstance(n, dict) and n.get("type") == "sink.store"]
    if not stores:
        raise DiagnosticError(
            [
                Diagnostic(
                    span,
                    "a store URL is set but the pipeline has no sink.store node",
                    f"unset {shown} for this job",
                )
            ]
        )
    for i in stores:
        if not isinstance(nodes[i].get("params"), dict):
            nodes[i]["params"] = {}
        nodes[i]["params"]["url"] = url
        doc.point(node_path(i, "params", "url"), span)
    return url


def apply_settings(doc: Document, settings: RunSettings) -> tuple[Document, dict[str, str]]:
    """The config with the given settings applied, and the settings that changed it."""
    if not isinstance(doc.data, dict):
        return doc, {}
    changed, applied = _editable(doc, settings.texts()), {}
    for name, key in (("mode", "mode"), ("job_name", "name")):
        if settings.given(name):
            value = getattr(settings, name)
            changed.data[key] = value
            changed.point((key,), text_span(settings.shown_as(name), value))
            applied[name] = value
    for section in ("dag", "classic"):
        text = _section(changed, settings, section)
        if text is not None:
            applied[f"{section}_json"] = text
    url = _store_url(changed, settings)
    if url is not None:
        applied["store_url"] = url
    return changed, applied


def load_with_settings(settings: RunSettings) -> Overlaid:
    """Read the config that the settings name and apply the settings to it."""
    file, text = read_config(settings.config)
    doc, applied = apply_settings(load_config(file, text), settings)
    return Overlaid(file, text, doc, applied)
