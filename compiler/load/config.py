"""Read a config in the format its file name says: ``.json`` is JSON, anything else YAML."""

from __future__ import annotations

from .document import Document
from .json_spans import load_json
from .older_shapes import normalise
from .yaml_spans import load_yaml


def load_config(file: str, text: str) -> Document:
    """Load config ``text`` read from ``file`` into a :class:`Document` with spans, in the current
    shape (see :mod:`.older_shapes`).

    >>> load_config("job.json", '{"name": "x"}').data
    {'name': 'x', 'mode': 'dag'}
    """
    if str(file).lower().endswith(".json"):
        return normalise(load_json(file, text))
    return normalise(load_yaml(file, text))
