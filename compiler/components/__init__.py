"""The component registry: a mapping from a node type name to its :class:`Component`.

Each built-in family lives in its own module with a ``COMPONENTS`` tuple. :data:`BUILT_INS`
names the module of every built-in type, and a module is imported the first time one of its
types is read, so compiling a config loads only the families it uses; add a type by listing
it there. Installed packages add more types through the ``mdp.components`` entry points (see
:mod:`.plugins`); :func:`registry` lists them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

from .base import Code, Component, Params
from .plugins import ComponentNotFound, installed, resolve

BUILT_INS: dict[str, str] = {
    "provider.replay": "providers",
    "provider.synthetic": "providers",
    "provider.ibkr.stream": "ibkr",
    "provider.redis_stream": "redis_streams",
    "operator.map": "stateless",
    "operator.filter": "stateless",
    "operator.hash_partition": "routing",
    "operator.router": "routing",
    "operator.resample_ohlc": "resample",
    "operator.window": "window",
    "operator.deduplicate": "flow",
    "operator.throttle": "flow",
    "operator.buffer": "flow",
    "sink.store": "sinks",
    "sink.jsonl": "sinks",
    "sink.parquet": "parquet",
    "sink.redis_stream": "redis_streams",
    "sink.null": "sinks",
}
"""The module (in this package) that defines each built-in type, in listing order."""


class BuiltIns(MutableMapping[str, Component]):
    """Built-in components by type name; a type's module is imported when the type is first read.

    Membership, iteration and length need no imports. Setting or deleting a name (a test's
    stand-in component) changes this mapping only.
    """

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._entries: dict[str, Component | str] = dict(modules)

    def __getitem__(self, type_name: str) -> Component:
        entry = self._entries[type_name]
        if isinstance(entry, str):
            family = importlib.import_module(f"{__name__}.{entry}")
            entry = self._entries[type_name] = {c.type_name: c for c in family.COMPONENTS}[type_name]
        return entry

    def __setitem__(self, type_name: str, component: Component) -> None:
        self._entries[type_name] = component

    def __delitem__(self, type_name: str) -> None:
        del self._entries[type_name]

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


REGISTRY = BuiltIns(BUILT_INS)


def registry() -> dict[str, Component]:
    """Every usable type: the built-ins (:data:`REGISTRY`) and installed plugins; built-ins win."""
    return {**{name: plugin.component for name, plugin in installed(REGISTRY).plugins.items()}, **REGISTRY}


def lookup(type_name: str) -> Component:
    """The component for a node type (a registered name or ``package.module:NAME``).

    Raises :class:`ComponentNotFound` with a message and a did-you-mean hint.
    """
    return resolve(type_name, REGISTRY)


__all__ = ["BUILT_INS", "REGISTRY", "Code", "Component", "ComponentNotFound", "Params", "lookup", "registry"]
