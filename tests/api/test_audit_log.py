"""``GET /guilds/{id}/audit-logs``: the entry of every audited action (with the
``X-Audit-Log-Reason``), Discord's answer shape, filters and pages, retention, permissions,
and GUILD_AUDIT_LOG_ENTRY_CREATE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.audit import RETENTION_MS, AuditAction
from core.events import Event
from core.models import AuditEntry
from core.permissions import Permission
from core.platform import Platform
from core.snowflake import snowflake_from_ms
from tests.api.conftest import Api
from tests.api.helpers import assert_error, named, settle
from tests.api.moderation import Mod, call, mod_world

P = Permission
A = AuditAction
MOD_PERMS = int(P.VIEW_AUDIT_LOG | P.KICK_MEMBERS | P.BAN_MEMBERS | P.MANAGE_ROLES
                | P.MANAGE_CHANNELS | P.MANAGE_MESSAGES | P.MANAGE_NICKNAMES
                | P.MODERATE_MEMBERS | P.CREATE_INSTANT_INVITE | P.MANAGE_GUILD)
EMPTY_LISTS = ("integrations", "webhooks", "guild_scheduled_events", "threads",
               "application_commands", "auto_moderation_rules")


@pytest.fixture
async def w(api: Api, platform: Platform) -> Mod:
    return await mod_world(api, platform, MOD_PERMS)


async def log(api: Api, w: Mod, **params: Any) -> dict[str, Any]:
    r = await api.get(f"/guilds/{w.gid}/audit-logs", w.mod.token,
                      params={k: str(v) for k, v in params.items()})
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


async def entries(api: Api, w: Mod, action: AuditAction) -> list[dict[str, Any]]:
    return (await log(api, w, action_type=int(action)))["audit_log_entries"]  # type: ignore[no-any-return]


def changes(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["key"]: (c.get("old_value"), c.get("new_value")) for c in entry["changes"]}


async def ok(reply: Any, status: int = 204) -> Any:
    assert reply.status == status, reply.body
    return reply.body


# -- the answer --------------------------------------------------------------------------------


async def test_a_kick_is_recorded_with_its_reason_in_discords_shape(api: Api, w: Mod) -> None:
    reason = "flooding #general / 100% sure — ok"
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token,
                        reason=reason))
    body = await log(api, w)
    assert set(body) == {"audit_log_entries", "users", *EMPTY_LISTS}
    assert all(body[k] == [] for k in EMPTY_LISTS)
    [entry] = body["audit_log_entries"]
    assert entry == {"id": entry["id"], "user_id": w.mod.id, "target_id": w.alice.id,
                     "action_type": 20, "changes": [], "reason": reason}
    assert sorted(u["id"] for u in body["users"]) == sorted([w.mod.id, w.alice.id], key=int)


async def test_a_raw_header_is_url_decoded_and_blank_is_no_reason(api: Api, w: Mod) -> None:
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token,
                        raw_reason="caf%C3%A9%20time"))
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.bob.id}", w.mod.token,
                        raw_reason="   "))
    first, second = (await entries(api, w, A.MEMBER_KICK))[::-1]
    assert first["reason"] == "café time" and "reason" not in second


async def test_the_reason_header_is_checked(api: Api, w: Mod) -> None:
    r = await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token,
                   raw_reason="a%00b")
    assert_error(r, 400, 50035)
    r = await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token,
                   reason="x" * 513)
    assert_error(r, 400, 50035)
    assert (await api.get(f"/guilds/{w.gid}/members/{w.alice.id}", w.owner.token)).status == 200


async def test_bans_and_unbans_are_recorded(api: Api, w: Mod) -> None:
    await ok(await call(api, "PUT", f"/guilds/{w.gid}/bans/{w.alice.id}", w.mod.token,
                        reason="spam"))
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/bans/{w.alice.id}", w.owner.token,
                        reason="appeal"))
    [unban, ban] = (await log(api, w))["audit_log_entries"]
    assert (ban["action_type"], ban["user_id"], ban["target_id"], ban["reason"]) == (
        22, w.mod.id, w.alice.id, "spam")
    assert (unban["action_type"], unban["user_id"], unban["target_id"], unban["reason"]) == (
        23, w.owner.id, w.alice.id, "appeal")


async def test_member_updates_nick_timeout_and_roles(api: Api, w: Mod) -> None:
    role = (await ok(await api.post(f"/guilds/{w.gid}/roles", w.owner.token,
                                    json={"name": "helper"}), 200))["id"]
    member = f"/guilds/{w.gid}/members/{w.alice.id}"
    await ok(await call(api, "PATCH", member, w.mod.token, reason="rename",
                        json={"nick": "ali", "communication_disabled_until": None}), 200)
    r = await call(api, "PATCH", member, w.mod.token, reason="cool down",
                   json={"communication_disabled_until": "2099-01-01T00:00:00+00:00"})
    assert r.status == 400  # more than 28 days ahead
    await ok(await call(api, "PUT", f"{member}/roles/{role}", w.mod.token, reason="promote"))
    await ok(await call(api, "PATCH", member, w.mod.token, json={"roles": []}), 200)
    [nick] = await entries(api, w, A.MEMBER_UPDATE)
    assert changes(nick) == {"nick": (None, "ali")} and nick["reason"] == "rename"
    assert nick["target_id"] == w.alice.id
    taken, given = await entries(api, w, A.MEMBER_ROLE_UPDATE)
    assert changes(given) == {"$add": (None, [{"id": role, "name": "helper"}])}
    assert given["reason"] == "promote" and "reason" not in taken
    assert changes(taken) == {"$remove": (None, [{"id": role, "name": "helper"}])}


async def test_a_timeout_is_a_member_update(api: Api, w: Mod) -> None:
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    member = f"/guilds/{w.gid}/members/{w.alice.id}"
    await ok(await call(api, "PATCH", member, w.mod.token, reason="calm down",
                        json={"communication_disabled_until": until.isoformat()}), 200)
    [entry] = await entries(api, w, A.MEMBER_UPDATE)
    _, new = changes(entry)["communication_disabled_until"]
    assert datetime.fromisoformat(new) == until and entry["reason"] == "calm down"


async def test_role_create_update_delete(api: Api, w: Mod) -> None:
    role = await ok(await call(api, "POST", f"/guilds/{w.gid}/roles", w.mod.token, reason="new",
                               json={"name": "r", "color": 255, "hoist": True}), 200)
    path = f"/guilds/{w.gid}/roles/{role['id']}"
    await ok(await call(api, "PATCH", path, w.mod.token, json={"name": "r2"}), 200)
    await ok(await call(api, "PATCH", path, w.mod.token, json={"name": "r2"}), 200)  # no change
    await ok(await call(api, "DELETE", path, w.mod.token, reason="gone"))
    [created] = await entries(api, w, A.ROLE_CREATE)
    assert created["target_id"] == role["id"] and created["reason"] == "new"
    assert changes(created) == {"name": (None, "r"), "permissions": (None, role["permissions"]),
                                "color": (None, 255), "hoist": (None, True),
                                "mentionable": (None, False)}
    [updated] = await entries(api, w, A.ROLE_UPDATE)
    assert changes(updated) == {"name": ("r", "r2")}
    [deleted] = await entries(api, w, A.ROLE_DELETE)
    assert changes(deleted)["name"] == ("r2", None) and deleted["reason"] == "gone"


async def test_channel_create_update_delete(api: Api, w: Mod) -> None:
    channel = await ok(await call(api, "POST", f"/guilds/{w.gid}/channels", w.mod.token,
                                  reason="talk", json={"name": "talk", "topic": "t"}), 201)
    path = f"/channels/{channel['id']}"
    await ok(await call(api, "PATCH", path, w.mod.token, json={"topic": "u", "nsfw": True}), 200)
    await ok(await call(api, "DELETE", path, w.mod.token, reason="bye"), 200)
    [created] = await entries(api, w, A.CHANNEL_CREATE)
    assert created["target_id"] == channel["id"] and created["reason"] == "talk"
    got = changes(created)
    assert got["name"] == (None, "talk") and got["type"] == (None, 0)
    assert got["topic"] == (None, "t") and got["permission_overwrites"] == (None, [])
    [updated] = await entries(api, w, A.CHANNEL_UPDATE)
    assert changes(updated) == {"topic": ("t", "u"), "nsfw": (False, True)}
    [deleted] = await entries(api, w, A.CHANNEL_DELETE)
    assert changes(deleted)["name"] == ("talk", None) and deleted["reason"] == "bye"


async def test_overwrite_create_update_delete(api: Api, w: Mod) -> None:
    role = await ok(await api.post(f"/guilds/{w.gid}/roles", w.owner.token,
                                   json={"name": "muted"}), 200)
    path = f"/channels/{w.channel}/permissions/{role['id']}"
    await ok(await call(api, "PUT", path, w.mod.token, reason="mute",
                        json={"type": 0, "deny": "2048"}))
    await ok(await call(api, "PUT", path, w.mod.token, json={"type": 0, "deny": "3072"}))
    await ok(await call(api, "DELETE", path, w.mod.token))
    member_path = f"/channels/{w.channel}/permissions/{w.alice.id}"
    await ok(await call(api, "PUT", member_path, w.mod.token, json={"type": 1, "allow": "1024"}))
    options = {"id": role["id"], "type": "0", "role_name": "muted"}
    for_member, created = await entries(api, w, A.CHANNEL_OVERWRITE_CREATE)
    assert created["target_id"] == w.channel and created["options"] == options
    assert changes(created) == {"id": (None, role["id"]), "type": (None, 0),
                                "allow": (None, "0"), "deny": (None, "2048")}
    assert created["reason"] == "mute"
    [updated] = await entries(api, w, A.CHANNEL_OVERWRITE_UPDATE)
    assert changes(updated) == {"deny": ("2048", "3072")} and updated["options"] == options
    [deleted] = await entries(api, w, A.CHANNEL_OVERWRITE_DELETE)
    assert changes(deleted)["deny"] == ("3072", None)
    assert for_member["options"] == {"id": w.alice.id, "type": "1"}


async def test_invite_create_and_delete(api: Api, w: Mod) -> None:
    invite = await ok(await call(api, "POST", f"/channels/{w.channel}/invites", w.mod.token,
                                 reason="friends", json={"max_uses": 3, "unique": True}), 200)
    await ok(await call(api, "DELETE", f"/invites/{invite['code']}", w.mod.token,
                        reason="leaked"), 200)
    [created] = await entries(api, w, A.INVITE_CREATE)
    assert created["target_id"] is None and created["reason"] == "friends"
    assert changes(created) == {"code": (None, invite["code"]), "channel_id": (None, w.channel),
                                "inviter_id": (None, w.mod.id), "uses": (None, 0),
                                "max_uses": (None, 3), "max_age": (None, 86400),
                                "temporary": (None, False)}
    [deleted] = await entries(api, w, A.INVITE_DELETE)
    assert changes(deleted)["code"] == (invite["code"], None) and deleted["reason"] == "leaked"


async def test_message_deletes_by_a_moderator_and_bulk(api: Api, w: Mod) -> None:
    msgs = f"/channels/{w.channel}/messages"
    own = (await api.post(msgs, w.mod.token, json={"content": "mine"})).body["id"]
    theirs = [(await api.post(msgs, w.alice.token, json={"content": str(i)})).body["id"]
              for i in range(3)]
    await ok(await call(api, "DELETE", f"{msgs}/{own}", w.mod.token))  # one's own: not audited
    await ok(await call(api, "DELETE", f"{msgs}/{theirs[0]}", w.mod.token, reason="rude"))
    await ok(await call(api, "POST", f"{msgs}/bulk-delete", w.mod.token, reason="cleanup",
                        json={"messages": theirs[1:]}))
    [single] = await entries(api, w, A.MESSAGE_DELETE)
    assert (single["target_id"], single["reason"]) == (w.alice.id, "rude")
    assert single["options"] == {"channel_id": w.channel, "count": "1"}
    [bulk] = await entries(api, w, A.MESSAGE_BULK_DELETE)
    assert (bulk["target_id"], bulk["options"], bulk["reason"]) == (
        w.channel, {"count": "2"}, "cleanup")
    users = {u["id"] for u in (await log(api, w))["users"]}
    assert users == {w.mod.id, w.alice.id}


# -- reading -------------------------------------------------------------------------------------


async def test_the_audit_log_needs_view_audit_log(api: Api, w: Mod) -> None:
    assert_error(await api.get(f"/guilds/{w.gid}/audit-logs", w.alice.token), 403, 50013)
    outsider = await api.register()
    assert_error(await api.get(f"/guilds/{w.gid}/audit-logs", outsider.token), 403, 50001)
    assert (await api.get(f"/guilds/{w.gid}/audit-logs", w.owner.token)).status == 200


async def test_filters_and_pages(api: Api, w: Mod) -> None:
    for who in (w.alice, w.bob):
        await ok(await call(api, "PUT", f"/guilds/{w.gid}/bans/{who.id}", w.mod.token))
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/bans/{w.bob.id}", w.owner.token))
    every = [e["id"] for e in (await log(api, w))["audit_log_entries"]]
    assert len(every) == 3 and every == sorted(every, key=int, reverse=True)
    assert [e["id"] for e in (await log(api, w, limit=1))["audit_log_entries"]] == every[:1]
    by_mod = (await log(api, w, user_id=w.mod.id))["audit_log_entries"]
    assert [e["id"] for e in by_mod] == every[1:]
    assert [e["id"] for e in (await log(api, w, before=every[0]))["audit_log_entries"]] == every[1:]
    # ``after`` alone: oldest first, as discord.py's oldest_first reads it.
    assert [e["id"] for e in (await log(api, w, after=0))["audit_log_entries"]] == every[::-1]
    assert [e["id"] for e in (await log(api, w, after=every[2], limit=1))["audit_log_entries"]] == [
        every[1]]
    assert (await log(api, w, action_type=99))["audit_log_entries"] == []


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"user_id": "x"},
                                    {"action_type": "-1"}, {"before": "y"}])
async def test_bad_query_is_50035(api: Api, w: Mod, params: dict[str, str]) -> None:
    r = await api.get(f"/guilds/{w.gid}/audit-logs", w.mod.token, params=params)
    assert_error(r, 400, 50035)


async def test_expired_entries_are_never_read(api: Api, w: Mod, platform: Platform) -> None:
    old_id = snowflake_from_ms(platform.now_ms() - RETENTION_MS - 60_000)
    await platform.meta.add_audit_entries([AuditEntry(old_id, int(w.gid), 20, int(w.mod.id))],
                                          prune_before=0)
    assert (await log(api, w))["audit_log_entries"] == []
    assert (await log(api, w, after=0))["audit_log_entries"] == []
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token))
    assert len((await log(api, w, after=0))["audit_log_entries"]) == 1
    # The write pruned it.
    assert await platform.meta.list_audit_entries(int(w.gid), before=old_id + 1) == []


async def test_each_entry_is_published(api: Api, w: Mod, events: list[Event]) -> None:
    await ok(await call(api, "DELETE", f"/guilds/{w.gid}/members/{w.alice.id}", w.mod.token,
                        reason="bye"))
    await settle()
    [created] = named(events, "GUILD_AUDIT_LOG_ENTRY_CREATE")
    assert created.guild_id == int(w.gid) and created.channel_id is None
    [entry] = (await log(api, w))["audit_log_entries"]
    assert created.data == {**entry, "guild_id": w.gid}
