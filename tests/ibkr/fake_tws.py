"""A fake TWS / IB Gateway for tests: an asyncio server that speaks the TWS API wire protocol.

It runs in the test's own event loop on 127.0.0.1 (port 0), performs the handshake, answers
every request that ``IB.connectAsync`` waits for, qualifies known symbols (error 200 for the
others), records every request it receives, and streams what the test tells it to for the
symbols the client subscribed to. Protocol facts: ``/work/shared/docs/ibkr-wire-protocol.md``.

    async with FakeTws() as tws:
        ...  # point the client at tws.port
        await tws.wait_subscribed("mktdata", ["AAPL"])
        tws.trade("AAPL", 101.5, 200)
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

SERVER_VERSION = 176
DEFAULT_SYMBOLS = {"AAPL": 265598, "MSFT": 272093, "IBM": 8314, "EUR": 12087792}
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
)
REQUEST_NAMES = {
    1: "reqMktData",
    2: "cancelMktData",
    5: "reqOpenOrders",
    6: "reqAccountUpdates",
    7: "reqExecutions",
    9: "reqContractDetails",
    50: "reqRealTimeBars",
    51: "cancelRealTimeBars",
    59: "reqMarketDataType",
    61: "reqPositions",
    71: "startApi",
    76: "reqAccountUpdatesMulti",
    97: "reqTickByTickData",
    98: "cancelTickByTickData",
    99: "reqCompletedOrders",
}
# Live tick types and their delayed counterparts (used after reqMarketDataType 3 or 4).
_DELAYED = {1: 66, 2: 67, 4: 68, 0: 69, 3: 70, 5: 71, 8: 74}


@dataclass(frozen=True)
class Request:
    """One message the client sent: connection number (from 1), message id, all fields."""

    conn: int
    msg_id: int
    fields: tuple[str, ...]
    at: float

    @property
    def name(self) -> str:
        """The TWS API name of the request, e.g. ``reqMktData``."""
        return REQUEST_NAMES.get(self.msg_id, str(self.msg_id))


@dataclass
class Subscription:
    """A live market-data request of one connection: kind is mktdata, bars or tbt."""

    kind: str
    req_id: int
    symbol: str
    tick_type: str = ""


@dataclass
class Connection:
    """Server-side state of one client connection."""

    number: int
    writer: asyncio.StreamWriter
    task: asyncio.Task | None = None
    client_id: int | None = None
    client_versions: str = ""
    market_data_type: int = 1
    subs: dict[int, Subscription] = field(default_factory=dict)
    closed_by: str = ""  # "client" (EOF) or "server" (drop/close) once it is closed

    def find(self, symbol: str, kinds: tuple[str, ...]) -> Subscription:
        """The live subscription of ``symbol`` (latest first) among ``kinds``."""
        for sub in reversed(list(self.subs.values())):
            if sub.symbol == symbol and sub.kind in kinds:
                return sub
        raise LookupError(f"the client has no {'/'.join(kinds)} subscription for {symbol!r}")


def encode(*fields) -> bytes:
    """Frame fields as one TWS message: 4-byte big-endian length, fields each ended by NUL."""
    payload = "".join(f"{_text(value)}\0" for value in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class FakeTws:
    """The fake gateway. ``handshake=False`` makes a server that accepts but never answers.

    ``on_subscribe(tws, subscription)``, if given, is called right after each market-data
    subscription arrives, to stream a script without the test waiting for the subscription
    (an end-to-end test that runs a whole pipeline has no other hook).
    """

    def __init__(
        self,
        symbols: dict[str, int] | None = None,
        *,
        handshake: bool = True,
        accounts: tuple[str, ...] = ("DU1234567",),
        on_subscribe=None,
    ) -> None:
        self.symbols = dict(DEFAULT_SYMBOLS if symbols is None else symbols)
        self.handshake = handshake
        self.on_subscribe = on_subscribe
        self.accounts = accounts
        self.requests: list[Request] = []
        self.connections: list[Connection] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._batch: list[bytes] | None = None
        self._handlers = {
            1: self._req_mkt_data,
            2: self._cancel,
            5: self._reply(encode(53, 1)),
            6: self._req_account_updates,
            7: self._req_executions,
            9: self._req_contract_details,
            50: self._req_realtime_bars,
            51: self._cancel,
            59: self._req_market_data_type,
            61: self._reply(encode(62, 1)),
            71: self._start_api,
            76: self._req_account_updates_multi,
            97: self._req_tick_by_tick,
            98: self._cancel,
            99: self._reply(encode(102)),
        }

    # -- lifecycle --

    async def start(self) -> FakeTws:
        """Listen on 127.0.0.1 on a free port (``self.port``)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop_listening(self) -> None:
        """Stop accepting connections (new ones are refused); open connections stay.

        The listener is only awaited in :meth:`close`: from Python 3.12 on, ``wait_closed``
        also waits for every open connection to end.
        """
        if self._server is not None:
            self._server.close()

    async def drop(self) -> None:
        """Drop every open connection from the server side, as a gateway restart does."""
        live = [conn for conn in self.connections if not conn.closed_by]
        for conn in live:
            conn.closed_by = "server"
            conn.writer.close()
        await asyncio.gather(*(conn.task for conn in live))

    async def close(self) -> None:
        """Close the listener and every connection, and wait for their handlers to finish."""
        await self.stop_listening()
        await self.drop()
        for conn in self.connections:
            with contextlib.suppress(ConnectionError):
                await conn.writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeTws:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # -- assertions and waiting --

    @property
    def current(self) -> Connection:
        """The most recent connection."""
        if not self.connections:
            raise LookupError("no client has connected")
        return self.connections[-1]

    def requests_named(self, name: str, conn: int | None = None) -> list[Request]:
        """Every request with this TWS API name (optionally only of connection ``conn``)."""
        return [r for r in self.requests if r.name == name and (conn is None or r.conn == conn)]

    def max_requests_per_window(self, window: float = 1.0) -> int:
        """The most requests the client sent within any ``window`` seconds (pacing check)."""
        times = [r.at for r in self.requests if r.msg_id != 71]
        return max(
            (sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times)), default=0
        )

    async def wait_until(self, predicate, timeout: float = 5.0, what: str = "condition") -> None:
        """Poll ``predicate()`` until it is true; fail after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"fake TWS: timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def wait_subscribed(
        self, kind: str, symbols, conn: int | None = None, timeout: float = 5.0
    ) -> None:
        """Wait until connection ``conn`` (default: the newest) has ``kind`` subscriptions for ``symbols``."""

        def ready() -> bool:
            if not self.connections or (conn or 1) > len(self.connections):
                return False
            connection = self.connections[(conn or len(self.connections)) - 1]
            have = {sub.symbol for sub in connection.subs.values() if sub.kind == kind}
            return set(symbols) <= have

        await self.wait_until(ready, timeout, f"{kind} subscriptions for {sorted(symbols)}")

    async def wait_disconnected(self, conn: int | None = None, timeout: float = 5.0) -> None:
        """Wait until connection ``conn`` (default: the newest) is closed."""
        await self.wait_until(
            lambda: self.connections[(conn or len(self.connections)) - 1].closed_by,
            timeout,
            "the client to disconnect",
        )

    # -- streaming to the newest connection --

    @contextlib.contextmanager
    def batched(self):
        """Send everything written inside the block in one socket write (one client read)."""
        self._batch = []
        try:
            yield
        finally:
            data, self._batch = b"".join(self._batch), None
            self.current.writer.write(data)

    def send(self, *fields) -> None:
        """Send one raw message to the newest connection."""
        message = encode(*fields)
        if self._batch is not None:
            self._batch.append(message)
        else:
            self.current.writer.write(message)

    async def flush(self) -> None:
        """Wait until the written data has been handed to the socket."""
        await self.current.writer.drain()

    def tick_price(self, symbol: str, tick_type: int, price: float, size: float, mask: int = 0) -> None:
        """tickPrice ``1|6|reqId|tickType|price|size|attrMask`` (delayed types when requested)."""
        self.send(1, 6, self._mkt_req_id(symbol), self._tick_type(tick_type), price, size, mask)

    def tick_size(self, symbol: str, tick_type: int, size: float) -> None:
        """tickSize ``2|6|reqId|tickType|size``."""
        self.send(2, 6, self._mkt_req_id(symbol), self._tick_type(tick_type), size)

    def quote(self, symbol: str, bid=None, bid_size=None, ask=None, ask_size=None) -> None:
        """A quote change as IB sends it: each side's price tick, then the same size again."""
        if bid is not None:
            self.tick_price(symbol, 1, bid, bid_size)
            self.tick_size(symbol, 0, bid_size)
        if ask is not None:
            self.tick_price(symbol, 2, ask, ask_size)
            self.tick_size(symbol, 3, ask_size)

    def trade(self, symbol: str, price: float, size: float, volume: float | None = None) -> None:
        """A trade as IB sends it: last price with size, last size again, then the day volume."""
        self.tick_price(symbol, 4, price, size)
        self.tick_size(symbol, 5, size)
        if volume is not None:
            self.tick_size(symbol, 8, volume)

    def realtime_bar(self, symbol: str, time: int, open_, high, low, close, volume, wap, count) -> None:
        """realtimeBar ``50|3|reqId|time|open|high|low|close|volume|wap|count``."""
        sub = self.current.find(symbol, ("bars",))
        self.send(50, 3, sub.req_id, time, open_, high, low, close, volume, wap, count)

    def tbt_last(
        self, symbol: str, time: int, price: float, size: float, exchange: str = "", mask: int = 0
    ) -> None:
        """tickByTick Last/AllLast ``99|reqId|1 or 2|time|price|size|mask|exchange|conditions``."""
        sub = self.current.find(symbol, ("tbt",))
        kind = 1 if sub.tick_type == "Last" else 2
        self.send(99, sub.req_id, kind, time, price, size, mask, exchange, "")

    def tbt_bid_ask(self, symbol: str, time: int, bid, ask, bid_size, ask_size, mask: int = 0) -> None:
        """tickByTick BidAsk ``99|reqId|3|time|bid|ask|bidSize|askSize|mask``."""
        sub = self.current.find(symbol, ("tbt",))
        self.send(99, sub.req_id, 3, time, bid, ask, bid_size, ask_size, mask)

    def error(self, req_id: int, code: int, message: str) -> None:
        """error ``4|2|reqId|code|message|advancedOrderRejectJson``."""
        self.send(4, 2, req_id, code, message, "")

    def _mkt_req_id(self, symbol: str) -> int:
        return self.current.find(symbol, ("mktdata",)).req_id

    def _tick_type(self, tick_type: int) -> int:
        return _DELAYED.get(tick_type, tick_type) if self.current.market_data_type in (3, 4) else tick_type

    # -- the connection --

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(number=len(self.connections) + 1, writer=writer, task=asyncio.current_task())
        self.connections.append(conn)
        try:
            if await reader.readexactly(4) != b"API\0":
                raise ConnectionError("the client did not start with API\\0")
            conn.client_versions = (await self._read_message(reader)).decode()
            if self.handshake:
                highest = int(conn.client_versions.split("..")[1].split()[0])
                writer.write(encode(min(SERVER_VERSION, highest), "20240102 09:30:00 UTC"))
            while True:
                fields = (await self._read_message(reader)).decode().split("\0")[:-1]
                request = Request(
                    conn.number, int(fields[0]), tuple(fields), asyncio.get_running_loop().time()
                )
                self.requests.append(request)
                handler = self._handlers.get(request.msg_id)
                if handler is not None and self.handshake:
                    handler(conn, request.fields)
        except (asyncio.IncompleteReadError, ConnectionError):
            conn.closed_by = conn.closed_by or "client"
        finally:
            writer.close()

    @staticmethod
    async def _read_message(reader: asyncio.StreamReader) -> bytes:
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        return await reader.readexactly(size)

    # -- request handlers: (connection, fields) --

    @staticmethod
    def _reply(message: bytes):
        return lambda conn, fields: conn.writer.write(message)

    def _start_api(self, conn: Connection, fields) -> None:
        conn.client_id = int(fields[2])
        conn.writer.write(encode(9, 1, 1) + encode(15, 1, ",".join(self.accounts)))
        for code, text in FARM_NOTICES:
            conn.writer.write(encode(4, 2, -1, code, text, ""))

    def _req_account_updates(self, conn: Connection, fields) -> None:
        if fields[2] == "1":
            conn.writer.write(encode(54, 1, fields[3]))

    def _req_account_updates_multi(self, conn: Connection, fields) -> None:
        conn.writer.write(encode(74, 1, fields[2]))

    def _req_executions(self, conn: Connection, fields) -> None:
        conn.writer.write(encode(55, 1, fields[2]))

    def _req_market_data_type(self, conn: Connection, fields) -> None:
        conn.market_data_type = int(fields[2])

    def _req_contract_details(self, conn: Connection, fields) -> None:
        req_id, symbol, sec_type = fields[2], fields[4], fields[5]
        exchange, currency = fields[10] or "SMART", fields[12] or "USD"
        if symbol not in self.symbols:
            conn.writer.write(
                encode(4, 2, req_id, 200, "No security definition has been found for the request", "")
            )
            return
        conn.writer.write(
            encode(
                10,
                req_id,
                symbol,
                sec_type,
                fields[6],
                0,
                "",
                exchange,
                currency,
                symbol,
                symbol,
                symbol,
                self.symbols[symbol],
                0.01,
                "",
                "LMT,MKT",
                f"{exchange},NASDAQ",
                1,
                0,
                f"{symbol} TEST CO",
                "NASDAQ",
                "",
                "",
                "",
                "",
                "US/Eastern",
                "",
                "",
                "",
                "",
                0,
                1,
                "",
                "",
                "26",
                "",
                "COMMON",
                1,
                1,
                100,
            )
            + encode(52, 1, req_id)
        )

    def _req_mkt_data(self, conn: Connection, fields) -> None:
        self._subscribe(conn, Subscription("mktdata", int(fields[2]), fields[4]))
        conn.writer.write(encode(58, 1, fields[2], conn.market_data_type))

    def _req_realtime_bars(self, conn: Connection, fields) -> None:
        self._subscribe(conn, Subscription("bars", int(fields[2]), fields[4]))

    def _req_tick_by_tick(self, conn: Connection, fields) -> None:
        self._subscribe(conn, Subscription("tbt", int(fields[1]), fields[3], tick_type=fields[14]))

    def _subscribe(self, conn: Connection, sub: Subscription) -> None:
        if sub.symbol not in self.symbols:
            conn.writer.write(
                encode(4, 2, sub.req_id, 200, "No security definition has been found for the request", "")
            )
            return
        conn.subs[sub.req_id] = sub
        if self.on_subscribe is not None:
            asyncio.get_running_loop().call_soon(self.on_subscribe, self, sub)

    def _cancel(self, conn: Connection, fields) -> None:
        req_id = int(fields[1] if fields[0] == "98" else fields[2])
        conn.subs.pop(req_id, None)
