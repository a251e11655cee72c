"""The component registry: a plain dict from a node type name to its :class:`Component`."""

from __future__ import annotations

from .base import Code, Component, Params
from .providers import PROVIDERS
from .sinks import SINKS
from .stateful import STATEFUL
from .stateless import STATELESS

REGISTRY: dict[str, Component] = {c.type_name: c for c in PROVIDERS + STATELESS + STATEFUL + SINKS}

__all__ = ["REGISTRY", "Code", "Component", "Params"]
