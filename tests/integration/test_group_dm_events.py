"""Group DMs through the real gateway: READY's ``private_channels``, a message reaching every
recipient and nobody else, CHANNEL_RECIPIENT_ADD/REMOVE, and the added or removed user's
CHANNEL_CREATE/DELETE.

A worker (``gateway.worker.serve``) on loopback, real websockets, changes made over REST.
"Never received" is shown by order (the bus delivers in publish order): a later event the
session does receive, with nothing of the earlier kind before it.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Account, Api
from tests.integration.gateway_client import GatewayClient, Server


async def next_named(ws: GatewayClient, *names: str) -> dict[str, Any]:
    while True:
        payload = await ws.recv()
        if payload.get("t") in names:
            return payload


async def send(api: Api, who: Account, channel: str, content: str) -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def test_ready_lists_group_dms_with_the_others_as_recipients(
    server: Server, api: Api
) -> None:
    a, b, c = await api.register(), await api.register(), await api.register()
    group = (await api.post("/users/@me/channels", a.token,
                            json={"recipients": [b.id, c.id]})).body
    async with server.connect() as ws:
        ready = await ws.identify(b.token)
    [listed] = ready["private_channels"]
    assert listed["id"] == group["id"] and listed["type"] == 3
    assert listed["owner_id"] == a.id
    assert sorted(u["id"] for u in listed["recipients"]) == sorted([a.id, c.id])


async def test_a_group_message_reaches_every_recipient_and_nobody_else(
    server: Server, api: Api
) -> None:
    users = [await api.register() for _ in range(4)]
    a, b, c, outsider = users
    group = (await api.post("/users/@me/channels", a.token,
                            json={"recipients": [b.id, c.id]})).body["id"]
    # The outsider shares a DM with a: the marker that proves the group message never came.
    dm = (await api.post("/users/@me/channels", a.token,
                         json={"recipient_id": outsider.id})).body["id"]
    async with (server.connect() as wa, server.connect() as wb, server.connect() as wc,
                server.connect() as wo):
        for ws, who in ((wa, a), (wb, b), (wc, c), (wo, outsider)):
            await ws.identify(who.token)
        sent = await send(api, b, group, "hello group")
        for ws in (wa, wb, wc):
            got = await next_named(ws, "MESSAGE_CREATE")
            assert got["d"]["id"] == sent and got["d"]["channel_id"] == group
            assert "guild_id" not in got["d"]
        marker = await send(api, a, dm, "just you")
        got = await next_named(wo, "MESSAGE_CREATE")
        assert got["d"]["id"] == marker


async def test_recipients_come_and_go_with_their_events(server: Server, api: Api) -> None:
    a, b, c = [await api.register() for _ in range(3)]
    group = (await api.post("/users/@me/channels", a.token, json={"recipients": []})).body["id"]
    await api.put(f"/channels/{group}/recipients/{b.id}", a.token)
    async with server.connect() as wa, server.connect() as wb, server.connect() as wc:
        for ws, who in ((wa, a), (wb, b), (wc, c)):
            await ws.identify(who.token)
        r = await api.put(f"/channels/{group}/recipients/{c.id}", b.token)
        assert r.status == 204, r.body
        for ws in (wa, wb):
            got = await next_named(ws, "CHANNEL_RECIPIENT_ADD")
            assert got["d"]["channel_id"] == group and got["d"]["user"]["id"] == c.id
        created = await next_named(wc, "CHANNEL_CREATE", "CHANNEL_RECIPIENT_ADD")
        assert created["t"] == "CHANNEL_CREATE" and created["d"]["type"] == 3
        added = await next_named(wc, "MESSAGE_CREATE")  # the RECIPIENT_ADD system message
        assert added["d"]["type"] == 1 and added["d"]["mentions"][0]["id"] == c.id
        # The new recipient hears the group from now on.
        sent = await send(api, a, group, "welcome")
        assert (await next_named(wc, "MESSAGE_CREATE"))["d"]["id"] == sent
        r = await api.delete(f"/channels/{group}/recipients/{c.id}", a.token)
        assert r.status == 204, r.body
        deleted = await next_named(wc, "CHANNEL_DELETE", "CHANNEL_RECIPIENT_REMOVE")
        assert deleted["t"] == "CHANNEL_DELETE" and deleted["d"]["id"] == group
        got = await next_named(wb, "CHANNEL_RECIPIENT_REMOVE")
        assert got["d"] == {"channel_id": group, "user": got["d"]["user"]}
        assert got["d"]["user"]["id"] == c.id
        # c is out: b's next message reaches a and b, and c hears nothing before its marker.
        await send(api, b, group, "without c")
        own = (await api.post("/users/@me/channels", c.token, json={"recipients": []})).body
        got = await next_named(wc, "MESSAGE_CREATE", "CHANNEL_CREATE")
        assert got["t"] == "CHANNEL_CREATE" and got["d"]["id"] == own["id"]
