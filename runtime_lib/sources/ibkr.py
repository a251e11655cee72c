"""Live market data from Interactive Brokers (TWS or IB Gateway): ``provider.ibkr.stream``.

The provider talks to the gateway through the real client library (ib_insync, or ib_async as a
drop-in; see :mod:`.ibkr_contracts`). The library's event callbacks turn ticks into records
(:mod:`.ibkr_records`) and hand them to :meth:`IbkrSource.batches` through an asyncio queue, one
batch per socket read, so nothing awaits per record. :mod:`.ibkr_subscriptions` qualifies and
subscribes the symbols.

Streams: ``quotes`` and ``trades`` (``reqMktData``; a quote record's price is the midpoint and
its size 0), ``bars`` (IB's 5-second real-time bars of TRADES, MIDPOINT for CASH),
``tick_by_tick`` (``reqTickByTickData``, AllLast by default; BidAsk gives quote records). Tick
timestamps are the client's arrival times, since IB sends no event time with market data ticks
(and both libraries drop the seconds that tick-by-tick data carries); bar timestamps are IB's.
Within one socket read, records keep arrival order per symbol, not across symbols.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from ..errors import JobError
from ..log_format import lifecycle
from .base import DEFAULT_BATCH_SIZE, Source
from .ibkr_contracts import load_client_library, normalise_symbol
from .ibkr_pacing import IB_MAX_REQUESTS_PER_SECOND, RequestPacer
from .ibkr_records import bar_record, tick_by_tick_records
from .ibkr_subscriptions import MARKET_DATA_TYPES, STREAMS, TICK_BY_TICK_TYPES, Subscriptions

log = logging.getLogger(__name__)

DEFAULT_RECONNECT = {"initial_delay": 1.0, "max_delay": 30.0, "max_attempts": 10}
_END = object()
_COUNTERS: WeakKeyDictionary = WeakKeyDictionary()


def reconnect_counter(registry: CollectorRegistry | None = None) -> Counter:
    """Return the ``mdp_source_reconnects_total{node}`` counter of ``registry`` (default: global)."""
    registry = registry or REGISTRY
    if registry not in _COUNTERS:
        _COUNTERS[registry] = Counter(
            "mdp_source_reconnects",
            "Reconnects of a live source after its connection dropped",
            ["node"],
            registry=registry,
        )
    return _COUNTERS[registry]


class _BelowError(logging.Filter):
    """Lets through only records below ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextmanager
def _quiet_connect_errors(library: str) -> Iterator[None]:
    """Hold back the client library's own ERROR records while it connects: it logs a failed
    connect before raising, and the provider reports that failure itself (one JobError with
    host and port, or a logged reconnect attempt), so the user reads it once."""
    logger, held_back = logging.getLogger(f"{library}.client"), _BelowError()
    logger.addFilter(held_back)
    try:
        yield
    finally:
        logger.removeFilter(held_back)


def _choice(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise JobError(f"ibkr {name} {value!r} is not one of {', '.join(allowed)}")
    return value


class IbkrSource(Source):
    """Stream quotes, trades, 5-second bars or tick-by-tick data from TWS / IB Gateway.

    Unknown symbols are logged, listed in ``unknown_symbols`` and skipped. When the connection
    drops, the source reconnects with exponential backoff, resubscribes everything and counts
    it in ``reconnects`` and in ``mdp_source_reconnects_total{node}``; after
    ``reconnect["max_attempts"]`` failures the stream ends with a :class:`JobError`. Requests
    are paced to IB's limit of 50 per second.
    """

    live = True

    def __init__(
        self,
        node_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 4002,
        client_id: int = 1,
        symbols: tuple = (),
        stream: str = "quotes",
        market_data_type: str = "live",
        readonly: bool = True,
        connect_timeout: float = 5.0,
        reconnect: dict | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tick_by_tick_type: str = "AllLast",
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(node_id)
        if not symbols:
            raise JobError("the ibkr provider needs at least one symbol")
        unknown = sorted(set(reconnect or {}) - set(DEFAULT_RECONNECT))
        if unknown:
            raise JobError(f"ibkr reconnect: unknown keys {unknown} (known: {list(DEFAULT_RECONNECT)})")
        self.host, self.port, self.client_id = host, int(port), int(client_id)
        self.readonly, self.connect_timeout = readonly, float(connect_timeout)
        self.reconnect = {**DEFAULT_RECONNECT, **(reconnect or {})}
        self.batch_size = max(1, int(batch_size))
        self.stream = _choice("stream", stream, STREAMS)
        self.subscriptions = Subscriptions(
            node_id,
            [normalise_symbol(entry) for entry in symbols],
            stream=stream,
            market_data_type=_choice("market_data_type", market_data_type, MARKET_DATA_TYPES),
            tick_by_tick_type=_choice("tick_by_tick_type", tick_by_tick_type, TICK_BY_TICK_TYPES),
            address=self.address,
            timeout=self.connect_timeout,
        )
        self.reconnects = 0
        self._counter = reconnect_counter(registry).labels(node=node_id)
        self._ib = None
        self._queue: asyncio.Queue | None = None
        self._pending: list[dict] = []
        self._flush_handle: asyncio.Handle | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._throttling = False
        self._streaming = False
        self._closed = False

    @property
    def address(self) -> str:
        """``host:port`` of the gateway, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def unknown_symbols(self) -> list[str]:
        """Symbols IB could not qualify (each logged once as an error)."""
        return self.subscriptions.unknown

    @property
    def errors(self) -> int:
        """Errors counted so far: unknown symbols and IB errors on live subscriptions."""
        return self.subscriptions.errors

    async def batches(self):
        """Connect, subscribe and yield record batches until :meth:`close` (or a fatal error)."""
        self._queue = asyncio.Queue()
        try:
            await self._start()
            while True:
                item = await self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.close()

    async def _start(self) -> None:
        lib = load_client_library()
        self._ib = ib = lib.IB()
        self._attach(ib, True)
        limit = min(
            IB_MAX_REQUESTS_PER_SECOND, getattr(ib.client, "MaxRequests", 0) or IB_MAX_REQUESTS_PER_SECOND
        )
        self.subscriptions.bind(lib, ib, RequestPacer(limit=limit))
        try:
            await self._connect()
        except OSError as exc:
            raise self._connect_error(exc) from None
        try:
            count = await self.subscriptions.subscribe_all()
        except OSError as exc:
            raise JobError(f"subscribing at TWS/IB Gateway {self.address} failed: {exc}") from None
        lifecycle(
            "connect",
            f"{self.node_id}: streaming {self.stream} for {count} symbols from {self.address}",
            node=self.node_id,
            address=self.address,
            stream=self.stream,
            symbols=count,
        )
        self._streaming = True

    def _attach(self, ib, on: bool) -> None:
        """Connect (or disconnect) this source's handlers to the library's events."""
        pairs = (
            (ib.pendingTickersEvent, self._on_tickers),
            (ib.barUpdateEvent, self._on_bar),
            (ib.errorEvent, self.subscriptions.on_error),
            (ib.disconnectedEvent, self._on_disconnected),
            (ib.client.throttleStart, self._on_throttle_start),
            (ib.client.throttleEnd, self._on_throttle_end),
        )
        for event, handler in pairs:
            if on:
                event.connect(handler)
            else:
                event.disconnect(handler)

    async def _connect(self) -> None:
        with _quiet_connect_errors(type(self._ib).__module__.split(".")[0]):
            await self._ib.connectAsync(
                host=self.host,
                port=self.port,
                clientId=self.client_id,
                timeout=self.connect_timeout,
                readonly=self.readonly,
            )

    def _connect_error(self, exc: OSError) -> JobError:
        if isinstance(exc, ConnectionRefusedError):
            return JobError(f"no TWS/IB Gateway at {self.address} — start IB Gateway or set host/port")
        if isinstance(exc, TimeoutError):
            return JobError(
                f"TWS/IB Gateway at {self.address} did not complete the API handshake within "
                f"{self.connect_timeout:g} s (connect_timeout) — is the API enabled in its settings, "
                f"and is this the API port?"
            )
        return JobError(
            f"cannot connect to TWS/IB Gateway at {self.address}: {exc or type(exc).__name__} "
            f"(is client_id {self.client_id} already in use?)"
        )

    # -- event callbacks: called synchronously by the client library, once per socket read --

    def _on_tickers(self, tickers) -> None:
        out, lookup = self._pending, self.subscriptions.lookup
        for ticker in tickers:
            sub = lookup(ticker.contract)
            if sub is None:
                continue
            if ticker.ticks:
                sub.book.apply(sub.label, ticker.ticks, self.stream, out)
            if ticker.tickByTicks:
                tick_by_tick_records(sub.label, ticker.tickByTicks, sub.book, out)
        self._schedule_flush()

    def _on_bar(self, bars, has_new_bar: bool) -> None:
        sub = self.subscriptions.lookup(bars.contract)
        if sub is not None and has_new_bar and bars:
            self._pending.append(bar_record(sub.label, bars[-1]))
            del bars[:]  # the library would otherwise keep every bar of an endless stream
            self._schedule_flush()

    def _on_throttle_start(self) -> None:
        self._throttling = True

    def _on_throttle_end(self) -> None:
        self._throttling = False

    def _schedule_flush(self) -> None:
        if self._pending and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self.batch_size):
            self._queue.put_nowait(pending[start : start + self.batch_size])

    # -- resilience --

    def readiness(self) -> str | None:
        """None while streaming; else whether the connection is being made again or is not there."""
        if self._streaming:
            return None
        task = self._reconnect_task
        if task is not None and not task.done():
            return f"reconnecting to TWS/IB Gateway at {self.address} (the connection dropped)"
        return f"not connected to TWS/IB Gateway at {self.address}"

    def _on_disconnected(self) -> None:
        if self._closed or not self._streaming:
            return  # our own disconnect, or a failed attempt inside _reconnect
        self._streaming = False
        lifecycle(
            "reconnect",
            f"{self.node_id}: lost the connection to TWS/IB Gateway at {self.address}",
            node=self.node_id,
            address=self.address,
        )
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = float(self.reconnect["initial_delay"])
        attempts = int(self.reconnect["max_attempts"])
        last_error = "no attempt made"
        for attempt in range(1, attempts + 1):
            log.warning(
                "%s: reconnect attempt %d/%d to %s in %g s",
                self.node_id,
                attempt,
                attempts,
                self.address,
                delay,
            )
            await asyncio.sleep(delay)
            try:
                await self._connect()
                await self.subscriptions.subscribe_all()
            except OSError as exc:
                last_error = str(self._connect_error(exc))
                log.warning(
                    "%s: reconnect attempt %d/%d failed: %s", self.node_id, attempt, attempts, last_error
                )
                self._ib.disconnect()
                delay = min(delay * 2, float(self.reconnect["max_delay"]))
                continue
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                self._fail(exc)
                return
            self.reconnects += 1
            self._counter.inc()
            self._streaming = True
            lifecycle(
                "connect",
                f"{self.node_id}: reconnected to {self.address} on attempt {attempt} and resubscribed",
                node=self.node_id,
                address=self.address,
                attempt=attempt,
                reconnects=self.reconnects,
            )
            return
        self._fail(
            JobError(
                f"lost the connection to TWS/IB Gateway at {self.address} and could not reconnect "
                f"in {attempts} attempts (last error: {last_error})"
            )
        )

    def _fail(self, error: BaseException) -> None:
        self._flush()
        self._queue.put_nowait(error)

    # -- shutdown --

    async def close(self) -> None:
        """Cancel every subscription, disconnect, and end :meth:`batches`; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._streaming = False
        task = self._reconnect_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        ib = self._ib
        if ib is not None:
            if ib.isConnected():
                await self.subscriptions.cancel_all()
                await self._drain_requests()
            ib.disconnect()
            self._attach(ib, False)
        if self._queue is not None:
            self._flush()
            self._queue.put_nowait(_END)

    async def _drain_requests(self) -> None:
        """Wait until the library's own throttle has sent every queued request (the cancels)."""
        if self._throttling:
            try:
                await asyncio.wait_for(self._ib.client.throttleEnd, timeout=5.0)
            except TimeoutError:
                log.warning("%s: some cancel requests were still queued when disconnecting", self.node_id)
