"""Guild routes: POST/GET/PATCH/DELETE /guilds, GET /users/@me/guilds, the GUILD_CREATE payload."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ApiError
from core.events import Event
from core.guilds import guild_create_payload
from core.models import Member, Message
from core.permissions import ALL, DEFAULT_EVERYONE, Permission
from core.platform import Platform
from tests.api.conftest import Api
from tests.api.helpers import add_member, assert_error, grant, settle

UNKNOWN = "1234567890123456789"










# -- POST /guilds -----------------------------------------------------------------------------

async def test_create_guild_returns_full_guild_with_everyone_and_general(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner, "  My Guild  ")
    assert guild["name"] == "My Guild"
    assert guild["owner_id"] == owner.id
    [everyone] = guild["roles"]
    assert everyone["id"] == guild["id"] and everyone["name"] == "@everyone"
    assert everyone["permissions"] == str(DEFAULT_EVERYONE) and everyone["position"] == 0
    [general] = guild["channels"]
    assert general["name"] == "general" and general["type"] == 0 and general["position"] == 0
    assert guild["system_channel_id"] == general["id"]


async def test_create_guild_publishes_guild_create_to_owner(
    api: Api, events: list[Event]
) -> None:
    owner = await api.register()
    r = await api.post("/guilds", owner.token, json={"name": "Evented"})
    await settle()
    [ev] = [e for e in events if e.name == "GUILD_CREATE"]
    assert ev.user_ids == (int(owner.id),) and ev.guild_id == int(r.body["id"])
    d = ev.data
    assert d["id"] == r.body["id"] and d["roles"] == r.body["roles"]
    assert [c["name"] for c in d["channels"]] == ["general"]
    assert [m["user"]["id"] for m in d["members"]] == [owner.id]
    assert d["members"][0]["flags"] == 0
    assert d["member_count"] == 1 and d["large"] is False
    # A join: no ``unavailable`` (discord.py reads ``false`` as an outage ending, not a join).
    assert "unavailable" not in d
    assert d["joined_at"] == d["members"][0]["joined_at"]
    for key in ("threads", "presences", "voice_states", "stage_instances", "emojis",
                "stickers", "guild_scheduled_events", "soundboard_sounds"):
        assert d[key] == [], key


async def test_create_guild_without_token_is_401(api: Api) -> None:
    assert_error(await api.post("/guilds", json={"name": "x"}), 401, 40001)


@pytest.mark.parametrize("body", [{}, {"name": "a"}, {"name": "x" * 101}, {"name": 12},
                                  {"name": "   "}])
async def test_create_guild_bad_name_is_50035(api: Api, body: dict[str, Any]) -> None:
    owner = await api.register()
    r = await api.post("/guilds", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert "name" in r.body["errors"]


async def test_create_guild_over_limit_is_30001(api: Api, platform: Platform) -> None:
    platform.config = platform.config.replace(max_guilds_per_user=2)
    owner = await api.register()
    await api.guild(owner)
    await api.guild(owner)
    r = await api.post("/guilds", owner.token, json={"name": "third"})
    assert_error(r, 400, 30001)
    assert r.body["message"] == "Maximum number of guilds reached (2)"


async def test_create_guild_bot_limited_to_ten_guilds(api: Api) -> None:
    owner = await api.register()
    app = await api.post("/applications", owner.token, json={"name": "Robot"})
    token = app.body["token"]
    for i in range(10):
        r = await api.post("/guilds", token, json={"name": f"bot guild {i}"}, bot=True)
        assert r.status == 201, r.body
    r = await api.post("/guilds", token, json={"name": "one too many"}, bot=True)
    assert_error(r, 400, 30001)
    assert r.body["message"] == "Maximum number of guilds reached (10)"


# -- GET /guilds/{id} -------------------------------------------------------------------------

async def test_get_guild_as_member_returns_guild(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    r = await api.get(f"/guilds/{guild['id']}", member.token)
    assert r.status == 200 and r.body["id"] == guild["id"] and r.body["name"] == "Guild"
    assert "approximate_member_count" not in r.body


async def test_get_guild_with_counts_adds_approximate_counts(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    r = await api.get(f"/guilds/{guild['id']}", owner.token, params={"with_counts": "true"})
    assert r.body["approximate_member_count"] == 2
    assert r.body["approximate_presence_count"] == 0


async def test_get_guild_without_token_is_401(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    assert_error(await api.get(f"/guilds/{guild['id']}"), 401, 40001)


async def test_get_guild_non_member_is_403(api: Api) -> None:
    owner, stranger = await api.register(), await api.register()
    guild = await api.guild(owner)
    assert_error(await api.get(f"/guilds/{guild['id']}", stranger.token), 403, 50001)


@pytest.mark.parametrize("guild_id", [UNKNOWN, "abc", "0"])
async def test_get_guild_unknown_id_is_404(api: Api, guild_id: str) -> None:
    owner = await api.register()
    assert_error(await api.get(f"/guilds/{guild_id}", owner.token), 404, 10004)


# -- PATCH /guilds/{id} -----------------------------------------------------------------------

async def test_patch_guild_updates_fields_and_publishes_guild_update(
    api: Api, events: list[Event]
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    body = {"name": "Renamed", "description": "about us", "icon": "data:image/png;base64,iVBORw0KGgo="}
    r = await api.patch(f"/guilds/{guild['id']}", owner.token, json=body)
    assert r.status == 200, r.body
    assert r.body["name"] == "Renamed" and r.body["description"] == "about us"
    assert len(r.body["icon"]) == 32
    await settle()
    [ev] = [e for e in events if e.name == "GUILD_UPDATE"]
    assert ev.guild_id == int(guild["id"]) and ev.data == r.body
    assert (await api.get(f"/guilds/{guild['id']}", owner.token)).body["name"] == "Renamed"


async def test_patch_guild_with_manage_guild_member_succeeds(api: Api, platform: Platform) -> None:
    owner, manager = await api.register(), await api.register()
    guild = await api.guild(owner)
    await grant(platform, guild, manager, Permission.MANAGE_GUILD)
    r = await api.patch(f"/guilds/{guild['id']}", manager.token, json={"name": "By manager"})
    assert r.status == 200 and r.body["name"] == "By manager"


async def test_patch_guild_without_token_is_401(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    assert_error(await api.patch(f"/guilds/{guild['id']}", json={"name": "x y"}), 401, 40001)


async def test_patch_guild_without_manage_guild_is_403(api: Api, platform: Platform) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    path = f"/guilds/{guild['id']}"
    assert_error(await api.patch(path, member.token, json={"name": "nope"}), 403, 50013)
    assert_error(await api.patch(path, stranger.token, json={"name": "nope"}), 403, 50001)


async def test_patch_guild_unknown_is_404(api: Api) -> None:
    owner = await api.register()
    assert_error(await api.patch(f"/guilds/{UNKNOWN}", owner.token, json={}), 404, 10004)


@pytest.mark.parametrize("body", [{"name": "x"}, {"description": "d" * 121}, {"icon": 5},
                                  {"system_channel_id": "abc"}, {"owner_id": True}])
async def test_patch_guild_bad_field_is_50035(api: Api, body: dict[str, Any]) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    r = await api.patch(f"/guilds/{guild['id']}", owner.token, json=body)
    assert_error(r, 400, 50035)
    assert set(r.body["errors"]) == set(body)


async def test_patch_guild_system_channel_of_other_guild_is_unknown_channel(api: Api) -> None:
    owner = await api.register()
    guild, other = await api.guild(owner), await api.guild(owner, "Other")
    r = await api.patch(f"/guilds/{guild['id']}", owner.token,
                        json={"system_channel_id": other["channels"][0]["id"]})
    assert_error(r, 404, 10003)


async def test_patch_guild_system_channel_category_is_50035_and_null_clears(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    cat = await api.post(f"/guilds/{guild['id']}/channels", owner.token,
                         json={"name": "Cat", "type": 4})
    path = f"/guilds/{guild['id']}"
    r = await api.patch(path, owner.token, json={"system_channel_id": cat.body["id"]})
    assert_error(r, 400, 50035)
    r = await api.patch(path, owner.token, json={"system_channel_id": None})
    assert r.status == 200 and r.body["system_channel_id"] is None


async def test_patch_guild_owner_transfer_to_member(api: Api, platform: Platform) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    r = await api.patch(f"/guilds/{guild['id']}", owner.token, json={"owner_id": int(member.id)})
    assert r.status == 200 and r.body["owner_id"] == member.id
    # The former owner is now an ordinary member.
    r = await api.patch(f"/guilds/{guild['id']}", owner.token, json={"name": "mine again"})
    assert_error(r, 403, 50013)


async def test_patch_guild_owner_transfer_rules(api: Api, platform: Platform) -> None:
    owner, manager, outsider = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await grant(platform, guild, manager, Permission.ADMINISTRATOR)
    path = f"/guilds/{guild['id']}"
    r = await api.patch(path, manager.token, json={"owner_id": manager.id})
    assert_error(r, 403, 50013)
    r = await api.patch(path, owner.token, json={"owner_id": outsider.id})
    assert_error(r, 404, 10007)


# -- DELETE /guilds/{id} ----------------------------------------------------------------------

async def test_delete_guild_by_owner_deletes_and_notifies_every_member(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    channel_id = int(guild["channels"][0]["id"])
    await platform.messages.insert_many([Message(
        platform.ids.next(), channel_id, int(owner.id), "hello", guild_id=int(guild["id"])
    )])
    r = await api.delete(f"/guilds/{guild['id']}", owner.token)
    assert r.status == 204 and r.body is None
    await settle()
    [ev] = [e for e in events if e.name == "GUILD_DELETE"]
    assert ev.data == {"id": guild["id"], "unavailable": False}
    assert set(ev.user_ids) == {int(owner.id), int(member.id)}
    assert_error(await api.get(f"/guilds/{guild['id']}", owner.token), 404, 10004)
    assert await platform.messages.history(channel_id) == []
    assert (await api.get("/users/@me/guilds", member.token)).body == []


async def test_delete_guild_without_token_is_401(api: Api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    assert_error(await api.delete(f"/guilds/{guild['id']}"), 401, 40001)


async def test_delete_guild_non_owner_is_403(api: Api, platform: Platform) -> None:
    owner, admin, stranger = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    await grant(platform, guild, admin, Permission.ADMINISTRATOR)
    assert_error(await api.delete(f"/guilds/{guild['id']}", admin.token), 403, 50013)
    assert_error(await api.delete(f"/guilds/{guild['id']}", stranger.token), 403, 50001)


async def test_delete_guild_unknown_is_404(api: Api) -> None:
    owner = await api.register()
    assert_error(await api.delete(f"/guilds/{UNKNOWN}", owner.token), 404, 10004)


# -- GET /users/@me/guilds --------------------------------------------------------------------

async def test_my_guilds_lists_partial_guilds_with_owner_and_permissions(
    api: Api, platform: Platform
) -> None:
    owner, member = await api.register(), await api.register()
    mine, theirs = await api.guild(owner, "Mine"), await api.guild(member, "Theirs")
    await add_member(platform, mine, member)
    r = await api.get("/users/@me/guilds", member.token)
    assert r.status == 200
    by_id = {g["id"]: g for g in r.body}
    assert [g["id"] for g in r.body] == sorted(by_id, key=int)
    assert by_id[mine["id"]]["owner"] is False
    assert by_id[mine["id"]]["permissions"] == str(DEFAULT_EVERYONE)
    assert by_id[theirs["id"]]["owner"] is True
    assert by_id[theirs["id"]]["permissions"] == str(ALL)


async def test_my_guilds_pages_with_limit_before_after(api: Api) -> None:
    owner = await api.register()
    ids = [(await api.guild(owner, f"g{i}"))["id"] for i in range(4)]
    get = api.get
    r = await get("/users/@me/guilds", owner.token, params={"limit": "2"})
    assert [g["id"] for g in r.body] == ids[:2]
    r = await get("/users/@me/guilds", owner.token, params={"after": ids[1]})
    assert [g["id"] for g in r.body] == ids[2:]
    r = await get("/users/@me/guilds", owner.token, params={"before": ids[3], "limit": "2"})
    assert [g["id"] for g in r.body] == ids[1:3]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"},
                                    {"before": "abc"}, {"after": "-1"},
                                    {"after": "\u00b2"}, {"before": "\u0661"}])
async def test_my_guilds_bad_query_is_50035(api: Api, params: dict[str, str]) -> None:
    owner = await api.register()
    r = await api.get("/users/@me/guilds", owner.token, params=params)
    assert_error(r, 400, 50035)
    assert set(r.body["errors"]) == set(params)


async def test_my_guilds_without_token_is_401(api: Api) -> None:
    assert_error(await api.get("/users/@me/guilds"), 401, 40001)


# -- guild_create_payload ---------------------------------------------------------------------

async def test_guild_create_payload_shows_only_viewable_channels(
    api: Api, platform: Platform
) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    hidden = await api.post(f"/guilds/{guild['id']}/channels", owner.token, json={
        "name": "staff", "permission_overwrites": [
            {"id": guild["id"], "type": 0, "deny": str(int(Permission.VIEW_CHANNEL))}],
    })
    assert hidden.status == 201, hidden.body
    as_member = await guild_create_payload(platform, int(guild["id"]), int(member.id))
    as_owner = await guild_create_payload(platform, int(guild["id"]), int(owner.id))
    assert [c["name"] for c in as_member["channels"]] == ["general"]
    assert [c["name"] for c in as_owner["channels"]] == ["general", "staff"]
    assert as_member["member_count"] == 2 and len(as_member["members"]) == 2
    assert as_member["large"] is False


async def test_guild_create_payload_large_guild_sends_only_own_member(
    api: Api, platform: Platform
) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    gid, now = int(guild["id"]), platform.now_ms()
    for _ in range(250):  # 251 members with the owner: above the large threshold
        await platform.meta.add_member(Member(gid, platform.ids.next(), now))
    d = await guild_create_payload(platform, gid, int(owner.id))
    assert d["large"] is True and d["member_count"] == 251
    assert [m["user"]["id"] for m in d["members"]] == [owner.id]


async def test_guild_create_payload_non_member_is_missing_access(
    api: Api, platform: Platform
) -> None:
    owner, stranger = await api.register(), await api.register()
    guild = await api.guild(owner)
    with pytest.raises(ApiError) as info:
        await guild_create_payload(platform, int(guild["id"]), int(stranger.id))
    assert info.value.code == 50001
