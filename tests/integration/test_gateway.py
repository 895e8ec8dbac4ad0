"""The gateway end to end: a worker (``gateway.worker.serve``) on loopback, real websockets.

Every encoding and transport compression, READY and GUILD_CREATE, fanout of REST sends with
VIEW_CHANNEL filtering, op 50 sends (durable, echoed with the nonce, or MESSAGE_SEND_FAILED),
resume after a dropped TCP connection, heartbeats and the fatal close codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.permissions import Permission
from tests.api.conftest import Account, Api
from tests.integration.gateway_client import TIMEOUT, Server, free_port, running_server

VIEW = int(Permission.VIEW_CHANNEL)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = Config(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        argon2_time_cost=1, argon2_memory_kib=64, ratelimit_route_limit=1000,
        ratelimit_global_per_s=1000, batch_max_delay_ms=0,
    )
    async with running_server(config) as s:
        yield s


@pytest.fixture
def api(server: Server) -> Api:
    return Api(server.http)


async def _guild_of_two(api: Api) -> tuple[Account, Account, dict[str, Any]]:
    a, b = await api.register(), await api.register()
    guild = await api.guild(a)
    await api.join(guild, a, b)
    return a, b, guild


@pytest.mark.parametrize("encoding", ["json", "etf"])
@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
async def test_identify_gives_ready_then_guild_create(
    server: Server, api: Api, encoding: str, compress: str | None
) -> None:
    a, _, guild = await _guild_of_two(api)
    async with server.connect(encoding, compress) as ws:
        ready = await ws.identify(a.token)
        assert ready["user"]["id"] == a.id
        assert ready["session_id"] and ready["resume_gateway_url"].startswith("ws://")
        assert ready["guilds"] == [{"id": guild["id"], "unavailable": True}]
        created = await ws.recv()
        assert created["t"] == "GUILD_CREATE" and created["s"] == 2
        assert created["d"]["id"] == guild["id"]
        assert {m["user"]["id"] for m in created["d"]["members"]} == {a.id, _.id}


@pytest.mark.parametrize("encoding", ["json", "etf"])
@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
async def test_rest_message_reaches_both_members(
    server: Server, api: Api, encoding: str, compress: str | None
) -> None:
    a, b, guild = await _guild_of_two(api)
    channel_id = guild["channels"][0]["id"]
    async with server.connect(encoding, compress) as wa, server.connect(encoding, compress) as wb:
        await wa.identify(a.token)
        await wb.identify(b.token)
        r = await api.post(f"/channels/{channel_id}/messages", a.token,
                           json={"content": "hello", "nonce": "n1"})
        assert r.status == 200, r.body
        got_b = await wb.recv_until("MESSAGE_CREATE")
        got_a = await wa.recv_until("MESSAGE_CREATE")
        for got in (got_a, got_b):
            assert got["d"]["id"] == r.body["id"] and got["d"]["content"] == "hello"
            assert got["d"]["channel_id"] == channel_id
        assert got_a["d"]["nonce"] == "n1"


async def test_member_without_view_channel_never_gets_its_messages(
    server: Server, api: Api
) -> None:
    a, b, guild = await _guild_of_two(api)
    r = await api.post(f"/guilds/{guild['id']}/channels", a.token, json={"name": "secret"})
    assert r.status == 201, r.body
    secret, general = r.body["id"], guild["channels"][0]["id"]
    r = await api.put(f"/channels/{secret}/permissions/{b.id}", a.token,
                      json={"type": 1, "allow": "0", "deny": str(VIEW)})
    assert r.status == 204, r.body
    async with server.connect() as wa, server.connect() as wb:
        await wa.identify(a.token)
        await wb.identify(b.token)
        r = await api.post(f"/channels/{secret}/messages", a.token, json={"content": "hidden"})
        assert r.status == 200, r.body
        r = await api.post(f"/channels/{general}/messages", a.token, json={"content": "open"})
        assert r.status == 200, r.body
        assert (await wa.recv_until("MESSAGE_CREATE"))["d"]["content"] == "hidden"
        # b's next message event is the one in general: the hidden one never came.
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["content"] == "open"


async def test_op50_send_is_durable_and_echoed_with_nonce(server: Server, api: Api) -> None:
    a, b, guild = await _guild_of_two(api)
    channel_id = guild["channels"][0]["id"]
    async with server.connect("etf", "zstd-stream") as wa, server.connect() as wb:
        await wa.identify(a.token)
        await wb.identify(b.token)
        await wa.send({"op": 50, "d": {"channel_id": channel_id, "content": "via gw",
                                       "nonce": "abc"}})
        echo = await wa.recv_until("MESSAGE_CREATE")
        assert echo["d"]["nonce"] == "abc" and echo["d"]["content"] == "via gw"
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["id"] == echo["d"]["id"]
    history = await api.get(f"/channels/{channel_id}/messages", a.token)
    assert history.status == 200
    assert [m["id"] for m in history.body] == [echo["d"]["id"]]


async def test_op50_to_forbidden_channel_fails_and_connection_stays(
    server: Server, api: Api
) -> None:
    a, b, guild = await _guild_of_two(api)
    general = guild["channels"][0]["id"]
    r = await api.put(f"/channels/{general}/permissions/{b.id}", a.token,
                      json={"type": 1, "allow": str(VIEW), "deny": str(int(Permission.SEND_MESSAGES))})
    assert r.status == 204, r.body
    async with server.connect() as wb:
        await wb.identify(b.token)
        await wb.send({"op": 50, "d": {"channel_id": general, "content": "no", "nonce": "x1"}})
        failed = await wb.recv_until("MESSAGE_SEND_FAILED")
        assert failed["d"] == {"nonce": "x1", "code": 50013, "message": "Missing Permissions",
                               "channel_id": general}
        await wb.send({"op": 1, "d": failed["s"]})
        assert (await wb.recv())["op"] == 11  # still open
    history = await api.get(f"/channels/{general}/messages", a.token)
    assert history.body == []


async def test_heartbeat_is_acked(server: Server) -> None:
    async with server.connect() as ws:
        hello = await ws.recv()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send({"op": 1, "d": None})
        assert await ws.recv() == {"op": 11, "d": None, "s": None, "t": None}


async def test_bad_token_closes_4004(server: Server) -> None:
    async with server.connect() as ws:
        assert (await ws.recv())["op"] == 10
        await ws.send({"op": 2, "d": {"token": "nope", "intents": 513,
                                      "properties": {"os": "x", "browser": "y", "device": "z"}}})
        assert await ws.closed() == 4004


async def test_bad_version_closes_4012(server: Server) -> None:
    async with server.connect(version="9") as ws:
        assert await ws.closed() == 4012


async def test_resume_after_dropped_connection_replays_missed_events(
    server: Server, api: Api
) -> None:
    a, b, guild = await _guild_of_two(api)
    channel_id = guild["channels"][0]["id"]
    async with server.connect() as wb:
        ready = await wb.identify(b.token)
        await wb.recv_until("GUILD_CREATE")
        seq = wb.seq
        # Drop the TCP connection without a close frame (as a network failure would).
        transport = wb.ws._response.connection.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.abort()
    await asyncio.sleep(0.1)
    sent = []
    for text in ("one", "two"):
        r = await api.post(f"/channels/{channel_id}/messages", a.token, json={"content": text})
        assert r.status == 200, r.body
        sent.append(r.body["id"])
    async with server.connect() as wb:
        assert (await wb.recv())["op"] == 10
        await wb.send({"op": 6, "d": {"token": b.token, "session_id": ready["session_id"],
                                      "seq": seq}})
        replayed = []
        async with asyncio.timeout(TIMEOUT):
            while (p := await wb.recv())["t"] != "RESUMED":
                replayed.append(p)
        messages = [p["d"]["id"] for p in replayed if p["t"] == "MESSAGE_CREATE"]
        assert messages == sent
        assert [p["s"] for p in replayed] == list(range(seq + 1, seq + 1 + len(replayed)))
        # Live again: a new message arrives after RESUMED.
        r = await api.post(f"/channels/{channel_id}/messages", a.token, json={"content": "3"})
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["id"] == r.body["id"]
