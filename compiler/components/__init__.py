"""The component registry: a plain dict from a node type name to its :class:`Component`.

Each built-in family lives in its own module with a ``COMPONENTS`` tuple; add a family by
importing its module and listing it in ``FAMILIES``.
"""

from __future__ import annotations

from . import providers, resample, sinks, stateless
from .base import Code, Component, Params

FAMILIES = (providers, stateless, resample, sinks)

REGISTRY: dict[str, Component] = {c.type_name: c for family in FAMILIES for c in family.COMPONENTS}

__all__ = ["REGISTRY", "Code", "Component", "Params"]
