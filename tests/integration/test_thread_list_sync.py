"""THREAD_LIST_SYNC through the real gateway (core.thread_sync): a member given a role that
opens a hidden channel gets that channel's active threads they may see (a public one; not a
private one they are not in), after their GUILD_MEMBER_UPDATE and to their sessions alone; a
role change that opens nothing sends none. "Never received" is shown by order: a later marker
message arrives with nothing of the kind before it (the bus delivers in publish order)."""

from __future__ import annotations

from core.permissions import Permission
from tests.api.conftest import Api
from tests.integration.gateway_client import Server, next_of

VIEW = int(Permission.VIEW_CHANNEL)
SYNC_OR_MARKER = ("THREAD_LIST_SYNC", "MESSAGE_CREATE")


async def test_thread_list_sync_when_a_role_opens_a_channel(server: Server) -> None:
    api = Api(server.http)
    owner, member, other = [await api.register() for _ in range(3)]
    guild = await api.guild(owner)
    g = guild["id"]
    for who in (member, other):
        await api.join(guild, owner, who)
    general = guild["channels"][0]["id"]
    r = await api.post(f"/guilds/{g}/roles", owner.token, json={"name": "insiders"})
    insiders = r.body["id"]
    r = await api.post(f"/guilds/{g}/roles", owner.token, json={"name": "nothing new"})
    plain_role = r.body["id"]
    r = await api.post(f"/guilds/{g}/channels", owner.token, json={
        "name": "secret", "permission_overwrites": [
            {"id": g, "type": 0, "allow": "0", "deny": str(VIEW)},
            {"id": insiders, "type": 0, "allow": str(VIEW), "deny": "0"}]})
    assert r.status == 201, r.body
    secret = r.body["id"]
    r = await api.post(f"/channels/{secret}/threads", owner.token,
                       json={"name": "open talk", "type": 11})
    assert r.status == 201, r.body
    public = r.body["id"]
    r = await api.post(f"/channels/{secret}/threads", owner.token,
                       json={"name": "quiet room", "type": 12})
    assert r.status == 201, r.body
    r = await api.post(f"/channels/{general}/threads", owner.token,
                       json={"name": "seen already", "type": 11})
    assert r.status == 201, r.body

    async def marker(text: str) -> None:
        r = await api.post(f"/channels/{general}/messages", owner.token, json={"content": text})
        assert r.status == 200, r.body

    async with server.connect() as ws, server.connect() as w_other:
        await ws.identify(member.token)
        await w_other.identify(other.token)
        # A role that opens nothing: no sync before the marker.
        r = await api.put(f"/guilds/{g}/members/{member.id}/roles/{plain_role}", owner.token)
        assert r.status == 204, r.body
        await marker("one")
        got = await next_of(ws, SYNC_OR_MARKER)
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "one"

        r = await api.put(f"/guilds/{g}/members/{member.id}/roles/{insiders}", owner.token)
        assert r.status == 204, r.body
        update = await next_of(ws, ("GUILD_MEMBER_UPDATE", "THREAD_LIST_SYNC"))
        assert update["t"] == "GUILD_MEMBER_UPDATE"  # the roles first, then their threads
        sync = await next_of(ws, ("THREAD_LIST_SYNC",))
        assert sync["d"]["guild_id"] == g and sync["d"]["channel_ids"] == [secret]
        assert [t["id"] for t in sync["d"]["threads"]] == [public]
        assert sync["d"]["threads"][0]["parent_id"] == secret
        assert sync["d"]["members"] == []
        # Another member heard none of it.
        await marker("two")
        got = await next_of(w_other, SYNC_OR_MARKER)
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "one"
        got = await next_of(w_other, SYNC_OR_MARKER)
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "two"

        # Taken away and set again by a member edit (roles: the whole list): synced again.
        r = await api.patch(f"/guilds/{g}/members/{member.id}", owner.token,
                            json={"roles": []})
        assert r.status == 200, r.body
        r = await api.patch(f"/guilds/{g}/members/{member.id}", owner.token,
                            json={"roles": [insiders]})
        assert r.status == 200, r.body
        got = await next_of(ws, SYNC_OR_MARKER)
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "two"
        got = await next_of(ws, SYNC_OR_MARKER)
        assert got["t"] == "THREAD_LIST_SYNC" and got["d"]["channel_ids"] == [secret]
