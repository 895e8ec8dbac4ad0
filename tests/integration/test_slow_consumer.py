"""A slow consumer gets its 4900 close frame: a raw client stops reading, then reads again.

The client is a plain socket with a small receive buffer (so the server's backlog builds up
soon) speaking just enough RFC 6455: the handshake, masked text frames out, unmasked frames in.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from core.config import Config
from gateway.protocol import ALL_INTENTS
from tests.api.conftest import Api
from tests.integration.gateway_client import free_port, running_server

_CLOSE = 0x8
# Bounds of the test: messages sent at most while waiting for the server to give up.
_MAX_SENDS = 4000
_GROUP = 25


class RawClient:
    """One websocket over a socket whose reading the test controls (asyncio streams: the
    reader stops taking bytes from the socket once ``limit`` * 2 are buffered unread)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload (the server never fragments or masks)."""
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(n)

    def send(self, payload: dict[str, Any]) -> None:
        data, mask = orjson.dumps(payload), os.urandom(4)
        assert len(data) < 65536
        head = (bytes((0x81, 0x80 | len(data))) if len(data) < 126
                else struct.pack("!BBH", 0x81, 0x80 | 126, len(data)))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(head + mask + masked)


async def _slow_consumer_closes(http: aiohttp.ClientSession, ops_port: int) -> int:
    async with http.get(f"http://127.0.0.1:{ops_port}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("discord_arch_gateway_slow_consumer_closes_total "):
                return int(float(line.split()[1]))
    raise AssertionError("no slow consumer counter in /metrics")


async def test_a_slow_consumer_that_reads_again_sees_the_4900_close_frame(
    tmp_path: Path,
) -> None:
    ops_port = free_port()
    config = Config(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        metrics_port=ops_port, argon2_time_cost=1, argon2_memory_kib=64,
        ratelimit_route_limit=0, batch_max_delay_ms=0, gateway_send_buffer_bytes=65536,
    )
    async with running_server(config) as server:
        api = Api(server.http)
        reader, sender = await api.register(), await api.register()
        guild = await api.guild(reader)
        await api.join(guild, reader, sender)
        channel = guild["channels"][0]["id"]
        client = await RawClient.connect(config.gateway_port)
        try:
            opcode, hello = await asyncio.wait_for(client.frame(), 5)
            assert orjson.loads(hello)["op"] == 10
            client.send({"op": 2, "d": {"token": reader.token, "intents": ALL_INTENTS,
                                        "properties": {"os": "l", "browser": "t", "device": "t"}}})
            # Stop reading; fill the server's send buffer with a member's messages.
            content = "x" * 2000
            sent = 0
            while await _slow_consumer_closes(server.http, ops_port) == 0:
                assert sent < _MAX_SENDS, "the server never gave up on the slow consumer"
                replies = await asyncio.gather(*(
                    api.post(f"/channels/{channel}/messages", sender.token,
                             json={"content": content}) for _ in range(_GROUP)))
                assert all(r.status == 200 for r in replies), replies[0].body
                sent += _GROUP
            # Read again, well within the grace: the backlog, then the close frame.
            async with asyncio.timeout(5):
                while True:
                    opcode, payload = await client.frame()
                    if opcode == _CLOSE:
                        break
            assert struct.unpack("!H", payload[:2])[0] == 4900
            assert await client.reader.read() == b""  # then the server ends the socket
        finally:
            client.writer.close()
