"""Many plain gateway sessions in this process, each counting one event type: a small client.

``bench.loadclient`` is built for MESSAGE_CREATE fanout ladders (its probes read the send time
from the message's nonce); a reaction event carries no such field, so ``bench.reactions``
needs the receive time of every event and the reactor's id in it instead. This is that and no
more: aiohttp websockets, IDENTIFY with the given intents, heartbeats at the server's interval,
and per session the (user id, receive time) of each dispatch of ``event`` about one message.
Everything is bounded: connects in a semaphore, every wait with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

__all__ = ["Session", "SessionPool"]

_CONNECT_TIMEOUT_S = 60.0


@dataclass(slots=True)
class Session:
    """One connection: what it received of the event being counted."""

    token: str
    ws: aiohttp.ClientWebSocketResponse | None = None
    seq: int | None = None
    # (user id, monotonic ns at receipt) of each ``event`` about ``message_id``.
    got: list[tuple[str, int]] = field(default_factory=list)
    closed: str = ""  # why it ended early ("" while open)


class SessionPool:
    """``tokens`` connected as IDENTIFIED sessions; ``watch(message_id)`` resets the counts."""

    def __init__(self, http: aiohttp.ClientSession, ws_url: str, intents: int, event: str,
                 concurrency: int = 50) -> None:
        self._http, self._url, self._intents, self._event = http, ws_url, intents, event
        self._gate = asyncio.Semaphore(concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self.sessions: list[Session] = []
        self.message_id = ""

    def watch(self, message_id: str) -> None:
        """Count ``event`` about ``message_id`` from now on, from zero."""
        self.message_id = message_id
        for s in self.sessions:
            s.got = []

    async def connect(self, tokens: list[str]) -> int:
        """Connect and IDENTIFY every token; returns how many reached READY."""
        ready: list[asyncio.Future[bool]] = []
        loop = asyncio.get_running_loop()
        for token in tokens:
            s = Session(token)
            fut: asyncio.Future[bool] = loop.create_future()
            self.sessions.append(s)
            ready.append(fut)
            self._tasks.append(asyncio.create_task(self._run(s, fut)))
        done = await asyncio.wait_for(asyncio.gather(*ready), _CONNECT_TIMEOUT_S + 30)
        return sum(done)

    async def _run(self, s: Session, ready: asyncio.Future[bool]) -> None:
        beat: asyncio.Task[None] | None = None
        try:
            async with self._gate:  # held until READY: the rest of the session reads without it
                s.ws = await self._http.ws_connect(self._url, max_msg_size=0,
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=5))
                hello = orjson.loads((await asyncio.wait_for(s.ws.receive(),
                                                             _CONNECT_TIMEOUT_S)).data)
                beat = asyncio.create_task(self._heartbeat(s, hello["d"]["heartbeat_interval"]
                                                           / 1000))
                await s.ws.send_bytes(orjson.dumps({"op": 2, "d": {
                    "token": s.token, "intents": self._intents,
                    "properties": {"os": "linux", "browser": "bench", "device": "bench"}}}))
                await asyncio.wait_for(self._read(s, ready, until_ready=True), _CONNECT_TIMEOUT_S)
            await self._read(s, ready, until_ready=False)
        except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError) as exc:
            s.closed = repr(exc)
        finally:
            if beat is not None:
                beat.cancel()
            if not ready.done():
                ready.set_result(False)

    async def _read(self, s: Session, ready: asyncio.Future[bool], until_ready: bool) -> None:
        assert s.ws is not None
        marker = self._event.encode()
        async for msg in s.ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            raw = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            at = time.monotonic_ns()
            if marker in raw or not ready.done():
                frame: dict[str, Any] = orjson.loads(raw)
                s.seq = frame.get("s") or s.seq
                if frame.get("t") == "READY":
                    ready.set_result(True)
                    if until_ready:
                        return
                elif frame.get("t") == self._event and frame["d"].get("message_id") == self.message_id:
                    s.got.append((frame["d"]["user_id"], at))
        s.closed = s.closed or f"closed {s.ws.close_code}"

    async def _heartbeat(self, s: Session, interval: float) -> None:
        """Op 1 every ``interval`` seconds until the session ends."""
        with contextlib.suppress(aiohttp.ClientError, OSError, ConnectionError):
            while s.ws is not None and not s.ws.closed:
                await asyncio.sleep(interval * 0.9)
                await s.ws.send_bytes(orjson.dumps({"op": 1, "d": s.seq}))

    async def aclose(self) -> None:
        """Close every socket (bounded) and end the readers."""
        async def close(s: Session) -> None:
            if s.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(s.ws.close(), 5)
        await asyncio.gather(*(close(s) for s in self.sessions))
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
