"""Thread events through the real gateway: THREAD_CREATE of a public thread reaches whoever
may view its parent; a private thread's messages reach only its members and MANAGE_THREADS
holders (``gateway.cache`` gives the hub a thread's audience).

A worker (``gateway.worker.serve``) on loopback, real websockets, changes made over REST.
"Never received" is shown by order, as in test_webhook_events.py: the bus delivers in publish
order, so a later event a session receives, with nothing of the earlier kind before it,
proves the earlier one never came.
"""

from __future__ import annotations

from core.permissions import Permission
from tests.api.conftest import Api
from tests.integration.gateway_client import (
    Server,
    next_of,
)

VIEW = int(Permission.VIEW_CHANNEL)
MANAGE_THREADS = int(Permission.MANAGE_THREADS)


async def test_thread_events_reach_who_may_see_the_thread(server: Server) -> None:
    api = Api(server.http)
    owner, plain, insider, manager, hidden = [await api.register() for _ in range(5)]
    guild = await api.guild(owner)
    g = guild["id"]
    for who in (plain, insider, manager, hidden):
        await api.join(guild, owner, who)
    general = guild["channels"][0]["id"]
    r = await api.post(f"/guilds/{g}/channels", owner.token, json={"name": "other"})
    other = r.body["id"]
    r = await api.put(f"/channels/{general}/permissions/{hidden.id}", owner.token,
                      json={"type": 1, "allow": "0", "deny": str(VIEW)})
    assert r.status == 204, r.body
    r = await api.post(f"/guilds/{g}/roles", owner.token,
                       json={"name": "thread mods", "permissions": str(MANAGE_THREADS)})
    role = r.body["id"]
    r = await api.put(f"/guilds/{g}/members/{manager.id}/roles/{role}", owner.token)
    assert r.status == 204, r.body

    async with server.connect() as w_plain, server.connect() as w_insider, \
            server.connect() as w_manager, server.connect() as w_hidden:
        for ws, who in ((w_plain, plain), (w_insider, insider), (w_manager, manager),
                        (w_hidden, hidden)):
            await ws.identify(who.token)

        r = await api.post(f"/channels/{general}/threads", owner.token,
                           json={"name": "open talk", "type": 11})
        assert r.status == 201, r.body
        public = r.body["id"]
        for ws in (w_plain, w_insider, w_manager):
            got = await next_of(ws, ("THREAD_CREATE",))
            assert got["d"]["id"] == public and got["d"]["parent_id"] == general
            assert got["d"]["newly_created"] is True

        r = await api.post(f"/channels/{general}/threads", owner.token,
                           json={"name": "quiet room", "type": 12})
        assert r.status == 201, r.body
        private = r.body["id"]
        r = await api.put(f"/channels/{private}/thread-members/{insider.id}", owner.token)
        assert r.status == 204, r.body
        sent = await api.post(f"/channels/{private}/messages", owner.token,
                              json={"content": "members only"})
        assert sent.status == 200, sent.body
        marker = await api.post(f"/channels/{other}/messages", owner.token,
                                json={"content": "everyone"})
        assert marker.status == 200, marker.body

        # The private thread's member and the MANAGE_THREADS holder get its message.
        for ws in (w_insider, w_manager):
            got = await next_of(ws, ("MESSAGE_CREATE",))
            assert got["d"]["id"] == sent.body["id"] and got["d"]["channel_id"] == private
            got = await next_of(ws, ("MESSAGE_CREATE",))
            assert got["d"]["id"] == marker.body["id"]
        # The others only the message that followed it; the one who cannot view the parent
        # never heard of either thread.
        got = await next_of(w_plain, ("MESSAGE_CREATE",))
        assert got["d"]["id"] == marker.body["id"]
        got = await next_of(w_hidden, ("MESSAGE_CREATE", "THREAD_CREATE"))
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["id"] == marker.body["id"]

        # The one who left a private thread no longer hears it.
        r = await api.delete(f"/channels/{private}/thread-members/@me", insider.token)
        assert r.status == 204, r.body
        sent = await api.post(f"/channels/{private}/messages", owner.token,
                              json={"content": "after you left"})
        assert sent.status == 200, sent.body
        marker = await api.post(f"/channels/{other}/messages", owner.token,
                                json={"content": "still everyone"})
        got = await next_of(w_insider, ("MESSAGE_CREATE",))
        assert got["d"]["id"] == marker.body["id"]
        got = await next_of(w_manager, ("MESSAGE_CREATE",))
        assert got["d"]["id"] == sent.body["id"]


async def test_an_archived_threads_events_still_reach_its_viewers(server: Server) -> None:
    """The THREAD_UPDATE that archives a thread, and THREAD_DELETE of an archived public one: the hub's
    guild cache holds only active threads, so it must read such a thread on its own rather
    than find nobody who may see it (discord.py's ``on_thread_update`` never fired)."""
    api = Api(server.http)
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    general = guild["channels"][0]["id"]
    async with server.connect() as ws:
        await ws.identify(member.token)
        for kind in (11, 12):
            r = await api.post(f"/channels/{general}/threads", owner.token,
                               json={"name": "soon archived", "type": kind})
            assert r.status == 201, r.body
            thread = r.body["id"]
            if kind == 12:
                r = await api.put(f"/channels/{thread}/thread-members/{member.id}", owner.token)
                assert r.status == 204, r.body
            got = await next_of(ws, ("THREAD_CREATE", "THREAD_MEMBER_UPDATE"))
            assert got["d"]["id"] == thread
            r = await api.patch(f"/channels/{thread}", owner.token, json={"archived": True})
            assert r.status == 200, r.body
            got = await next_of(ws, ("THREAD_UPDATE",))
            assert got["d"]["id"] == thread and got["d"]["thread_metadata"]["archived"] is True
            r = await api.delete(f"/channels/{thread}", owner.token)
            assert r.status == 200, r.body
            if kind == 11:  # a private one's members are deleted with it: managers are told
                got = await next_of(ws, ("THREAD_DELETE",))
                assert got["d"]["id"] == thread


async def test_a_user_added_to_a_private_thread_gets_its_thread_create(server: Server) -> None:
    """Discord's THREAD_CREATE "when the current user is added to a thread", with their
    ``member`` and no ``newly_created``: without it discord.py never learns the private thread
    (it drops THREAD_MEMBER_UPDATE of a thread it does not know)."""
    api = Api(server.http)
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    async with server.connect() as ws:
        await ws.identify(member.token)
        r = await api.post(f"/channels/{guild['channels'][0]['id']}/threads", owner.token,
                           json={"name": "invited", "type": 12})
        assert r.status == 201, r.body
        thread = r.body["id"]
        # A marker the member does receive, published after the creation: once it arrived,
        # the hub has fanned the creation out (bus order) against the thread's members as
        # they were then, before the member is added (a load of the new thread racing the
        # PUT below could otherwise judge the creation by the later membership).
        await api.post(f"/channels/{guild['channels'][0]['id']}/messages", owner.token,
                       json={"content": "marker"})
        marker = await next_of(ws, ("MESSAGE_CREATE", "THREAD_CREATE"))
        assert marker["t"] == "MESSAGE_CREATE", marker  # the creation did not reach the member
        r = await api.put(f"/channels/{thread}/thread-members/{member.id}", owner.token)
        assert r.status == 204, r.body
        got = await next_of(ws, ("THREAD_CREATE", "THREAD_MEMBER_UPDATE"))
        assert got["t"] == "THREAD_CREATE" and got["d"]["id"] == thread
        assert "newly_created" not in got["d"] and got["d"]["type"] == 12
        assert got["d"]["member"]["user_id"] == member.id and got["d"]["member_count"] == 2
        got = await next_of(ws, ("THREAD_MEMBER_UPDATE",))
        assert got["d"]["user_id"] == member.id and got["d"]["guild_id"] == guild["id"]
