"""Clients that misbehave, against the embedded server: a frozen client (no heartbeats: 4009
within 1.5 intervals, and its session resumable), a slow consumer (4900, resumable, nothing
acked missed), floods (120 gateway payloads a minute: 4008; REST 429 with Discord's headers
and body), slowloris on both ports (cut by the timeouts while others are served) and an
identify storm (a bot's shards READY in pairs per ``max_concurrency`` bucket, paced, none
closed; a user's sessions not paced)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest

from gateway.protocol import ALL_INTENTS
from gateway.server import SWEEP_INTERVAL_S
from tests.faults.harness import HEARTBEAT_MS, serve
from tests.faults.ledger import RESULTS, Receiver, Rest, Result, verify
from tests.integration.gateway_client import free_port
from tests.integration.test_slow_consumer import RawClient, _slow_consumer_closes

IDENTIFY = {"op": 2, "d": {"intents": ALL_INTENTS,
                           "properties": {"os": "linux", "browser": "f", "device": "f"}}}


async def _identified(http: aiohttp.ClientSession, port: int,
                      token: str) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, object]]:
    ws = await http.ws_connect(f"http://127.0.0.1:{port}/?v=10&encoding=json", autoclose=False,
                               heartbeat=None)
    assert orjson.loads((await ws.receive(timeout=5)).data)["op"] == 10
    await ws.send_str(orjson.dumps({**IDENTIFY, "d": {**IDENTIFY["d"], "token": token}}).decode())
    ready = orjson.loads((await ws.receive(timeout=5)).data)
    assert ready["t"] == "READY", ready
    return ws, ready


async def _close_code(ws: aiohttp.ClientWebSocketResponse, within: float) -> int | None:
    async with asyncio.timeout(within):
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE,
                                                aiohttp.WSMsgType.CLOSED):
            pass
    return ws.close_code


@pytest.mark.timeout(40)
async def test_frozen_client_gets_4009_and_resumes(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with serve(tmp_path) as server:
        rest = Rest(http, server.http_url)
        (token, sender), channel = await rest.guild(2)
        ws, ready = await _identified(http, server.gateway_port, token)
        await ws.send_str(orjson.dumps({"op": 1, "d": None}).decode())
        beat = time.monotonic()  # then it freezes: no more heartbeats
        assert await _close_code(ws, 5) == 4009
        # 1.5 intervals, plus up to one period of the server's deadline sweep (1 s: timeouts
        # fire up to that late, gateway/server.py), plus slack for a loaded machine.
        assert time.monotonic() - beat <= 1.5 * HEARTBEAT_MS / 1000 + SWEEP_INTERVAL_S + 0.75
        status, message, _ = await rest.call("POST", f"/channels/{channel}/messages", sender,
                                             {"content": "while frozen"})
        assert status == 200
        receiver = Receiver(http, token, [server.gateway_port], rest, channel)
        receiver.session_id = str(ready["d"]["session_id"])  # type: ignore[index]
        receiver.resume_url = f"http://127.0.0.1:{server.gateway_port}/"
        receiver.seq = 1
        stop = asyncio.Event()
        task = asyncio.create_task(receiver.run(stop))
        try:
            async with asyncio.timeout(5):
                while message["id"] not in receiver.got:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        assert receiver.identifies == 0, "the frozen client's session was not resumable"
        RESULTS.append(Result("frozen client (4009, resumed)", 1, 0,
                              time.monotonic() - beat))


@pytest.mark.timeout(90)
async def test_slow_consumer_is_cut_with_4900_and_misses_nothing(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    ops_port = free_port()
    async with serve(tmp_path, gateway_send_buffer_bytes=65536, metrics_port=ops_port) as server:
        rest = Rest(http, server.http_url)
        (token, sender), channel = await rest.guild(2)
        client = await RawClient.connect(server.gateway_port)
        receiver = Receiver(http, token, [server.gateway_port], rest, channel)
        acked: list[str] = []
        began = time.monotonic()
        try:
            assert orjson.loads((await client.frame())[1])["op"] == 10
            client.send({**IDENTIFY, "d": {**IDENTIFY["d"], "token": token}})
            ready = orjson.loads((await asyncio.wait_for(client.frame(), 5))[1])
            receiver.session_id, receiver.seq = ready["d"]["session_id"], ready["s"]
            receiver.resume_url = f"http://127.0.0.1:{server.gateway_port}/"
            # It stops reading; messages until the server gives up on it, bounded by what was
            # acked (8,000 x 2 KB is twice what the kernel's buffers can hold) or 40 s: on a
            # loaded machine sends may be refused for a while (429, 503), so rounds alone are
            # no bound on the bytes sent.
            statuses: Counter[int] = Counter()
            deadline = time.monotonic() + 40
            while len(acked) < 8000 and time.monotonic() < deadline:
                replies = await asyncio.gather(*(rest.call(
                    "POST", f"/channels/{channel}/messages", sender,
                    {"content": "x" * 2000}) for _ in range(25)))
                statuses.update(status for status, _, _ in replies)
                acked += [body["id"] for status, body, _ in replies if status == 200]
                if await _slow_consumer_closes(http, ops_port):
                    break
            else:
                raise AssertionError(f"the server never cut the slow consumer: {len(acked)} "
                                     f"acked, replies by status {dict(statuses)}")
            # It reads again: what it was sent, then the close frame.
            async with asyncio.timeout(10):
                while True:
                    opcode, payload = await client.frame()
                    if opcode == 8:
                        assert int.from_bytes(payload[:2], "big") == 4900
                        break
                    event = orjson.loads(payload)
                    receiver.seq = event.get("s") or receiver.seq
                    if event.get("t") == "MESSAGE_CREATE":
                        receiver.got.add(event["d"]["id"])
        finally:
            client.writer.close()
        stop = asyncio.Event()
        task = asyncio.create_task(receiver.run(stop))
        try:
            await verify("slow consumer (4900, resumed)", rest, token, channel, [], [receiver],
                         time.monotonic() - began, acked=set(acked))
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


@pytest.mark.timeout(40)
async def test_floods_are_refused_as_discord_does(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with serve(tmp_path, ratelimit_route_limit=5, ratelimit_global_per_s=50) as server:
        rest = Rest(http, server.http_url)
        (token,), channel = await rest.guild(1)
        ws, _ = await _identified(http, server.gateway_port, token)
        for _ in range(130):  # heartbeats count too: 120 payloads a minute
            await ws.send_str(orjson.dumps({"op": 1, "d": None}).decode())
        assert await _close_code(ws, 5) == 4008
        statuses = []
        for i in range(8):
            status, body, headers = await rest.call(
                "POST", f"/channels/{channel}/messages", token, {"content": f"f{i}"})
            statuses.append(status)
            if status == 429:
                break
        assert statuses[-1] == 429, statuses
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                "X-RateLimit-Reset-After", "X-RateLimit-Bucket", "Retry-After"} <= set(headers)
        assert body["retry_after"] > 0 and body["global"] is False, body
        RESULTS.append(Result("floods (4008, 429)", statuses.count(200), 0, None))


async def _trickle(port: int, limit: float) -> float:
    """Send a request's headers a byte a second until the server cuts us; how long it took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.monotonic()
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        async with asyncio.timeout(limit):
            while True:
                writer.write(b"X")
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        break
                except TimeoutError:
                    continue
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - began


@pytest.mark.timeout(60)
async def test_slowloris_on_both_ports_is_cut_while_others_are_served(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with serve(tmp_path) as server:
        rest = Rest(http, server.http_url)
        loris = [asyncio.create_task(_trickle(port, 30))
                 for port in (server.http_port, server.gateway_port)]
        await asyncio.sleep(1)
        (token,), _ = await rest.guild(1)  # served meanwhile, on both ports
        ws, _ = await _identified(http, server.gateway_port, token)
        await ws.close()
        http_cut, gateway_cut = await asyncio.gather(*loris)
        assert gateway_cut < 10, gateway_cut  # the handshake timeout (picows: 5 s)
        assert http_cut < 20, http_cut  # the worker's keep-alive timeout (15 s)
        RESULTS.append(Result("slowloris (HTTP, gateway)", 0, 0, max(http_cut, gateway_cut)))


IDENTIFY_INTERVAL_S = 0.5  # the storm's bucket interval: Discord's 5 s, ten times faster
SHARDS = 6


async def _storm(http: aiohttp.ClientSession, port: int, token: str) -> tuple[
        float, list[float], list[aiohttp.ClientWebSocketResponse], list[asyncio.Task[None]]]:
    """``SHARDS`` sessions of ``token`` identify at one moment, shard ``[i, SHARDS]``: when
    the identifies were sent, when each shard's READY came (index: shard id), the sockets and
    their heartbeat tasks (the caller stops them). Every socket is open and has its Hello
    before any identify is sent, so the storm is the identifies alone, not the handshakes."""
    sockets = await asyncio.gather(*(http.ws_connect(
        f"http://127.0.0.1:{port}/?v=10&encoding=json", autoclose=False, heartbeat=None)
        for _ in range(SHARDS)))
    for ws in sockets:
        assert orjson.loads((await ws.receive(timeout=5)).data)["op"] == 10

    async def beat(ws: aiohttp.ClientWebSocketResponse) -> None:
        # The harness's heartbeat interval (1 s) is shorter than the storm: a session that
        # did not beat while its identify waited for its bucket would be closed with 4009.
        while True:
            await ws.send_str(orjson.dumps({"op": 1, "d": None}).decode())
            await asyncio.sleep(HEARTBEAT_MS / 2000)

    async def ready(ws: aiohttp.ClientWebSocketResponse) -> float:
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, ws.close_code)
                if orjson.loads(msg.data).get("t") == "READY":
                    return time.monotonic()

    beats = [asyncio.create_task(beat(ws)) for ws in sockets]
    sent = time.monotonic()
    await asyncio.gather(*(ws.send_str(orjson.dumps({**IDENTIFY, "d": {
        **IDENTIFY["d"], "token": token, "shard": [i, SHARDS]}}).decode())
        for i, ws in enumerate(sockets)))
    return sent, list(await asyncio.gather(*(ready(ws) for ws in sockets))), sockets, beats


@pytest.mark.timeout(60)
async def test_identify_storm_is_paced_per_max_concurrency_bucket(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with serve(tmp_path, identify_max_concurrency=2,
                     gateway_identify_interval_s=IDENTIFY_INTERVAL_S) as server:
        rest = Rest(http, server.http_url)
        owner = await rest.register()
        status, app, _ = await rest.call("POST", "/applications", owner, {"name": "storm"})
        assert status == 201, app
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        beats: list[asyncio.Task[None]] = []
        try:
            sent, readies, sockets, beats = await _storm(http, server.gateway_port,
                                                         f"Bot {app['token']}")
            recover = max(readies) - sent
            # Bucket b (shards i with i % 2 == b) starts its sessions one per interval.
            # Slack: both the server's and this client's event loops run late on a loaded
            # machine; a start is never early, but its READY may reach us early relative to
            # a previous one that was delayed, hence 0.4 and not 0.5.
            buckets = [sorted(readies[b::2]) for b in range(2)]
            for times in buckets:
                gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
                assert min(gaps) >= IDENTIFY_INTERVAL_S - 0.1, gaps
            # ... and both buckets at once: the k-th start of each is a pair, well within
            # one interval of each other (one bucket for all would put them an interval apart).
            for first, second in zip(*buckets, strict=True):
                assert abs(first - second) < IDENTIFY_INTERVAL_S / 2, buckets
            order = sorted(range(SHARDS), key=readies.__getitem__)
            assert all({order[k] % 2, order[k + 1] % 2} == {0, 1} for k in (0, 2, 4)), order
            # Three starts per bucket: the last at 2 intervals, plus slack for a loaded machine.
            assert recover < 2 * IDENTIFY_INTERVAL_S + 1.5, recover
            assert not any(ws.closed for ws in sockets), [ws.close_code for ws in sockets]
        finally:
            for task in beats:
                task.cancel()
            for ws in sockets:
                await ws.close()
        # A user's sessions (browser tabs) are not paced: the same storm is all READY before
        # the bot's third pair could have started.
        user = await rest.register()
        user_sent, user_readies, sockets, beats = await _storm(http, server.gateway_port, user)
        try:
            assert max(user_readies) - user_sent < 2 * IDENTIFY_INTERVAL_S, user_readies
            assert not any(ws.closed for ws in sockets), [ws.close_code for ws in sockets]
        finally:
            for task in beats:
                task.cancel()
            for ws in sockets:
                await ws.close()
        RESULTS.append(Result("identify storm (6 shards, max_concurrency 2)", 0, 0, recover))
