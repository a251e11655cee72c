"""Turn the IB client library's ticks and bars into mdp Tick and Bar records.

The functions read the library's objects by attribute only (``tickType``, ``price``, ``size``,
``time``; ``open_``, ``wap``, ...), so they work with ib_insync and ib_async alike and can be
tested with plain named tuples.

IB marks a missing value with ``nan`` or ``-1`` (and ib_async turns a bid or ask whose size is
0 into price ``-1``); a bid or ask with size 0 means that side of the book is empty. Such values
are never emitted: a field is left out of the record, or the record is not emitted at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = 1_000_000_000

# IB tick types (https://interactivebrokers.github.io/tws-api/tick_types.html), live and delayed.
BID, ASK, LAST = frozenset({1, 66}), frozenset({2, 67}), frozenset({4, 68})
BID_SIZE, ASK_SIZE, LAST_SIZE = frozenset({0, 69}), frozenset({3, 70}), frozenset({5, 71})


def datetime_to_ns(moment: datetime) -> int:
    """Convert a timezone-aware datetime to integer nanoseconds since the epoch (UTC).

    >>> datetime_to_ns(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005000
    """
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


def is_empty(value) -> bool:
    """Return True for IB's "no value" markers: None, nan and -1.

    >>> [is_empty(v) for v in (None, float("nan"), -1.0, 0.0, 101.5)]
    [True, True, True, False, False]
    """
    return value is None or value != value or value == -1


class QuoteBook:
    """Top of book and last trade of one symbol, rebuilt tick by tick from IB's stream.

    ``apply`` appends a Tick record to ``out`` for every quote change (stream ``quotes``: price
    is the midpoint, size 0, since a quote trades nothing) or every trade (stream ``trades``:
    the trade's price and size plus the book at that moment). IB repeats a price tick's size
    in a separate size tick; the repeat is recognised and not counted as a second trade.

    >>> from collections import namedtuple
    >>> T = namedtuple("T", "time tickType price size")
    >>> t0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
    >>> out = []
    >>> book = QuoteBook()
    >>> book.apply("AAPL", [T(t0, 1, 99.5, 300), T(t0, 2, 100.5, 200)], "quotes", out)
    >>> out[0]["price"], out[0]["bid_size"], out[0]["ask_size"]
    (100.0, 300, 200)
    """

    __slots__ = ("bid", "ask", "bid_size", "ask_size", "last", "last_size", "echo", "emitted")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the book (after a reconnect the first ticks rebuild it)."""
        self.bid = self.ask = self.bid_size = self.ask_size = None
        self.last = self.last_size = None
        self.echo = False
        self.emitted = None

    def apply(self, symbol: str, ticks, stream: str, out: list) -> None:
        """Update the book from ``ticks`` (in arrival order) and append records to ``out``."""
        for tick in ticks:
            kind = tick.tickType
            if kind in LAST:
                if not is_empty(tick.price):
                    self.last, self.last_size, self.echo = tick.price, _size(tick.size), True
                    if stream == "trades":
                        out.append(self._trade(symbol, tick.time, self.last, self.last_size))
                continue
            if kind in LAST_SIZE:
                size = _size(tick.size)
                if self.echo and size == self.last_size:
                    self.echo = False
                elif self.last is not None and size:
                    self.last_size, self.echo = size, False
                    if stream == "trades":
                        out.append(self._trade(symbol, tick.time, self.last, size))
                continue
            if kind in BID:
                self.bid, self.bid_size = _side(tick.price, tick.size)
            elif kind in ASK:
                self.ask, self.ask_size = _side(tick.price, tick.size)
            elif kind in BID_SIZE:
                self.bid, self.bid_size = _side(self.bid, tick.size)
            elif kind in ASK_SIZE:
                self.ask, self.ask_size = _side(self.ask, tick.size)
            else:
                continue
            if stream == "quotes":
                self._quote(symbol, tick.time, out)

    def apply_bid_ask(self, symbol: str, tick, out: list) -> None:
        """Update the book from a tick-by-tick BidAsk tick and append a quote record if it moved."""
        self.bid, self.bid_size = _side(tick.bidPrice, tick.bidSize)
        self.ask, self.ask_size = _side(tick.askPrice, tick.askSize)
        self._quote(symbol, tick.time, out)

    def _quote(self, symbol: str, moment: datetime, out: list) -> None:
        state = (self.bid, self.ask, self.bid_size, self.ask_size)
        if self.bid is None or self.ask is None or state == self.emitted:
            return
        self.emitted = state
        record = {
            "symbol": symbol,
            "ts": datetime_to_ns(moment),
            "price": (self.bid + self.ask) / 2,
            "size": 0.0,
        }
        self._add_book(record)
        out.append(record)

    def _trade(self, symbol: str, moment: datetime, price: float, size: float) -> dict:
        record = {"symbol": symbol, "ts": datetime_to_ns(moment), "price": price, "size": size}
        self._add_book(record)
        return record

    def _add_book(self, record: dict) -> None:
        if self.bid is not None:
            record["bid"] = self.bid
            record["bid_size"] = self.bid_size
        if self.ask is not None:
            record["ask"] = self.ask
            record["ask_size"] = self.ask_size


def _size(size) -> float:
    """A trade size, with IB's empty markers read as 0."""
    return 0.0 if is_empty(size) or size < 0 else size


def _side(price, size) -> tuple:
    """One side of the book: (price, size), or (None, None) when IB says the side is empty."""
    if is_empty(price) or is_empty(size) or size <= 0:
        return None, None
    return price, size


def tick_by_tick_records(symbol: str, ticks, book: QuoteBook, out: list) -> None:
    """Append records for tick-by-tick ticks: AllLast/Last as trades, BidAsk as quotes.

    A trade record carries the trade's exchange when IB names one. MidPoint ticks are not
    requested by the provider and are skipped.
    """
    for tick in ticks:
        if hasattr(tick, "bidPrice"):
            book.apply_bid_ask(symbol, tick, out)
        elif hasattr(tick, "exchange") and not is_empty(tick.price):
            record = {
                "symbol": symbol,
                "ts": datetime_to_ns(tick.time),
                "price": tick.price,
                "size": _size(tick.size),
            }
            if tick.exchange:
                record["exchange"] = tick.exchange
            out.append(record)


def bar_record(symbol: str, bar, interval: str = "5s") -> dict:
    """Convert an IB real-time bar to a Bar record; ``ts`` is the bar's start (server time).

    A bar without trades has no VWAP from IB (0 or -1); its close is used instead. Negative
    (empty) volume and count become 0.
    """
    vwap = bar.wap if not is_empty(bar.wap) and bar.wap > 0 else bar.close
    return {
        "symbol": symbol,
        "ts": datetime_to_ns(bar.time),
        "interval": interval,
        "open": bar.open_,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": _size(bar.volume),
        "count": max(int(bar.count), 0),
        "vwap": vwap,
    }
