"""``provider.ibkr.stream``: live market data from TWS / IB Gateway (runtime: ``IbkrSource``).

Everything that can be checked without a gateway is checked here, at compile time: the symbol
entries (a plain ticker or a mapping with ``symbol``, ``sec_type``, ``exchange``, ...), the
stream and market data type, and the reconnect policy. The generated module gets every symbol
as a plain dict and imports only :class:`runtime_lib.sources.ibkr.IbkrSource`; the client
library (ib_insync or ib_async) is imported when the source starts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ..schema import BAR, TICK
from .base import Component, Params, Problem
from .bounds import BatchSize

SecType = Literal["STK", "FUT", "CASH", "IND", "CRYPTO"]
Stream = Literal["quotes", "trades", "bars", "tick_by_tick"]
TickByTickType = Literal["AllLast", "Last", "BidAsk"]
MarketDataType = Literal["live", "frozen", "delayed", "delayed_frozen"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _text(value: Any) -> Any:
    """YAML reads ``expiry: 202503`` as a number; it is a contract month all the same."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Symbol(Params):
    """One instrument: IB resolves it to a contract (qualifies it) before subscribing."""

    symbol: str = Field(min_length=1, pattern=r"^\S+$", description="ticker; a CASH pair as EURUSD or EUR")
    sec_type: Annotated[SecType, BeforeValidator(_upper)] = Field("STK", description="security type")
    exchange: str | None = Field(
        None, min_length=1, description="default SMART (IDEALPRO for CASH, PAXOS for CRYPTO)"
    )
    currency: Annotated[str | None, BeforeValidator(_upper)] = Field(
        None, pattern=r"^[A-Z]{3}$", description="default USD (the quote currency of a six-letter CASH pair)"
    )
    primary_exchange: str | None = Field(None, min_length=1, description="e.g. NASDAQ, to disambiguate SMART")
    expiry: Annotated[str | None, BeforeValidator(_text)] = Field(
        None, pattern=r"^\d{6}(\d{2})?$", description="FUT: contract month YYYYMM or day YYYYMMDD"
    )

    def entry(self) -> dict:
        """The entry as the runtime takes it: only the keys given (it fills in the defaults)."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class Reconnect(Params):
    """How the source reconnects after the connection drops: exponential backoff, then give up."""

    initial_delay: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="seconds before the first attempt"
    )
    max_delay: float = Field(
        30.0, gt=0, allow_inf_nan=False, description="the delay doubles up to this (seconds)"
    )
    max_attempts: int = Field(
        10, ge=1, strict=True, description="failed attempts before the job stops with an error"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Reconnect:
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"reconnect max_delay ({self.max_delay:g} s) is shorter than initial_delay ({self.initial_delay:g} s)"
            )
        return self


class IbkrParams(Params):
    """Stream quotes, trades, 5-second bars or tick-by-tick data from TWS / IB Gateway."""

    host: str = Field("127.0.0.1", min_length=1, description="where TWS / IB Gateway runs")
    port: int = Field(
        4002,
        ge=1,
        le=65535,
        strict=True,
        description="API port: 4002 IB Gateway paper, 4001 IB Gateway live, 7497 TWS paper, 7496 TWS live",
    )
    client_id: int = Field(
        1, ge=0, strict=True, description="API client id, unique per connection to the gateway"
    )
    symbols: list[Symbol] = Field(
        min_length=1,
        description="tickers, or mappings: symbol, sec_type, exchange, currency, primary_exchange, expiry",
    )
    stream: Stream = Field(
        "quotes", description="quotes (midpoints), trades, bars (IB's 5 s bars), tick_by_tick"
    )
    tick_by_tick_type: TickByTickType = Field(
        "AllLast", description="stream tick_by_tick: AllLast, Last or BidAsk"
    )
    market_data_type: MarketDataType = Field("live", description="live, frozen, delayed or delayed_frozen")
    readonly: bool = Field(True, strict=True, description="connect read-only (the provider places no orders)")
    connect_timeout: float = Field(
        5.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds to wait for the API handshake and for contract details",
    )
    reconnect: Reconnect = Field(Reconnect(), description="initial_delay, max_delay (seconds), max_attempts")
    batch_size: BatchSize = Field(
        1024, strict=True, description="most records per batch handed downstream (1 to 100,000)"
    )

    @field_validator("symbols", mode="before")
    @classmethod
    def _plain_tickers(cls, value: Any) -> Any:
        """A plain ticker is short for ``{symbol: TICKER}``."""
        if isinstance(value, list):
            return [{"symbol": item} if isinstance(item, str) else item for item in value]
        return value


def _check(params: IbkrParams) -> list[Problem]:
    """Cross-field problems: a repeated symbol, a future without expiry, a misplaced option."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(params.symbols):
        if spec.symbol in seen:  # records carry only the symbol: both would make one series
            message = f"symbol {spec.symbol!r} is listed twice (also at symbols.{seen[spec.symbol]})"
            problems.append(Problem(("symbols", index), message, "list each symbol once"))
        seen.setdefault(spec.symbol, index)
        if spec.sec_type == "FUT" and spec.expiry is None:
            hint = "add expiry: YYYYMM (contract month) or YYYYMMDD"
            problems.append(Problem(("symbols", index), f"future {spec.symbol!r} needs an expiry", hint))
        elif spec.sec_type != "FUT" and spec.expiry is not None:
            message = f"expiry applies only to sec_type FUT, not {spec.sec_type}"
            problems.append(Problem(("symbols", index, "expiry"), message, "remove expiry"))
    if "tick_by_tick_type" in params.model_fields_set and params.stream != "tick_by_tick":
        message = f"tick_by_tick_type applies only to stream: tick_by_tick, not {params.stream}"
        problems.append(Problem(("tick_by_tick_type",), message, "remove it, or set stream: tick_by_tick"))
    return problems


def _kwargs(params: IbkrParams) -> dict:
    kwargs = {
        "host": params.host,
        "port": params.port,
        "client_id": params.client_id,
        "symbols": tuple(spec.entry() for spec in params.symbols),
        "stream": params.stream,
        "market_data_type": params.market_data_type,
        "readonly": params.readonly,
        "connect_timeout": params.connect_timeout,
        "reconnect": params.reconnect.model_dump(),
        "batch_size": params.batch_size,
    }
    if params.stream == "tick_by_tick":
        kwargs["tick_by_tick_type"] = params.tick_by_tick_type
    return kwargs


COMPONENTS = (
    Component(
        "provider.ibkr.stream",
        IbkrParams,
        "live quotes, trades, 5 s bars or tick-by-tick data from TWS / IB Gateway",
        output=lambda params, upstream: BAR if params.stream == "bars" else TICK,
        runtime="runtime_lib.sources.ibkr:IbkrSource",
        kwargs=_kwargs,
        check=_check,
    ),
)
