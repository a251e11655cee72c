"""Aggregations over the records of one window: ``count sum min max mean first last vwap``.

Each aggregation reads its arguments through value functions (``itemgetter('size')`` or a
lambda the compiler built) and keeps a small mutable state list per window. Values that are
``None`` are skipped, as pandas skips NaN: ``count(expr)`` counts the records whose value is
not ``None`` (``count()`` counts them all), ``sum`` of no values is 0, and ``min``, ``max``,
``mean``, ``first``, ``last`` of no values are ``None``. ``first``/``last`` go by event time;
among records with the same event time, by arrival. ``vwap(price, size)`` is
Σ(price·size)/Σsize, ``None`` when Σsize is 0.

>>> from operator import itemgetter
>>> agg = AGGREGATES["vwap"](itemgetter("p"), itemgetter("s"))
>>> state = agg.start()
>>> for ts, r in enumerate([{"p": 10.0, "s": 1}, {"p": 13.0, "s": 2}, {"p": None, "s": 5}]):
...     agg.add(state, r, ts)
>>> agg.result(state)
12.0
"""

from __future__ import annotations

from collections.abc import Callable

Value = Callable[[dict], object]


class Aggregate:
    """One aggregation: ``start()`` a state, ``add(state, r, ts)`` each record, ``result(state)``.

    A subclass provides ``step``, which computes the state after a record without changing it.

    ``arity`` is the (least, most) number of argument expressions it takes.
    """

    arity = (1, 1)

    def __init__(self, *values: Value) -> None:
        least, most = self.arity
        if not least <= len(values) <= most:
            raise ValueError(
                f"{type(self).__name__.lower()} takes {least}..{most} arguments, got {len(values)}"
            )
        self.values = values
        self.value = values[0] if values else None

    def start(self) -> list:
        """The state of a window that holds no record yet."""
        return [None]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """The state after adding record ``r`` (event time ``ts``), or None when it stays the same.

        Reads the values of ``r`` and may raise (a failing expression, values that do not add or
        compare), but never changes ``state``: a window with several aggregations applies the
        steps only once all of them succeeded.
        """
        raise NotImplementedError

    def add(self, state: list, r: dict, ts: int) -> None:
        """Add record ``r`` (event time ``ts``), in any arrival order."""
        new = self.step(state, r, ts)
        if new is not None:
            state[:] = new

    def result(self, state: list) -> object:
        """The aggregate of the records added."""
        return state[0]


class Count(Aggregate):
    """``count()``: the records; ``count(expr)``: the records whose value is not None."""

    arity = (0, 1)

    def start(self) -> list:
        """No record counted."""
        return [0]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Count ``r`` (if its value is not None)."""
        if self.value is None or self.value(r) is not None:
            return (state[0] + 1,)
        return None


class Sum(Aggregate):
    """The sum of the values (0 when there are none)."""

    def start(self) -> list:
        """Nothing summed."""
        return [0]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Add the value of ``r``."""
        v = self.value(r)
        return None if v is None else (state[0] + v,)


class Min(Aggregate):
    """The smallest value."""

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Keep the value of ``r`` if it is smaller."""
        v = self.value(r)
        if v is not None and (state[0] is None or v < state[0]):
            return (v,)
        return None


class Max(Aggregate):
    """The largest value."""

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Keep the value of ``r`` if it is larger."""
        v = self.value(r)
        if v is not None and (state[0] is None or v > state[0]):
            return (v,)
        return None


class Mean(Aggregate):
    """The arithmetic mean of the values."""

    def start(self) -> list:
        """Sum and number of the values."""
        return [0, 0]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Add the value of ``r``."""
        v = self.value(r)
        return None if v is None else (state[0] + v, state[1] + 1)

    def result(self, state: list) -> object:
        """Sum / number, or None without values."""
        return state[0] / state[1] if state[1] else None


class First(Aggregate):
    """The value of the earliest record by event time (the earliest arrival among equal times)."""

    def start(self) -> list:
        """The value and its event time."""
        return [None, None]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Keep the value of ``r`` if it is earlier (strictly: a tie keeps the first arrival)."""
        v = self.value(r)
        if v is not None and (state[1] is None or ts < state[1]):
            return (v, ts)
        return None


class Last(Aggregate):
    """The value of the latest record by event time (the latest arrival among equal times)."""

    def start(self) -> list:
        """The value and its event time."""
        return [None, None]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Keep the value of ``r`` if it is not earlier (a tie takes the later arrival)."""
        v = self.value(r)
        if v is not None and (state[1] is None or ts >= state[1]):
            return (v, ts)
        return None


class Vwap(Aggregate):
    """``vwap(price, size)``: Σ(price·size)/Σsize over records with both values."""

    arity = (2, 2)

    def start(self) -> list:
        """Σ price·size and Σ size."""
        return [0, 0]

    def step(self, state: list, r: dict, ts: int) -> tuple | None:
        """Add the price and size of ``r``."""
        p = self.values[0](r)
        s = self.values[1](r)
        if p is not None and s is not None:
            return (state[0] + p * s, state[1] + s)
        return None

    def result(self, state: list) -> object:
        """Σ price·size / Σ size, or None when Σ size is 0."""
        return state[0] / state[1] if state[1] else None


AGGREGATES: dict[str, type[Aggregate]] = {
    "count": Count, "sum": Sum, "min": Min, "max": Max, "mean": Mean,
    "first": First, "last": Last, "vwap": Vwap,
}  # fmt: skip
"""Aggregation functions by the name a config uses."""
