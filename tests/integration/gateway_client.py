"""A small gateway test client over aiohttp's websocket client, and an in-process server.

``GatewayClient`` speaks JSON or ETF, with or without ``zlib-stream``/``zstd-stream``, and
decompresses the way discord.py does: one zlib ``decompressobj`` for the connection (a message
ends with ``00 00 ff ff``), one zstd ``decompressobj``. Every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import zlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

import aiohttp
import erlpack  # type: ignore[import-untyped]
import orjson
import zstandard
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from core.config import Config
from gateway.protocol import ALL_INTENTS
from gateway.worker import serve

TIMEOUT = 5.0
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _strings(value: Any) -> Any:
    """ETF binaries (keys and strings) as ``str``, the way discord.js sees them."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {_strings(k): _strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strings(v) for v in value]
    return value


class GatewayClient:
    """One gateway connection: ``await recv()`` a payload dict, ``await send(payload)``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, encoding: str, compress: str | None):
        self.ws = ws
        self.encoding = encoding
        self.compress = compress
        self._zlib = zlib.decompressobj()
        self._zstd = zstandard.ZstdDecompressor().decompressobj()
        self._buffer = bytearray()
        self.seq: int | None = None

    async def recv(self) -> dict[str, Any]:
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), TIMEOUT)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise ConnectionError(f"socket closed: {msg.type} {self.ws.close_code}")
            raw = self._decompress(msg.data)
            if raw is None:
                continue
            payload = _strings(erlpack.unpack(raw)) if self.encoding == "etf" else orjson.loads(raw)
            if payload.get("s") is not None:
                self.seq = payload["s"]
            return payload  # type: ignore[no-any-return]

    def _decompress(self, data: str | bytes) -> bytes | None:
        if isinstance(data, str):
            assert self.compress is None and self.encoding == "json"
            return data.encode()
        if self.compress == "zlib-stream":
            self._buffer += data
            if not self._buffer.endswith(ZLIB_SUFFIX):
                return None
            out, self._buffer = self._zlib.decompress(bytes(self._buffer)), bytearray()
            return out
        if self.compress == "zstd-stream":
            return self._zstd.decompress(data)
        return data

    async def recv_until(self, name: str) -> dict[str, Any]:
        """The next dispatch named ``name`` (others before it are skipped)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                payload = await self.recv()
                if payload.get("t") == name:
                    return payload

    async def send(self, payload: dict[str, Any]) -> None:
        if self.encoding == "etf":
            await self.ws.send_bytes(erlpack.pack(payload))
        else:
            await self.ws.send_str(orjson.dumps(payload).decode())

    async def identify(self, token: str, intents: int = ALL_INTENTS) -> dict[str, Any]:
        """Hello → Identify → READY; returns READY's ``d``."""
        hello = await self.recv()
        assert hello["op"] == 10, hello
        await self.send({"op": 2, "d": {
            "token": token, "intents": intents,
            "properties": {"os": "linux", "browser": "test", "device": "test"},
        }})
        ready = await self.recv()
        assert ready["t"] == "READY", ready
        return ready["d"]  # type: ignore[no-any-return]

    async def closed(self) -> int | None:
        """Read until the server closes; returns the close code."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    return self.ws.close_code


@dataclass
class Server:
    """A worker started in-process with :func:`gateway.worker.serve`."""

    config: Config
    http: aiohttp.ClientSession
    stop: asyncio.Event

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}/"

    @contextlib.asynccontextmanager
    async def connect(self, encoding: str = "json", compress: str | None = None,
                      version: str = "10") -> AsyncIterator[GatewayClient]:
        params = {"v": version, "encoding": encoding}
        if compress:
            params["compress"] = compress
        ws = await asyncio.wait_for(self.http.ws_connect(self.gateway_url, params=params,
                                                         autoclose=False), TIMEOUT)
        try:
            yield GatewayClient(ws, encoding, compress)
        finally:
            await ws.close()


@contextlib.asynccontextmanager
async def running_server(config: Config) -> AsyncIterator[Server]:
    """``serve`` in a task until the block exits; waits (bounded) until both ports answer."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, 0, stop))
    try:
        async with asyncio.timeout(15):
            for port in (config.http_port, config.gateway_port):
                while True:
                    if task.done():
                        task.result()  # raise what stopped it
                    try:
                        _, writer = await asyncio.open_connection("127.0.0.1", port)
                    except OSError:
                        await asyncio.sleep(0.02)
                        continue
                    writer.close()
                    await writer.wait_closed()
                    break
        async with aiohttp.ClientSession(base_url=config.http_url) as http:
            yield Server(config, http, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


class RawListener(WSListener):  # type: ignore[misc]
    """A picows client listener that queues every frame: ``(msg_type, payload)``, a close as
    ``("close", code)`` and the end of the connection as ``("gone", None)``."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            code = int(frame.get_close_code()) if frame.payload_size >= 2 else None
            self.frames.put_nowait(("close", code))
        else:
            self.frames.put_nowait((frame.msg_type, frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.frames.put_nowait(("gone", None))

    async def next(self) -> tuple[Any, Any]:
        return await asyncio.wait_for(self.frames.get(), TIMEOUT)

    async def close_code(self) -> int | None:
        """Skip data frames until the server's close frame; its code."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                kind, value = await self.frames.get()
                if kind == "close":
                    return value  # type: ignore[no-any-return]
                if kind == "gone":
                    raise ConnectionError("disconnected without a close frame")


async def raw_connect(server: Server, query: str = "v=10&encoding=json") -> tuple[WSTransport, RawListener]:
    """A picows client, to send what aiohttp's client cannot (fragments, bad UTF-8, raw CLOSE)."""
    url = f"ws://127.0.0.1:{server.config.gateway_port}/?{query}"
    transport, listener = await asyncio.wait_for(ws_connect(RawListener, url), TIMEOUT)
    return transport, listener


# -- helpers of the event tests (a worker on loopback, changes made over REST) -----------------


def quick_config(tmp_path: Any) -> Config:
    """A worker's config for tests: free ports, cheap Argon2, rate limits out of the way."""
    return Config(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        argon2_time_cost=1, argon2_memory_kib=64, ratelimit_route_limit=1000,
        ratelimit_global_per_s=1000, batch_max_delay_ms=0,
    )


async def next_of(ws: GatewayClient, names: Collection[str]) -> dict[str, Any]:
    """The next dispatch whose name is one of ``names`` (``t`` and ``d``)."""
    while True:
        payload = await ws.recv()
        if payload.get("t") in names:
            return payload


async def post(api: Any, who: Any, path: str, **body: Any) -> dict[str, Any]:
    """``POST path`` as ``who`` (a ``tests.api.conftest.Account``), which must succeed."""
    r = await api.post(path, who.token, json=body)
    assert r.status in (200, 201), r.body
    return r.body  # type: ignore[no-any-return]


async def ok(reply: Any) -> None:
    """``reply`` is a 204."""
    assert reply.status == 204, reply.body

