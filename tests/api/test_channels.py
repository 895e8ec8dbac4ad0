"""Channel routes: guild channels (list, create, reorder), one channel (get, edit, delete), DMs."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Event
from core.models import Message
from core.permissions import Permission
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import add_member, assert_error, grant, named, settle

UNKNOWN = "1234567890123456789"
VIEW = str(int(Permission.VIEW_CHANNEL))












async def make_channel(api: Api, owner: Account, guild: dict[str, Any], **body: Any) -> Any:
    r = await api.post(f"/guilds/{guild['id']}/channels", owner.token, json=body)
    assert r.status == 201, r.body
    return r.body


async def hidden_channel(api: Api, owner: Account, guild: dict[str, Any]) -> Any:
    """A text channel @everyone cannot VIEW."""
    return await make_channel(api, owner, guild, name="staff", permission_overwrites=[
        {"id": guild["id"], "type": 0, "allow": "0", "deny": VIEW}])


async def seed_message(platform: Platform, channel: dict[str, Any], author: Account) -> None:
    await platform.messages.insert_many([Message(
        platform.ids.next(), int(channel["id"]), int(author.id), "hello",
        guild_id=int(channel["guild_id"]),
    )])


# -- GET /guilds/{id}/channels ----------------------------------------------------------------

async def test_list_channels_shows_only_viewable_channels(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    await hidden_channel(api, owner, guild)
    r = await api.get(f"/guilds/{guild['id']}/channels", member.token)
    assert r.status == 200 and [c["name"] for c in r.body] == ["general"]
    r = await api.get(f"/guilds/{guild['id']}/channels", owner.token)
    assert [c["name"] for c in r.body] == ["general", "staff"]


async def test_list_channels_errors(api: Api) -> None:
    owner, stranger = await api.register(), await api.register()
    guild = await api.guild(owner)
    path = f"/guilds/{guild['id']}/channels"
    assert_error(await api.get(path), 401, 40001)
    assert_error(await api.get(path, stranger.token), 403, 50001)
    assert_error(await api.get(f"/guilds/{UNKNOWN}/channels", owner.token), 404, 10004)


# -- POST /guilds/{id}/channels ---------------------------------------------------------------

async def test_create_text_channel_normalizes_name_and_publishes(
    api: Api, events: list[Event]
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    cat = await make_channel(api, owner, guild, name="Voice Stuff", type=4)
    assert cat["type"] == 4 and cat["name"] == "Voice Stuff"
    body = {"name": " Hello  World ", "topic": "t", "nsfw": True, "rate_limit_per_user": 10,
            "parent_id": int(cat["id"])}
    ch = await make_channel(api, owner, guild, **body)
    assert ch["name"] == "hello-world" and ch["topic"] == "t" and ch["nsfw"] is True
    assert ch["rate_limit_per_user"] == 10 and ch["parent_id"] == cat["id"]
    assert ch["guild_id"] == guild["id"] and ch["position"] == 2
    await settle()
    ev = named(events, "CHANNEL_CREATE")[-1]
    assert ev.data == ch and ev.guild_id == int(guild["id"]) and ev.channel_id == int(ch["id"])


async def test_create_channel_with_overwrites(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    ch = await make_channel(api, owner, guild, name="private", permission_overwrites=[
        {"id": guild["id"], "type": 0, "deny": VIEW},
        {"id": int(member.id), "type": 1, "allow": int(VIEW)},
    ])
    assert {(o["id"], o["type"], o["allow"], o["deny"]) for o in ch["permission_overwrites"]} \
        == {(guild["id"], 0, "0", VIEW), (member.id, 1, VIEW, "0")}
    assert (await api.get(f"/channels/{ch['id']}", member.token)).status == 200


async def test_create_channel_without_token_is_401(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    r = await api.post(f"/guilds/{guild['id']}/channels", json={"name": "x"})
    assert_error(r, 401, 40001)


async def test_create_channel_without_manage_channels_is_403(
    api: Api, platform: Platform
) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    path = f"/guilds/{guild['id']}/channels"
    assert_error(await api.post(path, member.token, json={"name": "x"}), 403, 50013)
    assert_error(await api.post(path, stranger.token, json={"name": "x"}), 403, 50001)


async def test_create_channel_overwrite_beyond_own_permissions_is_403(
    api: Api, platform: Platform
) -> None:
    owner, mod = await api.register(), await api.register()
    guild = await api.guild(owner)
    await grant(platform, guild, mod, Permission.MANAGE_CHANNELS)
    path = f"/guilds/{guild['id']}/channels"
    ok = await api.post(path, mod.token, json={"name": "ok", "permission_overwrites": [
        {"id": guild["id"], "type": 0, "deny": VIEW}]})
    assert ok.status == 201, ok.body
    for bits in (Permission.BAN_MEMBERS, Permission.MANAGE_ROLES):
        r = await api.post(path, mod.token, json={"name": "no", "permission_overwrites": [
            {"id": guild["id"], "type": 0, "allow": str(int(bits))}]})
        assert_error(r, 403, 50013)


async def test_create_channel_unknown_guild_is_404(api: Api) -> None:
    owner = await api.register()
    r = await api.post(f"/guilds/{UNKNOWN}/channels", owner.token, json={"name": "x"})
    assert_error(r, 404, 10004)


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "x", "type": 2}, "type"),
    ({"name": "x", "type": 1}, "type"),
    ({"name": "x", "topic": "t" * 1025}, "topic"),
    ({"name": "x", "rate_limit_per_user": 21601}, "rate_limit_per_user"),
    ({"name": "x", "position": -1}, "position"),
    ({"name": "x", "nsfw": "yes"}, "nsfw"),
    ({"name": "x", "parent_id": "abc"}, "parent_id"),
    ({"name": "x", "permission_overwrites": {}}, "permission_overwrites"),
    ({"name": "x", "permission_overwrites": [{"id": "1", "type": 2}]}, "permission_overwrites"),
    ({"name": "x", "permission_overwrites": [{"type": 0}]}, "permission_overwrites"),
])
async def test_create_channel_bad_body_is_50035(
    api: Api, body: dict[str, Any], field: str
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    r = await api.post(f"/guilds/{guild['id']}/channels", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert list(r.body["errors"]) == [field]


async def test_create_channel_parent_must_be_category_of_this_guild(api: Api) -> None:
    owner = await api.register()
    guild, other = await api.guild(owner), await api.guild(owner, "Other")
    foreign_cat = await make_channel(api, owner, other, name="cat", type=4)
    cat = await make_channel(api, owner, guild, name="cat", type=4)
    path = f"/guilds/{guild['id']}/channels"
    r = await api.post(path, owner.token, json={"name": "x", "parent_id": foreign_cat["id"]})
    assert_error(r, 404, 10003)
    r = await api.post(path, owner.token,
                       json={"name": "x", "parent_id": guild["channels"][0]["id"]})
    assert_error(r, 400, 50035)
    r = await api.post(path, owner.token, json={"name": "x", "type": 4, "parent_id": cat["id"]})
    assert_error(r, 400, 50035)


async def test_create_channel_overwrite_targets_of_other_guild_are_unknown(api: Api) -> None:
    owner, outsider = await api.register(), await api.register()
    guild, other = await api.guild(owner), await api.guild(owner, "Other")
    path = f"/guilds/{guild['id']}/channels"
    r = await api.post(path, owner.token, json={"name": "x", "permission_overwrites": [
        {"id": other["id"], "type": 0, "deny": VIEW}]})
    assert_error(r, 404, 10011)
    r = await api.post(path, owner.token, json={"name": "x", "permission_overwrites": [
        {"id": outsider.id, "type": 1, "deny": VIEW}]})
    assert_error(r, 404, 10007)


async def test_create_channel_over_limit_is_30013(api: Api, platform: Platform) -> None:
    platform.config = platform.config.replace(max_channels_per_guild=2)
    owner = await api.register()
    guild = await api.guild(owner)
    await make_channel(api, owner, guild, name="second")
    r = await api.post(f"/guilds/{guild['id']}/channels", owner.token, json={"name": "third"})
    assert_error(r, 400, 30013)
    assert r.body["message"] == "Maximum number of guild channels reached (2)"


# -- GET /channels/{id} -----------------------------------------------------------------------

async def test_get_channel_for_viewer(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    general = guild["channels"][0]
    r = await api.get(f"/channels/{general['id']}", member.token)
    assert r.status == 200 and r.body == general


async def test_get_channel_errors(api: Api, platform: Platform) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    hidden = await hidden_channel(api, owner, guild)
    general = guild["channels"][0]["id"]
    assert_error(await api.get(f"/channels/{general}"), 401, 40001)
    assert_error(await api.get(f"/channels/{general}", stranger.token), 403, 50001)
    assert_error(await api.get(f"/channels/{hidden['id']}", member.token), 403, 50001)
    assert_error(await api.get(f"/channels/{UNKNOWN}", owner.token), 404, 10003)
    assert_error(await api.get("/channels/abc", owner.token), 404, 10003)


# -- PATCH /channels/{id} ---------------------------------------------------------------------

async def test_patch_channel_updates_and_publishes(api: Api, events: list[Event]) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    cid = guild["channels"][0]["id"]
    body = {"name": "Main Hall", "topic": "welcome", "rate_limit_per_user": 5, "type": 0,
            "permission_overwrites": [{"id": guild["id"], "type": 0, "deny": "2048"}]}
    r = await api.patch(f"/channels/{cid}", owner.token, json=body)
    assert r.status == 200, r.body
    assert r.body["name"] == "main-hall" and r.body["topic"] == "welcome"
    assert r.body["rate_limit_per_user"] == 5
    assert r.body["permission_overwrites"] == [
        {"id": guild["id"], "type": 0, "allow": "0", "deny": "2048"}]
    await settle()
    [ev] = named(events, "CHANNEL_UPDATE")
    assert ev.data == r.body and ev.channel_id == int(cid) and ev.guild_id == int(guild["id"])
    r = await api.patch(f"/channels/{cid}", owner.token, json={"topic": "welcome"})
    await settle()
    assert r.status == 200 and len(named(events, "CHANNEL_UPDATE")) == 1  # nothing changed


async def test_patch_channel_overwrites_need_manage_roles(api: Api, platform: Platform) -> None:
    owner, mod = await api.register(), await api.register()
    guild = await api.guild(owner)
    await grant(platform, guild, mod, Permission.MANAGE_CHANNELS)
    path = f"/channels/{guild['channels'][0]['id']}"
    assert (await api.patch(path, mod.token, json={"name": "renamed"})).status == 200
    r = await api.patch(path, mod.token, json={"permission_overwrites": []})
    assert_error(r, 403, 50013)


async def test_patch_channel_errors(api: Api, platform: Platform) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    path = f"/channels/{guild['channels'][0]['id']}"
    assert_error(await api.patch(path, json={"name": "x"}), 401, 40001)
    assert_error(await api.patch(path, member.token, json={"name": "x"}), 403, 50013)
    assert_error(await api.patch(path, stranger.token, json={"name": "x"}), 403, 50001)
    assert_error(await api.patch(f"/channels/{UNKNOWN}", owner.token, json={}), 404, 10003)


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"type": 4}, "type"),
    ({"rate_limit_per_user": -1}, "rate_limit_per_user"),
    ({"topic": 5}, "topic"),
    ({"permission_overwrites": [{"id": "1", "type": 0, "allow": "x"}]}, "permission_overwrites"),
])
async def test_patch_channel_bad_body_is_50035(
    api: Api, body: dict[str, Any], field: str
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    r = await api.patch(f"/channels/{guild['channels'][0]['id']}", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert list(r.body["errors"]) == [field]


async def test_patch_channel_cross_guild_ids_are_unknown(api: Api) -> None:
    owner = await api.register()
    guild, other = await api.guild(owner), await api.guild(owner, "Other")
    foreign_cat = await make_channel(api, owner, other, name="cat", type=4)
    path = f"/channels/{guild['channels'][0]['id']}"
    assert_error(await api.patch(path, owner.token, json={"parent_id": foreign_cat["id"]}),
                 404, 10003)
    r = await api.patch(path, owner.token, json={"permission_overwrites": [
        {"id": other["id"], "type": 0, "deny": VIEW}]})
    assert_error(r, 404, 10011)


async def test_patch_channel_sets_and_clears_parent(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    cat = await make_channel(api, owner, guild, name="cat", type=4)
    path = f"/channels/{guild['channels'][0]['id']}"
    r = await api.patch(path, owner.token, json={"parent_id": cat["id"]})
    assert r.body["parent_id"] == cat["id"]
    r = await api.patch(path, owner.token, json={"parent_id": None})
    assert r.body["parent_id"] is None


async def test_patch_dm_is_50003(api: Api) -> None:
    a, b = await api.register(), await api.register()
    dm = await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})
    r = await api.patch(f"/channels/{dm.body['id']}", a.token, json={"name": "x"})
    assert_error(r, 400, 50003)


# -- DELETE /channels/{id} --------------------------------------------------------------------

async def test_delete_channel_returns_it_drops_history_and_publishes(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    ch = await make_channel(api, owner, guild, name="doomed")
    await seed_message(platform, ch, owner)
    r = await api.delete(f"/channels/{ch['id']}", owner.token)
    assert r.status == 200 and r.body == ch
    await settle()
    [ev] = named(events, "CHANNEL_DELETE")
    assert ev.data == ch and ev.channel_id == int(ch["id"]) and ev.guild_id == int(guild["id"])
    assert_error(await api.get(f"/channels/{ch['id']}", owner.token), 404, 10003)
    assert await platform.messages.history(int(ch["id"])) == []


async def test_delete_system_channel_clears_it(api: Api, events: list[Event]) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    await api.delete(f"/channels/{guild['system_channel_id']}", owner.token)
    r = await api.get(f"/guilds/{guild['id']}", owner.token)
    assert r.body["system_channel_id"] is None
    await settle()
    [ev] = named(events, "GUILD_UPDATE")
    assert ev.data["system_channel_id"] is None


async def test_delete_category_orphans_children(api: Api, events: list[Event]) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    cat = await make_channel(api, owner, guild, name="cat", type=4)
    child = await make_channel(api, owner, guild, name="child", parent_id=cat["id"])
    await api.delete(f"/channels/{cat['id']}", owner.token)
    r = await api.get(f"/channels/{child['id']}", owner.token)
    assert r.body["parent_id"] is None
    await settle()
    [ev] = named(events, "CHANNEL_UPDATE")
    assert ev.data == r.body


async def test_delete_channel_errors(api: Api, platform: Platform) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    path = f"/channels/{guild['channels'][0]['id']}"
    assert_error(await api.delete(path), 401, 40001)
    assert_error(await api.delete(path, member.token), 403, 50013)
    assert_error(await api.delete(path, stranger.token), 403, 50001)
    assert_error(await api.delete(f"/channels/{UNKNOWN}", owner.token), 404, 10003)


async def test_delete_dm_closes_it_for_the_caller_only(api: Api, events: list[Event]) -> None:
    a, b = await api.register(), await api.register()
    dm = (await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})).body
    r = await api.delete(f"/channels/{dm['id']}", a.token)
    assert r.status == 200 and r.body == dm
    await settle()
    [ev] = named(events, "CHANNEL_DELETE")
    assert ev.user_ids == (int(a.id),) and ev.guild_id is None
    assert (await api.get(f"/channels/{dm['id']}", b.token)).status == 200


# -- DMs --------------------------------------------------------------------------------------

async def test_open_dm_is_one_channel_per_pair_and_announced_once(
    api: Api, events: list[Event]
) -> None:
    a, b = await api.register(), await api.register()
    r = await api.post("/users/@me/channels", a.token, json={"recipient_id": int(b.id)})
    assert r.status == 200 and r.body["type"] == 1
    assert [u["id"] for u in r.body["recipients"]] == [b.id]
    again = await api.post("/users/@me/channels", b.token, json={"recipient_id": a.id})
    assert again.body["id"] == r.body["id"]
    assert [u["id"] for u in again.body["recipients"]] == [a.id]
    await settle()
    created = named(events, "CHANNEL_CREATE")
    assert {e.user_ids for e in created} == {(int(a.id),), (int(b.id),)}
    by_user = {e.user_ids[0]: e.data for e in created}
    assert by_user[int(a.id)] == r.body and by_user[int(b.id)] == again.body


async def test_open_dm_get_and_list(api: Api) -> None:
    a, b, c = await api.register(), await api.register(), await api.register()
    dm = (await api.post("/users/@me/channels", a.token, json={"recipient_id": b.id})).body
    assert (await api.get(f"/channels/{dm['id']}", a.token)).body == dm
    assert_error(await api.get(f"/channels/{dm['id']}", c.token), 403, 50001)
    r = await api.get("/users/@me/channels", b.token)
    assert r.status == 200 and [d["id"] for d in r.body] == [dm["id"]]
    assert [u["id"] for u in r.body[0]["recipients"]] == [a.id]
    assert (await api.get("/users/@me/channels", c.token)).body == []


async def test_dm_routes_without_token_are_401(api: Api) -> None:
    assert_error(await api.post("/users/@me/channels", json={"recipient_id": "1"}), 401, 40001)
    assert_error(await api.get("/users/@me/channels"), 401, 40001)


async def test_open_dm_invalid_recipients(api: Api) -> None:
    a = await api.register()
    post = api.post
    assert_error(await post("/users/@me/channels", a.token, json={}), 400, 50035)
    assert_error(await post("/users/@me/channels", a.token, json={"recipient_id": "x"}),
                 400, 50035)
    assert_error(await post("/users/@me/channels", a.token, json={"recipient_id": UNKNOWN}),
                 400, 50033)
    assert_error(await post("/users/@me/channels", a.token, json={"recipient_id": a.id}),
                 400, 50033)


async def test_open_dm_bot_to_bot_is_50007(api: Api) -> None:
    owner = await api.register()
    one = await api.post("/applications", owner.token, json={"name": "One"})
    two = await api.post("/applications", owner.token, json={"name": "Two"})
    r = await api.post("/users/@me/channels", one.body["token"], bot=True,
                       json={"recipient_id": two.body["bot"]["id"]})
    assert_error(r, 400, 50007)
    r = await api.post("/users/@me/channels", one.body["token"], bot=True,
                       json={"recipient_id": owner.id})
    assert r.status == 200


# -- PATCH /guilds/{id}/channels --------------------------------------------------------------

async def test_reorder_channels_moves_and_publishes_changes_only(
    api: Api, events: list[Event]
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    general = guild["channels"][0]
    cat = await make_channel(api, owner, guild, name="cat", type=4, permission_overwrites=[
        {"id": guild["id"], "type": 0, "deny": "2048"}])
    other = await make_channel(api, owner, guild, name="other")
    await settle()
    events.clear()
    body = [{"id": general["id"], "position": 5, "parent_id": cat["id"], "lock_permissions": True},
            {"id": int(other["id"]), "position": other["position"]}]
    r = await api.patch(f"/guilds/{guild['id']}/channels", owner.token, json=body)
    assert r.status == 204 and r.body is None
    moved = (await api.get(f"/channels/{general['id']}", owner.token)).body
    assert moved["position"] == 5 and moved["parent_id"] == cat["id"]
    assert moved["permission_overwrites"] == cat["permission_overwrites"]
    await settle()
    [ev] = events
    assert ev.name == "CHANNEL_UPDATE" and ev.data == moved and ev.channel_id == int(moved["id"])


async def test_reorder_channels_errors(api: Api, platform: Platform) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild, other = await api.guild(owner), await api.guild(owner, "Other")
    await add_member(platform, guild, member)
    path = f"/guilds/{guild['id']}/channels"
    body = [{"id": guild["channels"][0]["id"], "position": 1}]
    assert_error(await api.patch(path, json=body), 401, 40001)
    assert_error(await api.patch(path, member.token, json=body), 403, 50013)
    assert_error(await api.patch(path, stranger.token, json=body), 403, 50001)
    assert_error(await api.patch(f"/guilds/{UNKNOWN}/channels", owner.token, json=body),
                 404, 10004)
    foreign = [{"id": other["channels"][0]["id"], "position": 1}]
    assert_error(await api.patch(path, owner.token, json=foreign), 404, 10003)


@pytest.mark.parametrize("body, errors", [
    ({"id": "1"}, ["_root"]),
    ([{"position": 1}], ["0"]),
    ([{"id": "abc"}], ["0"]),
    ([5], ["0"]),
])
async def test_reorder_channels_bad_body_is_50035(api: Api, body: Any, errors: list[str]) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    r = await api.patch(f"/guilds/{guild['id']}/channels", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert list(r.body["errors"]) == errors


async def test_reorder_channels_bad_position_names_the_entry(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    body = [{"id": guild["channels"][0]["id"], "position": "x"}]
    r = await api.patch(f"/guilds/{guild['id']}/channels", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert "position" in r.body["errors"]["0"]
