"""Ledger clients: senders that record every acked send, receivers that record every message
they are given, and the set equalities a scenario ends with.

A send counts as acked only when the server said so: REST 200 with the message. A receiver
behaves as a real client: it heartbeats, and when its socket drops (or it is told op 7) it
RESUMEs at ``resume_gateway_url``; told op 9 it IDENTIFYs again and refetches the channel's
history over REST to fill the gap, as discord.py's users must. At the end every acked message
must be in history and in every receiver's ledger; the count lost is reported, and must be 0.
Every wait is bounded, so a server that hangs fails the scenario instead of CI.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway.protocol import ALL_INTENTS

TIMEOUT = 5.0
_names = itertools.count()


@dataclass
class Result:
    """One row of the reliability table (printed at the end of the run, tests/faults/conftest.py)."""

    scenario: str
    acked: int
    lost: int
    recover_s: float | None


RESULTS: list[Result] = []


class Rest:
    """The REST API with one token; every call bounded by ``TIMEOUT``."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": token} if token else {}
        async with asyncio.timeout(TIMEOUT):
            async with self.http.request(method, self.base_url + "/api/v10" + path, json=json,
                                         headers=headers) as r:
                return r.status, await r.json(content_type=None), dict(r.headers)

    async def register(self) -> str:
        status, body, _ = await self.call("POST", "/auth/register", json={
            "username": f"f{os.getpid()}x{next(_names)}", "password": "correct horse"})
        assert status == 201, body
        return str(body["token"])

    async def guild(self, members: int) -> tuple[list[str], str]:
        """``members`` users (the first the owner) in one new guild: their tokens, its channel."""
        tokens = [await self.register() for _ in range(members)]
        status, guild, _ = await self.call("POST", "/guilds", tokens[0], {"name": "Faults"})
        assert status == 201, guild
        _, channels, _ = await self.call("GET", f"/guilds/{guild['id']}/channels", tokens[0])
        channel = str(channels[0]["id"])
        status, invite, _ = await self.call("POST", f"/channels/{channel}/invites", tokens[0], {})
        assert status == 200, invite
        for token in tokens[1:]:
            status, body, _ = await self.call("POST", f"/invites/{invite['code']}", token)
            assert status == 200, body
        return tokens, channel

    async def history(self, token: str, channel: str) -> set[str]:
        """Every message id of ``channel`` (pages of 100, newest first; at most 50 pages)."""
        ids: set[str] = set()
        before = ""
        for _ in range(50):
            status, page, _ = await self.call(
                "GET", f"/channels/{channel}/messages?limit=100{before}", token)
            assert status == 200, page
            ids.update(m["id"] for m in page)
            if len(page) < 100:
                return ids
            before = f"&before={min(page, key=lambda m: int(m['id']))['id']}"
        raise AssertionError("history longer than 5000 messages")


@dataclass
class Sender:
    """Sends ``content`` messages over REST one after another; ``acked`` holds the ids of those
    answered 200, ``ack_times`` when. Errors (5xx, refused connections) are counted, not
    raised: during a fault they are expected, and only acked messages are promised."""

    rest: Rest
    token: str
    channel: str
    acked: list[str] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    errors: int = 0

    async def run(self, seconds: float, pause: float = 0.02) -> None:
        end = time.monotonic() + seconds
        for i in range(100_000):
            if time.monotonic() >= end:
                return
            try:
                status, body, _ = await self.rest.call(
                    "POST", f"/channels/{self.channel}/messages", self.token,
                    {"content": f"m{i}", "nonce": f"{id(self)}-{i}"})
            except (aiohttp.ClientError, TimeoutError, OSError):
                status, body = 0, None
            if status == 200:
                self.acked.append(body["id"])
                self.ack_times.append(time.monotonic())
            else:
                self.errors += 1
                await asyncio.sleep(0.1)
            await asyncio.sleep(pause)

    def longest_gap(self, since: float) -> float:
        """The longest time without an ack after ``since`` (the fault): the time to recover."""
        times = [since] + [t for t in self.ack_times if t > since]
        return max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else float("inf")


@dataclass
class Receiver:
    """A gateway client that records every MESSAGE_CREATE id, across drops, as a real one.

    ``ports``: the gateway ports to (re)identify on, tried in turn. ``refetch`` (a coroutine
    giving the channel's ids) fills the gap after op 9. ``closes`` keeps every close code seen,
    ``resumes`` and ``identifies`` count what each drop took.
    """

    http: aiohttp.ClientSession
    token: str
    ports: list[int]
    rest: Rest
    channel: str
    got: set[str] = field(default_factory=set)
    closes: list[int | None] = field(default_factory=list)
    resumes: int = 0
    identifies: int = 0
    session_id: str | None = None
    resume_url: str | None = None
    seq: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    gap: bool = False  # told op 9 (or the session's worker is gone): refetch after READY

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` (at most 200 reconnections)."""
        failed = 0
        for attempt in range(200):
            if stop.is_set():
                return
            if self.session_id and failed >= 10:  # its worker is gone for 2 s: a new session
                self.session_id, self.seq, self.gap = None, None, True
            url = self.resume_url if self.session_id else None
            url = url or f"http://127.0.0.1:{self.ports[attempt % len(self.ports)]}/"
            try:
                await self._connection(url, stop)
                failed = 0
            except (aiohttp.ClientError, TimeoutError, OSError, ConnectionError):
                failed += 1
                await asyncio.sleep(0.2)
        raise AssertionError("receiver reconnected 200 times")

    async def _connection(self, url: str, stop: asyncio.Event) -> None:
        async with asyncio.timeout(TIMEOUT):
            ws = await self.http.ws_connect(url, params={"v": "10", "encoding": "json"},
                                            autoclose=False, heartbeat=None)
        try:
            hello = orjson.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)
            assert hello["op"] == 10, hello
            if self.session_id:
                self.resumes += 1
                await ws.send_str(orjson.dumps({"op": 6, "d": {
                    "token": self.token, "session_id": self.session_id,
                    "seq": self.seq}}).decode())
            else:
                await self._identify(ws)
            beat = asyncio.create_task(self._heartbeat(ws, hello["d"]["heartbeat_interval"]))
            try:
                await self._read(ws, stop)
            finally:
                beat.cancel()
        finally:
            await ws.close()
            self.closes.append(ws.close_code)

    async def _identify(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.identifies += 1
        await ws.send_str(orjson.dumps({"op": 2, "d": {
            "token": self.token, "intents": ALL_INTENTS,
            "properties": {"os": "linux", "browser": "faults", "device": "faults"}}}).decode())

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval_ms: int) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000 * 0.8)
            await ws.send_str(orjson.dumps({"op": 1, "d": self.seq}).decode())

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        """Until the socket ends, op 7, or ``stop``; op 9 re-identifies on the same socket."""
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.25)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            payload = orjson.loads(msg.data)
            if payload.get("s") is not None:
                self.seq = payload["s"]
            op, kind = payload["op"], payload.get("t")
            if op == 0 and kind == "READY":
                self.session_id = payload["d"]["session_id"]
                self.resume_url = payload["d"]["resume_gateway_url"].replace("ws://", "http://")
                if self.gap:  # only now subscribed: history from here on has no hole
                    self.got |= await self.rest.history(self.token, self.channel)
                    self.gap = False
                self.ready.set()
            elif op == 0 and kind == "MESSAGE_CREATE":
                self.got.add(payload["d"]["id"])
            elif op == 7:  # reconnect and resume
                return
            elif op == 9:  # the session is gone: a new one, and history fills the gap
                self.session_id, self.seq, self.gap = None, None, True
                await asyncio.sleep(0.5)  # Discord asks for 1-5 s; the budget allows less
                await self._identify(ws)
            elif op == 1:
                await ws.send_str(orjson.dumps({"op": 1, "d": self.seq}).decode())


async def settle(receivers: list[Receiver], acked: set[str], seconds: float = 10.0) -> None:
    """Give the receivers up to ``seconds`` to hold every acked message (delivery is async)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(acked - r.got for r in receivers):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def verify(name: str, rest: Rest, token: str, channel: str, senders: list[Sender],
                 receivers: list[Receiver], recover_s: float | None,
                 acked: set[str] | None = None) -> Result:
    """The scenario's set equalities; records and returns its table row, then asserts.
    ``acked``: acks recorded by the scenario itself, besides its senders'."""
    acked = (acked or set()) | {i for s in senders for i in s.acked}
    await settle(receivers, acked)
    stored = await rest.history(token, channel)
    missing = acked - stored
    for r in receivers:
        missing |= acked - r.got
    result = Result(name, len(acked), len(missing), recover_s)
    RESULTS.append(result)
    assert acked, "nothing was acked: the scenario measured nothing"
    assert not acked - stored, f"{len(acked - stored)} acked messages are not in history"
    for n, r in enumerate(receivers):
        assert not acked - r.got, (
            f"receiver {n} misses {len(acked - r.got)} of {len(acked)} acked messages "
            f"(closes {r.closes}, resumes {r.resumes}, identifies {r.identifies})")
    return result
