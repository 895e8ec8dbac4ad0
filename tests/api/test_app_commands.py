"""Application command routes: global and guild scopes, create (replacing by name), bulk
overwrite as discord.py's tree.sync() sends it, read/edit/delete, who may manage them, and
Discord's validation limits answered 50035 with field paths."""

from __future__ import annotations

from typing import Any

import pytest

from core.app_commands import MAX_BY_TYPE
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import add_member, assert_error, make_bot

SLASH: dict[str, Any] = {
    "name": "roll", "description": "Roll dice", "type": 1,
    "options": [
        {"type": 4, "name": "sides", "description": "Sides", "required": True,
         "min_value": 2, "max_value": 100},
        {"type": 3, "name": "label", "description": "Label", "max_length": 20},
    ],
}


async def world(api: Api, platform: Platform) -> tuple[Account, Account, dict[str, Any]]:
    owner = await api.register()
    bot = await make_bot(api, owner)
    guild = await api.guild(owner)
    await add_member(platform, guild, bot)
    return owner, bot, guild


def path(bot: Account, guild: dict[str, Any] | None = None) -> str:
    if guild is None:
        return f"/applications/{bot.id}/commands"
    return f"/applications/{bot.id}/guilds/{guild['id']}/commands"


async def test_create_read_list_edit_delete_a_global_command(
    api: Api, platform: Platform
) -> None:
    _, bot, _ = await world(api, platform)
    r = await api.post(path(bot), bot.token, bot=True, json=SLASH)
    assert r.status == 201, r.body
    made = r.body
    assert made["application_id"] == bot.id and "guild_id" not in made
    assert made["name"] == "roll" and made["type"] == 1 and made["version"]
    assert made["options"][0]["required"] is True and made["options"][0]["max_value"] == 100
    assert made["default_member_permissions"] is None and made["dm_permission"] is True
    assert made["nsfw"] is False
    got = await api.get(f"{path(bot)}/{made['id']}", bot.token, bot=True)
    assert got.status == 200 and got.body == made
    listed = await api.get(path(bot), bot.token, bot=True)
    assert listed.body == [made]
    # The same name again replaces it: same id, new version, 200.
    again = await api.post(path(bot), bot.token, bot=True,
                           json={**SLASH, "description": "Roll them"})
    assert again.status == 200 and again.body["id"] == made["id"]
    assert again.body["version"] != made["version"]
    edited = await api.patch(f"{path(bot)}/{made['id']}", bot.token, bot=True,
                             json={"name": "dice", "default_member_permissions": "8"})
    assert edited.status == 200, edited.body
    assert edited.body["name"] == "dice" and edited.body["description"] == "Roll them"
    assert edited.body["default_member_permissions"] == "8"
    assert edited.body["options"] == made["options"]
    assert (await api.delete(f"{path(bot)}/{made['id']}", bot.token, bot=True)).status == 204
    assert_error(await api.get(f"{path(bot)}/{made['id']}", bot.token, bot=True), 404, 10063)
    assert_error(await api.delete(f"{path(bot)}/{made['id']}", bot.token, bot=True), 404, 10063)
    assert_error(await api.get(f"{path(bot)}/abc", bot.token, bot=True), 404, 10063)


async def test_guild_commands_are_apart_from_global_ones(api: Api, platform: Platform) -> None:
    owner, bot, guild = await world(api, platform)
    g = await api.post(path(bot, guild), bot.token, bot=True, json=SLASH)
    assert g.status == 201 and g.body["guild_id"] == guild["id"]
    assert (await api.get(path(bot), bot.token, bot=True)).body == []
    assert (await api.get(path(bot, guild), bot.token, bot=True)).body == [g.body]
    assert_error(await api.get(f"{path(bot)}/{g.body['id']}", bot.token, bot=True), 404, 10063)
    # A guild the bot is not in, and one that does not exist.
    other = await api.guild(owner, "Other")
    assert_error(await api.get(path(bot, other), bot.token, bot=True), 403, 50001)
    assert_error(await api.put(path(bot, {"id": "1"}), bot.token, bot=True, json=[]), 404, 10004)
    # Deleting the guild deletes its commands.
    assert (await api.delete(f"/guilds/{guild['id']}", owner.token)).status == 204
    assert await platform.meta.list_commands(int(bot.id), int(guild["id"]), 10) == []


async def test_only_the_applications_own_bot_manages_its_commands(
    api: Api, platform: Platform
) -> None:
    owner, bot, guild = await world(api, platform)
    other_bot = await make_bot(api, owner, "Other")
    made = (await api.post(path(bot), bot.token, bot=True, json=SLASH)).body
    for token, is_bot in ((owner.token, False), (other_bot.token, True)):
        for method, suffix, body in (("GET", "", None), ("POST", "", SLASH), ("PUT", "", []),
                                     ("GET", f"/{made['id']}", None),
                                     ("PATCH", f"/{made['id']}", {"name": "x"}),
                                     ("DELETE", f"/{made['id']}", None)):
            r = await api.call(method, path(bot) + suffix, token, bot=is_bot, json=body)
            assert_error(r, 403, 50001)
    assert (await api.get(path(bot), bot.token, bot=True)).body == [made]


async def test_bulk_overwrite_keeps_ids_by_name_and_drops_the_rest(
    api: Api, platform: Platform
) -> None:
    _, bot, guild = await world(api, platform)
    first = await api.put(path(bot, guild), bot.token, bot=True, json=[
        SLASH, {"name": "Inspect", "type": 2}, {"name": "gone", "description": "x"}])
    assert first.status == 200, first.body
    ids = {c["name"]: c["id"] for c in first.body}
    assert first.body[1]["description"] == "" and first.body[1]["type"] == 2
    second = await api.put(path(bot, guild), bot.token, bot=True, json=[
        {"name": "Inspect", "type": 2, "dm_permission": False},
        {**SLASH, "description": "changed"}, {"name": "new", "description": "y"}])
    assert second.status == 200, second.body
    assert [c["name"] for c in second.body] == ["Inspect", "roll", "new"]
    assert second.body[0]["id"] == ids["Inspect"] and second.body[1]["id"] == ids["roll"]
    assert second.body[0]["dm_permission"] is False
    listed = (await api.get(path(bot, guild), bot.token, bot=True)).body
    assert sorted(c["name"] for c in listed) == ["Inspect", "new", "roll"]
    # A name twice for one type is refused with the index; the same name as a menu is fine.
    dup = await api.put(path(bot, guild), bot.token, bot=True, json=[SLASH, SLASH])
    assert_error(dup, 400, 50035)
    assert "name" in dup.body["errors"]["1"]
    ok = await api.put(path(bot, guild), bot.token, bot=True,
                       json=[SLASH, {"name": "roll", "type": 3}])
    assert ok.status == 200
    # Nothing changed by a refused overwrite; an empty one clears the scope.
    bad = await api.put(path(bot, guild), bot.token, bot=True, json=[{"name": "Bad Name",
                                                                      "description": "x"}])
    assert_error(bad, 400, 50035)
    assert len((await api.get(path(bot, guild), bot.token, bot=True)).body) == 2
    assert (await api.put(path(bot, guild), bot.token, bot=True, json=[])).body == []
    assert_error(await api.put(path(bot, guild), bot.token, bot=True, json={"a": 1}), 400, 50035)


async def test_a_sub_command_group_and_its_sub_commands(api: Api, platform: Platform) -> None:
    _, bot, _ = await world(api, platform)
    body = {"name": "config", "description": "Settings", "options": [
        {"type": 2, "name": "role", "description": "Roles", "options": [
            {"type": 1, "name": "set", "description": "Set", "options": [
                {"type": 8, "name": "role", "description": "Role", "required": True}]}]},
        {"type": 1, "name": "show", "description": "Show"}]}
    r = await api.post(path(bot), bot.token, bot=True, json=body)
    assert r.status == 201, r.body
    assert r.body["options"][0]["options"][0]["options"][0]["type"] == 8


def errors_at(reply: Any, *path: str) -> Any:
    assert reply.status == 400 and reply.body["code"] == 50035, reply.body
    node = reply.body["errors"]
    for part in path:
        assert part in node, (path, reply.body)
        node = node[part]
    return node["_errors"][0]["code"]


def opt(**kw: Any) -> dict[str, Any]:
    return {"type": 3, "name": "o", "description": "d", **kw}


BAD: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"name": "Roll", "description": "x"}, ("name",)),
    ({"name": "has space", "description": "x"}, ("name",)),
    ({"name": "x" * 33, "description": "x"}, ("name",)),
    ({"name": "roll"}, ("description",)),
    ({"name": "roll", "description": "x" * 101}, ("description",)),
    ({"name": "menu", "type": 2, "description": "no"}, ("description",)),
    ({"name": "menu", "type": 2, "options": [opt()]}, ("options",)),
    ({"name": "roll", "description": "x", "type": 4}, ("type",)),
    ({"name": "roll", "description": "x",
      "options": [opt(name=f"o{i}") for i in range(26)]}, ("options",)),
    ({"name": "roll", "description": "x", "options": [opt(name="Big")]}, ("options", "0", "name")),
    ({"name": "roll", "description": "x", "options": [opt(description="")]},
     ("options", "0", "description")),
    ({"name": "roll", "description": "x", "options": [opt(), opt()]}, ("options", "1", "name")),
    ({"name": "roll", "description": "x",
      "options": [opt(name="a"), opt(name="b", required=True)]}, ("options", "1", "required")),
    ({"name": "roll", "description": "x", "options": [
        opt(choices=[{"name": f"c{i}", "value": f"v{i}"} for i in range(26)])]},
     ("options", "0", "choices")),
    ({"name": "roll", "description": "x", "options": [
        opt(choices=[{"name": "c", "value": 3}])]}, ("options", "0", "choices", "0", "value")),
    ({"name": "roll", "description": "x", "options": [
        opt(type=4, choices=[{"name": "c", "value": "3"}])]},
     ("options", "0", "choices", "0", "value")),
    ({"name": "roll", "description": "x", "options": [opt(type=5, choices=[
        {"name": "c", "value": 1}])]}, ("options", "0", "choices")),
    ({"name": "roll", "description": "x", "options": [opt(type=4, min_value=5, max_value=1)]},
     ("options", "0", "min_value")),
    ({"name": "roll", "description": "x", "options": [opt(max_length=6001)]},
     ("options", "0", "max_length")),
    ({"name": "roll", "description": "x", "options": [opt(min_length=-1)]},
     ("options", "0", "min_length")),
    ({"name": "roll", "description": "x", "options": [
        opt(autocomplete=True, choices=[{"name": "c", "value": "v"}])]},
     ("options", "0", "autocomplete")),
    ({"name": "roll", "description": "x", "options": [
        opt(type=1, name="sub"), opt(name="plain")]}, ("options", "1", "type")),
    ({"name": "roll", "description": "x", "options": [
        opt(type=2, name="grp", options=[opt(name="plain")])]},
     ("options", "0", "options", "0", "type")),
    ({"name": "roll", "description": "x", "options": [
        opt(type=2, name="grp", options=[opt(type=2, name="deep")])]},
     ("options", "0", "options", "0", "type")),
    ({"name": "roll", "description": "x", "options": [
        opt(type=1, name="sub", options=[opt(type=1, name="deep")])]},
     ("options", "0", "options", "0", "type")),
    ({"name": "roll", "description": "x", "contexts": [7]}, ("contexts", "0")),
    ({"name": "roll", "description": "x", "default_member_permissions": "x"},
     ("default_member_permissions",)),
    ({"name": "roll", "description": "x", "nsfw": "yes"}, ("nsfw",)),
]


@pytest.mark.parametrize(("body", "where"), BAD)
async def test_bad_definitions_are_50035_at_the_field(
    api: Api, platform: Platform, body: dict[str, Any], where: tuple[str, ...]
) -> None:
    _, bot, _ = await world(api, platform)
    errors_at(await api.post(path(bot), bot.token, bot=True, json=body), *where)
    # The same in a bulk overwrite, under its index.
    errors_at(await api.put(path(bot), bot.token, bot=True, json=[SLASH, body]), "1", *where)
    assert (await api.get(path(bot), bot.token, bot=True)).body == []


async def test_unicode_names_and_the_limits_that_pass(api: Api, platform: Platform) -> None:
    _, bot, _ = await world(api, platform)
    body = {"name": "привет-名前_2", "description": "x" * 100, "options": [
        opt(name=f"o{i}", choices=[{"name": f"c{j}", "value": f"v{j}"} for j in range(25)])
        for i in range(3)] + [opt(name=f"p{i}") for i in range(22)]}
    r = await api.post(path(bot), bot.token, bot=True, json=body)
    assert r.status == 201, r.body


async def test_the_scope_limit_per_type(api: Api, platform: Platform) -> None:
    _, bot, _ = await world(api, platform)
    menus = [{"name": f"Menu {i}", "type": 2} for i in range(MAX_BY_TYPE[2])]
    assert (await api.put(path(bot), bot.token, bot=True, json=menus)).status == 200
    assert_error(await api.post(path(bot), bot.token, bot=True,
                                json={"name": "One more", "type": 2}), 400, 30032)
    assert_error(await api.put(path(bot), bot.token, bot=True,
                               json=[*menus, {"name": "One more", "type": 2}]), 400, 30032)
    # Chat input has its own 100.
    many = [{"name": f"c{i}", "description": "x"} for i in range(MAX_BY_TYPE[1])]
    assert (await api.put(path(bot), bot.token, bot=True, json=[*menus, *many])).status == 200
    assert_error(await api.post(path(bot), bot.token, bot=True,
                                json={"name": "c100", "description": "x"}), 400, 30032)


async def test_patch_to_a_taken_name_is_refused(api: Api, platform: Platform) -> None:
    _, bot, _ = await world(api, platform)
    a = (await api.post(path(bot), bot.token, bot=True, json=SLASH)).body
    await api.post(path(bot), bot.token, bot=True, json={"name": "other", "description": "x"})
    errors_at(await api.patch(f"{path(bot)}/{a['id']}", bot.token, bot=True,
                              json={"name": "other"}), "name")
    errors_at(await api.patch(f"{path(bot)}/{a['id']}", bot.token, bot=True,
                              json={"options": [opt(name="Bad")]}), "options", "0", "name")


async def test_the_command_index_lists_what_a_member_may_run_in_the_guild(
    api: Api, platform: Platform
) -> None:
    owner, bot, guild = await world(api, platform)
    member = await api.register()
    await add_member(platform, guild, member)
    outsider_bot = await make_bot(api, owner, "Elsewhere")  # has commands, not in the guild
    await api.post(path(outsider_bot), outsider_bot.token, bot=True, json=SLASH)
    index = f"/guilds/{guild['id']}/application-command-index"
    empty = (await api.get(index, member.token)).body
    assert empty == {"applications": [], "application_commands": [], "version": "0"}

    roll = (await api.post(path(bot, guild), bot.token, bot=True, json=SLASH)).body
    ping = (await api.post(path(bot), bot.token, bot=True,
                           json={"name": "ping", "description": "Pong"})).body
    await api.post(path(bot), bot.token, bot=True,
                   json={"name": "dm-only", "description": "Not here", "contexts": [1, 2]})
    await api.post(path(bot, guild), bot.token, bot=True,
                   json={"name": "purge", "description": "Mods", "default_member_permissions": "8192"})
    seen = (await api.get(index, member.token)).body
    assert [a["id"] for a in seen["applications"]] == [bot.id]
    assert seen["applications"][0]["bot_id"] == bot.id
    assert sorted(c["name"] for c in seen["application_commands"]) == ["ping", "roll"]
    assert next(c for c in seen["application_commands"] if c["name"] == "roll") == roll
    assert seen["version"] == max(roll["version"], ping["version"], key=int)
    # The owner holds MANAGE_MESSAGES (8192): the moderators' command is listed for them.
    mine = (await api.get(index, owner.token)).body
    assert sorted(c["name"] for c in mine["application_commands"]) == ["ping", "purge", "roll"]

    stranger = await api.register()
    assert_error(await api.get(index, stranger.token), 403, 50001)
    assert_error(await api.get("/guilds/1/application-command-index", member.token), 404, 10004)
