"""core.logs: JSON lines off a terminal, text on one, extras and process-wide fields."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from core.logs import ClientFaultsAtDebug, configure_logging, json_of


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level restored after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)


def test_json_line_has_fields_extras_and_process_fields(root: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("INFO", None, stream=out, fields={"worker": 3})
    logging.getLogger("gateway.server").info(
        "identified user %d", 42, extra={"session_id": "abc", "shard": [0, 2]})
    logging.getLogger("x").debug("below the level")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["level"] == "INFO" and record["logger"] == "gateway.server"
    assert record["msg"] == "identified user 42"
    assert record["session_id"] == "abc" and record["shard"] == [0, 2] and record["worker"] == 3
    assert record["ts"].endswith("Z") and "T" in record["ts"]


def test_json_line_carries_the_traceback_on_one_line(root: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("INFO", True, stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("t").exception("failed", extra={"odd": {1, 2}})
    (line,) = out.getvalue().splitlines()
    record = orjson.loads(line)
    assert "ValueError: boom" in record["exc"] and record["odd"]  # a set logs as its str()


def test_terminal_gets_text_with_extras(root: logging.Logger) -> None:
    out = _Tty()
    configure_logging("DEBUG", None, stream=out)
    logging.getLogger("gateway.server").info("gateway close %s by %s", 4004, "server",
                                             extra={"session_id": "abc"})
    line = out.getvalue().strip()
    assert " INFO gateway.server: gateway close 4004 by server session_id=abc" in line
    assert not line.startswith("{")


def test_calling_again_replaces_its_handler(root: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", True, stream=first)
    configure_logging("INFO", True, stream=second)
    logging.getLogger("t").warning("once")
    assert first.getvalue() == "" and second.getvalue().count("once") == 1


def test_json_of_config_values() -> None:
    assert json_of("json") is True and json_of("text") is False and json_of("auto") is None


def test_client_faults_go_out_at_debug_as_one_line(caplog: pytest.LogCaptureFixture) -> None:
    library = logging.getLogger("test.library")
    adapter = ClientFaultsAtDebug(library, lambda msg, exc: isinstance(exc, ValueError)
                                  or msg.startswith("bad frame"))
    caplog.set_level(logging.DEBUG, logger="test.library")
    try:
        raise ValueError("line too long")
    except ValueError as exc:
        adapter.exception("Error handling request from %s", "1.2.3.4", exc_info=exc)
    adapter.error("bad frame: %s", (1009,))
    try:
        raise KeyError("ours")
    except KeyError:
        adapter.exception("Unhandled exception")
    adapter.info("accepted")
    got = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert got == [
        (logging.DEBUG, "Error handling request from 1.2.3.4: ValueError('line too long')", False),
        (logging.DEBUG, "bad frame: (1009,)", False),
        (logging.ERROR, "Unhandled exception", True),  # not the client's: unchanged
        (logging.INFO, "accepted", False),
    ]
    assert all(r.name == "test.library" for r in caplog.records)


def test_client_faults_are_dropped_below_the_loggers_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    library = logging.getLogger("test.library.quiet")
    adapter = ClientFaultsAtDebug(library, lambda msg, exc: True)
    caplog.set_level(logging.INFO, logger="test.library.quiet")
    adapter.error("WS parser error: %s", "too big")
    assert caplog.records == []
