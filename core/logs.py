"""Logging setup of a process: JSON lines for machines, one readable line for people.

:func:`configure_logging` is called once per process at its composition root (the CLI; each
spawned worker, whose logging is not inherited). Under systemd, Docker or a pipe, stderr is
not a terminal and every record becomes one JSON object on one line::

    {"ts": "2024-05-01T12:00:00.123Z", "level": "INFO", "logger": "gateway.server",
     "msg": "identified", "session_id": "9f...", "user_id": 1234, "shard": [0, 1], "worker": 0}

``extra={...}`` fields of a record and the process-wide ``fields`` (e.g. ``worker``) become
keys of that object; on a terminal they follow the message as ``key=value``. Nothing here
knows about tokens: callers never log one (tests check the identify lines).

Untrusted input never makes an ERROR line or a traceback: a client that sends malformed HTTP
or an oversized websocket frame could otherwise fill the error log without even a token.
The libraries that parse it (aiohttp, picows) log such faults at ERROR with a traceback, so
their servers are given a :class:`ClientFaultsAtDebug` logger instead of their own, per
server (``api.app.http_logger``, ``gateway.server``): no process-wide filter.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import orjson

__all__ = ["ClientFaultsAtDebug", "JsonFormatter", "TextFormatter", "configure_logging", "json_of"]

# LogRecord attributes that are not extras (``logging.LogRecord.__init__`` and what
# ``Formatter.format`` adds); anything else on a record came from ``extra=`` or ``fields``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ms), ``level``, ``logger``, ``msg``, extras,
    and ``exc`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z", "level": record.levelname,
            "logger": record.name, "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out.setdefault(key, value)  # an extra never hides the four fields above
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that is not JSON (an exception, a set) still logs.
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, then the record's extras as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the first line
        pairs = " ".join(f"{k}={v}" for k, v in extras.items())
        return f"{head} {pairs}{sep}{tail}"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours: the next :func:`configure_logging` call replaces it."""


class _Fields(logging.Filter):
    """Adds the process-wide fields to every record that does not set them itself."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self._fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self._fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class ClientFaultsAtDebug(logging.LoggerAdapter[logging.Logger]):
    """A library's logger whose records about a client's bad input go out at DEBUG, as one
    line (the exception's text appended, no traceback); every other record is unchanged.

    Args:
        logger: the library's own logger (the records keep its name).
        is_client_fault: ``(message, exception or None) -> bool`` for a record of level
            above DEBUG: whether the client's input caused it (never a bug of ours).
    """

    def __init__(
        self, logger: logging.Logger,
        is_client_fault: Callable[[str, BaseException | None], bool],
    ) -> None:
        super().__init__(logger, {})
        self._is_client_fault = is_client_fault

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level > logging.DEBUG:
            exc = _exception_of(kwargs.get("exc_info"))
            if self._is_client_fault(str(msg), exc):
                level = logging.DEBUG
                if exc is not None:
                    kwargs["exc_info"] = None
                    msg, args = f"{msg}: %r", (*args, exc)
        super().log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs  # no extra of its own (LoggerAdapter's would replace the caller's)


def _exception_of(exc_info: Any) -> BaseException | None:
    """The exception a logging call's ``exc_info`` names (True: the one being handled)."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1]  # type: ignore[no-any-return]
    if exc_info:
        return sys.exc_info()[1]
    return None


def json_of(log_format: str) -> bool | None:
    """``Config.log_format`` as :func:`configure_logging`'s ``json``: auto → None."""
    return {"json": True, "text": False}.get(log_format)


def configure_logging(
    level: str | int = "INFO",
    json: bool | None = None,
    *,
    stream: TextIO | None = None,
    fields: Mapping[str, Any] | None = None,
) -> logging.Handler:
    """Send every log record of this process to ``stream``, one line each.

    Replaces the root logger's stream handlers (its own from an earlier call, and
    ``logging.basicConfig``'s), so calling it again (a worker after the CLI) does not
    duplicate lines; other handlers (a test's capture) stay.

    Args:
        level: the root level (``"INFO"``, ``logging.DEBUG``...).
        json: JSON lines (True), text (False), or None: JSON unless ``stream`` is a terminal.
        stream: where to write (default ``sys.stderr``).
        fields: added to every record, e.g. ``{"worker": 3}``.

    Returns:
        The installed handler.
    """
    stream = stream if stream is not None else sys.stderr
    if json is None:
        isatty = getattr(stream, "isatty", None)
        json = not (isatty is not None and isatty())
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    if fields:
        handler.addFilter(_Fields(fields))
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, _Handler) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
