"""Role routes (list, create, reorder, edit, delete) and channel permission overwrites."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Event
from core.permissions import ALL, DEFAULT_EVERYONE, Permission
from core.platform import Platform
from tests.api.conftest import Api
from tests.api.helpers import (
    UNKNOWN,
    add_member,
    assert_error,
    grant,
    make_role,
    named,
    set_everyone,
    settle,
    setup,
)

P = Permission


def roles_path(guild: dict[str, Any]) -> str:
    return f"/guilds/{guild['id']}/roles"


# -- GET /guilds/{id}/roles ---------------------------------------------------------------------

async def test_list_roles_returns_roles_by_position(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    high = await make_role(platform, guild, position=2, name="high")
    low = await make_role(platform, guild, position=1, name="low")
    r = await api.get(roles_path(guild), member.token)
    assert r.status == 200
    assert [x["id"] for x in r.body] == [guild["id"], str(low), str(high)]
    assert r.body[0]["permissions"] == str(DEFAULT_EVERYONE)


async def test_list_roles_errors(api: Api, platform: Platform) -> None:
    _, guild, _ = await setup(api, platform)
    stranger = await api.register()
    assert_error(await api.get(roles_path(guild)), 401, 40001)
    assert_error(await api.get(roles_path(guild), stranger.token), 403, 50001)
    assert_error(await api.get(f"/guilds/{UNKNOWN}/roles", stranger.token), 404, 10004)


# -- POST /guilds/{id}/roles --------------------------------------------------------------------

async def test_create_role_defaults_and_event(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    old = await make_role(platform, guild, position=1)
    r = await api.post(roles_path(guild), owner.token, json={})
    assert r.status == 200
    assert r.body["name"] == "new role" and r.body["position"] == 1
    assert r.body["permissions"] == str(DEFAULT_EVERYONE)
    assert r.body["color"] == 0 and r.body["hoist"] is False and r.body["mentionable"] is False
    await settle()
    [created] = named(events, "GUILD_ROLE_CREATE")
    assert created.guild_id == int(guild["id"])
    assert created.data == {"guild_id": guild["id"], "role": r.body}
    [moved] = named(events, "GUILD_ROLE_UPDATE")
    assert moved.data["role"]["id"] == str(old) and moved.data["role"]["position"] == 2


async def test_create_role_with_fields(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    body = {"name": "Mods", "permissions": str(int(P.KICK_MEMBERS)), "color": 0xFF0000,
            "hoist": True, "mentionable": True}
    r = await api.post(roles_path(guild), owner.token, json=body)
    assert r.status == 200
    assert r.body["name"] == "Mods" and r.body["permissions"] == str(int(P.KICK_MEMBERS))
    assert r.body["color"] == 0xFF0000 and r.body["hoist"] and r.body["mentionable"]
    # Integers are accepted for permissions too.
    r = await api.post(roles_path(guild), owner.token, json={"permissions": int(P.BAN_MEMBERS)})
    assert r.body["permissions"] == str(int(P.BAN_MEMBERS))


async def test_create_role_cannot_grant_missing_permission(api: Api, platform: Platform) -> None:
    _, guild, member = await setup(api, platform)
    await grant(platform, guild, member, P.MANAGE_ROLES)
    r = await api.post(roles_path(guild), member.token,
                       json={"permissions": str(int(P.MANAGE_ROLES | P.BAN_MEMBERS))})
    assert_error(r, 403, 50013)
    r = await api.post(roles_path(guild), member.token,
                       json={"permissions": str(int(P.MANAGE_ROLES))})
    assert r.status == 200


async def test_create_role_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    assert_error(await api.post(roles_path(guild), json={}), 401, 40001)
    assert_error(await api.post(roles_path(guild), member.token, json={}), 403, 50013)
    assert_error(await api.post(roles_path(guild), stranger.token, json={}), 403, 50001)
    assert_error(await api.post(f"/guilds/{UNKNOWN}/roles", owner.token, json={}), 404, 10004)


@pytest.mark.parametrize("body", [{"name": "x" * 101}, {"name": ""}, {"color": 0x1000000},
                                  {"color": -1}, {"permissions": "abc"}, {"hoist": "yes"}])
async def test_create_role_bad_body_is_50035(
    api: Api, platform: Platform, body: dict[str, Any]
) -> None:
    owner, guild, _ = await setup(api, platform)
    assert_error(await api.post(roles_path(guild), owner.token, json=body), 400, 50035)


async def test_create_role_over_limit_is_30005(api: Api, platform: Platform) -> None:
    platform.config = platform.config.replace(max_roles_per_guild=2)
    owner, guild, _ = await setup(api, platform)
    for _ in range(2):
        assert (await api.post(roles_path(guild), owner.token, json={})).status == 200
    r = await api.post(roles_path(guild), owner.token, json={})
    assert_error(r, 400, 30005)


# -- PATCH /guilds/{id}/roles (positions) -------------------------------------------------------

async def test_move_roles_reorders_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    a = await make_role(platform, guild, position=1, name="a")
    b = await make_role(platform, guild, position=2, name="b")
    c = await make_role(platform, guild, position=3, name="c")
    r = await api.patch(roles_path(guild), owner.token, json=[{"id": str(c), "position": 1}])
    assert r.status == 200
    by_id = {x["id"]: x["position"] for x in r.body}
    assert (by_id[str(c)], by_id[str(a)], by_id[str(b)]) == (1, 2, 3)
    assert by_id[guild["id"]] == 0
    await settle()
    assert {e.data["role"]["id"] for e in named(events, "GUILD_ROLE_UPDATE")} == \
        {str(a), str(b), str(c)}


async def test_move_roles_hierarchy(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    low = await make_role(platform, guild, position=1)
    mine = await grant(platform, guild, member, P.MANAGE_ROLES, position=2)
    top = await make_role(platform, guild, position=3)
    r = await api.patch(roles_path(guild), member.token, json=[{"id": low, "position": 3}])
    assert_error(r, 403, 50013)
    r = await api.patch(roles_path(guild), member.token, json=[{"id": top, "position": 1}])
    assert_error(r, 403, 50013)
    r = await api.patch(roles_path(guild), member.token, json=[{"id": mine, "position": 1}])
    assert_error(r, 403, 50013)
    roles = {r.id: r.position for r in await platform.meta.list_roles(int(guild["id"]))}
    assert (roles[low], roles[mine], roles[top]) == (1, 2, 3)


async def test_move_roles_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other = await api.guild(await api.register())
    role = await make_role(platform, guild)
    path = roles_path(guild)
    assert_error(await api.patch(path, json=[]), 401, 40001)
    assert_error(await api.patch(path, member.token, json=[]), 403, 50013)
    assert_error(await api.patch(path, owner.token, json=[{"id": other["id"], "position": 1}]),
                 404, 10011)
    assert_error(await api.patch(path, owner.token, json=[{"id": guild["id"], "position": 2}]),
                 400, 50028)
    for body in ({"id": role}, [{"id": role, "position": "x"}], ["x"]):
        assert_error(await api.patch(path, owner.token, json=body), 400, 50035)
    assert_error(await api.patch(f"/guilds/{UNKNOWN}/roles", owner.token, json=[]), 404, 10004)


# -- PATCH /guilds/{id}/roles/{role} ------------------------------------------------------------

async def test_update_role_changes_fields_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, _ = await setup(api, platform)
    role = await make_role(platform, guild)
    r = await api.patch(f"{roles_path(guild)}/{role}", owner.token,
                        json={"name": "Renamed", "color": 255, "permissions": "8"})
    assert r.status == 200
    assert r.body["name"] == "Renamed" and r.body["color"] == 255 and r.body["permissions"] == "8"
    await settle()
    [ev] = named(events, "GUILD_ROLE_UPDATE")
    assert ev.data == {"guild_id": guild["id"], "role": r.body}
    assert ev.guild_id == int(guild["id"])


async def test_update_everyone_permissions_only(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    path = f"{roles_path(guild)}/{guild['id']}"
    r = await api.patch(path, owner.token, json={"permissions": str(int(P.VIEW_CHANNEL))})
    assert r.status == 200 and r.body["permissions"] == str(int(P.VIEW_CHANNEL))
    assert r.body["name"] == "@everyone"
    assert_error(await api.patch(path, owner.token, json={"name": "everyone2"}), 400, 50035)


async def test_update_role_hierarchy_and_grants(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    low = await make_role(platform, guild, position=1, perms=int(P.BAN_MEMBERS))
    mine = await grant(platform, guild, member, P.MANAGE_ROLES | P.KICK_MEMBERS, position=2)
    top = await make_role(platform, guild, position=3)
    base = roles_path(guild)
    assert_error(await api.patch(f"{base}/{top}", member.token, json={"name": "x"}), 403, 50013)
    assert_error(await api.patch(f"{base}/{mine}", member.token, json={"name": "x"}), 403, 50013)
    # Adding a bit the actor lacks is refused; keeping one the role already has is not.
    r = await api.patch(f"{base}/{low}", member.token,
                        json={"permissions": str(int(P.BAN_MEMBERS | P.ADMINISTRATOR))})
    assert_error(r, 403, 50013)
    r = await api.patch(f"{base}/{low}", member.token,
                        json={"permissions": str(int(P.BAN_MEMBERS | P.KICK_MEMBERS))})
    assert r.status == 200


async def test_update_role_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other = await api.guild(await api.register())
    role = await make_role(platform, guild)
    base = roles_path(guild)
    assert_error(await api.patch(f"{base}/{role}", json={"name": "x"}), 401, 40001)
    assert_error(await api.patch(f"{base}/{role}", member.token, json={"name": "x"}), 403, 50013)
    assert_error(await api.patch(f"{base}/{other['id']}", owner.token, json={"name": "x"}),
                 404, 10011)
    assert_error(await api.patch(f"{base}/{UNKNOWN}", owner.token, json={"name": "x"}),
                 404, 10011)
    assert_error(await api.patch(f"{base}/{role}", owner.token, json={"color": "red"}),
                 400, 50035)


# -- DELETE /guilds/{id}/roles/{role} -----------------------------------------------------------

async def test_delete_role_removes_it_everywhere_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    role = await grant(platform, guild, member, 0)
    channel = guild["channels"][0]["id"]
    r = await api.put(f"/channels/{channel}/permissions/{role}", owner.token,
                      json={"type": 0, "allow": "0", "deny": str(int(P.SEND_MESSAGES))})
    assert r.status == 204
    await settle()
    events.clear()
    assert (await api.delete(f"{roles_path(guild)}/{role}", owner.token)).status == 204
    got = await platform.meta.get_member(int(guild["id"]), int(member.id))
    assert got is not None and got.roles == ()
    await settle()
    [deleted] = named(events, "GUILD_ROLE_DELETE")
    assert deleted.data == {"guild_id": guild["id"], "role_id": str(role)}
    assert deleted.guild_id == int(guild["id"])
    [chan] = named(events, "CHANNEL_UPDATE")
    assert chan.data["id"] == channel and chan.data["permission_overwrites"] == []


async def test_delete_role_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    other = await api.guild(await api.register())
    await grant(platform, guild, member, P.MANAGE_ROLES, position=2)
    top = await make_role(platform, guild, position=3)
    base = roles_path(guild)
    assert_error(await api.delete(f"{base}/{top}"), 401, 40001)
    assert_error(await api.delete(f"{base}/{top}", member.token), 403, 50013)
    assert_error(await api.delete(f"{base}/{guild['id']}", owner.token), 400, 50028)
    assert_error(await api.delete(f"{base}/{other['id']}", owner.token), 404, 10011)
    assert_error(await api.delete(f"{base}/abc", owner.token), 404, 10011)
    assert_error(await api.delete(f"/guilds/{other['id']}/roles/{other['id']}", owner.token),
                 403, 50001)


# -- PUT/DELETE /channels/{id}/permissions/{overwrite} ------------------------------------------

async def test_put_overwrite_applies_and_publishes_channel_update(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    deny = str(int(P.VIEW_CHANNEL))
    r = await api.put(f"/channels/{channel}/permissions/{member.id}", owner.token,
                      json={"type": 1, "deny": deny})
    assert r.status == 204 and r.body is None
    await settle()
    [ev] = named(events, "CHANNEL_UPDATE")
    assert ev.guild_id == int(guild["id"]) and ev.channel_id == int(channel)
    assert ev.data["permission_overwrites"] == [
        {"id": member.id, "type": 1, "allow": "0", "deny": deny}]
    assert_error(await api.get(f"/channels/{channel}", member.token), 403, 50001)
    # Replacing it: a role overwrite for @everyone, ids as integers.
    r = await api.put(f"/channels/{channel}/permissions/{int(guild['id'])}", owner.token,
                      json={"type": 0, "allow": int(P.SEND_MESSAGES), "deny": 0})
    assert r.status == 204
    got = (await api.get(f"/channels/{channel}", owner.token)).body["permission_overwrites"]
    assert {o["id"] for o in got} == {member.id, guild["id"]}


async def test_put_overwrite_cannot_grant_missing_permission(
    api: Api, platform: Platform
) -> None:
    _, guild, member = await setup(api, platform)
    await grant(platform, guild, member, P.MANAGE_ROLES)
    channel = guild["channels"][0]["id"]
    path = f"/channels/{channel}/permissions/{guild['id']}"
    assert_error(await api.put(path, member.token,
                               json={"type": 0, "deny": str(int(P.MANAGE_MESSAGES))}), 403, 50013)
    r = await api.put(path, member.token, json={"type": 0, "deny": str(int(P.SEND_MESSAGES))})
    assert r.status == 204


async def test_put_overwrite_target_must_belong_to_guild(api: Api, platform: Platform) -> None:
    owner, guild, _ = await setup(api, platform)
    other_owner = await api.register()
    other = await api.guild(other_owner)
    channel = guild["channels"][0]["id"]
    base = f"/channels/{channel}/permissions"
    assert_error(await api.put(f"{base}/{other['id']}", owner.token, json={"type": 0}),
                 404, 10011)
    assert_error(await api.put(f"{base}/{other_owner.id}", owner.token, json={"type": 1}),
                 404, 10007)
    # A member id used as a role id is not a role.
    assert_error(await api.put(f"{base}/{owner.id}", owner.token, json={"type": 0}), 404, 10011)


async def test_put_overwrite_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    other = await api.guild(stranger)
    channel = guild["channels"][0]["id"]
    path = f"/channels/{channel}/permissions/{member.id}"
    assert_error(await api.put(path, json={"type": 1}), 401, 40001)
    assert_error(await api.put(path, member.token, json={"type": 1}), 403, 50013)
    assert_error(await api.put(path, stranger.token, json={"type": 1}), 403, 50001)
    assert_error(await api.put(f"/channels/{UNKNOWN}/permissions/{member.id}", owner.token,
                               json={"type": 1}), 404, 10003)
    other_channel = other["channels"][0]["id"]
    assert_error(await api.put(f"/channels/{other_channel}/permissions/{member.id}", owner.token,
                               json={"type": 1}), 403, 50001)
    for body in ({}, {"type": 2}, {"type": 1, "allow": "x"}, {"type": 1, "deny": -1}):
        assert_error(await api.put(path, owner.token, json=body), 400, 50035)


async def test_put_overwrite_on_dm_is_50003(api: Api, platform: Platform) -> None:
    a, b = await api.register(), await api.register()
    dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
    assert dm.status == 200, dm.body
    r = await api.put(f"/channels/{dm.body['id']}/permissions/{b.id}", a.token, json={"type": 1})
    assert_error(r, 400, 50003)


async def test_delete_overwrite_removes_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    path = f"/channels/{channel}/permissions/{member.id}"
    await api.put(path, owner.token, json={"type": 1, "deny": str(int(P.VIEW_CHANNEL))})
    await settle()
    events.clear()
    assert (await api.delete(path, owner.token)).status == 204
    await settle()
    [ev] = named(events, "CHANNEL_UPDATE")
    assert ev.data["permission_overwrites"] == [] and ev.channel_id == int(channel)
    assert (await api.get(f"/channels/{channel}", member.token)).status == 200
    assert_error(await api.delete(path, owner.token), 404, 10009)


async def test_delete_overwrite_errors(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    stranger = await api.register()
    await add_member(platform, guild, stranger)
    channel = guild["channels"][0]["id"]
    path = f"/channels/{channel}/permissions/{member.id}"
    await api.put(path, owner.token, json={"type": 1, "deny": str(int(P.SEND_MESSAGES))})
    assert_error(await api.delete(path), 401, 40001)
    assert_error(await api.delete(path, stranger.token), 403, 50013)
    assert_error(await api.delete(f"/channels/{UNKNOWN}/permissions/{member.id}", owner.token),
                 404, 10003)
    assert_error(await api.delete(f"/channels/{channel}/permissions/abc", owner.token),
                 404, 10009)
    outsider = await api.register()
    assert_error(await api.delete(path, outsider.token), 403, 50001)


async def test_admin_may_grant_anything(api: Api, platform: Platform) -> None:
    _, guild, member = await setup(api, platform)
    await grant(platform, guild, member, P.ADMINISTRATOR)
    await set_everyone(platform, guild, 0)
    r = await api.post(roles_path(guild), member.token, json={"permissions": str(ALL)})
    assert r.status == 200 and r.body["permissions"] == str(ALL)
