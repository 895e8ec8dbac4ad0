"""Untrusted input never makes an ERROR line or a traceback (core.logs, ClientFaultsAtDebug).

Without a token, a client could fill the error log: picows logged an oversized frame at
ERROR, aiohttp an over-long request line at ERROR with its traceback. Both are answered as
before (1009, 400) and logged at DEBUG, one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from picows import WSMsgType

from core.config import Config
from tests.integration.gateway_client import Server, free_port, raw_connect, running_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = Config(data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
                    metrics_port=free_port(), argon2_time_cost=1, argon2_memory_kib=64)
    async with running_server(config) as s:
        yield s


def _loud(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info]


async def _raw_http(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_oversized_frames_log_no_error(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        transport, client = await raw_connect(server)
        try:
            transport.send(WSMsgType.TEXT, b"x" * 20_000)
            assert await client.close_code() == 1009
        finally:
            transport.disconnect()
    assert _loud(caplog) == []


async def test_malformed_http_logs_no_error(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = server.config.http_port
    long_line = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    long_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n"
    bad_header = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"
    for request in (long_line, long_header, bad_header):
        assert (await _raw_http(port, request)).split(b" ", 2)[1] == b"400"
    # aiohttp logs a bad method quietly only on a connection's first request: the second.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(b"\x16\x03\x01garbage\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).split(b" ", 2)[1] == b"400"
    finally:
        writer.close()
    assert _loud(caplog) == []
