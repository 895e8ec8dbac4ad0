"""Webhook routes: managing them (MANAGE_WEBHOOKS), the token routes, executing one (its
messages through the router, with the webhook as author), its messages' routes, the rate
limits, and that a token never reaches a log."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import orjson
import pytest
from aiohttp import FormData

from core import webhook_messages
from core.events import Event
from core.permissions import Permission
from core.platform import Platform
from core.webhooks import MAX_PER_CHANNEL
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, grant, named, settle

P = Permission
AVATAR = "data:image/png;base64,iVBORw0KGgo="
# What discord.py's Webhook.from_url and discord.js's WebhookClient parse as a token.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{68}$")


@dataclass
class World:
    owner: Account
    member: Account
    guild: dict[str, Any]

    @property
    def guild_id(self) -> str:
        return str(self.guild["id"])

    @property
    def channel(self) -> str:
        return str(self.guild["channels"][0]["id"])


@pytest.fixture
async def w(api: Api) -> World:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    return World(owner, member, guild)


async def create(api: Api, w: World, name: str = "Hook", channel: str | None = None,
                 **body: Any) -> dict[str, Any]:
    r = await api.post(f"/channels/{channel or w.channel}/webhooks", w.owner.token,
                       json={"name": name, **body})
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


def token_path(hook: dict[str, Any]) -> str:
    return f"/webhooks/{hook['id']}/{hook['token']}"


async def execute(api: Api, hook: dict[str, Any], wait: bool = True, **body: Any) -> Any:
    params = {"wait": "true"} if wait else None
    return await api.post(token_path(hook), json=body, params=params)


async def text_channel(api: Api, w: World, name: str = "other") -> str:
    r = await api.post(f"/guilds/{w.guild_id}/channels", w.owner.token, json={"name": name})
    assert r.status == 201, r.body
    return str(r.body["id"])


# -- managing them ------------------------------------------------------------------------------


async def test_create_answers_discords_webhook_object_with_its_token(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    hook = await create(api, w, "  Deploys  ", avatar=AVATAR)
    assert hook["type"] == 1 and hook["name"] == "Deploys"
    assert hook["guild_id"] == w.guild_id and hook["channel_id"] == w.channel
    assert hook["user"]["id"] == w.owner.id and hook["application_id"] is None
    assert hook["avatar"] == hashlib.md5(AVATAR.encode()).hexdigest()
    assert TOKEN_SHAPE.match(hook["token"])
    assert hook["url"] == f"{platform.config.http_url}/api/v10/webhooks/{hook['id']}/{hook['token']}"
    await settle()
    [update] = named(events, "WEBHOOKS_UPDATE")
    assert update.data == {"guild_id": w.guild_id, "channel_id": w.channel}
    assert (update.guild_id, update.channel_id) == (int(w.guild_id), int(w.channel))


async def test_a_bots_webhook_names_its_application(api: Api, w: World, platform: Platform) -> None:
    r = await api.post("/applications", w.owner.token, json={"name": "Hooker"})
    bot = Account(r.body["token"], r.body["id"], r.body["bot"]["username"])
    await grant(platform, w.guild, bot, int(P.MANAGE_WEBHOOKS | P.VIEW_CHANNEL))
    r = await api.post(f"/channels/{w.channel}/webhooks", bot.token, bot=True,
                       json={"name": "Bot hook"})
    assert r.status == 200, r.body
    assert r.body["application_id"] == bot.id and r.body["user"]["bot"] is True


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "   "}, {"name": "x" * 81}, {"name": 5},
    {"name": "My Discord hook"}, {"name": "CLYDE"}, {"name": "ok", "avatar": "x" * 65},
])
async def test_create_refuses_a_bad_name_or_avatar(api: Api, w: World, body: Any) -> None:
    r = await api.post(f"/channels/{w.channel}/webhooks", w.owner.token, json=body)
    assert_error(r, 400, 50035)


async def test_create_needs_manage_webhooks_and_a_guild_text_channel(
    api: Api, w: World, platform: Platform
) -> None:
    path = f"/channels/{w.channel}/webhooks"
    assert_error(await api.post(path, w.member.token, json={"name": "h"}), 403, 50013)
    stranger = await api.register()
    assert_error(await api.post(path, stranger.token, json={"name": "h"}), 403, 50001)
    assert_error(await api.post(f"/channels/{UNKNOWN}/webhooks", w.owner.token,
                                json={"name": "h"}), 404, 10003)
    r = await api.post(f"/guilds/{w.guild_id}/channels", w.owner.token,
                       json={"name": "cat", "type": 4})
    assert_error(await api.post(f"/channels/{r.body['id']}/webhooks", w.owner.token,
                                json={"name": "h"}), 400, 50024)
    dm = await api.post("/users/@me/channels", w.owner.token, json={"recipient_id": w.member.id})
    assert_error(await api.post(f"/channels/{dm.body['id']}/webhooks", w.owner.token,
                                json={"name": "h"}), 400, 50024)
    await grant(platform, w.guild, w.member, int(P.MANAGE_WEBHOOKS))
    r = await api.post(path, w.member.token, json={"name": "h"})
    assert r.status == 200, r.body


async def test_a_channel_holds_at_most_ten(api: Api, w: World) -> None:
    for i in range(MAX_PER_CHANNEL):
        await create(api, w, f"h{i}")
    r = await api.post(f"/channels/{w.channel}/webhooks", w.owner.token, json={"name": "one more"})
    assert_error(r, 400, 30007)
    other = await text_channel(api, w)
    await create(api, w, "elsewhere", channel=other)


async def test_listings_of_a_channel_and_a_guild(api: Api, w: World) -> None:
    other = await text_channel(api, w)
    first, second = await create(api, w, "a"), await create(api, w, "b", channel=other)
    r = await api.get(f"/channels/{w.channel}/webhooks", w.owner.token)
    assert r.status == 200 and [h["id"] for h in r.body] == [first["id"]]
    assert r.body[0]["token"] == first["token"] and r.body[0]["user"]["id"] == w.owner.id
    r = await api.get(f"/guilds/{w.guild_id}/webhooks", w.owner.token)
    assert r.status == 200 and [h["id"] for h in r.body] == [first["id"], second["id"]]
    assert_error(await api.get(f"/channels/{w.channel}/webhooks", w.member.token), 403, 50013)
    assert_error(await api.get(f"/guilds/{w.guild_id}/webhooks", w.member.token), 403, 50013)


async def test_get_edit_move_and_delete_by_id(api: Api, w: World, events: list[Event]) -> None:
    hook = await create(api, w)
    path = f"/webhooks/{hook['id']}"
    got = await api.get(path, w.owner.token)
    assert got.status == 200 and got.body == hook
    assert_error(await api.get(path, w.member.token), 403, 50013)
    r = await api.patch(path, w.owner.token, json={"name": "Renamed", "avatar": AVATAR})
    assert r.status == 200 and r.body["name"] == "Renamed" and r.body["avatar"]
    r = await api.patch(path, w.owner.token, json={"avatar": None})
    assert r.status == 200 and r.body["avatar"] is None
    other = await text_channel(api, w)
    events.clear()
    r = await api.patch(path, w.owner.token, json={"channel_id": other})
    assert r.status == 200 and r.body["channel_id"] == other
    await settle()
    moved = {e.data["channel_id"] for e in named(events, "WEBHOOKS_UPDATE")}
    assert moved == {w.channel, other}
    # Only to a text channel of its own guild.
    elsewhere = await api.guild(w.owner, "Elsewhere")
    r = await api.patch(path, w.owner.token, json={"channel_id": elsewhere["channels"][0]["id"]})
    assert_error(r, 404, 10003)
    cat = await api.post(f"/guilds/{w.guild_id}/channels", w.owner.token,
                         json={"name": "cat", "type": 4})
    assert_error(await api.patch(path, w.owner.token, json={"channel_id": cat.body["id"]}),
                 400, 50024)
    r = await api.delete(path, w.owner.token)
    assert r.status == 204
    assert_error(await api.get(path, w.owner.token), 404, 10015)
    assert_error(await api.get(f"/webhooks/{UNKNOWN}", w.owner.token), 404, 10015)
    assert_error(await api.get("/webhooks/not-an-id", w.owner.token), 404, 10015)


async def test_moving_into_a_full_channel_is_refused(api: Api, w: World) -> None:
    other = await text_channel(api, w)
    for i in range(MAX_PER_CHANNEL):
        await create(api, w, f"h{i}", channel=other)
    hook = await create(api, w)
    r = await api.patch(f"/webhooks/{hook['id']}", w.owner.token, json={"channel_id": other})
    assert_error(r, 400, 30007)


async def test_deleting_a_channel_deletes_its_webhooks(api: Api, w: World) -> None:
    other = await text_channel(api, w)
    hook = await create(api, w, channel=other)
    assert (await api.delete(f"/channels/{other}", w.owner.token)).status == 200
    assert_error(await api.get(f"/webhooks/{hook['id']}", w.owner.token), 404, 10015)
    assert_error(await execute(api, hook, content="hi"), 404, 10015)


# -- the token routes ---------------------------------------------------------------------------


async def test_token_routes_need_no_account_but_the_right_token(api: Api, w: World) -> None:
    hook = await create(api, w)
    r = await api.get(token_path(hook))
    assert r.status == 200 and r.body["token"] == hook["token"] and "user" not in r.body
    wrong = f"/webhooks/{hook['id']}/{'x' * 68}"
    assert_error(await api.get(wrong), 401, 50027)
    assert_error(await api.get(f"/webhooks/{hook['id']}/short"), 401, 50027)
    assert_error(await api.get(f"/webhooks/{hook['id']}/%C3%A9t%C3%A9"), 401, 50027)
    assert_error(await api.get(f"/webhooks/{UNKNOWN}/{hook['token']}"), 404, 10015)
    r = await api.patch(token_path(hook), json={"name": "By token"})
    assert r.status == 200 and r.body["name"] == "By token" and "user" not in r.body
    r = await api.patch(token_path(hook), json={"channel_id": w.channel})
    assert_error(r, 400, 50035)
    assert_error(await api.delete(wrong), 401, 50027)
    assert (await api.delete(token_path(hook))).status == 204
    assert_error(await api.get(token_path(hook)), 404, 10015)


# -- executing ----------------------------------------------------------------------------------


async def test_execute_writes_a_message_by_the_webhook(
    api: Api, w: World, events: list[Event]
) -> None:
    hook = await create(api, w, avatar=AVATAR)
    r = await execute(api, hook, wait=False, content="no wait")
    assert r.status == 204 and r.body is None
    r = await execute(api, hook, content="hello", embeds=[{"title": "t"}])
    assert r.status == 200, r.body
    message = r.body
    assert message["webhook_id"] == hook["id"] and message["content"] == "hello"
    assert message["author"] == {**message["author"], "id": hook["id"], "username": "Hook",
                                 "avatar": hook["avatar"], "bot": True, "discriminator": "0000"}
    assert "member" not in message and message["embeds"][0]["title"] == "t"
    history = await api.get(f"/channels/{w.channel}/messages", w.member.token)
    assert [m["content"] for m in history.body[:2]] == ["hello", "no wait"]
    assert history.body[0] == message
    await settle()
    created = named(events, "MESSAGE_CREATE")
    assert [e.data["content"] for e in created] == ["no wait", "hello"]
    assert created[1].data == message and created[1].channel_id == int(w.channel)


async def test_username_and_avatar_url_change_this_message_only(api: Api, w: World) -> None:
    hook = await create(api, w)
    url = "https://example.org/a.png"
    r = await execute(api, hook, content="as someone", username=" Someone ", avatar_url=url)
    assert r.body["author"]["username"] == "Someone"
    assert r.body["author"]["avatar"] == hashlib.md5(url.encode()).hexdigest()
    r = await execute(api, hook, content="as itself")
    assert r.body["author"]["username"] == "Hook" and r.body["author"]["avatar"] is None
    # Renaming the webhook changes none of what it sent.
    await api.patch(token_path(hook), json={"name": "Renamed"})
    history = await api.get(f"/channels/{w.channel}/messages", w.owner.token)
    assert [m["author"]["username"] for m in history.body] == ["Hook", "Someone"]


async def test_mentions_and_allowed_mentions(api: Api, w: World, platform: Platform) -> None:
    hook = await create(api, w)
    r = await execute(api, hook, content=f"<@{w.member.id}> @everyone")
    assert [u["id"] for u in r.body["mentions"]] == [w.member.id]
    assert r.body["mention_everyone"] is True  # a webhook may mention everyone, as on Discord
    r = await execute(api, hook, content=f"<@{w.member.id}> @everyone",
                      allowed_mentions={"parse": []})
    assert r.body["mentions"] == [] and r.body["mention_everyone"] is False
    role = (await api.post(f"/guilds/{w.guild_id}/roles", w.owner.token,
                           json={"name": "ops"})).body["id"]
    r = await execute(api, hook, content=f"<@&{role}>")
    assert r.body["mention_roles"] == [role]  # not mentionable: a webhook may all the same


@pytest.mark.parametrize(("params", "body"), [
    ({"wait": "maybe"}, {"content": "x"}),
    ({"thread_id": "abc"}, {"content": "x"}),
    ({}, {"content": "x", "thread_name": "topic"}),
    ({}, {"content": "x", "username": "discord fan"}),
    ({}, {"content": "x", "username": ""}),
    ({}, {"content": "x", "avatar_url": "ftp://example.org/a.png"}),
    ({}, {"content": "x" * 2001}),
    ({}, {"content": "x", "embeds": "no"}),
])
async def test_execute_refuses_bad_input(api: Api, w: World, params: Any, body: Any) -> None:
    hook = await create(api, w)
    r = await api.post(token_path(hook), json=body, params=params)
    assert_error(r, 400, 50035)


async def test_execute_refuses_an_empty_message_or_a_wrong_token(api: Api, w: World) -> None:
    hook = await create(api, w)
    assert_error(await execute(api, hook, content=""), 400, 50006)
    r = await api.post(f"/webhooks/{hook['id']}/{'y' * 68}", json={"content": "x"})
    assert_error(r, 401, 50027)


async def test_users_cannot_edit_a_webhooks_message_but_moderators_delete_it(
    api: Api, w: World
) -> None:
    hook = await create(api, w)
    message = (await execute(api, hook, content="hi")).body
    path = f"/channels/{w.channel}/messages/{message['id']}"
    assert_error(await api.patch(path, w.owner.token, json={"content": "mine"}), 403, 50005)
    assert_error(await api.delete(path, w.member.token), 403, 50013)
    assert (await api.delete(path, w.owner.token)).status == 204


# -- its messages -------------------------------------------------------------------------------


async def test_a_webhooks_messages_by_token(api: Api, w: World, events: list[Event]) -> None:
    hook, other = await create(api, w), await create(api, w, "Other")
    message = (await execute(api, hook, content="first")).body
    path = f"{token_path(hook)}/messages/{message['id']}"
    r = await api.get(path)
    assert r.status == 200 and r.body == message
    user_message = (await api.post(f"/channels/{w.channel}/messages", w.owner.token,
                                   json={"content": "a user's"})).body
    assert_error(await api.get(f"{token_path(hook)}/messages/{user_message['id']}"), 404, 10008)
    assert_error(await api.get(f"{token_path(other)}/messages/{message['id']}"), 404, 10008)
    assert_error(await api.get(f"/webhooks/{hook['id']}/{'z' * 68}/messages/{message['id']}"),
                 401, 50027)
    assert_error(await api.get(path, params={"thread_id": UNKNOWN}), 404, 10003)
    r = await api.patch(path, json={"content": f"edited <@{w.member.id}>", "tts": False})
    assert r.status == 200 and r.body["content"] == f"edited <@{w.member.id}>"
    assert r.body["edited_timestamp"] and [u["id"] for u in r.body["mentions"]] == [w.member.id]
    assert r.body["author"]["username"] == "Hook"
    assert_error(await api.patch(path, json={"content": ""}), 400, 50006)
    assert (await api.delete(path)).status == 204
    assert_error(await api.get(path), 404, 10008)
    await settle()
    assert named(events, "MESSAGE_UPDATE")[0].data["content"].startswith("edited")
    assert named(events, "MESSAGE_DELETE")[0].data == {
        "id": message["id"], "channel_id": w.channel, "guild_id": w.guild_id}


# -- rate limits --------------------------------------------------------------------------------


async def test_execute_is_limited_per_webhook_whoever_calls(api: Api, w: World) -> None:
    hook, other = await create(api, w), await create(api, w, "Other")
    # A caller who knows only the id (public) fills a bucket of its own, not the webhook's.
    for _ in range(8):
        r = await api.post(f"/webhooks/{hook['id']}/{'w' * 68}", json={"content": "x"})
    assert r.status == 429
    for i in range(5):
        r = await execute(api, hook, wait=False, content=f"m{i}")
        assert r.status == 204, r.body
    r = await execute(api, hook, content="one too many")
    assert r.status == 429 and r.headers["Via"] and r.body["retry_after"] > 0
    assert hook["token"] not in r.headers["X-RateLimit-Bucket"]
    assert r.headers["X-RateLimit-Bucket"].endswith(f":{hook['id']}")
    assert (await execute(api, other, content="another webhook")).status == 200


async def test_execute_is_limited_per_channel(
    api: Api, w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_messages, "CHANNEL_LIMIT", 2)
    first, second = await create(api, w), await create(api, w, "Second")
    assert (await execute(api, first, content="1")).status == 200
    assert (await execute(api, second, content="2")).status == 200
    r = await execute(api, first, content="3")
    assert r.status == 429 and r.headers["Via"] and r.body["global"] is False
    assert r.body["retry_after"] > 0


# -- secrets ------------------------------------------------------------------------------------


async def test_a_token_reaches_no_log_line(
    api: Api, w: World, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = await create(api, w)
    await execute(api, hook, content="logged?")
    await api.get(token_path(hook))
    await api.get(f"{token_path(hook)}x")
    await api.post(token_path(hook), data=b"{not json")
    lines = [r.getMessage() for r in caplog.records]
    assert any("{webhook_token}" in line for line in lines)  # the request line's template
    assert not any(hook["token"] in line for line in lines)
    stored = await platform.meta.get_webhook(int(hook["id"]))
    assert stored is not None and hook["token"] not in repr(stored)


async def test_answers_match_the_documented_schemas(api: Api, w: World) -> None:
    doc = await (await api.client.get("/api/openapi.json")).json()

    def check(method: str, path: str, status: int, body: Any) -> None:
        op = doc["paths"]["/api/v10" + path][method.lower()]
        schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)

    hook = await create(api, w)
    check("POST", "/channels/{channel_id}/webhooks", 200, hook)
    listed = await api.get(f"/guilds/{w.guild_id}/webhooks", w.owner.token)
    check("GET", "/guilds/{guild_id}/webhooks", 200, listed.body)
    by_token = await api.get(token_path(hook))
    check("GET", "/webhooks/{webhook_id}/{webhook_token}", 200, by_token.body)
    sent = await execute(api, hook, content="schema")
    check("POST", "/webhooks/{webhook_id}/{webhook_token}", 200, sent.body)
    doc_ops = doc["paths"]["/api/v10/webhooks/{webhook_id}/{webhook_token}"]["post"]
    assert {"204", "401", "503"} <= doc_ops["responses"].keys()


# -- threads, files, the avatar's image ----------------------------------------------------------


async def test_execute_into_a_thread_of_its_channel(
    api: Api, w: World, events: list[Event]
) -> None:
    hook = await create(api, w)
    made = await api.post(f"/channels/{w.channel}/threads", w.owner.token,
                          json={"name": "builds", "type": 11})
    thread = made.body["id"]
    assert (await api.patch(f"/channels/{thread}", w.owner.token,
                            json={"archived": True})).status == 200
    r = await api.post(token_path(hook), json={"content": "in the thread"},
                       params={"wait": "true", "thread_id": thread})
    assert r.status == 200 and r.body["channel_id"] == thread, r.body
    # The message unarchived the thread, as a member's does.
    got = await api.get(f"/channels/{thread}", w.owner.token)
    assert got.body["thread_metadata"]["archived"] is False
    history = await api.get(f"/channels/{thread}/messages", w.member.token)
    assert [m["id"] for m in history.body] == [r.body["id"]]
    path = f"{token_path(hook)}/messages/{r.body['id']}"
    assert_error(await api.get(path), 404, 10008)  # not in the webhook's channel
    assert (await api.get(path, params={"thread_id": thread})).status == 200
    r = await api.patch(path, json={"content": "edited"}, params={"thread_id": thread})
    assert r.status == 200 and r.body["content"] == "edited"
    assert (await api.delete(path, params={"thread_id": thread})).status == 204
    # A locked archived thread refuses it; a thread of another channel is none of its own.
    await api.patch(f"/channels/{thread}", w.owner.token, json={"archived": True, "locked": True})
    r = await api.post(token_path(hook), json={"content": "x"}, params={"thread_id": thread})
    assert_error(r, 400, 50083)
    other = await text_channel(api, w)
    elsewhere = await api.post(f"/channels/{other}/threads", w.owner.token,
                               json={"name": "other", "type": 11})
    r = await api.post(token_path(hook), json={"content": "x"},
                       params={"thread_id": elsewhere.body["id"]})
    assert_error(r, 404, 10003)
    assert_error(await api.post(token_path(hook), json={"content": "x"},
                                params={"thread_id": UNKNOWN}), 404, 10003)


def multipart(payload: dict[str, Any], *files: tuple[str, bytes]) -> FormData:
    """A body as discord.py sends a webhook's files: ``payload_json``, then ``files[n]``."""
    data = FormData()
    data.add_field("payload_json", orjson.dumps(payload).decode(),
                   content_type="application/json")
    for i, (name, content) in enumerate(files):
        data.add_field(f"files[{i}]", content, filename=name,
                       content_type="application/octet-stream")
    return data


def stored_files(platform: Platform) -> list[Path]:
    """Every file under the data directory (the blob store's among them)."""
    return sorted(p for p in Path(platform.config.data_dir).rglob("*") if p.is_file()
                  and not p.name.startswith("discord-arch"))


async def test_execute_and_edit_with_files(api: Api, w: World, platform: Platform) -> None:
    hook = await create(api, w)
    blob = b"build log\n" * 100
    resp = await api.client.post(f"/api/v10{token_path(hook)}?wait=true",
                                 data=multipart({"content": "log"}, ("build.log", blob)))
    body = await resp.json(content_type=None)
    assert resp.status == 200, body
    [attachment] = body["attachments"]
    assert attachment["filename"] == "build.log" and attachment["size"] == len(blob)
    fetched = await api.client.get(urlsplit(attachment["url"]).path)
    assert fetched.status == 200 and await fetched.read() == blob
    # An edit adds a file and keeps the first (the attachments array names it).
    path = f"/api/v10{token_path(hook)}/messages/{body['id']}"
    resp = await api.client.patch(path, data=multipart(
        {"attachments": [{"id": attachment["id"]}]}, ("more.txt", b"more")))
    edited = await resp.json(content_type=None)
    assert resp.status == 200, edited
    assert [a["filename"] for a in edited["attachments"]] == ["build.log", "more.txt"]
    # A wrong token is refused before any file is read: nothing stored.
    before = stored_files(platform)
    resp = await api.client.post(f"/api/v10/webhooks/{hook['id']}/{'v' * 68}",
                                 data=multipart({"content": "x"}, ("x.bin", b"x" * 1000)))
    assert resp.status == 401
    assert stored_files(platform) == before
    # Deleting the message deletes its files.
    assert (await api.client.delete(path)).status == 204
    assert (await api.client.get(urlsplit(attachment["url"]).path)).status == 404


async def test_the_avatar_is_served_where_discord_py_looks_for_it(api: Api, w: World) -> None:
    hook = await create(api, w, avatar=AVATAR)
    got = await api.client.get(f"/avatars/{hook['id']}/{hook['avatar']}.png")
    assert got.status == 200 and await got.read() == b"\x89PNG\r\n\x1a\n"
    r = await api.patch(token_path(hook), json={"avatar": "data:image/png;base64,AAAA"})
    assert_error(r, 400, 50035)  # not an image


# -- components (with_components) ----------------------------------------------------------------

BUTTON = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": "go"}]}]
LINK = [{"type": 1, "components": [{"type": 2, "style": 5, "label": "Docs",
                                    "url": "https://example.com/docs"}]}]


async def test_components_are_ignored_without_with_components(api: Api, w: World) -> None:
    hook = await create(api, w)
    r = await execute(api, hook, content="plain", components=LINK)
    assert r.status == 200, r.body
    assert r.body["components"] == []
    # Components alone, ignored, leave an empty message.
    r = await execute(api, hook, components=LINK)
    assert_error(r, 400, 50006)


async def test_a_users_webhook_sends_link_buttons_only(api: Api, w: World) -> None:
    hook = await create(api, w)
    params = {"wait": "true", "with_components": "true"}
    r = await api.post(token_path(hook), json={"components": LINK}, params=params)
    assert r.status == 200, r.body
    assert r.body["components"][0]["components"][0]["url"] == "https://example.com/docs"
    r = await api.post(token_path(hook), json={"content": "x", "components": BUTTON},
                       params=params)
    assert_error(r, 400, 50035)
    assert "components" in r.body["errors"]
    # An edit likewise: ignored without the flag, refused with it.
    sent = (await execute(api, hook, content="edit me")).body
    path = f"{token_path(hook)}/messages/{sent['id']}"
    r = await api.patch(path, json={"components": BUTTON})
    assert r.status == 200 and r.body["components"] == [], r.body
    r = await api.patch(path, json={"components": BUTTON}, params={"with_components": "1"})
    assert_error(r, 400, 50035)


async def test_an_application_webhooks_buttons_reach_its_bot(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    r = await api.post("/applications", w.owner.token, json={"name": "Hooker"})
    bot = Account(r.body["token"], r.body["id"], r.body["bot"]["username"])
    await grant(platform, w.guild, bot, int(P.MANAGE_WEBHOOKS | P.VIEW_CHANNEL))
    r = await api.post(f"/channels/{w.channel}/webhooks", bot.token, bot=True,
                       json={"name": "Bot hook"})
    hook = r.body
    # An application's webhook can always send components: with_components not needed.
    r = await api.post(token_path(hook), json={"content": "Go?", "components": BUTTON},
                       params={"wait": "true"})
    assert r.status == 200, r.body
    assert r.body["components"][0]["components"][0]["custom_id"] == "go"
    assert r.body["webhook_id"] == hook["id"]
    # A member's click is an interaction of the webhook's application.
    r2 = await api.post("/interactions", w.member.token, json={
        "type": 3, "channel_id": w.channel, "message_id": r.body["id"],
        "data": {"component_type": 2, "custom_id": "go"}})
    assert r2.status == 204, r2.body
    await settle()
    [created] = named(events, "INTERACTION_CREATE")
    assert created.data["application_id"] == bot.id
    assert created.data["message"]["id"] == r.body["id"]
    assert created.data["data"]["custom_id"] == "go"
