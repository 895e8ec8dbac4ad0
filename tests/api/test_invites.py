"""Invite routes: create/list on a channel, list on a guild, read (public), accept, delete."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from core import invites
from core.events import Event
from core.models import Invite
from core.permissions import DEFAULT_EVERYONE, Permission
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import (
    UNKNOWN,
    assert_error,
    grant,
    make_bot,
    named,
    set_everyone,
    settle,
    setup,
)

P = Permission


async def make_invite(api: Api, who: Account, guild: dict[str, Any], **body: Any) -> Any:
    r = await api.post(f"/channels/{guild['channels'][0]['id']}/invites", who.token, json=body)
    assert r.status == 200, r.body
    return r.body


# -- POST /channels/{id}/invites ------------------------------------------------------------------

async def test_create_invite_returns_invite_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    await settle()
    events.clear()
    inv = await make_invite(api, owner, guild)
    assert 8 <= len(inv["code"]) <= 10 and inv["code"].isalnum()
    assert inv["guild"]["id"] == guild["id"] and inv["channel"]["id"] == guild["channels"][0]["id"]
    assert inv["inviter"]["id"] == owner.id
    assert (inv["max_age"], inv["max_uses"], inv["uses"], inv["temporary"]) == (86400, 0, 0, False)
    assert inv["expires_at"] is not None and inv["approximate_member_count"] == 2
    await settle()
    [ev] = named(events, "INVITE_CREATE")
    assert ev.guild_id == int(guild["id"]) and ev.channel_id == int(guild["channels"][0]["id"])
    assert ev.data["code"] == inv["code"] and ev.data["guild_id"] == guild["id"]
    assert ev.data["inviter"]["id"] == owner.id and ev.data["max_age"] == 86400


async def test_create_invite_reuses_unless_unique(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    first = await make_invite(api, owner, guild, max_age=0, max_uses=5)
    assert first["expires_at"] is None
    again = await make_invite(api, owner, guild, max_age=0, max_uses=5)
    assert again["code"] == first["code"]
    unique = await make_invite(api, owner, guild, max_age=0, max_uses=5, unique=True)
    assert unique["code"] != first["code"]
    other = await make_invite(api, owner, guild, max_age=0, max_uses=6)
    assert other["code"] not in (first["code"], unique["code"])


@pytest.mark.parametrize("body", [{"max_age": 604801}, {"max_age": -1}, {"max_uses": 101},
                                  {"max_uses": "x"}, {"temporary": "yes"}, {"unique": 1}])
async def test_create_invite_bad_body_is_50035(
    api: Api, platform: Platform, body: dict[str, Any]
) -> None:
    owner, guild, _ = await setup(api, platform)
    r = await api.post(f"/channels/{guild['channels'][0]['id']}/invites", owner.token, json=body)
    assert_error(r, 400, 50035)


async def test_create_invite_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    other = await api.guild(stranger)
    path = f"/channels/{guild['channels'][0]['id']}/invites"
    assert_error(await api.post(path, json={}), 401, 40001)
    assert_error(await api.post(path, stranger.token, json={}), 403, 50001)
    assert_error(await api.post(f"/channels/{UNKNOWN}/invites", owner.token, json={}), 404, 10003)
    assert_error(await api.post(f"/channels/{other['channels'][0]['id']}/invites", owner.token,
                                json={}), 403, 50001)
    await set_everyone(platform, guild, DEFAULT_EVERYONE & ~P.CREATE_INSTANT_INVITE)
    assert_error(await api.post(path, member.token, json={}), 403, 50013)


async def test_create_invite_on_dm_is_50003(api: Api) -> None:
    a, b = await api.register(), await api.register()
    dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
    assert_error(await api.post(f"/channels/{dm.body['id']}/invites", a.token, json={}),
                 400, 50003)


async def test_create_invite_over_guild_limit_is_30016(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invites, "MAX_INVITES_PER_GUILD", 2)
    owner, guild, _ = await setup(api, platform)
    await make_invite(api, owner, guild, unique=True)
    await make_invite(api, owner, guild, unique=True)
    r = await api.post(f"/channels/{guild['channels'][0]['id']}/invites", owner.token,
                       json={"unique": True})
    assert_error(r, 400, 30016)


# -- GET /invites/{code} ----------------------------------------------------------------------------

async def test_get_invite_is_public_and_counts_on_request(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild)
    r = await api.get(f"/invites/{inv['code']}")
    assert r.status == 200 and r.body["code"] == inv["code"]
    assert r.body["guild"]["name"] == guild["name"] and "approximate_member_count" not in r.body
    r = await api.get(f"/invites/{inv['code']}", params={"with_counts": "true"})
    assert r.body["approximate_member_count"] == 2


async def test_get_invite_unknown_or_expired_is_10006(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    assert_error(await api.get(f"/invites/{'nope1234'}"), 404, 10006)
    assert_error(await api.get("/invites/bad%20code"), 404, 10006)
    inv = await make_invite(api, owner, guild, max_age=60)
    stored = await platform.meta.get_invite(inv["code"])
    assert stored is not None
    old = dataclasses.replace(stored, code="oldcode1", created_at=platform.now_ms() - 61_000)
    await platform.meta.create_invite(old)
    assert_error(await api.get("/invites/oldcode1"), 404, 10006)


# -- POST /invites/{code} ---------------------------------------------------------------------------

async def test_accept_invite_joins_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild)
    joiner = await api.register()
    await settle()
    events.clear()
    r = await api.post(f"/invites/{inv['code']}", joiner.token)
    assert r.status == 200 and r.body["new_member"] is True and r.body["code"] == inv["code"]
    assert r.body["uses"] == 1
    assert await platform.meta.get_member(int(guild["id"]), int(joiner.id)) is not None
    await settle()
    [add] = named(events, "GUILD_MEMBER_ADD")
    assert add.guild_id == int(guild["id"]) and add.data["guild_id"] == guild["id"]
    assert add.data["user"]["id"] == joiner.id and add.data["roles"] == []
    [create] = named(events, "GUILD_CREATE")
    assert create.user_ids == (int(joiner.id),) and create.guild_id is None
    assert create.data["id"] == guild["id"]
    assert [c["id"] for c in create.data["channels"]] == [guild["channels"][0]["id"]]
    # Accepting again: already a member, no use counted, nothing published.
    events.clear()
    again = await api.post(f"/invites/{inv['code']}", joiner.token)
    assert again.status == 200 and again.body["new_member"] is False and again.body["uses"] == 1
    await settle()
    assert events == []


async def test_accept_invite_errors(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild, max_uses=1)
    bot = await make_bot(api, owner)
    assert_error(await api.post(f"/invites/{inv['code']}"), 401, 40001)
    assert_error(await api.post(f"/invites/{inv['code']}", bot.token, bot=True), 403, 20001)
    assert_error(await api.post("/invites/unknown123", owner.token), 404, 10006)
    first, second = await api.register(), await api.register()
    assert (await api.post(f"/invites/{inv['code']}", first.token)).status == 200
    assert_error(await api.post(f"/invites/{inv['code']}", second.token), 404, 10006)


async def test_accept_invite_last_use_is_granted_once(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild, max_uses=1)
    joiners = [await api.register() for _ in range(4)]
    replies = await asyncio.gather(*(api.post(f"/invites/{inv['code']}", j.token)
                                     for j in joiners))
    assert sorted(r.status for r in replies) == [200, 404, 404, 404]


async def test_accept_invite_over_guild_limit_is_30001(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild)
    platform.config = platform.config.replace(max_guilds_per_user=1)
    joiner = await api.register()
    await api.guild(joiner)
    assert_error(await api.post(f"/invites/{inv['code']}", joiner.token), 400, 30001)
    stored = await platform.meta.get_invite(inv["code"])
    assert stored is not None and stored.uses == 0


# -- DELETE /invites/{code} -------------------------------------------------------------------------

async def test_delete_invite_returns_it_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    inv = await make_invite(api, owner, guild)
    r = await api.delete(f"/invites/{inv['code']}", owner.token)
    assert r.status == 200 and r.body["code"] == inv["code"]
    await settle()
    [ev] = named(events, "INVITE_DELETE")
    assert ev.data == {"channel_id": guild["channels"][0]["id"], "guild_id": guild["id"],
                       "code": inv["code"]}
    assert ev.guild_id == int(guild["id"]) and ev.channel_id == int(guild["channels"][0]["id"])
    assert_error(await api.get(f"/invites/{inv['code']}"), 404, 10006)


async def test_delete_invite_with_manage_guild_or_channels(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    for perm in (P.MANAGE_GUILD, P.MANAGE_CHANNELS):
        inv = await make_invite(api, owner, guild, unique=True)
        user = await api.register()
        await grant(platform, guild, user, perm)
        assert (await api.delete(f"/invites/{inv['code']}", user.token)).status == 200


async def test_delete_invite_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    other = await api.guild(stranger)
    inv = await make_invite(api, owner, guild)
    foreign = await make_invite(api, stranger, other)
    assert_error(await api.delete(f"/invites/{inv['code']}"), 401, 40001)
    assert_error(await api.delete(f"/invites/{inv['code']}", member.token), 403, 50013)
    assert_error(await api.delete(f"/invites/{inv['code']}", stranger.token), 403, 50001)
    assert_error(await api.delete(f"/invites/{foreign['code']}", owner.token), 403, 50001)
    assert_error(await api.delete("/invites/unknown123", owner.token), 404, 10006)


# -- GET /guilds/{id}/invites, GET /channels/{id}/invites -------------------------------------------

async def test_list_guild_invites_with_manage_guild(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    a = await make_invite(api, owner, guild, unique=True)
    b = await make_invite(api, member, guild, unique=True)
    r = await api.get(f"/guilds/{guild['id']}/invites", owner.token)
    assert r.status == 200
    assert {i["code"] for i in r.body} == {a["code"], b["code"]}
    assert {i["inviter"]["id"] for i in r.body} == {owner.id, member.id}


async def test_list_guild_invites_drops_expired(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    old = Invite("expired1", int(guild["id"]), int(guild["channels"][0]["id"]), int(owner.id),
                 platform.now_ms() - 10_000, max_age=1)
    await platform.meta.create_invite(old)
    r = await api.get(f"/guilds/{guild['id']}/invites", owner.token)
    assert r.status == 200 and r.body == []
    assert await platform.meta.get_invite("expired1") is None


async def test_list_guild_invites_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    path = f"/guilds/{guild['id']}/invites"
    assert_error(await api.get(path), 401, 40001)
    assert_error(await api.get(path, member.token), 403, 50013)
    assert_error(await api.get(path, stranger.token), 403, 50001)
    assert_error(await api.get(f"/guilds/{UNKNOWN}/invites", owner.token), 404, 10004)


async def test_list_channel_invites_only_that_channel(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    second = await api.post(f"/guilds/{guild['id']}/channels", owner.token,
                            json={"name": "second"})
    assert second.status == 201, second.body
    a = await make_invite(api, owner, guild)
    r = await api.post(f"/channels/{second.body['id']}/invites", owner.token, json={})
    assert r.status == 200
    listed = await api.get(f"/channels/{guild['channels'][0]['id']}/invites", owner.token)
    assert listed.status == 200 and [i["code"] for i in listed.body] == [a["code"]]
    await grant(platform, guild, member, P.MANAGE_CHANNELS)
    again = await api.get(f"/channels/{second.body['id']}/invites", member.token)
    assert [i["code"] for i in again.body] == [r.body["code"]]


async def test_list_channel_invites_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    other = await api.guild(stranger)
    path = f"/channels/{guild['channels'][0]['id']}/invites"
    assert_error(await api.get(path), 401, 40001)
    assert_error(await api.get(path, member.token), 403, 50013)
    assert_error(await api.get(path, stranger.token), 403, 50001)
    assert_error(await api.get(f"/channels/{other['channels'][0]['id']}/invites", owner.token),
                 403, 50001)
    assert_error(await api.get(f"/channels/{UNKNOWN}/invites", owner.token), 404, 10003)


async def test_join_helper_works_through_routes(api: Api) -> None:
    owner, joiner = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, joiner)
    r = await api.get(f"/guilds/{guild['id']}/members/{joiner.id}", owner.token)
    assert r.status == 200
