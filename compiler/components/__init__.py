"""The component registry: a plain dict from a node type name to its :class:`Component`.

Each built-in family lives in its own module with a ``COMPONENTS`` tuple; add a family by
importing its module and listing it in ``FAMILIES``. Installed packages add more types through
the ``mdp.components`` entry points (see :mod:`.plugins`); :func:`registry` lists them all.
"""

from __future__ import annotations

from . import flow, ibkr, providers, resample, routing, sinks, stateless, window
from .base import Code, Component, Params
from .plugins import ComponentNotFound, installed, resolve

FAMILIES = (providers, ibkr, stateless, routing, resample, window, flow, sinks)

REGISTRY: dict[str, Component] = {c.type_name: c for family in FAMILIES for c in family.COMPONENTS}


def registry() -> dict[str, Component]:
    """Every usable type: the built-ins (:data:`REGISTRY`) and installed plugins; built-ins win."""
    return {**{name: plugin.component for name, plugin in installed(REGISTRY).plugins.items()}, **REGISTRY}


def lookup(type_name: str) -> Component:
    """The component for a node type (a registered name or ``package.module:NAME``).

    Raises :class:`ComponentNotFound` with a message and a did-you-mean hint.
    """
    return resolve(type_name, REGISTRY)


__all__ = ["REGISTRY", "Code", "Component", "ComponentNotFound", "Params", "lookup", "registry"]
