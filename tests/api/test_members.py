"""Member routes: list, get, add a bot (PUT), edit (PATCH, @me; timeouts), kick, leave, role
give/take.

"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from core.events import Event
from core.models import Application, User
from core.permissions import DEFAULT_EVERYONE, Permission
from core.platform import Platform
from core.snowflake import iso_timestamp
from tests.api.conftest import Api
from tests.api.helpers import (
    UNKNOWN,
    add_member,
    assert_error,
    grant,
    make_bot,
    make_role,
    named,
    set_everyone,
    settle,
    setup,
)

P = Permission


# -- GET /guilds/{id}/members -------------------------------------------------------------------

async def test_list_members_defaults_to_one_member(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    r = await api.get(f"/guilds/{guild['id']}/members", owner.token)
    assert r.status == 200 and len(r.body) == 1
    assert r.body[0]["user"]["id"] and r.body[0]["flags"] == 0 and r.body[0]["roles"] == []


async def test_list_members_pages_with_limit_and_after(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    third = await api.register()
    await add_member(platform, guild, third)
    ids = sorted([owner.id, member.id, third.id], key=int)
    r = await api.get(f"/guilds/{guild['id']}/members", member.token, params={"limit": "1000"})
    assert [m["user"]["id"] for m in r.body] == ids
    r = await api.get(f"/guilds/{guild['id']}/members", member.token,
                      params={"limit": "1", "after": ids[0]})
    assert [m["user"]["id"] for m in r.body] == [ids[1]]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"},
                                    {"after": "-1"}, {"after": "abc"}])
async def test_list_members_bad_query_is_50035(
    api: Api, platform: Platform, params: dict[str, str]
) -> None:
    owner, guild, _ = await setup(api, platform)
    assert_error(await api.get(f"/guilds/{guild['id']}/members", owner.token, params=params),
                 400, 50035)


async def test_list_members_without_token_is_401(api: Api, platform: Platform) -> None:
    _, guild, _ = await setup(api, platform)
    assert_error(await api.get(f"/guilds/{guild['id']}/members"), 401, 40001)


async def test_list_members_non_member_is_403_and_unknown_guild_404(
    api: Api, platform: Platform
) -> None:
    _, guild, _ = await setup(api, platform)
    stranger = await api.register()
    assert_error(await api.get(f"/guilds/{guild['id']}/members", stranger.token), 403, 50001)
    assert_error(await api.get(f"/guilds/{UNKNOWN}/members", stranger.token), 404, 10004)


# -- GET /guilds/{id}/members/{user} ------------------------------------------------------------

async def test_get_member_returns_member_with_user(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    r = await api.get(f"/guilds/{guild['id']}/members/{member.id}", owner.token)
    assert r.status == 200
    assert r.body["user"]["id"] == member.id and r.body["nick"] is None
    assert r.body["joined_at"].endswith("+00:00")


async def test_get_member_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other_owner = await api.register()
    other = await api.guild(other_owner)
    path = f"/guilds/{guild['id']}/members"
    assert_error(await api.get(f"{path}/{member.id}"), 401, 40001)
    assert_error(await api.get(f"{path}/{UNKNOWN}", owner.token), 404, 10007)
    # A member of another guild is not a member of this one.
    assert_error(await api.get(f"{path}/{other_owner.id}", owner.token), 404, 10007)
    assert_error(await api.get(f"/guilds/{other['id']}/members/{other_owner.id}", owner.token),
                 403, 50001)


# -- PUT /guilds/{id}/members/{user}: add a bot -------------------------------------------------

async def test_add_bot_creates_member_and_publishes_events(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    bot = await make_bot(api, owner)
    await settle()
    events.clear()
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", owner.token, json={})
    assert r.status == 201 and r.body["user"]["id"] == bot.id and r.body["user"]["bot"] is True
    await settle()
    [add] = named(events, "GUILD_MEMBER_ADD")
    assert add.guild_id == int(guild["id"]) and add.data["guild_id"] == guild["id"]
    assert add.data["user"]["id"] == bot.id and add.data["flags"] == 0
    [create] = named(events, "GUILD_CREATE")
    assert create.user_ids == (int(bot.id),) and create.guild_id is None
    assert create.data["id"] == guild["id"]
    assert bot.id in [m["user"]["id"] for m in create.data["members"]]
    again = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", owner.token, json={})
    assert again.status == 204 and again.body is None


async def test_add_bot_with_nick_and_roles(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    bot = await make_bot(api, owner)
    role_id = await make_role(platform, guild)
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", owner.token,
                      json={"nick": "Robo", "roles": [role_id]})
    assert r.status == 201 and r.body["nick"] == "Robo" and r.body["roles"] == [str(role_id)]


async def test_add_bot_reads_no_timeout(api: Api, platform: Platform) -> None:
    """Discord's "Add Guild Member" has no timeout field: one in the body is not read (nor is
    MODERATE_MEMBERS asked of an adder who has MANAGE_GUILD)."""
    owner, guild, member = await setup(api, platform)
    await grant(platform, guild, member, P.MANAGE_GUILD, position=3)
    bot = await make_bot(api, owner)
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", member.token,
                      json={"communication_disabled_until": _in(platform, 60_000)})
    assert r.status == 201, r.body
    assert r.body["communication_disabled_until"] is None


async def test_add_bot_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    bot = await make_bot(api, owner)
    path = f"/guilds/{guild['id']}/members"
    assert_error(await api.put(f"{path}/{bot.id}", json={}), 401, 40001)
    assert_error(await api.put(f"{path}/{bot.id}", member.token, json={}), 403, 50013)
    human = await api.register()
    assert_error(await api.put(f"{path}/{human.id}", owner.token, json={}), 403, 50001)
    assert_error(await api.put(f"{path}/{UNKNOWN}", owner.token, json={}), 404, 10013)
    assert_error(await api.put(f"{path}/{bot.id}", owner.token, json={"nick": "x" * 33}),
                 400, 50035)
    other = await api.guild(await api.register())
    foreign_role = other["roles"][0]["id"]
    assert_error(await api.put(f"{path}/{bot.id}", owner.token, json={"roles": [foreign_role]}),
                 404, 10011)
    assert await platform.meta.get_member(int(guild["id"]), int(bot.id)) is None


async def test_add_private_bot_only_by_its_owner(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    await grant(platform, guild, member, P.MANAGE_GUILD)
    bot_id = platform.ids.next()
    await platform.meta.create_application(
        Application(bot_id, "Private", int(owner.id), bot_public=False),
        User(bot_id, f"private_{bot_id}", bot=True),
    )
    path = f"/guilds/{guild['id']}/members/{bot_id}"
    assert_error(await api.put(path, member.token, json={}), 403, 50001)
    assert (await api.put(path, owner.token, json={})).status == 201


async def test_add_bot_over_guild_limit_is_30001(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    bot = await make_bot(api, owner)
    platform.config = platform.config.replace(max_guilds_per_user=1)
    other = await api.post("/guilds", bot.token, json={"name": "bots own"}, bot=True)
    assert other.status == 201
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", owner.token, json={})
    assert_error(r, 400, 30001)


# -- PATCH /guilds/{id}/members/{user} ----------------------------------------------------------

async def test_patch_member_nick_and_roles_publishes_update(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    role_id = await make_role(platform, guild)
    r = await api.patch(f"/guilds/{guild['id']}/members/{member.id}", owner.token,
                        json={"nick": "Nicky", "roles": [str(role_id)]})
    assert r.status == 200 and r.body["nick"] == "Nicky" and r.body["roles"] == [str(role_id)]
    await settle()
    [ev] = named(events, "GUILD_MEMBER_UPDATE")
    assert ev.guild_id == int(guild["id"])
    assert ev.data["guild_id"] == guild["id"] and ev.data["user"]["id"] == member.id
    assert ev.data["roles"] == [str(role_id)] and ev.data["nick"] == "Nicky"
    assert {"joined_at", "flags", "deaf", "mute"} <= ev.data.keys()
    r = await api.patch(f"/guilds/{guild['id']}/members/{member.id}", owner.token,
                        json={"nick": "", "roles": []})
    assert r.body["nick"] is None and r.body["roles"] == []


async def test_patch_member_role_hierarchy(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    mod = await api.register()
    await grant(platform, guild, mod, P.MANAGE_ROLES, position=5)
    low = await make_role(platform, guild, position=2)
    high = await make_role(platform, guild, position=9)
    path = f"/guilds/{guild['id']}/members/{member.id}"
    assert (await api.patch(path, mod.token, json={"roles": [low]})).status == 200
    assert_error(await api.patch(path, mod.token, json={"roles": [low, high]}), 403, 50013)
    # A role above the actor that the target already has may stay.
    await platform.meta.add_member_role(int(guild["id"]), int(member.id), high)
    assert (await api.patch(path, mod.token, json={"roles": [high]})).status == 200


async def test_patch_member_nick_rules(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    mod = await api.register()
    await grant(platform, guild, mod, P.MANAGE_NICKNAMES, position=3)
    gid = guild["id"]
    assert (await api.patch(f"/guilds/{gid}/members/{member.id}", mod.token,
                            json={"nick": "x"})).status == 200
    assert_error(await api.patch(f"/guilds/{gid}/members/{owner.id}", mod.token,
                                 json={"nick": "x"}), 403, 50013)
    assert_error(await api.patch(f"/guilds/{gid}/members/{mod.id}", member.token,
                                 json={"nick": "x"}), 403, 50013)
    assert_error(await api.patch(f"/guilds/{gid}/members/{member.id}", member.token,
                                 json={"roles": []}), 403, 50013)


@pytest.mark.parametrize("body", [{"nick": "x" * 33}, {"nick": 5}, {"roles": "nope"},
                                  {"roles": ["abc"]}])
async def test_patch_member_bad_body_is_50035(
    api: Api, platform: Platform, body: dict[str, Any]
) -> None:
    owner, guild, member = await setup(api, platform)
    r = await api.patch(f"/guilds/{guild['id']}/members/{member.id}", owner.token, json=body)
    assert_error(r, 400, 50035)


async def test_patch_member_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other = await api.guild(await api.register())
    path = f"/guilds/{guild['id']}/members/{member.id}"
    assert_error(await api.patch(path, json={"nick": "a"}), 401, 40001)
    assert_error(await api.patch(f"/guilds/{guild['id']}/members/{UNKNOWN}", owner.token,
                                 json={"nick": "a"}), 404, 10007)
    assert_error(await api.patch(path, owner.token, json={"roles": [other["id"]]}), 404, 10011)
    assert_error(await api.patch(path, owner.token, json={"roles": [guild["id"]]}), 400, 50028)
    assert_error(await api.patch(f"/guilds/{other['id']}/members/{member.id}", owner.token,
                                 json={"nick": "a"}), 403, 50001)


async def test_patch_me_changes_own_nick_with_change_nickname(
    api: Api, platform: Platform
) -> None:
    _, guild, member = await setup(api, platform)
    path = f"/guilds/{guild['id']}/members/@me"
    r = await api.patch(path, member.token, json={"nick": "Me", "roles": ["1"]})
    assert r.status == 200 and r.body["nick"] == "Me" and r.body["roles"] == []
    await set_everyone(platform, guild, DEFAULT_EVERYONE & ~P.CHANGE_NICKNAME)
    assert_error(await api.patch(path, member.token, json={"nick": "No"}), 403, 50013)
    assert_error(await api.patch(path, json={"nick": "No"}), 401, 40001)
    assert_error(await api.patch(f"/guilds/{UNKNOWN}/members/@me", member.token,
                                 json={"nick": "No"}), 404, 10004)
    assert_error(await api.patch(path, member.token, json={"nick": "x" * 40}), 400, 50035)


# -- PUT/DELETE /guilds/{id}/members/{user}/roles/{role} ----------------------------------------

async def test_give_and_take_role_publish_member_update(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    role_id = await make_role(platform, guild)
    path = f"/guilds/{guild['id']}/members/{member.id}/roles/{role_id}"
    r = await api.put(path, owner.token)
    assert r.status == 204
    got = await platform.meta.get_member(int(guild["id"]), int(member.id))
    assert got is not None and got.roles == (role_id,)
    await settle()
    [ev] = named(events, "GUILD_MEMBER_UPDATE")
    assert ev.data["roles"] == [str(role_id)] and ev.data["user"]["id"] == member.id
    assert (await api.put(path, owner.token)).status == 204  # already has it: no event
    assert (await api.delete(path, owner.token)).status == 204
    await settle()
    updates = named(events, "GUILD_MEMBER_UPDATE")
    assert len(updates) == 2 and updates[1].data["roles"] == []


async def test_give_role_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    mod = await api.register()
    await grant(platform, guild, mod, P.MANAGE_ROLES, position=3)
    high = await make_role(platform, guild, position=5)
    low = await make_role(platform, guild, position=1)
    other = await api.guild(await api.register())
    base = f"/guilds/{guild['id']}/members"
    assert_error(await api.put(f"{base}/{member.id}/roles/{low}"), 401, 40001)
    assert_error(await api.put(f"{base}/{mod.id}/roles/{low}", member.token), 403, 50013)
    assert_error(await api.put(f"{base}/{member.id}/roles/{high}", mod.token), 403, 50013)
    assert_error(await api.delete(f"{base}/{member.id}/roles/{high}", mod.token), 403, 50013)
    assert_error(await api.put(f"{base}/{member.id}/roles/{other['id']}", owner.token),
                 404, 10011)
    assert_error(await api.put(f"{base}/{member.id}/roles/{guild['id']}", owner.token),
                 400, 50028)
    assert_error(await api.put(f"{base}/{UNKNOWN}/roles/{low}", owner.token), 404, 10007)
    assert_error(await api.put(f"/guilds/{other['id']}/members/{member.id}/roles/{low}",
                               owner.token), 403, 50001)
    assert (await api.put(f"{base}/{member.id}/roles/{low}", mod.token)).status == 204


# -- DELETE /guilds/{id}/members/{user}: kick -----------------------------------------------------

async def test_kick_removes_member_and_publishes_events(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    r = await api.delete(f"/guilds/{guild['id']}/members/{member.id}", owner.token)
    assert r.status == 204
    assert await platform.meta.get_member(int(guild["id"]), int(member.id)) is None
    await settle()
    [remove] = named(events, "GUILD_MEMBER_REMOVE")
    assert remove.guild_id == int(guild["id"])
    assert remove.data == {"guild_id": guild["id"], "user": remove.data["user"]}
    assert remove.data["user"]["id"] == member.id
    [gone] = named(events, "GUILD_DELETE")
    assert gone.user_ids == (int(member.id),) and gone.data == {"id": guild["id"]}
    assert_error(await api.get(f"/guilds/{guild['id']}", member.token), 403, 50001)


async def test_kick_hierarchy_and_owner(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    mod, peer = await api.register(), await api.register()
    mod_role = await grant(platform, guild, mod, P.KICK_MEMBERS, position=3)
    await add_member(platform, guild, peer)  # the same highest role: not strictly lower
    await platform.meta.add_member_role(int(guild["id"]), int(peer.id), mod_role)
    base = f"/guilds/{guild['id']}/members"
    assert_error(await api.delete(f"{base}/{owner.id}", mod.token), 403, 50013)
    assert_error(await api.delete(f"{base}/{peer.id}", mod.token), 403, 50013)
    assert_error(await api.delete(f"{base}/{mod.id}", member.token), 403, 50013)
    assert (await api.delete(f"{base}/{member.id}", mod.token)).status == 204


async def test_kick_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other_owner = await api.register()
    other = await api.guild(other_owner)
    base = f"/guilds/{guild['id']}/members"
    assert_error(await api.delete(f"{base}/{member.id}"), 401, 40001)
    assert_error(await api.delete(f"{base}/{UNKNOWN}", owner.token), 404, 10007)
    assert_error(await api.delete(f"{base}/{other_owner.id}", owner.token), 404, 10007)
    assert_error(await api.delete(f"/guilds/{other['id']}/members/{other_owner.id}",
                                  owner.token), 403, 50001)
    assert_error(await api.delete(f"/guilds/{UNKNOWN}/members/{member.id}", owner.token),
                 404, 10004)


# -- DELETE /users/@me/guilds/{id}: leave ---------------------------------------------------------

async def test_leave_removes_member_and_publishes_events(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    _, guild, member = await setup(api, platform)
    r = await api.delete(f"/users/@me/guilds/{guild['id']}", member.token)
    assert r.status == 204
    await settle()
    assert named(events, "GUILD_MEMBER_REMOVE")[0].data["user"]["id"] == member.id
    assert named(events, "GUILD_DELETE")[0].user_ids == (int(member.id),)
    mine = await api.get("/users/@me/guilds", member.token)
    assert mine.body == []


async def test_leave_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    assert_error(await api.delete(f"/users/@me/guilds/{guild['id']}"), 401, 40001)
    assert_error(await api.delete(f"/users/@me/guilds/{guild['id']}", owner.token), 400, 50055)
    assert_error(await api.delete(f"/users/@me/guilds/{guild['id']}", stranger.token),
                 404, 10004)
    assert_error(await api.delete(f"/users/@me/guilds/{UNKNOWN}", member.token), 404, 10004)


# -- timeouts (communication_disabled_until) ----------------------------------------------------

def _in(platform: Platform, ms: int) -> str:
    """An ISO 8601 time ``ms`` from now, as discord.py sends it."""
    return iso_timestamp(platform.now_ms() + ms)


async def test_timeout_takes_send_away_until_lifted_and_is_published(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    path = f"/guilds/{guild['id']}/members/{member.id}"
    sent = await api.post(f"/channels/{channel}/messages", member.token, json={"content": "a"})
    assert sent.status == 200
    until = _in(platform, 3_600_000)
    r = await api.patch(path, owner.token, json={"communication_disabled_until": until})
    assert r.status == 200, r.body
    assert datetime.fromisoformat(r.body["communication_disabled_until"]) == \
        datetime.fromisoformat(until)
    await settle()
    [ev] = named(events, "GUILD_MEMBER_UPDATE")
    assert ev.data["communication_disabled_until"] == r.body["communication_disabled_until"]
    # Timed out: reading stays, sending, typing and reacting go.
    assert_error(await api.post(f"/channels/{channel}/messages", member.token,
                                json={"content": "b"}), 403, 50013)
    assert_error(await api.post(f"/channels/{channel}/typing", member.token), 403, 50013)
    history = await api.get(f"/channels/{channel}/messages", member.token)
    assert history.status == 200 and [m["content"] for m in history.body] == ["a"]
    got = await api.get(path, owner.token)
    assert got.body["communication_disabled_until"] == r.body["communication_disabled_until"]
    # Lifted with null: sending again.
    r = await api.patch(path, owner.token, json={"communication_disabled_until": None})
    assert r.status == 200 and r.body["communication_disabled_until"] is None
    assert (await api.post(f"/channels/{channel}/messages", member.token,
                           json={"content": "c"})).status == 200


async def test_expired_timeout_restricts_nothing(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    r = await api.patch(f"/guilds/{guild['id']}/members/{member.id}", owner.token,
                        json={"communication_disabled_until": _in(platform, -1000)})
    assert r.status == 200 and r.body["communication_disabled_until"] is not None
    assert (await api.post(f"/channels/{channel}/messages", member.token,
                           json={"content": "free"})).status == 200


async def test_timeout_needs_moderate_members_over_a_lower_non_admin(
    api: Api, platform: Platform
) -> None:
    owner, guild, member = await setup(api, platform)
    gid = guild["id"]
    body = {"communication_disabled_until": _in(platform, 60_000)}
    mod = await api.register()
    await grant(platform, guild, mod, P.MODERATE_MEMBERS, position=5)
    admin = await api.register()
    await grant(platform, guild, admin, P.ADMINISTRATOR, position=1)
    peer = await api.register()
    await grant(platform, guild, peer, 0, position=5)
    assert (await api.patch(f"/guilds/{gid}/members/{member.id}", mod.token,
                            json=body)).status == 200
    assert_error(await api.patch(f"/guilds/{gid}/members/{member.id}", peer.token, json=body),
                 403, 50013)  # no MODERATE_MEMBERS
    for target in (owner, admin):  # never the owner or an administrator
        assert_error(await api.patch(f"/guilds/{gid}/members/{target.id}", mod.token, json=body),
                     403, 50013)
    high = await make_role(platform, guild, position=9)
    await platform.meta.add_member_role(int(gid), int(peer.id), high)
    assert_error(await api.patch(f"/guilds/{gid}/members/{peer.id}", mod.token, json=body),
                 403, 50013)  # above the moderator
    # @me edits only the nick: a timeout in its body is ignored.
    r = await api.patch(f"/guilds/{gid}/members/@me", member.token,
                        json={"communication_disabled_until": None})
    assert r.status == 200 and r.body["communication_disabled_until"] is not None


@pytest.mark.parametrize(("value", "code"), [
    (29 * 24 * 3600 * 1000, "INVALID_COMMUNICATION_DISABLED_TIMESTAMP"),
    ("tomorrow", "DATE_TIME_TYPE_COERCE"),
    (12345, "DATE_TIME_TYPE_COERCE"),
])
async def test_bad_timeout_is_50035(
    api: Api, platform: Platform, value: Any, code: str
) -> None:
    owner, guild, member = await setup(api, platform)
    if isinstance(value, int) and value > 12345:
        value = _in(platform, value)
    r = await api.patch(f"/guilds/{guild['id']}/members/{member.id}", owner.token,
                        json={"communication_disabled_until": value})
    assert_error(r, 400, 50035)
    assert r.body["errors"]["communication_disabled_until"]["_errors"][0]["code"] == code
    assert (await platform.meta.get_member(int(guild["id"]), int(member.id))) \
        .communication_disabled_until is None  # nothing written
