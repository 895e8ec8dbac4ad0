"""Ban routes: ban (members and non-members, the hierarchy, message deletion), unban, read,
list, bulk ban; what a ban keeps out (invites, adding a bot); the events of each."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Event
from core.models import Message
from core.permissions import Permission
from core.platform import Platform
from core.snowflake import snowflake_from_ms
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, grant, make_bot, named, settle
from tests.api.moderation import Mod, call, mod_world

P = Permission
BAN = int(P.BAN_MEMBERS)
DAY_MS = 86_400_000


@pytest.fixture
async def w(api: Api, platform: Platform) -> Mod:
    return await mod_world(api, platform, BAN)


def bans(w: Mod, who: Account | str = "") -> str:
    user = who.id if isinstance(who, Account) else who
    return f"/guilds/{w.gid}/bans" + (f"/{user}" if user else "")


async def say(api: Api, who: Account, channel: str, content: str = "spam") -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def history_ids(api: Api, w: Mod, channel: str) -> list[str]:
    r = await api.get(f"/channels/{channel}/messages", w.owner.token, params={"limit": "100"})
    assert r.status == 200, r.body
    return [m["id"] for m in r.body]


# -- PUT /guilds/{id}/bans/{user_id} -------------------------------------------------------------


async def test_ban_removes_the_member_and_records_the_ban(
    api: Api, w: Mod, events: list[Event]
) -> None:
    r = await call(api, "PUT", bans(w, w.alice), w.mod.token, reason="spam, again: ünïcode")
    assert r.status == 204, r.body
    assert_error(await api.get(f"/guilds/{w.gid}/members/{w.alice.id}", w.owner.token), 404, 10007)
    got = await api.get(bans(w, w.alice), w.mod.token)
    assert got.status == 200, got.body
    assert got.body["reason"] == "spam, again: ünïcode"
    assert got.body["user"]["id"] == w.alice.id and got.body["user"]["username"] == w.alice.username
    await settle()
    order = [e.name for e in events if e.name in
             ("GUILD_BAN_ADD", "GUILD_MEMBER_REMOVE", "GUILD_DELETE")]
    # GUILD_BAN_ADD first: discord.py's on_member_ban looks the member up in its cache.
    assert order == ["GUILD_BAN_ADD", "GUILD_MEMBER_REMOVE", "GUILD_DELETE"]
    [added] = named(events, "GUILD_BAN_ADD")
    assert added.data == {"guild_id": w.gid, "user": added.data["user"]}
    assert added.data["user"]["id"] == w.alice.id and added.guild_id == int(w.gid)
    [gone] = named(events, "GUILD_DELETE")
    assert gone.data == {"id": w.gid} and gone.user_ids == (int(w.alice.id),)


async def test_a_non_member_can_be_banned(api: Api, w: Mod, events: list[Event]) -> None:
    stranger = await api.register()
    assert (await api.put(bans(w, stranger), w.mod.token)).status == 204
    await settle()
    assert len(named(events, "GUILD_BAN_ADD")) == 1
    assert named(events, "GUILD_MEMBER_REMOVE") == [] and named(events, "GUILD_DELETE") == []
    got = await api.get(bans(w, stranger), w.owner.token)
    assert got.status == 200 and got.body["reason"] is None


async def test_banning_twice_changes_nothing(api: Api, w: Mod, events: list[Event]) -> None:
    assert (await call(api, "PUT", bans(w, w.alice), w.mod.token, reason="first")).status == 204
    assert (await call(api, "PUT", bans(w, w.alice), w.mod.token, reason="second")).status == 204
    await settle()
    assert len(named(events, "GUILD_BAN_ADD")) == 1
    assert (await api.get(bans(w, w.alice), w.mod.token)).body["reason"] == "first"


async def test_ban_needs_ban_members_and_membership(api: Api, w: Mod) -> None:
    assert_error(await api.put(bans(w, w.bob), w.alice.token), 403, 50013)
    outsider = await api.register()
    assert_error(await api.put(bans(w, w.bob), outsider.token), 403, 50001)
    assert_error(await api.put(f"/guilds/{UNKNOWN}/bans/{w.bob.id}", w.mod.token), 404, 10004)


async def test_ban_follows_the_role_hierarchy(api: Api, w: Mod, platform: Platform) -> None:
    await grant(platform, w.guild, w.alice, 0, position=6)  # above the moderator's 5
    await grant(platform, w.guild, w.bob, 0, position=4)
    assert_error(await api.put(bans(w, w.alice), w.mod.token), 403, 50013)
    assert_error(await api.put(bans(w, w.owner), w.mod.token), 403, 50013)
    assert_error(await api.put(bans(w, w.mod), w.mod.token), 403, 50013)  # themselves
    assert (await api.put(bans(w, w.bob), w.mod.token)).status == 204
    # The owner bans anyone but themselves.
    assert (await api.put(bans(w, w.alice), w.owner.token)).status == 204
    assert_error(await api.put(bans(w, w.owner), w.owner.token), 403, 50013)


async def test_ban_of_an_unknown_user_is_10013(api: Api, w: Mod) -> None:
    assert_error(await api.put(bans(w, UNKNOWN), w.mod.token), 404, 10013)
    assert_error(await api.put(bans(w, "nope"), w.mod.token), 404, 10013)


@pytest.mark.parametrize("body", [{"delete_message_seconds": 604_801},
                                  {"delete_message_seconds": -1},
                                  {"delete_message_seconds": "x"},
                                  {"delete_message_days": 8}])
async def test_ban_bad_delete_window_is_50035(api: Api, w: Mod, body: dict[str, Any]) -> None:
    assert_error(await api.put(bans(w, w.alice), w.mod.token, json=body), 400, 50035)
    assert (await api.get(bans(w, w.alice), w.mod.token)).status == 404


async def test_ban_reason_too_long_is_50035(api: Api, w: Mod) -> None:
    r = await call(api, "PUT", bans(w, w.alice), w.mod.token, reason="x" * 513)
    assert_error(r, 400, 50035)
    assert "reason" in r.body["errors"]
    assert (await call(api, "PUT", bans(w, w.alice), w.mod.token, reason="é" * 512)).status == 204


async def test_ban_deletes_the_users_recent_messages_in_every_channel(
    api: Api, w: Mod, platform: Platform, events: list[Event]
) -> None:
    second = (await api.post(f"/guilds/{w.gid}/channels", w.owner.token,
                             json={"name": "second"})).body["id"]
    mine = [await say(api, w.alice, w.channel), await say(api, w.alice, second),
            await say(api, w.alice, w.channel)]
    kept = await say(api, w.bob, w.channel, "innocent")
    old_id = snowflake_from_ms(platform.now_ms() - 2 * DAY_MS)
    await platform.messages.insert_many([Message(old_id, int(w.channel), int(w.alice.id), "old",
                                                 guild_id=int(w.gid))])
    r = await api.put(bans(w, w.alice), w.mod.token, json={"delete_message_seconds": DAY_MS // 1000})
    assert r.status == 204, r.body
    assert await history_ids(api, w, w.channel) == [kept, str(old_id)]
    assert await history_ids(api, w, second) == []
    await settle()
    bulk = {e.data["channel_id"]: e.data for e in named(events, "MESSAGE_DELETE_BULK")}
    assert sorted(bulk[w.channel]["ids"]) == sorted([mine[0], mine[2]])
    assert bulk[second]["ids"] == [mine[1]] and bulk[second]["guild_id"] == w.gid


async def test_ban_takes_the_window_from_the_query_string_and_in_days(
    api: Api, w: Mod
) -> None:
    spam = await say(api, w.alice, w.channel)
    r = await api.put(bans(w, w.alice), w.mod.token, params={"delete_message_seconds": "60"})
    assert r.status == 204, r.body
    assert spam not in await history_ids(api, w, w.channel)
    spam = await say(api, w.bob, w.channel)
    r = await api.put(bans(w, w.bob), w.mod.token, json={"delete_message_days": 1})
    assert r.status == 204, r.body
    assert spam not in await history_ids(api, w, w.channel)


async def test_ban_without_a_window_deletes_nothing(api: Api, w: Mod) -> None:
    spam = await say(api, w.alice, w.channel)
    assert (await api.put(bans(w, w.alice), w.mod.token)).status == 204
    assert spam in await history_ids(api, w, w.channel)


# -- what a ban keeps out ----------------------------------------------------------------------


async def test_a_banned_user_cannot_rejoin_by_invite_until_unbanned(api: Api, w: Mod) -> None:
    assert (await api.put(bans(w, w.alice), w.mod.token)).status == 204
    invite = await api.post(f"/channels/{w.channel}/invites", w.owner.token,
                            json={"unique": True})
    r = await api.post(f"/invites/{invite.body['code']}", w.alice.token)
    assert_error(r, 403, 40007)
    assert r.body["message"] == "The user is banned from this guild."
    assert (await api.get(f"/invites/{invite.body['code']}")).body["uses"] == 0  # not counted
    assert (await api.delete(bans(w, w.alice), w.mod.token)).status == 204
    r = await api.post(f"/invites/{invite.body['code']}", w.alice.token)
    assert r.status == 200 and r.body["new_member"] is True


async def test_a_banned_bot_cannot_be_added(api: Api, w: Mod) -> None:
    bot = await make_bot(api, w.owner)
    assert (await api.put(f"/guilds/{w.gid}/members/{bot.id}", w.owner.token)).status == 201
    assert (await api.put(bans(w, bot), w.owner.token)).status == 204
    assert_error(await api.put(f"/guilds/{w.gid}/members/{bot.id}", w.owner.token), 403, 40007)
    assert (await api.delete(bans(w, bot), w.owner.token)).status == 204
    assert (await api.put(f"/guilds/{w.gid}/members/{bot.id}", w.owner.token)).status == 201


# -- DELETE, GET ---------------------------------------------------------------------------------


async def test_unban_publishes_ban_remove_once(api: Api, w: Mod, events: list[Event]) -> None:
    assert (await api.put(bans(w, w.alice), w.mod.token)).status == 204
    assert (await api.delete(bans(w, w.alice), w.mod.token)).status == 204
    assert_error(await api.delete(bans(w, w.alice), w.mod.token), 404, 10026)
    assert_error(await api.get(bans(w, w.alice), w.mod.token), 404, 10026)
    await settle()
    [removed] = named(events, "GUILD_BAN_REMOVE")
    assert removed.data["guild_id"] == w.gid and removed.data["user"]["id"] == w.alice.id


async def test_ban_reads_need_ban_members(api: Api, w: Mod) -> None:
    assert (await api.put(bans(w, w.alice), w.mod.token)).status == 204
    assert_error(await api.get(bans(w), w.bob.token), 403, 50013)
    assert_error(await api.get(bans(w, w.alice), w.bob.token), 403, 50013)
    assert_error(await api.delete(bans(w, w.alice), w.bob.token), 403, 50013)
    assert_error(await api.get(bans(w, UNKNOWN), w.mod.token), 404, 10026)
    assert_error(await api.get(bans(w, "nope"), w.mod.token), 404, 10026)


async def test_list_bans_pages_by_user_id(api: Api, w: Mod) -> None:
    banned = [await api.register() for _ in range(4)]
    for who in banned:
        assert (await api.put(bans(w, who), w.mod.token)).status == 204
    ids = sorted((b.id for b in banned), key=int)
    r = await api.get(bans(w), w.mod.token)
    assert r.status == 200 and [b["user"]["id"] for b in r.body] == ids
    assert set(r.body[0]) == {"reason", "user"}
    r = await api.get(bans(w), w.mod.token, params={"limit": "2", "after": ids[0]})
    assert [b["user"]["id"] for b in r.body] == ids[1:3]
    r = await api.get(bans(w), w.mod.token, params={"limit": "2", "before": ids[3]})
    assert [b["user"]["id"] for b in r.body] == ids[1:3]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"before": "x"},
                                    {"after": "-1"}])
async def test_list_bans_bad_query_is_50035(api: Api, w: Mod, params: dict[str, str]) -> None:
    assert_error(await api.get(bans(w), w.mod.token, params=params), 400, 50035)


# -- POST /guilds/{id}/bulk-ban ----------------------------------------------------------------


async def test_bulk_ban_reports_banned_and_failed(
    api: Api, w: Mod, platform: Platform, events: list[Event]
) -> None:
    await grant(platform, w.guild, w.mod, int(P.MANAGE_GUILD), position=1)
    await grant(platform, w.guild, w.bob, 0, position=6)  # above the moderator
    stranger, banned_before = await api.register(), await api.register()
    assert (await api.put(bans(w, banned_before), w.mod.token)).status == 204
    spam = await say(api, w.alice, w.channel)
    body = {"user_ids": [w.alice.id, int(stranger.id), w.bob.id, banned_before.id, UNKNOWN,
                         w.mod.id, w.alice.id], "delete_message_seconds": 3600}
    r = await call(api, "POST", f"/guilds/{w.gid}/bulk-ban", w.mod.token, reason="raid",
                   json=body)
    assert r.status == 200, r.body
    assert r.body == {"banned_users": [w.alice.id, stranger.id],
                      "failed_users": [w.bob.id, banned_before.id, UNKNOWN]}  # not the caller
    assert spam not in await history_ids(api, w, w.channel)
    assert (await api.get(bans(w, stranger), w.mod.token)).body["reason"] == "raid"
    assert_error(await api.get(f"/guilds/{w.gid}/members/{w.alice.id}", w.owner.token), 404, 10007)
    await settle()
    assert [e.data["user"]["id"] for e in named(events, "GUILD_BAN_ADD")] == [
        banned_before.id, w.alice.id, stranger.id]


async def test_bulk_ban_of_nobody_bannable_is_500000(
    api: Api, w: Mod, platform: Platform
) -> None:
    await grant(platform, w.guild, w.mod, int(P.MANAGE_GUILD), position=1)
    r = await api.post(f"/guilds/{w.gid}/bulk-ban", w.mod.token,
                       json={"user_ids": [w.owner.id, w.mod.id, UNKNOWN]})
    assert_error(r, 400, 500000)
    assert r.body["message"] == "Failed to ban users"


async def test_bulk_ban_needs_manage_guild_too(api: Api, w: Mod) -> None:
    r = await api.post(f"/guilds/{w.gid}/bulk-ban", w.mod.token, json={"user_ids": [w.bob.id]})
    assert_error(r, 403, 50013)
    assert (await api.get(bans(w, w.bob), w.mod.token)).status == 404


@pytest.mark.parametrize("body", [{}, {"user_ids": []}, {"user_ids": ["1"] * 201},
                                  {"user_ids": "1"}, {"user_ids": ["x"]},
                                  {"user_ids": ["1"], "delete_message_seconds": 604_801}])
async def test_bulk_ban_bad_body_is_50035(
    api: Api, w: Mod, platform: Platform, body: dict[str, Any]
) -> None:
    await grant(platform, w.guild, w.mod, int(P.MANAGE_GUILD), position=1)
    assert_error(await api.post(f"/guilds/{w.gid}/bulk-ban", w.mod.token, json=body), 400, 50035)
