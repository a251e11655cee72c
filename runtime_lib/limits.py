"""Checks of the run options that bound a job: seconds (``--duration``, the stop grace) and counts."""

from __future__ import annotations

import math


def positive_seconds(value: object) -> float:
    """``value`` as a finite number of seconds above 0, else a :class:`ValueError` saying so.

    >>> positive_seconds("2.5")
    2.5
    >>> positive_seconds("nan")
    Traceback (most recent call last):
    ValueError: expected a number of seconds above 0, not 'nan'
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a number of seconds above 0, not {str(value)!r}")
    return seconds


def positive_count(value: object) -> int:
    """``value`` as a whole number above 0, else a :class:`ValueError` saying so.

    >>> positive_count("5")
    5
    >>> positive_count("-5")
    Traceback (most recent call last):
    ValueError: expected a whole number above 0, not '-5'
    """
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"expected a whole number above 0, not {str(value)!r}")
    return count
