"""Reaction and pin events through the real gateway: the intent and VIEW_CHANNEL decide.

A worker (``gateway.worker.serve``) on loopback, real websockets, changes made over REST.
MESSAGE_REACTION_* need GUILD_MESSAGE_REACTIONS in a guild and DIRECT_MESSAGE_REACTIONS in a
DM; CHANNEL_PINS_UPDATE needs GUILDS; none reaches a member who cannot view the channel.
"Never received" is shown by order: the bus delivers in publish order, so a later event a
session does receive, with nothing of the earlier kind before it, proves the earlier one
never came.
"""

from __future__ import annotations

from urllib.parse import quote

from core.permissions import Permission
from gateway.protocol import ALL_INTENTS, Intent
from tests.api.conftest import Api
from tests.integration.gateway_client import (
    Server,
    next_of,
    ok,
    post,
)

VIEW = int(Permission.VIEW_CHANNEL)
THUMBS = quote("\N{THUMBS UP SIGN}", safe="")
REACTIONS = ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL",
             "MESSAGE_REACTION_REMOVE_EMOJI")
NO_GUILD_REACTIONS = ALL_INTENTS & ~int(Intent.GUILD_MESSAGE_REACTIONS)
NO_DM_REACTIONS = ALL_INTENTS & ~int(Intent.DIRECT_MESSAGE_REACTIONS)


async def test_reaction_events_follow_intents_and_view_channel(server: Server, api: Api) -> None:
    owner, plain, hidden = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    for who in (plain, hidden):
        await api.join(guild, owner, who)
    general = guild["channels"][0]["id"]
    secret = (await post(api, owner, f"/guilds/{guild['id']}/channels", name="secret"))["id"]
    r = await api.put(f"/channels/{secret}/permissions/{hidden.id}", owner.token,
                      json={"type": 1, "allow": "0", "deny": str(VIEW)})
    await ok(r)
    in_secret = (await post(api, owner, f"/channels/{secret}/messages", content="s"))["id"]
    in_general = (await post(api, owner, f"/channels/{general}/messages", content="g"))["id"]

    async with server.connect() as w_owner, server.connect() as w_plain, \
            server.connect() as w_hidden:
        await w_owner.identify(owner.token)
        await w_plain.identify(plain.token, NO_GUILD_REACTIONS)  # no GUILD_MESSAGE_REACTIONS
        await w_hidden.identify(hidden.token)  # every intent, but cannot view #secret
        await ok(await api.put(f"/channels/{secret}/messages/{in_secret}/reactions/{THUMBS}/@me",
                               owner.token))
        await ok(await api.put(f"/channels/{general}/messages/{in_general}/reactions/{THUMBS}"
                               "/@me", hidden.token))
        await post(api, owner, f"/channels/{general}/messages", content="marker")

        got = await next_of(w_owner, REACTIONS)
        assert got["t"] == "MESSAGE_REACTION_ADD" and got["d"]["message_id"] == in_secret
        assert got["d"]["member"]["user"]["id"] == owner.id
        assert (await next_of(w_owner, REACTIONS))["d"]["message_id"] == in_general
        # Without the view: the first reaction event is the one in #general.
        got = await next_of(w_hidden, REACTIONS)
        assert got["d"]["message_id"] == in_general and got["d"]["user_id"] == hidden.id
        assert (await next_of(w_hidden, (*REACTIONS, "MESSAGE_CREATE")))["t"] == "MESSAGE_CREATE"
        # Without the intent: none at all before the marker message.
        got = await next_of(w_plain, (*REACTIONS, "MESSAGE_CREATE"))
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "marker"

        # Removals and clears are gated alike.
        base = f"/channels/{secret}/messages/{in_secret}/reactions"
        await ok(await api.delete(f"{base}/{THUMBS}/@me", owner.token))
        await ok(await api.put(f"{base}/{THUMBS}/@me", owner.token))
        await ok(await api.delete(f"{base}/{THUMBS}", owner.token))
        await ok(await api.put(f"{base}/{THUMBS}/@me", owner.token))
        await ok(await api.delete(base, owner.token))
        await post(api, owner, f"/channels/{general}/messages", content="marker 2")
        seen = [(await next_of(w_owner, REACTIONS))["t"] for _ in range(5)]
        assert seen == ["MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_ADD",
                        "MESSAGE_REACTION_REMOVE_EMOJI", "MESSAGE_REACTION_ADD",
                        "MESSAGE_REACTION_REMOVE_ALL"]
        for ws in (w_hidden, w_plain):
            got = await next_of(ws, (*REACTIONS, "MESSAGE_CREATE"))
            assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "marker 2"


async def test_dm_reactions_need_direct_message_reactions(server: Server, api: Api) -> None:
    a, b = await api.register(), await api.register()
    dm = (await post(api, a, "/users/@me/channels", recipient_id=b.id))["id"]
    first = (await post(api, a, f"/channels/{dm}/messages", content="one"))["id"]
    async with server.connect() as w_with, server.connect() as w_without:
        await w_with.identify(b.token, NO_GUILD_REACTIONS)  # DM reactions only
        await w_without.identify(b.token, NO_DM_REACTIONS)  # the same user, guild ones only
        await ok(await api.put(f"/channels/{dm}/messages/{first}/reactions/{THUMBS}/@me",
                               a.token))
        await post(api, a, f"/channels/{dm}/messages", content="marker")
        got = await next_of(w_with, REACTIONS)
        assert got["t"] == "MESSAGE_REACTION_ADD" and got["d"]["channel_id"] == dm
        assert "guild_id" not in got["d"] and "member" not in got["d"]
        got = await next_of(w_without, (*REACTIONS, "MESSAGE_CREATE"))
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "marker"


async def test_pin_events_reach_only_who_can_view_the_channel(server: Server, api: Api) -> None:
    owner, hidden = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, hidden)
    general = guild["channels"][0]["id"]
    secret = (await post(api, owner, f"/guilds/{guild['id']}/channels", name="secret"))["id"]
    r = await api.put(f"/channels/{secret}/permissions/{hidden.id}", owner.token,
                      json={"type": 1, "allow": "0", "deny": str(VIEW)})
    await ok(r)
    in_secret = (await post(api, owner, f"/channels/{secret}/messages", content="s"))["id"]
    in_general = (await post(api, owner, f"/channels/{general}/messages", content="g"))["id"]
    async with server.connect() as w_owner, server.connect() as w_hidden:
        await w_owner.identify(owner.token)
        await w_hidden.identify(hidden.token)
        await ok(await api.put(f"/channels/{secret}/messages/pins/{in_secret}", owner.token))
        await ok(await api.put(f"/channels/{general}/messages/pins/{in_general}", owner.token))
        got = await next_of(w_owner, ("CHANNEL_PINS_UPDATE",))
        assert got["d"]["channel_id"] == secret and got["d"]["last_pin_timestamp"]
        system = await next_of(w_owner, ("MESSAGE_CREATE",))
        assert system["d"]["type"] == 6 and system["d"]["channel_id"] == secret
        got = await next_of(w_hidden, ("CHANNEL_PINS_UPDATE", "MESSAGE_UPDATE"))
        assert got["t"] == "MESSAGE_UPDATE" and got["d"]["id"] == in_general
        assert got["d"]["pinned"] is True
        got = await next_of(w_hidden, ("CHANNEL_PINS_UPDATE",))
        assert got["d"]["channel_id"] == general
