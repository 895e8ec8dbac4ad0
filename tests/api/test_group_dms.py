"""Group DMs over REST (core.group_dms): creation with ``recipients``, adding and removing
recipients, leaving, name/icon/owner, the 10-member limit, messages, and who hears of what."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from core.blobs import BLOBS_DIR
from core.config import Config
from core.events import Event
from core.group_dms import MAX_RECIPIENTS
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, make_bot, named, settle
from tests.api.test_attachments import png

ME = "/users/@me/channels"
IMAGE = png(4, 4)
ICON = "data:image/png;base64," + base64.b64encode(IMAGE).decode()


def icon_files(config: Config, channel_id: str) -> list[Path]:
    root = Path(config.data_dir) / BLOBS_DIR / "channel-icons" / channel_id
    return sorted(root.iterdir()) if root.exists() else []


async def create(api: Api, owner: Account, *others: Account) -> dict[str, Any]:
    r = await api.post(ME, owner.token, json={"recipients": [o.id for o in others]})
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


async def pair(api: Api, owner: Account, other: Account) -> dict[str, Any]:
    """A group DM of two (one recipient named at creation would open their DM instead)."""
    group = await create(api, owner)
    r = await api.put(f"/channels/{group['id']}/recipients/{other.id}", owner.token)
    assert r.status == 204, r.body
    return group


def ids(users: list[dict[str, Any]]) -> list[str]:
    return sorted(u["id"] for u in users)


def recipients_path(channel: dict[str, Any], who: Account) -> str:
    return f"/channels/{channel['id']}/recipients/{who.id}"


@pytest.fixture
async def trio(api: Api) -> tuple[Account, Account, Account]:
    return await api.register(), await api.register(), await api.register()


# -- create ---------------------------------------------------------------------------------


async def test_create_makes_a_group_owned_by_its_creator(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await create(api, a, b, c)
    assert group["type"] == 3 and group["owner_id"] == a.id
    assert group["name"] is None and group["icon"] is None
    assert ids(group["recipients"]) == sorted([b.id, c.id])  # the others, as Discord lists
    await settle()
    created = named(events, "CHANNEL_CREATE")
    assert sorted(e.user_ids for e in created) == sorted([(int(a.id),), (int(b.id),),
                                                          (int(c.id),)])
    for e in created:  # each sees the others
        assert ids(e.data["recipients"]) == sorted(
            u.id for u in (a, b, c) if (int(u.id),) != e.user_ids)
    listed = await api.get(ME, b.token)
    assert [ch["id"] for ch in listed.body] == [group["id"]]
    got = await api.get(f"/channels/{group['id']}", c.token)
    assert got.status == 200 and got.body["type"] == 3
    assert ids(got.body["recipients"]) == sorted([a.id, b.id])
    stranger = await api.register()
    assert_error(await api.get(f"/channels/{group['id']}", stranger.token), 403, 50001)


async def test_one_recipient_opens_the_dm_and_none_a_group_of_one(
    api: Api, trio: tuple[Account, Account, Account]
) -> None:
    a, b, _ = trio
    dm = await create(api, a, b)
    assert dm["type"] == 1
    same = await api.post(ME, a.token, json={"recipient_id": b.id})
    assert same.body["id"] == dm["id"]
    alone = await create(api, a)
    assert alone["type"] == 3 and alone["recipients"] == [] and alone["owner_id"] == a.id


async def test_a_group_holds_ten_members(api: Api, platform: Platform) -> None:
    owner = await api.register()
    others = [await api.register() for _ in range(MAX_RECIPIENTS)]
    assert_error(await api.post(ME, owner.token,
                                json={"recipients": [o.id for o in others]}), 400, 30004)
    group = await create(api, owner, *others[:-1])
    assert len(group["recipients"]) == MAX_RECIPIENTS - 1
    assert_error(await api.put(recipients_path(group, others[-1]), owner.token), 400, 30004)


@pytest.mark.parametrize("case", ["self", "unknown", "bot", "not a list", "bad id"])
async def test_invalid_recipients(
    api: Api, trio: tuple[Account, Account, Account], case: str
) -> None:
    a, b, _ = trio
    bot = await make_bot(api, a)
    recipients: Any = {
        "self": [b.id, a.id], "unknown": [b.id, UNKNOWN], "bot": [b.id, bot.id],
        "not a list": b.id, "bad id": [b.id, "x"],
    }[case]
    r = await api.post(ME, a.token, json={"recipients": recipients})
    assert_error(r, 400, 50035 if case in ("not a list", "bad id") else 50033)


async def test_bots_cannot_create_a_group(api: Api, trio: tuple[Account, Account, Account]) -> None:
    a, b, c = trio
    bot = await make_bot(api, a)
    r = await api.post(ME, bot.token, json={"recipients": [b.id, c.id]}, bot=True)
    assert_error(r, 403, 20001)
    r = await api.post(ME, bot.token, json={"access_tokens": ["x"], "nicks": {}}, bot=True)
    assert_error(r, 403, 20001)


# -- recipients -----------------------------------------------------------------------------


async def test_any_recipient_adds_a_user(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await pair(api, a, b)
    await settle()
    events.clear()
    r = await api.put(recipients_path(group, c), b.token, json={"access_token": "x", "nick": "y"})
    assert r.status == 204, r.body
    await settle()
    [add] = named(events, "CHANNEL_RECIPIENT_ADD")
    assert sorted(add.user_ids) == sorted([int(a.id), int(b.id)])
    assert add.data == {"channel_id": group["id"], "user": add.data["user"]}
    assert add.data["user"]["id"] == c.id
    [created] = named(events, "CHANNEL_CREATE")
    assert created.user_ids == (int(c.id),) and ids(created.data["recipients"]) == sorted(
        [a.id, b.id])
    [system] = named(events, "MESSAGE_CREATE")
    assert system.data["type"] == 1 and system.data["author"]["id"] == b.id
    assert [u["id"] for u in system.data["mentions"]] == [c.id]
    assert sorted(system.user_ids) == sorted(int(u.id) for u in (a, b, c))
    # Again: nothing changes, nobody hears of it.
    events.clear()
    assert (await api.put(recipients_path(group, c), a.token)).status == 204
    await settle()
    assert events == []
    history = await api.get(f"/channels/{group['id']}/messages", c.token)
    assert [m["type"] for m in history.body] == [1, 1]  # b added, then c


async def test_adding_needs_a_group_one_is_in_and_a_user(
    api: Api, trio: tuple[Account, Account, Account]
) -> None:
    a, b, c = trio
    group = await pair(api, a, b)
    assert_error(await api.put(recipients_path(group, a), c.token), 403, 50001)
    unknown = f"/channels/{group['id']}/recipients/{UNKNOWN}"
    assert_error(await api.put(unknown, a.token), 404, 10013)
    bot = await make_bot(api, a)
    assert_error(await api.put(recipients_path(group, bot), a.token), 400, 50033)
    dm = await create(api, a, c)
    assert_error(await api.put(recipients_path(dm, b), a.token), 400, 50024)
    guild = await api.guild(a)
    channel = {"id": guild["channels"][0]["id"]}
    assert_error(await api.put(recipients_path(channel, b), a.token), 400, 50024)


async def test_the_owner_removes_and_others_only_leave(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await create(api, a, b, c)
    assert_error(await api.delete(recipients_path(group, c), b.token), 403, 50013)
    await settle()
    events.clear()
    assert (await api.delete(recipients_path(group, c), a.token)).status == 204
    await settle()
    [gone] = named(events, "CHANNEL_DELETE")
    assert gone.user_ids == (int(c.id),) and gone.data["id"] == group["id"]
    [removed] = named(events, "CHANNEL_RECIPIENT_REMOVE")
    assert sorted(removed.user_ids) == sorted([int(a.id), int(b.id)])
    assert removed.data["user"]["id"] == c.id
    [system] = named(events, "MESSAGE_CREATE")
    assert system.data["type"] == 2 and int(c.id) not in system.user_ids
    assert_error(await api.get(f"/channels/{group['id']}/messages", c.token), 403, 50001)
    assert_error(await api.delete(recipients_path(group, c), a.token), 404, 10013)
    # b removes themself: leaving.
    assert (await api.delete(recipients_path(group, b), b.token)).status == 204
    assert (await api.get(ME, b.token)).body == []


async def test_the_owner_leaving_hands_the_group_over_and_the_last_deletes_it(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await pair(api, a, b)
    await api.put(recipients_path(group, c), a.token)
    await settle()
    events.clear()
    left = await api.delete(f"/channels/{group['id']}", a.token)
    assert left.status == 200 and left.body["id"] == group["id"] and left.body["type"] == 3
    await settle()
    updates = named(events, "CHANNEL_UPDATE")
    assert sorted(e.user_ids for e in updates) == sorted([(int(b.id),), (int(c.id),)])
    assert all(e.data["owner_id"] == b.id for e in updates)  # there longest
    await api.delete(f"/channels/{group['id']}", b.token)
    await api.delete(f"/channels/{group['id']}", c.token)
    assert_error(await api.get(f"/channels/{group['id']}", c.token), 404, 10003)


# -- settings -------------------------------------------------------------------------------


async def test_recipients_rename_and_the_owner_hands_over(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await pair(api, a, b)
    path = f"/channels/{group['id']}"
    await settle()
    events.clear()
    r = await api.patch(path, b.token, json={"name": "  trip  ", "icon": ICON})
    assert r.status == 200 and r.body["name"] == "trip" and len(r.body["icon"]) == 32
    await settle()
    kinds = [e.data["type"] for e in named(events, "MESSAGE_CREATE")]
    assert kinds == [4, 5]
    assert named(events, "MESSAGE_CREATE")[0].data["content"] == "trip"
    assert_error(await api.patch(path, b.token, json={"owner_id": b.id}), 403, 50013)
    assert_error(await api.patch(path, a.token, json={"owner_id": c.id}), 400, 50035)
    r = await api.patch(path, a.token, json={"owner_id": b.id})
    assert r.status == 200 and r.body["owner_id"] == b.id
    r = await api.patch(path, b.token, json={"name": ""})
    assert r.status == 200 and r.body["name"] is None
    assert_error(await api.patch(path, a.token, json={"name": "x" * 101}), 400, 50035)
    assert_error(await api.patch(path, a.token, json={"icon": 5}), 400, 50035)


async def test_a_group_icon_is_stored_served_and_deleted_with_the_group(
    api: Api, trio: tuple[Account, Account, Account], config: Config
) -> None:
    a, b, _ = trio
    group = await pair(api, a, b)
    path = f"/channels/{group['id']}"
    r = await api.patch(path, b.token, json={"icon": ICON})
    assert r.status == 200, r.body
    icon = r.body["icon"]
    for ext in ("png", "webp"):  # Discord's URL, whatever extension is asked
        resp = await api.client.get(f"/channel-icons/{group['id']}/{icon}.{ext}?size=80")
        assert resp.status == 200 and await resp.read() == IMAGE
        assert resp.headers["Content-Type"] == "image/png"
    assert (await api.client.get(f"/channel-icons/{group['id']}/{'0' * 32}.png")).status == 404
    # Not an image, or not base64: refused, nothing changes.
    bad = "data:image/png;base64," + base64.b64encode(b"<svg/>" * 10).decode()
    assert_error(await api.patch(path, a.token, json={"icon": bad}), 400, 50035)
    assert_error(await api.patch(path, a.token, json={"icon": "data:image/png;base64,AA=="}),
                 400, 50035)
    # A refused change stores nothing: a non-owner's owner_id with a new icon.
    other = "data:image/png;base64," + base64.b64encode(png(2, 3)).decode()
    r = await api.patch(path, b.token, json={"icon": other, "owner_id": b.id})
    assert_error(r, 403, 50013)
    assert len(icon_files(config, group["id"])) == 1
    # The icon's hash sent back as it is keeps it.
    r = await api.patch(path, a.token, json={"icon": icon, "name": "x"})
    assert r.status == 200 and r.body["icon"] == icon
    # The last one out deletes the group and its icons.
    await api.delete(path, a.token)
    await api.delete(path, b.token)
    assert icon_files(config, group["id"]) == []
    assert (await api.client.get(f"/channel-icons/{group['id']}/{icon}.png")).status == 404


# -- messages -------------------------------------------------------------------------------


async def test_messages_reach_every_recipient_and_nobody_else(
    api: Api, trio: tuple[Account, Account, Account], events: list[Event]
) -> None:
    a, b, c = trio
    group = await create(api, a, b, c)
    await settle()
    events.clear()
    sent = await api.post(f"/channels/{group['id']}/messages", b.token, json={"content": "hi all"})
    assert sent.status == 200, sent.body
    await settle()
    [created] = named(events, "MESSAGE_CREATE")
    assert sorted(created.user_ids) == sorted(int(u.id) for u in (a, b, c))
    assert created.guild_id is None and "guild_id" not in created.data
    history = await api.get(f"/channels/{group['id']}/messages", c.token)
    assert [m["content"] for m in history.body] == ["hi all"]
    stranger = await api.register()
    r = await api.post(f"/channels/{group['id']}/messages", stranger.token, json={"content": "x"})
    assert_error(r, 403, 50001)


# -- the OpenAPI document -------------------------------------------------------------------


async def test_group_dm_responses_match_the_documented_schemas(
    api: Api, trio: tuple[Account, Account, Account]
) -> None:
    doc = await (await api.client.get("/api/openapi.json")).json()

    def check(method: str, path: str, body: Any) -> None:
        op = doc["paths"]["/api/v10" + path][method.lower()]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)

    a, b, c = trio
    group = await create(api, a, b, c)  # no name: null
    check("POST", "/users/@me/channels", group)
    path = f"/channels/{group['id']}"
    check("GET", "/channels/{channel_id}", (await api.get(path, b.token)).body)
    renamed = await api.patch(path, b.token, json={"name": "trip"})
    check("PATCH", "/channels/{channel_id}", renamed.body)
    check("GET", "/users/@me/channels", (await api.get(ME, c.token)).body)
    check("DELETE", "/channels/{channel_id}", (await api.delete(path, c.token)).body)
