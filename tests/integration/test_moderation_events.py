"""Ban and audit log events through the real gateway.

A worker (``gateway.worker.serve``) on loopback, real websockets, bans made over REST.
GUILD_BAN_ADD/REMOVE need GUILD_MODERATION; GUILD_AUDIT_LOG_ENTRY_CREATE needs it and the
VIEW_AUDIT_LOG permission; the banned user's sessions get GUILD_DELETE and leave the guild at
once. "Never received" is shown by order, as in test_reaction_events: the bus delivers in
publish order, so a later marker a session does receive, with nothing of the earlier kind
before it, proves the earlier one never came.
"""

from __future__ import annotations

from core.permissions import Permission
from gateway.protocol import ALL_INTENTS, Intent
from tests.api.conftest import Api
from tests.integration.gateway_client import (
    Server,
    next_of,
    post,
)

NO_MODERATION = ALL_INTENTS & ~int(Intent.GUILD_MODERATION)
MOD_PERMS = str(int(Permission.BAN_MEMBERS | Permission.VIEW_AUDIT_LOG))
MODERATION = ("GUILD_BAN_ADD", "GUILD_BAN_REMOVE", "GUILD_AUDIT_LOG_ENTRY_CREATE")


async def test_a_ban_reaches_moderators_and_removes_the_banned_users_sessions(
    server: Server, api: Api
) -> None:
    owner, mod, plain, deaf, victim = [await api.register() for _ in range(5)]
    guild = await api.guild(owner)
    for who in (mod, plain, deaf, victim):
        await api.join(guild, owner, who)
    role = await post(api, owner, f"/guilds/{guild['id']}/roles", name="mod",
                      permissions=MOD_PERMS, hoist=True)
    r = await api.put(f"/guilds/{guild['id']}/members/{mod.id}/roles/{role['id']}", owner.token)
    assert r.status == 204, r.body
    general = guild["channels"][0]["id"]

    async with server.connect() as w_mod, server.connect() as w_plain, \
            server.connect() as w_deaf, server.connect() as w_victim:
        await w_mod.identify(mod.token)  # every intent, and VIEW_AUDIT_LOG
        await w_plain.identify(plain.token)  # every intent, no VIEW_AUDIT_LOG
        await w_deaf.identify(deaf.token, NO_MODERATION)
        ready = await w_victim.identify(victim.token)
        assert [g["id"] for g in ready["guilds"]] == [guild["id"]]

        r = await api.put(f"/guilds/{guild['id']}/bans/{victim.id}", mod.token,
                          json={"delete_message_seconds": 0})
        assert r.status == 204, r.body
        await post(api, owner, f"/channels/{general}/messages", content="marker")

        # The moderator: the ban, the member's removal, the audit entry, in that order.
        got = await next_of(w_mod, ("GUILD_BAN_ADD", "GUILD_MEMBER_REMOVE"))
        assert got["t"] == "GUILD_BAN_ADD"
        assert got["d"]["guild_id"] == guild["id"] and got["d"]["user"]["id"] == victim.id
        got = await next_of(w_mod, ("GUILD_MEMBER_REMOVE",))
        assert got["d"]["user"]["id"] == victim.id
        got = await next_of(w_mod, ("GUILD_AUDIT_LOG_ENTRY_CREATE",))
        assert got["d"]["action_type"] == 22 and got["d"]["target_id"] == victim.id
        assert got["d"]["user_id"] == mod.id and got["d"]["guild_id"] == guild["id"]
        # With the intent and without VIEW_AUDIT_LOG: the ban, not the audit entry.
        assert (await next_of(w_plain, MODERATION))["t"] == "GUILD_BAN_ADD"
        got = await next_of(w_plain, (*MODERATION, "MESSAGE_CREATE"))
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "marker"
        # Without GUILD_MODERATION: neither, but the member's removal all the same.
        got = await next_of(w_deaf, (*MODERATION, "GUILD_MEMBER_REMOVE"))
        assert got["t"] == "GUILD_MEMBER_REMOVE"
        got = await next_of(w_deaf, (*MODERATION, "MESSAGE_CREATE"))
        assert got["t"] == "MESSAGE_CREATE" and got["d"]["content"] == "marker"

        # The banned user's session leaves the guild at once: GUILD_DELETE (no
        # ``unavailable``: removed, not an outage), then nothing more of the guild.
        got = await next_of(w_victim, ("GUILD_DELETE",))
        assert got["d"] == {"id": guild["id"]}
        dm = await post(api, owner, "/users/@me/channels", recipient_id=victim.id)
        await post(api, owner, f"/channels/{general}/messages", content="after the ban")
        await post(api, owner, f"/channels/{dm['id']}/messages", content="dm marker")
        got = await next_of(w_victim, ("MESSAGE_CREATE",))
        assert got["d"]["content"] == "dm marker" and "guild_id" not in got["d"]

        r = await api.delete(f"/guilds/{guild['id']}/bans/{victim.id}", mod.token)
        assert r.status == 204, r.body
        got = await next_of(w_mod, ("GUILD_BAN_REMOVE",))
        assert got["d"]["guild_id"] == guild["id"] and got["d"]["user"]["id"] == victim.id
        got = await next_of(w_mod, ("GUILD_AUDIT_LOG_ENTRY_CREATE",))
        assert got["d"]["action_type"] == 23
