"""Record schemas: which fields a node's output holds, so expressions can be checked."""

from __future__ import annotations

from dataclasses import dataclass

TICK_FIELDS = ("symbol", "ts", "price", "size")
TICK_OPTIONAL = ("bid", "ask", "bid_size", "ask_size", "exchange")
BAR_FIELDS = ("symbol", "ts", "interval", "open", "high", "low", "close", "volume", "count", "vwap")


@dataclass(frozen=True)
class Schema:
    """Fields a record carries: each maps to True when always present, False when optional.

    An ``open`` schema may carry fields the compiler cannot know (a plugin's output), so any
    name is accepted downstream of it.

    >>> Schema.of(TICK_FIELDS, optional=TICK_OPTIONAL).has("bid")
    True
    >>> Schema.of(("a",)).merge(Schema.of(("a", "b"))).fields
    {'a': True, 'b': False}
    """

    fields: dict[str, bool]
    open: bool = False

    @classmethod
    def of(cls, required: tuple[str, ...], optional: tuple[str, ...] = (), open: bool = False) -> Schema:
        """Build a schema from required and optional field names."""
        fields = {name: True for name in required}
        fields.update({name: False for name in optional if name not in fields})
        return cls(fields, open)

    def has(self, name: str) -> bool:
        """Whether a record of this schema can carry ``name``."""
        return self.open or name in self.fields

    def names(self) -> list[str]:
        """Field names in declaration order."""
        return list(self.fields)

    def merge(self, other: Schema) -> Schema:
        """The schema of a union of two streams: required only where required in both."""
        fields = {name: req and other.fields.get(name, False) for name, req in self.fields.items()}
        fields.update({name: False for name in other.fields if name not in fields})
        return Schema(fields, self.open or other.open)


TICK = Schema.of(TICK_FIELDS, optional=TICK_OPTIONAL)
BAR = Schema.of(BAR_FIELDS)
