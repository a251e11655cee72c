"""'Did you mean' hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest choice, or None if nothing is close.

    >>> did_you_mean("prize", ["price", "size", "symbol"])
    "did you mean 'price'?"
    """
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None
