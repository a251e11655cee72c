"""Python identifiers for config ids, which may hold any characters."""

from __future__ import annotations

import keyword
import re

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]+")


class Names:
    """Hands out unique, readable identifiers derived from arbitrary strings.

    >>> names = Names()
    >>> names.take("to", "bars 1m"), names.take("to", "bars-1m"), names.take("v", "é")
    ('to_bars_1m', 'to_bars_1m_2', 'v_x')
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._tried: dict[str, int] = {}  # the number last tried after each name (all below are taken)

    def claim(self, name: str) -> str:
        """``name`` itself if no one has it yet, else ``name_2``, ``name_3``, ...

        >>> names = Names()
        >>> names.claim("JsonlSink"), names.claim("JsonlSink")
        ('JsonlSink', 'JsonlSink_2')
        """
        n = self._tried.get(name, 1)
        candidate = name if n == 1 else f"{name}_{n}"
        while candidate in self._taken or keyword.iskeyword(candidate):
            n += 1
            candidate = f"{name}_{n}"
        self._tried[name] = n
        self._taken.add(candidate)
        return candidate

    def take(self, prefix: str, text: str) -> str:
        """A fresh identifier ``prefix_<slug of text>``, numbered if the slug is taken."""
        slug = _NOT_IDENT.sub("_", text.encode("ascii", "ignore").decode()).strip("_")[:40] or "x"
        return self.claim(f"{prefix}_{slug}")
