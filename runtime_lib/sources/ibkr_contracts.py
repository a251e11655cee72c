"""Load the IB client library (ib_insync or ib_async) and turn symbol entries into contracts.

Nothing here imports the client library at module level: ``runtime_lib`` must import without
it, and only a job that uses the IBKR provider needs it installed.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from ..errors import JobError

CLIENT_ENV_VAR = "MDP_IB_CLIENT"
CLIENT_LIBRARIES = ("ib_insync", "ib_async")
SEC_TYPES = ("STK", "FUT", "CASH", "IND", "CRYPTO")
_SYMBOL_KEYS = ("symbol", "sec_type", "exchange", "currency", "primary_exchange", "expiry")
_INSTALL_HINT = "pip install ib_insync (or ib_async), or the project's ibkr extra: pip install -e '.[ibkr]'"
# Where IB lists instruments that SMART routing does not cover.
_DEFAULT_EXCHANGE = {"CASH": "IDEALPRO", "CRYPTO": "PAXOS"}


def load_client_library() -> ModuleType:
    """Import the IB client library: ``$MDP_IB_CLIENT`` if set, else ib_insync, else ib_async.

    Both libraries share one API (ib_async continues ib_insync), so the provider works with
    either. A missing library is a :class:`JobError` that says how to install it.
    """
    chosen = os.environ.get(CLIENT_ENV_VAR, "").strip()
    if chosen:
        if chosen not in CLIENT_LIBRARIES:
            raise JobError(
                f"{CLIENT_ENV_VAR}={chosen!r} is not a known IB client library "
                f"(choose one of: {', '.join(CLIENT_LIBRARIES)})"
            )
        try:
            return importlib.import_module(chosen)
        except ImportError as exc:
            raise JobError(
                f"{CLIENT_ENV_VAR}={chosen} but {chosen} cannot be imported ({exc}); pip install {chosen}"
            ) from None
    for name in CLIENT_LIBRARIES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise JobError(
        "the ibkr provider needs the IB client library ib_insync (or ib_async), "
        f"which is not installed: {_INSTALL_HINT}"
    )


def normalise_symbol(entry: str | dict) -> dict:
    """Return a full symbol entry: a plain ticker or a partial dict, with defaults filled in.

    >>> normalise_symbol("AAPL")["exchange"]
    'SMART'
    >>> normalise_symbol({"symbol": "EURUSD", "sec_type": "CASH"})["currency"]
    'USD'
    """
    spec = {"symbol": entry} if isinstance(entry, str) else dict(entry)
    unknown = sorted(set(spec) - set(_SYMBOL_KEYS))
    if unknown:
        raise JobError(f"ibkr symbol entry {entry!r}: unknown keys {unknown} (known: {list(_SYMBOL_KEYS)})")
    symbol = spec.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise JobError(f"ibkr symbol entry {entry!r} has no symbol")
    sec_type = (spec.get("sec_type") or "STK").upper()
    if sec_type not in SEC_TYPES:
        raise JobError(f"ibkr symbol {symbol!r}: sec_type {sec_type!r} is not one of {', '.join(SEC_TYPES)}")
    currency = spec.get("currency")
    if sec_type == "CASH" and not currency and len(symbol) == 6:
        currency = symbol[3:]
    return {
        "symbol": symbol.strip(),
        "sec_type": sec_type,
        "exchange": spec.get("exchange") or "SMART",
        "currency": currency or "USD",
        "primary_exchange": spec.get("primary_exchange") or None,
        "expiry": str(spec["expiry"]) if spec.get("expiry") else None,
    }


def describe(spec: dict) -> str:
    """Describe a symbol entry for messages, e.g. ``STK on SMART in USD``.

    >>> describe(normalise_symbol("AAPL"))
    'STK on SMART in USD'
    """
    text = f"{spec['sec_type']} on {spec['exchange']} in {spec['currency']}"
    if spec.get("primary_exchange"):
        text += f", primary exchange {spec['primary_exchange']}"
    if spec.get("expiry"):
        text += f", expiry {spec['expiry']}"
    return text


def build_contract(lib: ModuleType, spec: dict):
    """Build the client library's ``Contract`` for a normalised symbol entry.

    A six-letter CASH symbol such as ``EURUSD`` becomes base ``EUR`` in ``USD``; CASH and CRYPTO
    default to the venues IB lists them on (IDEALPRO, PAXOS) instead of SMART.
    """
    sec_type = spec["sec_type"]
    symbol = spec["symbol"]
    if sec_type == "CASH" and len(symbol) == 6:
        symbol = symbol[:3]
    exchange = spec["exchange"]
    if exchange == "SMART":
        exchange = _DEFAULT_EXCHANGE.get(sec_type, exchange)
    return lib.Contract(
        secType=sec_type,
        symbol=symbol,
        exchange=exchange,
        currency=spec["currency"],
        primaryExchange=spec["primary_exchange"] or "",
        lastTradeDateOrContractMonth=spec["expiry"] or "",
    )
