"""The older system's spellings of node params, read as today's where their meaning is clear.

A params model that subclasses :class:`OlderSpellings` lists them in ``OLDER``, one
:class:`Older` per key: ``key_fn`` for ``key``, a router's ``route_key``, a buffer's
``flush_interval`` for ``max_wait``, ``watermark_lag`` for ``allowed_lateness``. An entry with
``seconds=True`` also takes a bare number as seconds, as the older system wrote durations
(``ttl: 1.0`` is ``ttl: 1s``). An older key is renamed before the params are validated, so it
compiles exactly as today's spelling does; the params remember how each one was written, and
every diagnostic (a bad value, an unknown field in the expression) points at the key the config
has. Writing a param under both names is an error at the older one.

What has no clear meaning here is refused with a message that says what to write instead
(:func:`registry_function_problem`).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import ConfigDict, ModelWrapValidatorHandler, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from runtime_lib.timeutil import format_duration

from ..expressions import ExpressionError, parse_expression
from .base import Params, Problem

_NS_PER_SECOND = 10**9


@dataclass(frozen=True)
class Older:
    """One older spelling: the ``key`` the older system wrote, the ``param`` it is today, and
    whether a bare number there is a number of ``seconds``."""

    key: str
    param: str
    seconds: bool = False


def _older_note(entries: list[Older]) -> str:
    """How the older system wrote one param, for its description.

    >>> _older_note([Older("route_key", "key"), Older("key_fn", "key")])
    'older spellings: route_key, key_fn'
    >>> _older_note([Older("flush_interval", "max_wait", seconds=True)])
    'older spelling: flush_interval, a number of seconds'
    """
    if all(older.key == older.param for older in entries):
        return "a bare number is seconds, as the older system wrote it"
    keys = [older.key for older in entries if older.key != older.param]
    seconds = ", a number of seconds" if any(older.seconds for older in entries) else ""
    return f"older spelling{'s' * (len(keys) > 1)}: {', '.join(keys)}{seconds}"


def _mention_older(schema: dict[str, Any], model: type[OlderSpellings]) -> None:
    """Add the older spellings to the description of the param each stands for (``mdp components``)."""
    by_param: dict[str, list[Older]] = {}
    for older in model.OLDER:
        by_param.setdefault(older.param, []).append(older)
    for param, entries in by_param.items():
        prop = schema.get("properties", {}).get(param)
        if prop is not None:
            prop["description"] = f"{prop.get('description', '')} ({_older_note(entries)})".lstrip()


class OlderSpellings(Params):
    """Params that also take the older system's spellings listed in ``OLDER``.

    ``COMPONENT`` is the node type, named in the error for a param written under both names.
    """

    model_config = ConfigDict(json_schema_extra=_mention_older)

    COMPONENT: ClassVar[str] = ""
    OLDER: ClassVar[tuple[Older, ...]] = ()
    _written_as: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _read_older_spellings(cls, data: Any, handler: ModelWrapValidatorHandler) -> Any:
        if not isinstance(data, dict) or not cls.OLDER:
            return handler(data)
        data, written_as = _renamed(cls, data)
        try:
            params = handler(data)
        except ValidationError as exc:
            raise _relocated(exc, written_as) from None
        params._written_as = written_as
        return params

    def param_path(self, name: str) -> tuple[str]:
        """Where param ``name`` is written in the node's params: under its older key if the config used it.

        >>> class P(OlderSpellings):
        ...     OLDER = (Older("key_fn", "key"),)
        ...     key: str = "symbol"
        >>> P.model_validate({"key_fn": "price"}).param_path("key"), P().param_path("key")
        (('key_fn',), ('key',))
        """
        return (self._written_as.get(name, name),)


def _error(key: str, value: Any, message: str) -> ValidationError:
    """A validation error at ``key`` of the params, with ``message`` as it is to be shown."""
    details = InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(key,), input=value)
    return ValidationError.from_exception_data("params", [details])


def _renamed(cls: type[OlderSpellings], data: dict) -> tuple[dict, dict[str, str]]:
    """``data`` with every older key renamed (and its seconds read); also {param: older key}."""
    data, written_as = dict(data), {}
    for older in cls.OLDER:
        if older.key not in data:
            continue
        value = data.pop(older.key)
        if older.key != older.param:
            if older.param in data:
                given = written_as.get(older.param, older.param)
                raise _error(older.key, value, f"{cls.COMPONENT} takes {given} or {older.key}, not both")
            written_as[older.param] = older.key
        data[older.param] = _seconds(older.key, value) if older.seconds else value
    return data, written_as


def _seconds(key: str, value: Any) -> Any:
    """A bare number of seconds as a duration (``1.5`` is ``1500ms``); any other value unchanged.

    >>> _seconds("ttl", 1.0), _seconds("ttl", 0.25), _seconds("ttl", 2), _seconds("ttl", "3s")
    ('1s', '250ms', '2s', '3s')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(
            key, value, f"{key} must be a finite number of seconds, such as 1.5, or a duration such as 1s"
        )
    if value < 0:
        raise _error(key, value, f"{key} is a number of seconds and cannot be negative")
    ns = Decimal(repr(value)) * _NS_PER_SECOND
    if ns != ns.to_integral_value():
        raise _error(key, value, f"{key}: {value!r} seconds is not a whole number of nanoseconds")
    return format_duration(int(ns))


def _relocated(exc: ValidationError, written_as: dict[str, str]) -> ValidationError:
    """``exc`` with each error of a renamed param placed at the older key the config wrote."""
    errors = exc.errors(include_url=False)
    if not any(error["loc"][:1] and error["loc"][0] in written_as for error in errors):
        return exc
    details = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc and loc[0] in written_as:
            loc = (written_as[loc[0]], *loc[1:])
        kind = PydanticCustomError(error["type"], error["msg"])
        details.append(InitErrorDetails(type=kind, loc=loc, input=error["input"]))
    return ValidationError.from_exception_data(exc.title, details)


def single_field(text: Any) -> str | None:
    """The field an expression reads whole and does nothing else with, else None.

    >>> single_field("lambda x: x['symbol']"), single_field("price"), single_field("price * 2")
    ('symbol', 'price', None)
    """
    if not isinstance(text, str):
        return None
    try:
        expr = parse_expression(text)
    except ExpressionError:
        return None  # reported with its column where the expression is checked
    body = expr.body
    if isinstance(body, ast.Name) and expr.record_name is None:
        return body.id
    read = (
        isinstance(body, ast.Subscript)
        and isinstance(body.value, ast.Name)
        and body.value.id == expr.record_name
        and isinstance(body.slice, ast.Constant)
        and isinstance(body.slice.value, str)
    )
    return body.slice.value if read else None


def registry_function_problem(name: object) -> Problem:
    """The problem with ``fn_name``, which named a function in the older system's registry: mdp
    has no such registry, and what the function did (write records out, or change them) decides
    what to write instead.

    >>> registry_function_problem("log_quote").hint.endswith('fn: "<package.module>:log_quote" and list '
    ...     '<package.module> under plugins:')
    True
    """
    function = name if isinstance(name, str) and name.isidentifier() else "<function>"
    return Problem(
        ("fn_name",),
        f"fn_name {name!r} names a function in the older system's registry, which mdp does not have",
        "to write the records out, make this node a sink: type: sink.jsonl with params: "
        '{path: "-"} (stdout), sink.store for bars, or sink.null; to change each record with a '
        f'function of yours, write fn: "<package.module>:{function}" and list <package.module> under plugins:',
    )
