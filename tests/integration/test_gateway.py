"""The gateway end to end: a worker (``gateway.worker.serve``) on loopback, real websockets.

Every encoding and transport compression, READY and GUILD_CREATE, fanout of REST sends with
VIEW_CHANNEL filtering, op 50 sends (durable, echoed with the nonce, or MESSAGE_SEND_FAILED),
resume after a dropped TCP connection, heartbeats and the fatal close codes.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict
from picows import WSCloseCode, WSMsgType

from core.bus.memory import MemoryBus
from core.config import Config
from core.events import Event
from core.metrics import Metrics
from core.models import Channel, ChannelType, Guild, Member, Role, User
from core.permissions import Permission
from core.timeline import Timeline
from gateway import worker
from gateway.hub import Hub
from gateway.limits import SessionLimits
from gateway.listener import Connection
from gateway.params import ConnectParams
from gateway.protocol import ALL_INTENTS, Intent
from gateway.server import GatewayServer
from gateway.session import Session, frames
from tests.api.conftest import Account, Api
from tests.api.helpers import make_bot
from tests.integration.gateway_client import (
    TIMEOUT,
    GatewayClient,
    Server,
    free_port,
    raw_connect,
    running_server,
)

VIEW = int(Permission.VIEW_CHANNEL)


def _config(tmp_path: Path, **changes: Any) -> Config:
    return Config(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        argon2_time_cost=1, argon2_memory_kib=64, ratelimit_route_limit=1000,
        ratelimit_global_per_s=1000, batch_max_delay_ms=0, **changes,
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(_config(tmp_path)) as s:
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
        assert created["d"]["id"] == guild["id"] and created["d"]["unavailable"] is False
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


async def test_upgrade_from_a_foreign_origin_is_refused_and_own_origin_accepted(
    server: Server,
) -> None:
    cfg = server.config
    own = f"http://localhost:{cfg.http_port}"  # loopback: 127.0.0.1 and localhost both count
    for origin, status in (("https://evil.example", 403), (cfg.http_url, 101), (own, 101)):
        resp = await server.http.get(server.gateway_url, headers={
            "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }, params={"v": "10", "encoding": "json"})
        assert resp.status == status, (origin, resp.status)
        resp.close()


def test_allowed_origins_setting_replaces_the_default() -> None:
    cfg = Config(allowed_origins="https://chat.example.com/, https://b.example")
    assert cfg.origins == {"https://chat.example.com", "https://b.example"}
    assert Config(http_port=9000).origins == {"http://127.0.0.1:9000", "http://localhost:9000"}


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


# -- RFC 6455 details picows leaves to the listener ---------------------------------------------


async def test_fragmented_message_is_reassembled(server: Server) -> None:
    transport, client = await raw_connect(server)
    try:
        assert orjson.loads((await client.next())[1])["op"] == 10
        payload = b'{"op": 1, "d": null}'
        transport.send(WSMsgType.TEXT, payload[:5], fin=False)
        transport.send(WSMsgType.CONTINUATION, payload[5:12], fin=False)
        transport.send(WSMsgType.CONTINUATION, payload[12:], fin=True)
        kind, data = await client.next()
        assert kind == WSMsgType.TEXT and orjson.loads(data)["op"] == 11
    finally:
        transport.disconnect()


async def test_fragmented_message_over_4096_bytes_closes_4002(server: Server) -> None:
    transport, client = await raw_connect(server)
    try:
        transport.send(WSMsgType.TEXT, b"x" * 3000, fin=False)
        transport.send(WSMsgType.CONTINUATION, b"x" * 3000, fin=True)
        assert await client.close_code() == 4002
    finally:
        transport.disconnect()


@pytest.mark.parametrize(("size", "code"), [(5000, 4002), (9000, 1009)])
async def test_oversized_frame_closes(server: Server, size: int, code: int) -> None:
    transport, client = await raw_connect(server)
    try:
        transport.send(WSMsgType.TEXT, b"x" * size)
        assert await client.close_code() == code
    finally:
        transport.disconnect()


async def test_invalid_utf8_text_closes_1007(server: Server) -> None:
    transport, client = await raw_connect(server)
    try:
        transport.send(WSMsgType.TEXT, b'{"op": 1, "d": "\xff"}')
        assert await client.close_code() == 1007
    finally:
        transport.disconnect()


async def test_unexpected_continuation_closes_1002(server: Server) -> None:
    transport, client = await raw_connect(server)
    try:
        transport.send(WSMsgType.CONTINUATION, b"{}")
        assert await client.close_code() == 1002
    finally:
        transport.disconnect()


async def test_client_close_is_answered_with_its_code(server: Server) -> None:
    transport, client = await raw_connect(server)
    try:
        assert (await client.next())[0] == WSMsgType.TEXT  # Hello
        transport.send_close(WSCloseCode.GOING_AWAY)
        assert await client.close_code() == 1001
        assert (await client.next())[0] == "gone"  # the server ends the TCP connection
    finally:
        transport.disconnect()


# -- subscriptions follow membership; DMs; intents ----------------------------------------------


async def test_joining_while_connected_subscribes_and_leaving_unsubscribes(
    server: Server, api: Api
) -> None:
    a, b = await api.register(), await api.register()
    guild = await api.guild(a)
    general = guild["channels"][0]["id"]
    async with server.connect() as wb:
        await wb.identify(b.token)
        await api.join(guild, a, b)
        joined = (await wb.recv_until("GUILD_CREATE"))["d"]
        # No ``unavailable`` on a join: discord.py would fire on_guild_available, not _join.
        assert joined["id"] == guild["id"] and "unavailable" not in joined
        r = await api.post(f"/channels/{general}/messages", a.token, json={"content": "hi b"})
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["id"] == r.body["id"]
        r = await api.delete(f"/users/@me/guilds/{guild['id']}", b.token)
        assert r.status == 204, r.body
        assert (await wb.recv_until("GUILD_DELETE"))["d"]["id"] == guild["id"]
        await api.post(f"/channels/{general}/messages", a.token, json={"content": "gone"})
        dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
        assert dm.status == 200, dm.body
        r = await api.post(f"/channels/{dm.body['id']}/messages", a.token, json={"content": "dm"})
        assert r.status == 200, r.body
        # The guild message after leaving never came: the next one is the DM.
        got = await wb.recv_until("MESSAGE_CREATE")
        assert got["d"]["content"] == "dm" and "guild_id" not in got["d"]


async def test_channel_created_while_connected_reaches_members(server: Server, api: Api) -> None:
    # discord.py's on_guild_channel_create never fired: the warm guild cache did not know the
    # new channel, so nobody passed the VIEW_CHANNEL check for it.
    a, b, guild = await _guild_of_two(api)
    async with server.connect() as wa, server.connect() as wb:
        await wa.identify(a.token)
        await wb.identify(b.token)
        r = await api.post(f"/channels/{guild['channels'][0]['id']}/messages", a.token,
                           json={"content": "warm the cache"})
        assert r.status == 200, r.body
        await wb.recv_until("MESSAGE_CREATE")
        r = await api.post(f"/guilds/{guild['id']}/channels", a.token, json={"name": "new"})
        assert r.status == 201, r.body
        for ws in (wa, wb):
            assert (await ws.recv_until("CHANNEL_CREATE"))["d"]["id"] == r.body["id"]
        sent = await api.post(f"/channels/{r.body['id']}/messages", a.token,
                              json={"content": "in new"})
        assert sent.status == 200, sent.body
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["id"] == sent.body["id"]


@pytest.mark.parametrize("content_intent", [False, True])
async def test_bot_without_message_content_gets_redacted_messages(
    server: Server, api: Api, content_intent: bool
) -> None:
    a = await api.register()
    guild = await api.guild(a)
    general = guild["channels"][0]["id"]
    bot = await make_bot(api, a)
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", a.token, json={})
    assert r.status == 201, r.body
    intents = ALL_INTENTS if content_intent else ALL_INTENTS & ~int(Intent.MESSAGE_CONTENT)
    async with server.connect() as wbot, server.connect() as wa:
        await wbot.identify(f"Bot {bot.token}", intents)
        await wa.identify(a.token)
        await api.post(f"/channels/{general}/messages", a.token, json={"content": "secret"})
        await api.post(f"/channels/{general}/messages", a.token,
                       json={"content": f"hey <@{bot.id}>"})
        first = await wbot.recv_until("MESSAGE_CREATE")
        second = await wbot.recv_until("MESSAGE_CREATE")
        assert first["d"]["content"] == ("secret" if content_intent else "")
        assert second["d"]["content"] == f"hey <@{bot.id}>"  # mentioned: always whole
        assert (await wa.recv_until("MESSAGE_CREATE"))["d"]["content"] == "secret"


async def test_request_guild_members_answers_chunks(server: Server, api: Api) -> None:
    a, b, guild = await _guild_of_two(api)
    async with server.connect() as wa:
        await wa.identify(a.token)
        await wa.send({"op": 8, "d": {"guild_id": guild["id"], "query": "", "limit": 0,
                                      "nonce": "all"}})
        chunk = await wa.recv_until("GUILD_MEMBERS_CHUNK")
        assert chunk["d"]["nonce"] == "all" and chunk["d"]["chunk_count"] == 1
        assert {m["user"]["id"] for m in chunk["d"]["members"]} == {a.id, b.id}
        await wa.send({"op": 8, "d": {"guild_id": guild["id"], "query": b.username.upper(),
                                      "limit": 10}})
        chunk = await wa.recv_until("GUILD_MEMBERS_CHUNK")
        assert [m["user"]["id"] for m in chunk["d"]["members"]] == [b.id]
        await wa.send({"op": 8, "d": {"guild_id": guild["id"], "user_ids": [b.id, "1234"]}})
        chunk = await wa.recv_until("GUILD_MEMBERS_CHUNK")
        assert [m["user"]["id"] for m in chunk["d"]["members"]] == [b.id]
        assert chunk["d"]["not_found"] == ["1234"]


async def test_presence_online_on_identify_and_offline_when_gone(
    server: Server, api: Api
) -> None:
    a, b, _ = await _guild_of_two(api)
    async with server.connect() as wb:
        await wb.identify(b.token)
        async with server.connect() as wa:
            await wa.identify(a.token)
            assert (await _presence_of(wb, a))["status"] == "online"
            await wa.send({"op": 3, "d": {"status": "dnd", "since": None, "activities": [],
                                          "afk": False}})
            assert (await _presence_of(wb, a))["status"] == "dnd"
        assert (await _presence_of(wb, a))["status"] == "offline"


async def test_members_already_online_are_in_guild_create_and_announced_on_join(
    server: Server, api: Api
) -> None:
    a, b, guild = await _guild_of_two(api)
    c = await api.register()
    async with server.connect() as wa, server.connect() as wc:
        await wa.identify(a.token)
        await wc.identify(c.token)  # online, but in no guild of A's yet
        async with server.connect() as wb:
            await wb.identify(b.token)
            created = await wb.recv_until("GUILD_CREATE")
            online = {p["user"]["id"]: p["status"] for p in created["d"]["presences"]}
            assert online.get(a.id) == "online" and c.id not in online
            await api.join(guild, a, c)  # C joins while connected: the guild hears C is online
            assert (await _presence_of(wb, c))["status"] == "online"
            # ... and C's own GUILD_CREATE (built in core) has A and B online in it.
            joined = await wc.recv_until("GUILD_CREATE")
            assert joined["d"]["id"] == guild["id"]
            online = {p["user"]["id"]: p["status"] for p in joined["d"]["presences"]}
            assert online.get(a.id) == "online" and online.get(b.id) == "online"


async def _presence_of(ws: GatewayClient, who: Account) -> dict[str, Any]:
    """The next PRESENCE_UPDATE about ``who`` (a session also hears its own)."""
    while (got := await ws.recv_until("PRESENCE_UPDATE"))["d"]["user"]["id"] != who.id:
        pass
    return got["d"]  # type: ignore[no-any-return]


async def test_resume_with_another_users_token_is_invalid_session(
    server: Server, api: Api
) -> None:
    a, b = await api.register(), await api.register()
    async with server.connect() as wa:
        ready = await wa.identify(a.token)
        async with server.connect() as wb:
            assert (await wb.recv())["op"] == 10
            await wb.send({"op": 6, "d": {"token": b.token, "session_id": ready["session_id"],
                                          "seq": 1}})
            assert await wb.recv() == {"op": 9, "d": False, "s": None, "t": None}


async def test_stop_sends_reconnect_to_every_session(server: Server, api: Api) -> None:
    a = await api.register()
    async with server.connect() as wa:
        await wa.identify(a.token)
        server.stop.set()
        assert (await wa.recv())["op"] == 7
        assert await wa.closed() == 1012


async def test_overwrite_change_while_connected_stops_delivery(server: Server, api: Api) -> None:
    a, b, guild = await _guild_of_two(api)
    general = guild["channels"][0]["id"]
    async with server.connect() as wa, server.connect() as wb:
        await wa.identify(a.token)
        await wb.identify(b.token)
        r = await api.put(f"/channels/{general}/permissions/{b.id}", a.token,
                          json={"type": 1, "allow": "0", "deny": str(VIEW)})
        assert r.status == 204, r.body
        await api.post(f"/channels/{general}/messages", a.token, json={"content": "hidden"})
        r = await api.put(f"/channels/{general}/permissions/{b.id}", a.token,
                          json={"type": 1, "allow": "0", "deny": "0"})
        assert r.status == 204, r.body
        await api.post(f"/channels/{general}/messages", a.token, json={"content": "visible"})
        assert (await wb.recv_until("MESSAGE_CREATE"))["d"]["content"] == "visible"


async def test_missing_heartbeat_closes_4009_and_session_stays_resumable(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, heartbeat_interval_ms=100)
    async with running_server(config) as server:
        a = await Api(server.http).register()
        async with server.connect() as ws:
            ready = await ws.identify(a.token)
            assert await ws.closed() == 4009  # first heartbeat due within 2 intervals (+ sweep)
        async with server.connect() as ws:
            assert (await ws.recv())["op"] == 10
            await ws.send({"op": 6, "d": {"token": a.token, "session_id": ready["session_id"],
                                          "seq": 1}})
            assert (await ws.recv_until("RESUMED"))["op"] == 0


async def test_full_send_buffer_closes_4900_gracefully_then_aborts(tmp_path: Path) -> None:
    """The close frame follows the backlog and the close is graceful, so a client reading
    again sees 4900; one that does not read within ``slow_close_timeout_s`` is aborted."""
    sent: list[Any] = []

    class Transport:
        is_close_frame_sent = False
        request = response = None
        underlying_transport = SimpleNamespace(get_write_buffer_size=lambda: 2048,
                                               write=sent.append)

        def send(self, kind: Any, data: bytes) -> None:
            sent.append((kind, data))

        def send_close(self, code: int, reason: bytes) -> None:
            sent.append(("close", code))
            self.is_close_frame_sent = True

        def disconnect(self, graceful: bool = True) -> None:
            sent.append(("disconnect", graceful))

    server = SimpleNamespace(config=Config(data_dir=str(tmp_path)),
                             limits=SessionLimits(slow_close_timeout_s=0.05),
                             now=lambda: 0.0, send_buffer_limit=1024,
                             connected=lambda conn: None, disconnected=lambda conn: None,
                             metrics=Metrics())
    conn = Connection(server, ConnectParams.parse("v=10"))  # type: ignore[arg-type]
    conn.on_ws_connected(Transport())  # type: ignore[arg-type]
    assert sent[0][:2] == bytes((0x81, len(sent[0]) - 2))  # Hello: one unmasked FIN text frame
    assert b'"op":10' in sent[0]
    assert sent[1:] == [("close", 4900), ("disconnect", True)]
    assert server.metrics.slow_consumer_closes == 1 and server.metrics.frames_out == 1
    await asyncio.sleep(0.1)
    assert sent[3:] == [("disconnect", False)]  # never read: aborted after the grace
    # A client that reads its backlog in time is not aborted.
    sent.clear()
    conn = Connection(server, ConnectParams.parse("v=10"))  # type: ignore[arg-type]
    transport = Transport()
    conn.on_ws_connected(transport)  # type: ignore[arg-type]
    conn.on_ws_disconnected(transport)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert sent[1:] == [("close", 4900), ("disconnect", True)]


def test_a_connected_socket_keeps_no_upgrade_headers(tmp_path: Path) -> None:
    """picows keeps the upgrade request and response for the connection's life; their
    headers (~2.1 KB) go once the server has read them (issue 16, idle memory)."""
    seen: list[str | None] = []
    request = SimpleNamespace(path=b"/?v=10", headers=CIMultiDict({"X-Forwarded-For": "10.0.0.1"}))
    response = SimpleNamespace(headers=CIMultiDict({"Upgrade": "websocket"}))
    transport = SimpleNamespace(request=request, response=response, is_close_frame_sent=False,
                                underlying_transport=SimpleNamespace(
                                    get_write_buffer_size=lambda: 0, write=lambda data: None))
    server = SimpleNamespace(config=Config(data_dir=str(tmp_path)), limits=SessionLimits(),
                             now=lambda: 0.0, send_buffer_limit=1024, metrics=Metrics(),
                             connected=lambda conn: seen.append(
                                 conn.transport.request.headers.get("X-Forwarded-For")))
    conn = Connection(server, ConnectParams.parse("v=10"))  # type: ignore[arg-type]
    conn.on_ws_connected(transport)  # type: ignore[arg-type]
    assert seen == ["10.0.0.1"]  # the server read them while connecting
    assert not request.headers and not response.headers and request.path == b"/?v=10"
    assert server.metrics.frames_out == 1  # the Hello went out as before


async def test_guild_created_while_connected_is_subscribed(server: Server, api: Api) -> None:
    a = await api.register()
    async with server.connect("etf", "zlib-stream") as wa:
        ready = await wa.identify(a.token)
        assert ready["guilds"] == []
        guild = await api.guild(a)
        assert (await wa.recv_until("GUILD_CREATE"))["d"]["id"] == guild["id"]
        general = guild["channels"][0]["id"]
        r = await api.post(f"/channels/{general}/messages", a.token, json={"content": "mine"})
        assert (await wa.recv_until("MESSAGE_CREATE"))["d"]["id"] == r.body["id"]
        r = await api.delete(f"/guilds/{guild['id']}", a.token)
        assert r.status == 204, r.body
        assert (await wa.recv_until("GUILD_DELETE"))["d"]["id"] == guild["id"]


async def test_resume_while_old_connection_open_closes_it_4009(server: Server, api: Api) -> None:
    a, b, guild = await _guild_of_two(api)
    general = guild["channels"][0]["id"]
    async with server.connect() as old:
        ready = await old.identify(b.token)
        await old.recv_until("GUILD_CREATE")
        async with server.connect("json", "zlib-stream") as new:
            assert (await new.recv())["op"] == 10
            await new.send({"op": 6, "d": {"token": b.token, "session_id": ready["session_id"],
                                           "seq": old.seq}})
            await new.recv_until("RESUMED")
            assert await old.closed() == 4009
            r = await api.post(f"/channels/{general}/messages", a.token, json={"content": "x"})
            assert (await new.recv_until("MESSAGE_CREATE"))["d"]["id"] == r.body["id"]


async def test_client_close_1000_ends_the_session(server: Server, api: Api) -> None:
    a = await api.register()
    async with server.connect() as ws:
        ready = await ws.identify(a.token)
        await ws.ws.close(code=1000)
    async with server.connect() as ws:
        assert (await ws.recv())["op"] == 10
        await ws.send({"op": 6, "d": {"token": a.token, "session_id": ready["session_id"],
                                      "seq": 1}})
        assert await ws.recv() == {"op": 9, "d": False, "s": None, "t": None}


async def test_detached_session_expires_after_resume_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window comes from the config (DISCORD_ARCH_GATEWAY_RESUME_TIMEOUT_S); only the
    # sweep period, an internal knob, is shortened here.
    short = functools.partial(GatewayServer, sweep_interval_s=0.05)
    monkeypatch.setattr(worker, "GatewayServer", short)
    async with running_server(_config(tmp_path, gateway_resume_timeout_s=0.2)) as server:
        a = await Api(server.http).register()
        async with server.connect() as ws:
            ready = await ws.identify(a.token)
            ws.ws._response.connection.transport.abort()  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        async with server.connect() as ws:
            assert (await ws.recv())["op"] == 10
            await ws.send({"op": 6, "d": {"token": a.token, "session_id": ready["session_id"],
                                          "seq": 1}})
            assert await ws.recv() == {"op": 9, "d": False, "s": None, "t": None}


async def test_send_before_ready_runs_after_ready(server: Server, api: Api) -> None:
    a = await api.register()
    guild = await api.guild(a)
    general = guild["channels"][0]["id"]
    async with server.connect() as ws:
        assert (await ws.recv())["op"] == 10
        await ws.send({"op": 2, "d": {"token": a.token, "intents": ALL_INTENTS,
                                      "properties": {"os": "x", "browser": "y", "device": "z"}}})
        await ws.send({"op": 50, "d": {"channel_id": general, "content": "early", "nonce": "e"}})
        assert (await ws.recv())["t"] == "READY"
        echo = await ws.recv_until("MESSAGE_CREATE")
        assert echo["d"]["nonce"] == "e" and echo["d"]["content"] == "early"


async def test_sharded_sessions_get_only_their_shards_guilds(server: Server, api: Api) -> None:
    a, b, guild = await _guild_of_two(api)
    general = guild["channels"][0]["id"]
    mine = (int(guild["id"]) >> 22) % 2
    async with server.connect() as right, server.connect() as wrong:
        for ws, shard in ((right, mine), (wrong, 1 - mine)):
            assert (await ws.recv())["op"] == 10
            await ws.send({"op": 2, "d": {"token": b.token, "intents": ALL_INTENTS,
                                          "shard": [shard, 2], "properties": {
                                              "os": "x", "browser": "y", "device": "z"}}})
            ready = await ws.recv_until("READY")
            expected = [{"id": guild["id"], "unavailable": True}] if shard == mine else []
            assert ready["d"]["guilds"] == expected and ready["d"]["shard"] == [shard, 2]
        await api.post(f"/channels/{general}/messages", a.token, json={"content": "guild"})
        dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
        await api.post(f"/channels/{dm.body['id']}/messages", a.token, json={"content": "dm"})
        # The guild's events go to its shard only, DMs to shard 0 only.
        got_right, got_wrong = await _messages(right), await _messages(wrong)
        assert got_right == (["guild", "dm"] if mine == 0 else ["guild"])
        assert got_wrong == ([] if mine == 0 else ["dm"])


async def _messages(ws: GatewayClient, quiet: float = 0.3) -> list[str]:
    """The contents of the MESSAGE_CREATEs received until ``quiet`` seconds pass without one."""
    out = []
    while True:
        try:
            got = await asyncio.wait_for(ws.recv_until("MESSAGE_CREATE"), quiet)
        except TimeoutError:
            return out
        out.append(got["d"]["content"])


# -- the hub without sockets ---------------------------------------------------------------------

GUILD, CHANNEL = 1 << 30, (1 << 30) + 1


class _Meta:
    """The reads the hub's guild cache makes, for one guild where everyone may view."""

    async def get_guild(self, guild_id: int) -> Guild:
        return Guild(guild_id, "g", owner_id=1)

    async def list_roles(self, guild_id: int) -> list[Role]:
        return [Role(guild_id, guild_id, "@everyone", VIEW)]

    async def list_channels(self, guild_id: int) -> list[Channel]:
        return [Channel(CHANNEL, ChannelType.GUILD_TEXT, guild_id, "general")]

    async def get_member(self, guild_id: int, user_id: int) -> Member:
        return Member(guild_id, user_id, 0)

    async def list_active_threads(self, guild_id: int, now_ms: int, limit: int) -> list[Channel]:
        return []  # no threads: the cache's fifth read


class _Conn:
    def __init__(self, user_id: int, tmp_path: Path, intents: int = ALL_INTENTS) -> None:
        self.session = Session(Config(data_dir=str(tmp_path)), 0.0, ConnectParams.parse("v=10"))
        self.session.receive(orjson.dumps({"op": 2, "d": {
            "token": "t", "intents": intents,
            "properties": {"os": "x", "browser": "y", "device": "z"}}}), 0.0)
        self.session.requests()
        self.user = User(user_id, f"u{user_id}")
        self.session.on_identified(self.user, None, [], f"s{user_id}", "ws://x")
        self.session.outgoing()
        self.guilds: dict[int, None] = {}
        self.connected = True
        self.frames: list[bytes] = []
        self.flushed = asyncio.Event()

    def flush(self) -> None:
        self.frames += frames(self.session.outgoing())
        self.flushed.set()


class _InterestBus(MemoryBus):
    """A MemoryBus that counts the hub's interest references, per guild and per user."""

    def __init__(self) -> None:
        super().__init__()
        self.guilds: Counter[int] = Counter()
        self.users: Counter[int] = Counter()

    def interest(self, guild_id: int) -> None:
        self.guilds[guild_id] += 1

    def release(self, guild_id: int) -> None:
        self.guilds[guild_id] -= 1
        assert self.guilds[guild_id] >= 0, "released more than taken"

    def interest_user(self, user_id: int) -> None:
        self.users[user_id] += 1

    def release_user(self, user_id: int) -> None:
        self.users[user_id] -= 1
        assert self.users[user_id] >= 0, "released more than taken"


def _hub(bus: MemoryBus | None = None) -> Hub:
    platform = SimpleNamespace(meta=_Meta(), metrics=Metrics(), bus=bus or MemoryBus(),
                               timeline=Timeline(), config=Config())
    return Hub(platform)  # type: ignore[arg-type]


async def test_hub_holds_one_bus_interest_per_cached_guild_and_per_local_user(
    tmp_path: Path,
) -> None:
    bus = _InterestBus()
    hub = _hub(bus)
    x, y = _Conn(10, tmp_path), _Conn(10, tmp_path)  # one user, two sessions
    await hub.prepare([GUILD], 10)
    assert +bus.guilds == {GUILD: 1} and not +bus.users  # the cache exists: the guild's
    hub.attach(x, [GUILD])
    hub.attach(y, [GUILD])
    assert +bus.guilds == {GUILD: 1} and +bus.users == {10: 1}  # once, not per session
    hub.detach(x)
    assert +bus.guilds == {GUILD: 1} and +bus.users == {10: 1}
    hub.detach(y)  # the last local session: the cache and both interests go
    assert not +bus.guilds and not +bus.users
    async with hub.holding(11, [GUILD + 1]):  # an identify's snapshot: held while read
        assert +bus.guilds == {GUILD + 1: 1} and +bus.users == {11: 1}
        await hub.prepare([GUILD + 1], 11)
        assert +bus.guilds == {GUILD + 1: 2}  # the hold's and the cache's
    assert not +bus.guilds and not +bus.users  # a failed identify's cache is released too
    z = _Conn(12, tmp_path)
    hub.attach(z, [])
    hub.publish(Event("GUILD_CREATE", {"id": str(GUILD)}, user_ids=(12,)))  # a join
    assert +bus.guilds == {GUILD: 1}
    hub.publish(Event("GUILD_DELETE", {"id": str(GUILD)}, user_ids=(12,)))  # a leave
    assert not +bus.guilds and +bus.users == {12: 1}


async def test_hub_reloads_a_guild_dropped_while_a_session_was_joining(tmp_path: Path) -> None:
    hub = _hub()
    x, y = _Conn(10, tmp_path), _Conn(11, tmp_path)
    await hub.prepare([GUILD], 10)
    hub.attach(x, [GUILD])
    await hub.prepare([GUILD], 11)  # y's identify read the guild...
    hub.detach(x)  # ...then x, the guild's last attached session, left: its cache went
    hub.attach(y, [GUILD])
    data = {"id": "5", "channel_id": str(CHANNEL), "content": "hi", "author": {"id": "10"}}
    hub._on_events([Event("MESSAGE_CREATE", data, guild_id=GUILD, channel_id=CHANNEL)])
    await asyncio.wait_for(y.flushed.wait(), TIMEOUT)
    assert orjson.loads(y.frames[-1])["d"]["content"] == "hi" and x.frames == []


async def test_hub_sends_presences_only_to_sessions_with_the_intent(tmp_path: Path) -> None:
    hub = _hub()
    listening = _Conn(10, tmp_path)
    deaf = _Conn(11, tmp_path, ALL_INTENTS & ~int(Intent.GUILD_PRESENCES))
    for conn in (listening, deaf):
        await hub.prepare([GUILD], conn.user.id)
        hub.attach(conn, [GUILD])
    data = {"user": {"id": "12"}, "guild_id": str(GUILD), "status": "online", "activities": [],
            "client_status": {"web": "online"}}
    hub._on_events([Event("PRESENCE_UPDATE", data, guild_id=GUILD)])
    await asyncio.wait_for(listening.flushed.wait(), TIMEOUT)
    assert orjson.loads(listening.frames[-1])["t"] == "PRESENCE_UPDATE" and deaf.frames == []
    hub.detach(listening)
    hub.detach(deaf)
    assert not hub._by_intent  # the index of sessions by intent goes with them


async def test_hub_memoized_audience_follows_who_joins_and_leaves(tmp_path: Path) -> None:
    hub = _hub()
    x, y, z = _Conn(10, tmp_path), _Conn(11, tmp_path), _Conn(12, tmp_path)
    for conn in (x, y):
        await hub.prepare([GUILD], conn.user.id)
        hub.attach(conn, [GUILD])

    async def say(content: str, *expected: _Conn) -> None:
        for conn in (x, y, z):
            conn.flushed.clear()
        data = {"id": "5", "channel_id": str(CHANNEL), "content": content,
                "author": {"id": "10"}}
        hub._on_events([Event("MESSAGE_CREATE", data, guild_id=GUILD, channel_id=CHANNEL)])
        for conn in expected:
            await asyncio.wait_for(conn.flushed.wait(), TIMEOUT)

    await say("one", x, y)  # builds the channel's audience memo
    assert hub._guilds[GUILD].audiences
    hub.detach(y)
    await hub.prepare([GUILD], z.user.id)
    hub.attach(z, [GUILD])
    await say("two", x, z)  # the memo followed: y left, z came
    heard = {c.user.id: [orjson.loads(f)["d"]["content"] for f in c.frames] for c in (x, y, z)}
    assert heard == {10: ["one", "two"], 11: ["one"], 12: ["two"]}
    hub._guilds[GUILD].update_member({"user": {"id": "10"}, "roles": []})
    assert not hub._guilds[GUILD].audiences  # a membership change drops it too


async def test_ready_lists_dm_channels(server: Server, api: Api) -> None:
    a, b = await api.register(), await api.register()
    dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
    assert dm.status == 200, dm.body
    async with server.connect("etf") as wb:
        ready = await wb.identify(b.token)
        [channel] = ready["private_channels"]
        assert channel["id"] == dm.body["id"]
        assert [u["id"] for u in channel["recipients"]] == [a.id]


async def test_a_failing_shared_presence_is_counted_and_the_session_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis.exceptions

    from core.store.cache import MemoryCache

    made: list[GatewayServer] = []

    class Recorded(GatewayServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    async def down(*args: Any) -> Any:
        raise redis.exceptions.ConnectionError("Redis is down")

    monkeypatch.setattr(worker, "GatewayServer", Recorded)
    monkeypatch.setattr(MemoryCache, "presence_set", down)
    monkeypatch.setattr(MemoryCache, "presence_get", down)
    async with running_server(_config(tmp_path)) as server:
        a = await Api(server.http).register()
        async with server.connect() as ws:
            await ws.identify(a.token)  # READY although the presence cannot be read or set
            counted = 'discord_arch_backend_errors_total{backend="redis",where="presence"} 2.0'
            for _ in range(200):
                if counted in made[0].metrics.render().decode():
                    break
                await asyncio.sleep(0.01)
            assert counted in made[0].metrics.render().decode()  # one read, one report
            await ws.send({"op": 1, "d": None})
            assert (await ws.recv())["op"] == 11  # the connection lives on


async def test_presence_is_said_again_after_the_keep_alive_lapsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis.exceptions

    from core.store.cache import MemoryCache
    from gateway import presence as presence_module

    monkeypatch.setattr(presence_module, "PRESENCE_ALIVE_MS", 30)  # a keep-alive every 10 ms
    blip, reports = asyncio.Event(), []
    real_alive, real_set = MemoryCache.presence_alive, MemoryCache.presence_set

    async def flaky_alive(self: MemoryCache, worker: str, ttl_ms: int) -> None:
        if blip.is_set():
            blip.clear()
            raise redis.exceptions.ConnectionError("Redis went away for a moment")
        await real_alive(self, worker, ttl_ms)

    async def recorded_set(self: MemoryCache, user_id: int, worker: str,
                           status: str | None) -> tuple[str, str]:
        reports.append((user_id, status))
        return await real_set(self, user_id, worker, status)

    monkeypatch.setattr(MemoryCache, "presence_alive", flaky_alive)
    monkeypatch.setattr(MemoryCache, "presence_set", recorded_set)
    async with running_server(_config(tmp_path)) as server:
        a = await Api(server.http).register()
        async with server.connect() as ws:
            await ws.identify(a.token)
            me = (int(a.id), "online")
            for _ in range(300):
                if me in reports:
                    break
                await asyncio.sleep(0.01)
            assert reports == [me]
            blip.set()  # the next keep-alive fails: others may have dropped this worker's
            for _ in range(300):
                if reports.count(me) == 2:
                    break
                await asyncio.sleep(0.01)
            assert reports == [me, me]  # ... so once it is back, the user is reported again
