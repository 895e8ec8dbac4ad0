"""Read states through the real gateway: READY's ``read_state`` (user sessions only) and
MESSAGE_ACK, which reaches the acking user's sessions and nobody else's.

A worker (``gateway.worker.serve``) on loopback, real websockets, changes made over REST.
"Never received" is shown by order: the bus delivers in publish order, so a later event a
session does receive, with nothing of the earlier kind before it, proves the earlier one
never came.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Account, Api
from tests.integration.gateway_client import GatewayClient, Server

NO_PIN = "1970-01-01T00:00:00+00:00"


async def send(api: Api, who: Account, channel: str, content: str) -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def ack(api: Api, who: Account, channel: str, message: str) -> None:
    r = await api.post(f"/channels/{channel}/messages/{message}/ack", who.token,
                       json={"token": None})
    assert r.status == 200 and r.body == {"token": None}, r.body


async def next_named(ws: GatewayClient, *names: str) -> dict[str, Any]:
    while True:
        payload = await ws.recv()
        if payload.get("t") in names:
            return payload


async def world(api: Api) -> tuple[Account, Account, str]:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    return owner, member, str(guild["channels"][0]["id"])


async def test_ready_carries_the_users_read_states(server: Server, api: Api) -> None:
    owner, member, channel = await world(api)
    first = await send(api, owner, channel, f"<@{member.id}> one")
    await send(api, owner, channel, f"<@{member.id}> two")
    async with server.connect() as ws:
        ready = await ws.identify(member.token)
    assert ready["read_state"] == {"version": 0, "partial": False, "entries": [
        {"id": channel, "last_message_id": "0", "mention_count": 2,
         "last_pin_timestamp": NO_PIN}]}
    await ack(api, member, channel, first)
    async with server.connect() as ws:
        ready = await ws.identify(member.token)
    [entry] = ready["read_state"]["entries"]
    assert entry["last_message_id"] == first and entry["mention_count"] == 1
    assert ready["read_state"]["version"] > 0


async def test_a_bots_ready_has_no_read_state(server: Server, api: Api) -> None:
    owner = await api.register()
    r = await api.post("/applications", owner.token, json={"name": "Helper"})
    async with server.connect() as ws:
        ready = await ws.identify(f"Bot {r.body['token']}")
    assert "read_state" not in ready and ready["application"]["id"] == r.body["id"]


async def test_message_ack_reaches_the_users_sessions_only(server: Server, api: Api) -> None:
    owner, member, channel = await world(api)
    message = await send(api, owner, channel, f"<@{member.id}> read me")
    later = await send(api, owner, channel, f"<@{member.id}> and me")
    async with server.connect() as tab1, server.connect() as tab2, server.connect() as other:
        for ws, who in ((tab1, member), (tab2, member), (other, owner)):
            await ws.identify(who.token)
        await ack(api, member, channel, message)
        for ws in (tab1, tab2):
            got = await next_named(ws, "MESSAGE_ACK")
            assert got["d"] == {"channel_id": channel, "message_id": message,
                                "version": got["d"]["version"], "mention_count": 1}
        # The owner's session: the next message comes with no MESSAGE_ACK before it.
        marker = await send(api, member, channel, "marker")
        got = await next_named(other, "MESSAGE_ACK", "MESSAGE_CREATE")
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["id"] == marker
        await ack(api, member, channel, later)
        assert (await next_named(tab2, "MESSAGE_ACK"))["d"]["mention_count"] == 0
