"""The symbols an IBKR source streams: qualify them, subscribe in paced batches, cancel them."""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType

from ..errors import JobError
from .ibkr_contracts import build_contract, describe
from .ibkr_pacing import RequestPacer
from .ibkr_records import QuoteBook

log = logging.getLogger(__name__)

STREAMS = ("quotes", "trades", "bars", "tick_by_tick")
MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
TICK_BY_TICK_TYPES = ("AllLast", "Last", "BidAsk")
# Error codes that IB uses for notices about a request that still works.
_WARNING_CODES = frozenset({10167, 10168})


class Subscription:
    """One symbol: its entry, its contract, the live request handle and its quote book."""

    __slots__ = ("spec", "label", "contract", "handle", "book")

    def __init__(self, spec: dict, contract) -> None:
        self.spec = spec
        self.label = spec["symbol"]
        self.contract = contract
        self.handle = None
        self.book = QuoteBook()


class Subscriptions:
    """Every symbol of one source, bound to one ``IB`` client (kept across reconnects).

    ``subscribe_all`` qualifies the contracts and requests the stream for each known one;
    unknown symbols are logged, listed in ``unknown`` and left out from then on.
    ``lookup(contract)`` finds the subscription of a ticker or bar list the library reports.
    """

    def __init__(
        self,
        node_id: str,
        specs: list[dict],
        *,
        stream: str,
        market_data_type: str,
        tick_by_tick_type: str,
        address: str,
        timeout: float,
    ) -> None:
        self.node_id = node_id
        self.specs = specs
        self.stream = stream
        self.market_data_type = market_data_type
        self.tick_by_tick_type = tick_by_tick_type
        self.address = address
        self.timeout = timeout
        self.unknown: list[str] = []
        self.errors = 0
        self.all: list[Subscription] = []
        self._ib = None
        self._pacer: RequestPacer | None = None
        self._active: dict[int, Subscription] = {}
        self._qualifying: set[int] = set()
        self._reasons: dict[int, str] = {}

    def bind(self, lib: ModuleType, ib, pacer: RequestPacer) -> None:
        """Build the contracts with the client library and use ``ib`` for every request."""
        self._ib, self._pacer = ib, pacer
        self.all = [Subscription(spec, build_contract(lib, spec)) for spec in self.specs]

    def lookup(self, contract) -> Subscription | None:
        """The active subscription of ``contract`` (the object it was requested with)."""
        return self._active.get(id(contract))

    async def subscribe_all(self) -> int:
        """Set the market data type, qualify in paced batches, subscribe; return how many."""
        ib, pacer = self._ib, self._pacer
        await pacer.acquire()
        ib.reqMarketDataType(MARKET_DATA_TYPES[self.market_data_type])
        wanted = [sub for sub in self.all if sub.label not in self.unknown]
        for start in range(0, len(wanted), pacer.limit):
            await self._qualify(wanted[start : start + pacer.limit])
        active = []
        for sub in wanted:
            if sub.contract.conId:
                active.append(sub)
            else:
                self._report_unknown(sub)
        if not active:
            raise JobError(
                f"none of the symbols is known to TWS/IB Gateway at {self.address}: "
                f"{', '.join(self.unknown)} (check symbol, sec_type, exchange and currency)"
            )
        self._active = {id(sub.contract): sub for sub in active}
        for sub in active:
            await pacer.acquire()
            sub.book.reset()
            sub.handle = self._request(sub)
        return len(active)

    async def _qualify(self, chunk: list[Subscription]) -> None:
        for _ in chunk:
            await self._pacer.acquire()
        self._qualifying = {id(sub.contract) for sub in chunk}
        try:
            await asyncio.wait_for(
                self._ib.qualifyContractsAsync(*(sub.contract for sub in chunk)), self.timeout
            )
        except TimeoutError:
            raise ConnectionError(
                f"no contract details from {self.address} within {self.timeout:g} s"
            ) from None
        finally:
            self._qualifying = set()

    def _report_unknown(self, sub: Subscription) -> None:
        reason = self._reasons.pop(id(sub.contract), "IB returned no unique contract")
        self.unknown.append(sub.label)
        self.errors += 1
        log.error(
            "%s: unknown symbol %r (%s): %s; skipping it, the other symbols keep streaming",
            self.node_id,
            sub.label,
            describe(sub.spec),
            reason,
        )

    def _request(self, sub: Subscription):
        ib = self._ib
        if self.stream == "bars":
            what = "MIDPOINT" if sub.spec["sec_type"] == "CASH" else "TRADES"
            return ib.reqRealTimeBars(sub.contract, 5, what, False)
        if self.stream == "tick_by_tick":
            return ib.reqTickByTickData(sub.contract, self.tick_by_tick_type)
        return ib.reqMktData(sub.contract, "", False, False)

    async def cancel_all(self) -> None:
        """Cancel every live request (paced); the connection must still be up."""
        ib = self._ib
        for sub in self._active.values():
            if sub.handle is None:
                continue
            await self._pacer.acquire()
            if self.stream == "bars":
                ib.cancelRealTimeBars(sub.handle)
            elif self.stream == "tick_by_tick":
                ib.cancelTickByTickData(sub.contract, self.tick_by_tick_type)
            else:
                ib.cancelMktData(sub.contract)
            sub.handle = None

    def on_error(self, req_id: int, code: int, message: str, contract) -> None:
        """Handle the library's errorEvent: keep qualification failures, log stream errors."""
        if contract is None or 2100 <= code < 2200:
            return  # connection-level notices; farm status messages are informational
        key = id(contract)
        if key in self._qualifying:
            self._reasons[key] = f"IB error {code}: {message}"
        elif key in self._active:
            level = logging.WARNING if code in _WARNING_CODES else logging.ERROR
            self.errors += level == logging.ERROR
            log.log(level, "%s: IB error %d for %r: %s", self.node_id, code, self._active[key].label, message)
