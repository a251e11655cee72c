"""How a job logs to stderr: readable text lines, or one JSON object per line for log collectors.

``text`` is ``2024-03-15 09:30:00,123 INFO mdp.job: message``. ``json`` is one line per record::

    {"ts": "2024-03-15T13:30:00.123Z", "level": "INFO", "logger": "mdp.lifecycle",
     "event": "start", "message": "...", "job": "bars", "mode": "dag"}

``event`` is the job's lifecycle event (:func:`lifecycle`) or ``"log"`` for any other record,
the event's fields follow the fixed keys, and a logged exception's traceback is under ``exc``
(escaped, so a record is always a single line). On a terminal each record first clears the
line, so that it does not run on from a progress bar drawn there.
"""

from __future__ import annotations

import json
import logging
import sys
import time

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIFECYCLE_EVENTS = ("start", "connect", "reconnect", "checkpoint", "flush", "stop", "error")
"""The events of a job's life that :func:`lifecycle` logs, named in a JSON line's ``event``."""
WARNING_EVENTS = frozenset({"reconnect", "error"})
"""Lifecycle events logged at WARNING; the others are logged at INFO."""
RESERVED_KEYS = frozenset({"ts", "level", "logger", "event", "message", "exc", "stack"})
"""The keys every JSON line has (or may have): no lifecycle field may take one of them."""

_EVENT = "mdp_event"  # the attributes that carry a lifecycle event on a log record
_FIELDS = "mdp_fields"
_CLEAR_LINE = "\r\x1b[K"
log = logging.getLogger("mdp.lifecycle")


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log records of ``level`` (DEBUG, INFO, WARNING or ERROR) and above to stderr as
    ``log_format`` (one of :data:`LOG_FORMATS`).

    Sets the root logger's level and replaces the handler an earlier call installed (other
    handlers are left alone), so calling it again, in one process, reconfigures rather than
    doubles the output. Raises ``ValueError`` for an unknown level or format.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r} (known: {', '.join(LOG_FORMATS)})")
    level_number = logging.getLevelName(level.upper())
    if not isinstance(level_number, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level_number)


def lifecycle(event: str, message: str, /, **fields: object) -> None:
    """Log ``message`` as lifecycle ``event`` (one of :data:`LIFECYCLE_EVENTS`) with ``fields``.

    Logged to ``mdp.lifecycle``, at WARNING for the :data:`WARNING_EVENTS`, else at INFO. A JSON
    line carries the event and the fields (values JSON cannot hold are written as ``str``); a
    text line reads as any other, the message alone. An unknown event, or a field named like one
    of the :data:`RESERVED_KEYS`, raises ``ValueError``.
    """
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r} (known: {', '.join(LIFECYCLE_EVENTS)})")
    clashing = sorted(RESERVED_KEYS.intersection(fields))
    if clashing:
        raise ValueError(f"lifecycle fields may not be named {', '.join(clashing)}")
    level = logging.WARNING if event in WARNING_EVENTS else logging.INFO
    log.log(level, message, extra={_EVENT: event, _FIELDS: fields})


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: ts (UTC, ms), level, logger, event, message, fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, _EVENT, "log"),
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, {})
        entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, default=str)
        except (TypeError, ValueError):  # a dict with keys JSON cannot hold, or a circular value
            entry.update((name, _json_or_str(value)) for name, value in fields.items())
            return json.dumps(entry, default=str)


def _json_or_str(value: object) -> object:
    """``value`` if JSON can hold it (its parts as ``str`` where they cannot), else ``str(value)``."""
    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
    return value


class _StderrHandler(logging.StreamHandler):
    """The handler :func:`configure_logging` installs: writes to stderr, and on a terminal clears
    the line before each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        try:
            self._prefix = _CLEAR_LINE if sys.stderr.isatty() else ""
        except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
            self._prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, after the terminal's clear-line sequence when on a terminal."""
        return self._prefix + super().format(record)
