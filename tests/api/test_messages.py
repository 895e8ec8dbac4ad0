"""Message routes: send, history, fetch, edit, delete, bulk delete and typing, and their events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from core.events import Event
from core.history import with_last_message_ids
from core.models import Channel, ChannelType, Message, Overwrite, OverwriteType, Role
from core.permissions import Permission
from core.platform import Platform
from core.snowflake import snowflake_from_ms
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, settle

P = Permission


@dataclass
class World:
    """A guild (owner + member) with its "general" channel, and a second guild elsewhere."""

    owner: Account
    member: Account
    outsider: Account
    guild_id: str
    channel: str
    other_channel: str  # "general" of the outsider's guild

    @property
    def msgs(self) -> str:
        return f"/channels/{self.channel}/messages"


@pytest.fixture
async def w(api: Api) -> World:
    owner, member, outsider = [await api.register() for _ in range(3)]
    guild = await api.guild(owner)
    other = await api.guild(outsider, "Elsewhere")
    await api.join(guild, owner, member)
    return World(owner, member, outsider, guild["id"], guild["channels"][0]["id"],
                 other["channels"][0]["id"])


async def deny_everyone(platform: Platform, w: World, perms: int) -> None:
    """Deny ``perms`` to @everyone on the channel (the owner is not affected)."""
    gid = int(w.guild_id)
    await platform.meta.put_overwrite(int(w.channel), Overwrite(gid, OverwriteType.ROLE, 0, perms))


async def grant(platform: Platform, w: World, who: Account, perms: int, **role: Any) -> int:
    gid = int(w.guild_id)
    r = Role(platform.ids.next(), gid, role.pop("name", "granted"), perms, position=1, **role)
    await platform.meta.create_role(r)
    await platform.meta.add_member_role(gid, int(who.id), r.id)
    return r.id


async def send(api: Api, w: World, who: Account, content: str = "hello", **body: Any) -> Any:
    r = await api.post(w.msgs, who.token, json={"content": content, **body})
    assert r.status == 200, r.body
    return r.body


# -- POST /channels/{id}/messages -------------------------------------------------------------

async def test_send_message_returns_message_with_author_and_member(api: Api, w: World) -> None:
    m = await send(api, w, w.member, "hi there")
    assert m["content"] == "hi there" and m["type"] == 0 and m["tts"] is False
    assert m["channel_id"] == w.channel and m["guild_id"] == w.guild_id
    assert m["author"]["id"] == w.member.id and m["author"]["username"] == w.member.username
    assert m["member"]["roles"] == [] and m["member"]["flags"] == 0 and "user" not in m["member"]
    assert m["mentions"] == [] and m["mention_roles"] == [] and m["mention_everyone"] is False
    assert m["edited_timestamp"] is None and "referenced_message" not in m
    got = await api.get(f"{w.msgs}/{m['id']}", w.owner.token)
    assert got.body["content"] == "hi there"


async def test_send_message_publishes_message_create_to_channel_viewers(
    api: Api, w: World, events: list[Event]
) -> None:
    m = await send(api, w, w.member)
    await settle()
    [ev] = [e for e in events if e.name == "MESSAGE_CREATE"]
    assert ev.guild_id == int(w.guild_id) and ev.channel_id == int(w.channel)
    assert ev.user_ids == ()
    assert ev.data == m and ev.data["member"]["joined_at"]


async def test_send_message_without_token_is_401(api: Api, w: World) -> None:
    assert_error(await api.post(w.msgs, json={"content": "x"}), 401, 40001)


async def test_send_message_by_non_member_is_403_missing_access(api: Api, w: World) -> None:
    r = await api.post(w.msgs, w.outsider.token, json={"content": "x"})
    assert_error(r, 403, 50001)


async def test_send_message_without_send_messages_is_403(
    api: Api, w: World, platform: Platform
) -> None:
    await deny_everyone(platform, w, P.SEND_MESSAGES)
    assert_error(await api.post(w.msgs, w.member.token, json={"content": "x"}), 403, 50013)
    await send(api, w, w.owner)  # the owner is not affected


async def test_send_message_to_unknown_channel_is_404(api: Api, w: World) -> None:
    r = await api.post(f"/channels/{UNKNOWN}/messages", w.member.token, json={"content": "x"})
    assert_error(r, 404, 10003)
    r = await api.post("/channels/abc/messages", w.member.token, json={"content": "x"})
    assert_error(r, 404, 10003)


async def test_send_message_to_category_is_400_50008(
    api: Api, w: World, platform: Platform
) -> None:
    cat = Channel(platform.ids.next(), ChannelType.GUILD_CATEGORY, int(w.guild_id), "cat")
    await platform.meta.create_channel(cat)
    r = await api.post(f"/channels/{cat.id}/messages", w.owner.token, json={"content": "x"})
    assert_error(r, 400, 50008)


async def test_send_message_empty_is_400_50006(api: Api, w: World) -> None:
    for body in ({}, {"content": ""}, {"content": "", "embeds": []}):
        r = await api.post(w.msgs, w.member.token, json=body)
        assert_error(r, 400, 50006)
        assert r.body["message"] == "Cannot send an empty message"


@pytest.mark.parametrize("body, field", [
    ({"content": "x" * 2001}, "content"),
    ({"content": 5}, "content"),
    ({"content": "x", "nonce": "n" * 26}, "nonce"),
    ({"content": "x", "nonce": [1]}, "nonce"),
    ({"content": "x", "tts": "yes"}, "tts"),
    ({"content": "x", "flags": 1}, "flags"),
    ({"content": "x", "embeds": [{}] * 11}, "embeds"),
    ({"content": "x", "embeds": ["nope"]}, "embeds"),
    ({"content": "x", "embeds": [{"title": "t" * 257}]}, "embeds"),
    ({"content": "x", "embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
     "embeds"),
    ({"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
     "allowed_mentions"),
    ({"content": "x", "allowed_mentions": {"parse": ["bogus"]}}, "allowed_mentions"),
    ({"content": "x", "message_reference": {}}, "message_reference"),
    ({"content": "x", "message_reference": {"message_id": "abc"}}, "message_reference"),
])
async def test_send_message_bad_field_is_400_50035(
    api: Api, w: World, body: dict[str, Any], field: str
) -> None:
    r = await api.post(w.msgs, w.member.token, json=body)
    assert_error(r, 400, 50035)
    assert field in r.body["errors"], r.body


async def test_send_message_content_limit_comes_from_config(
    api: Api, w: World, platform: Platform
) -> None:
    platform.config = platform.config.replace(max_message_length=10)
    assert_error(await api.post(w.msgs, w.member.token, json={"content": "x" * 11}), 400, 50035)
    await send(api, w, w.member, "x" * 10)


async def test_send_message_nonce_is_returned_as_string(api: Api, w: World) -> None:
    assert (await send(api, w, w.member, nonce=12345))["nonce"] == "12345"
    assert (await send(api, w, w.member, nonce="abc"))["nonce"] == "abc"
    assert "nonce" not in await send(api, w, w.member)


async def test_send_message_enforce_nonce_retry_returns_same_message(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    first = await send(api, w, w.member, "once", nonce="n-1", enforce_nonce=True)
    retry = await send(api, w, w.member, "once", nonce="n-1", enforce_nonce=True)
    assert retry["id"] == first["id"] and retry["content"] == "once"
    assert retry["member"] == first["member"]
    page = await platform.messages.history(int(w.channel))
    assert [m.id for m in page] == [int(first["id"])]
    await settle()
    assert [e.data["id"] for e in events if e.name == "MESSAGE_CREATE"] == [first["id"]]


async def test_send_message_same_nonce_without_enforce_makes_two(api: Api, w: World) -> None:
    a = await send(api, w, w.member, nonce="n-2")
    b = await send(api, w, w.member, nonce="n-2")
    assert a["id"] != b["id"]


async def test_send_message_enforce_nonce_is_per_author(api: Api, w: World) -> None:
    a = await send(api, w, w.member, nonce="n-3", enforce_nonce=True)
    b = await send(api, w, w.owner, nonce="n-3", enforce_nonce=True)
    assert a["id"] != b["id"]


async def test_send_message_tts_needs_send_tts_messages(api: Api, w: World) -> None:
    assert (await send(api, w, w.member, tts=True))["tts"] is False
    assert (await send(api, w, w.owner, tts=True))["tts"] is True


async def test_send_message_flags_suppress_notifications_kept(api: Api, w: World) -> None:
    m = await send(api, w, w.member, flags=(1 << 12) | (1 << 2))
    assert m["flags"] == (1 << 12) | (1 << 2)


async def test_send_message_embeds_are_stored_with_known_keys_only(api: Api, w: World) -> None:
    embed = {"title": "T", "description": "D", "color": 0xFF0000, "junk": {"x": 1},
             "fields": [{"name": "n", "value": "v"}], "footer": {"text": "f", "other": 1}}
    m = await send(api, w, w.member, "", embeds=[embed])
    assert m["embeds"] == [{"type": "rich", "title": "T", "description": "D", "color": 0xFF0000,
                            "fields": [{"name": "n", "value": "v", "inline": False}],
                            "footer": {"text": "f"}}]
    got = await api.get(f"{w.msgs}/{m['id']}", w.member.token)
    assert got.body["embeds"] == m["embeds"]


async def test_send_message_mentions_only_members(api: Api, w: World) -> None:
    m = await send(api, w, w.owner, f"<@{w.member.id}> <@!{w.outsider.id}> <@{UNKNOWN}>")
    assert [u["id"] for u in m["mentions"]] == [w.member.id]


async def test_send_message_role_mentions_need_mentionable_or_mention_everyone(
    api: Api, w: World, platform: Platform
) -> None:
    plain = await grant(platform, w, w.owner, 0)
    loud = await grant(platform, w, w.owner, 0, name="loud", mentionable=True)
    await deny_everyone(platform, w, P.MENTION_EVERYONE)
    content = f"<@&{plain}> <@&{loud}> <@&{UNKNOWN}> <@&{w.guild_id}>"
    assert (await send(api, w, w.member, content))["mention_roles"] == [str(loud)]
    assert (await send(api, w, w.owner, content))["mention_roles"] == [str(plain), str(loud)]


async def test_send_message_role_of_other_guild_is_not_mentioned(
    api: Api, w: World, platform: Platform
) -> None:
    other = await platform.meta.get_channel(int(w.other_channel))
    assert other is not None and other.guild_id is not None
    foreign = Role(platform.ids.next(), other.guild_id, "x", 0, mentionable=True)
    await platform.meta.create_role(foreign)
    m = await send(api, w, w.owner, f"<@&{foreign.id}> <@{w.outsider.id}>")
    assert m["mention_roles"] == [] and m["mentions"] == []


async def test_send_message_everyone_needs_mention_everyone(
    api: Api, w: World, platform: Platform
) -> None:
    assert (await send(api, w, w.member, "@everyone"))["mention_everyone"] is True
    await deny_everyone(platform, w, P.MENTION_EVERYONE)
    assert (await send(api, w, w.member, "@here"))["mention_everyone"] is False
    assert (await send(api, w, w.owner, "@here"))["mention_everyone"] is True


async def test_send_message_allowed_mentions_limits_mentions(api: Api, w: World) -> None:
    content = f"@everyone <@{w.member.id}>"
    m = await send(api, w, w.owner, content, allowed_mentions={"parse": []})
    assert m["mentions"] == [] and m["mention_everyone"] is False
    m = await send(api, w, w.owner, content, allowed_mentions={"users": [int(w.member.id)]})
    assert [u["id"] for u in m["mentions"]] == [w.member.id] and m["mention_everyone"] is False


async def test_send_message_reply_has_type_19_and_referenced_message(
    api: Api, w: World
) -> None:
    original = await send(api, w, w.owner, "question")
    reply = await send(api, w, w.member, "answer",
                       message_reference={"message_id": original["id"]})
    assert reply["type"] == 19
    assert reply["message_reference"]["message_id"] == original["id"]
    assert reply["message_reference"]["channel_id"] == w.channel
    assert reply["referenced_message"]["id"] == original["id"]
    assert reply["referenced_message"]["author"]["id"] == w.owner.id
    assert [u["id"] for u in reply["mentions"]] == [w.owner.id]  # the replied-to author
    got = await api.get(f"{w.msgs}/{reply['id']}", w.member.token)
    assert got.body["referenced_message"]["content"] == "question"
    quiet = await send(api, w, w.member, "shh", message_reference={"message_id": original["id"]},
                       allowed_mentions={"parse": []})
    assert quiet["mentions"] == []


async def test_send_message_reply_to_unknown_message_is_400(api: Api, w: World) -> None:
    r = await api.post(w.msgs, w.member.token,
                       json={"content": "x", "message_reference": {"message_id": UNKNOWN}})
    assert_error(r, 400, 50035)
    errors = r.body["errors"]["message_reference"]["_errors"]
    assert errors[0]["code"] == "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"


async def test_send_message_reply_to_unknown_without_fail_is_a_plain_message(
    api: Api, w: World
) -> None:
    m = await send(api, w, w.member, message_reference={"message_id": UNKNOWN,
                                                         "fail_if_not_exists": False})
    assert m["type"] == 0 and "message_reference" not in m


async def test_send_message_reply_to_message_of_another_guild_is_400(
    api: Api, w: World
) -> None:
    r = await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                       json={"content": "elsewhere"})
    foreign = r.body["id"]
    for ref in ({"message_id": foreign},
                {"message_id": foreign, "channel_id": w.other_channel}):
        r = await api.post(w.msgs, w.member.token,
                           json={"content": "x", "message_reference": ref})
        assert_error(r, 400, 50035)


async def test_send_message_reply_without_read_message_history_is_403(
    api: Api, w: World, platform: Platform
) -> None:
    original = await send(api, w, w.owner)
    await deny_everyone(platform, w, P.READ_MESSAGE_HISTORY)
    r = await api.post(w.msgs, w.member.token,
                       json={"content": "x", "message_reference": {"message_id": original["id"]}})
    assert_error(r, 403, 50013)


async def test_send_message_in_slowmode_is_429_20016(
    api: Api, w: World, platform: Platform
) -> None:
    await platform.meta.update_channel(int(w.channel), {"rate_limit_per_user": 30})
    await send(api, w, w.member)
    r = await api.post(w.msgs, w.member.token, json={"content": "again"})
    assert_error(r, 429, 20016)
    assert 0 < r.body["retry_after"] <= 30 and r.body["global"] is False
    assert r.headers["Via"] and int(r.headers["Retry-After"]) >= 1
    await send(api, w, w.owner)  # the owner (MANAGE_MESSAGES) is exempt
    await send(api, w, w.owner)


async def test_send_message_in_dm_goes_to_recipients(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    dm = await platform.meta.get_or_create_dm(Channel(
        platform.ids.next(), ChannelType.DM, recipients=(int(w.member.id), int(w.outsider.id))))
    r = await api.post(f"/channels/{dm.id}/messages", w.member.token,
                       json={"content": f"hey <@{w.outsider.id}> <@{w.owner.id}> @everyone"})
    assert r.status == 200, r.body
    assert "guild_id" not in r.body and "member" not in r.body
    assert [u["id"] for u in r.body["mentions"]] == [w.outsider.id]
    assert r.body["mention_everyone"] is False
    await settle()
    [ev] = [e for e in events if e.name == "MESSAGE_CREATE"]
    assert ev.guild_id is None and set(ev.user_ids) == {int(w.member.id), int(w.outsider.id)}
    r = await api.post(f"/channels/{dm.id}/messages", w.owner.token, json={"content": "x"})
    assert_error(r, 403, 50001)


async def test_concurrent_sends_are_durable_and_batched(
    api: Api, w: World, platform: Platform
) -> None:
    batches_before = platform.router.batches
    replies = await asyncio.gather(*(
        api.post(w.msgs, w.owner.token, json={"content": f"m{i}"}) for i in range(200)
    ))
    assert all(r.status == 200 for r in replies), [r.body for r in replies if r.status != 200]
    sent = {r.body["id"] for r in replies}
    assert len(sent) == 200
    newest = await api.get(w.msgs, w.owner.token, params={"limit": "100"})
    older = await api.get(w.msgs, w.owner.token,
                          params={"limit": "100", "before": newest.body[-1]["id"]})
    ids = [int(m["id"]) for m in newest.body + older.body]
    assert {str(i) for i in ids} == sent
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 200  # strictly decreasing
    assert platform.router.batches - batches_before < 200


# -- GET /channels/{id}/messages --------------------------------------------------------------

async def fill(api: Api, w: World, n: int) -> list[str]:
    """Send ``n`` messages "0".."n-1" as the owner; their ids, oldest first."""
    return [(await send(api, w, w.owner, str(i)))["id"] for i in range(n)]


async def test_history_is_newest_first_with_default_limit_50(api: Api, w: World) -> None:
    ids = await fill(api, w, 55)
    r = await api.get(w.msgs, w.member.token)
    assert r.status == 200
    assert [m["id"] for m in r.body] == ids[::-1][:50]
    assert r.body[0]["author"]["id"] == w.owner.id
    assert "member" not in r.body[0]  # as on Discord: only gateway events carry it


async def test_history_before_after_and_around(api: Api, w: World) -> None:
    ids = await fill(api, w, 10)

    async def page(**params: str) -> list[str]:
        r = await api.get(w.msgs, w.member.token, params=params)
        assert r.status == 200, r.body
        return [m["id"] for m in r.body]

    assert await page(limit="3") == [ids[9], ids[8], ids[7]]
    assert await page(before=ids[5], limit="2") == [ids[4], ids[3]]
    assert await page(after=ids[5], limit="2") == [ids[7], ids[6]]
    assert await page(after=ids[7]) == [ids[9], ids[8]]
    assert await page(around=ids[5], limit="5") == [ids[7], ids[6], ids[5], ids[4], ids[3]]
    assert await page(around=ids[5], limit="4") == [ids[6], ids[5], ids[4], ids[3]]
    assert await page(around=ids[5], limit="1") == [ids[5]]
    assert await page(around=ids[0], limit="3") == [ids[1], ids[0]]
    # around wins over before, before over after.
    assert await page(around=ids[5], before=ids[2], limit="1") == [ids[5]]
    assert await page(before=ids[2], after=ids[5]) == [ids[1], ids[0]]


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
    ({"before": "abc"}, "before"), ({"after": "-1"}, "after"), ({"around": ""}, "around"),
])
async def test_history_bad_query_is_400_50035(
    api: Api, w: World, params: dict[str, str], field: str
) -> None:
    r = await api.get(w.msgs, w.member.token, params=params)
    assert_error(r, 400, 50035)
    assert field in r.body["errors"]


async def test_history_without_token_is_401(api: Api, w: World) -> None:
    assert_error(await api.get(w.msgs), 401, 40001)


async def test_history_of_other_guild_channel_is_403(api: Api, w: World) -> None:
    await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                   json={"content": "secret"})
    r = await api.get(f"/channels/{w.other_channel}/messages", w.member.token)
    assert_error(r, 403, 50001)


async def test_history_without_read_message_history_is_403(
    api: Api, w: World, platform: Platform
) -> None:
    await deny_everyone(platform, w, P.READ_MESSAGE_HISTORY)
    assert_error(await api.get(w.msgs, w.member.token), 403, 50013)
    assert (await api.get(w.msgs, w.owner.token)).status == 200


async def test_history_of_unknown_channel_is_404(api: Api, w: World) -> None:
    assert_error(await api.get(f"/channels/{UNKNOWN}/messages", w.member.token), 404, 10003)


async def test_history_before_id_of_another_channel_shows_only_this_channel(
    api: Api, w: World
) -> None:
    mine = await fill(api, w, 2)
    r = await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                       json={"content": "secret"})
    page = await api.get(w.msgs, w.member.token, params={"before": r.body["id"]})
    assert [m["id"] for m in page.body] == mine[::-1]


# -- GET /channels/{id}/messages/{id} ---------------------------------------------------------

async def test_get_message_returns_it(api: Api, w: World) -> None:
    m = await send(api, w, w.member, f"hi <@{w.owner.id}>")
    r = await api.get(f"{w.msgs}/{m['id']}", w.owner.token)
    assert r.status == 200
    assert r.body["id"] == m["id"] and r.body["mentions"][0]["id"] == w.owner.id
    assert "member" not in r.body


async def test_get_message_without_token_is_401(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    assert_error(await api.get(f"{w.msgs}/{m['id']}"), 401, 40001)


async def test_get_message_by_non_member_is_403(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    assert_error(await api.get(f"{w.msgs}/{m['id']}", w.outsider.token), 403, 50001)


async def test_get_message_without_read_message_history_is_403(
    api: Api, w: World, platform: Platform
) -> None:
    m = await send(api, w, w.owner)
    await deny_everyone(platform, w, P.READ_MESSAGE_HISTORY)
    assert_error(await api.get(f"{w.msgs}/{m['id']}", w.member.token), 403, 50013)


async def test_get_unknown_message_is_404(api: Api, w: World) -> None:
    assert_error(await api.get(f"{w.msgs}/{UNKNOWN}", w.member.token), 404, 10008)
    assert_error(await api.get(f"{w.msgs}/nope", w.member.token), 404, 10008)


async def test_get_message_of_another_guild_through_my_channel_is_404(
    api: Api, w: World
) -> None:
    r = await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                       json={"content": "secret"})
    assert_error(await api.get(f"{w.msgs}/{r.body['id']}", w.member.token), 404, 10008)


# -- PATCH /channels/{id}/messages/{id} -------------------------------------------------------

async def test_edit_message_changes_content_and_publishes_update(
    api: Api, w: World, events: list[Event]
) -> None:
    m = await send(api, w, w.member, "before")
    r = await api.patch(f"{w.msgs}/{m['id']}", w.member.token,
                        json={"content": f"after <@{w.owner.id}>"})
    assert r.status == 200, r.body
    assert r.body["content"] == f"after <@{w.owner.id}>" and r.body["edited_timestamp"]
    assert [u["id"] for u in r.body["mentions"]] == [w.owner.id]
    await settle()
    [ev] = [e for e in events if e.name == "MESSAGE_UPDATE"]
    assert ev.data == r.body and ev.channel_id == int(w.channel)
    assert ev.guild_id == int(w.guild_id) and ev.data["member"]
    got = await api.get(f"{w.msgs}/{m['id']}", w.member.token)
    assert got.body["content"] == r.body["content"]


async def test_edit_message_embeds_only_keeps_content(api: Api, w: World) -> None:
    m = await send(api, w, w.member, "text")
    r = await api.patch(f"{w.msgs}/{m['id']}", w.member.token, json={"embeds": [{"title": "E"}]})
    assert r.body["content"] == "text" and r.body["embeds"][0]["title"] == "E"


async def test_edit_message_without_token_is_401(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    assert_error(await api.patch(f"{w.msgs}/{m['id']}", json={"content": "x"}), 401, 40001)


async def test_edit_message_of_another_user_is_403_50005(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    r = await api.patch(f"{w.msgs}/{m['id']}", w.owner.token, json={"content": "mine now"})
    assert_error(r, 403, 50005)
    assert r.body["message"] == "Cannot edit a message authored by another user"


async def test_edit_message_flags_by_moderator_is_allowed(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    r = await api.patch(f"{w.msgs}/{m['id']}", w.owner.token, json={"flags": 4})
    assert r.status == 200 and r.body["flags"] == 4 and r.body["edited_timestamp"] is None


async def test_edit_message_by_non_member_is_403(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    r = await api.patch(f"{w.msgs}/{m['id']}", w.outsider.token, json={"content": "x"})
    assert_error(r, 403, 50001)


async def test_edit_unknown_message_is_404(api: Api, w: World) -> None:
    r = await api.patch(f"{w.msgs}/{UNKNOWN}", w.member.token, json={"content": "x"})
    assert_error(r, 404, 10008)


async def test_edit_message_across_guilds_is_refused(api: Api, w: World) -> None:
    r = await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                       json={"content": "theirs"})
    r = await api.patch(f"{w.msgs}/{r.body['id']}", w.outsider.token, json={"content": "x"})
    assert_error(r, 403, 50001)  # not a member of this channel's guild
    mine = await send(api, w, w.member)
    r = await api.patch(f"/channels/{w.other_channel}/messages/{mine['id']}", w.outsider.token,
                        json={"content": "x"})
    assert_error(r, 404, 10008)


async def test_edit_message_bad_body_is_400(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    url = f"{w.msgs}/{m['id']}"
    assert_error(await api.patch(url, w.member.token, json={"content": "x" * 2001}), 400, 50035)
    assert_error(await api.patch(url, w.member.token, json={"content": ""}), 400, 50006)
    assert_error(await api.patch(url, w.member.token, json={"flags": 1 << 12}), 400, 50035)


# -- DELETE /channels/{id}/messages/{id} ------------------------------------------------------

async def test_delete_own_message_is_204_and_publishes_delete(
    api: Api, w: World, events: list[Event]
) -> None:
    m = await send(api, w, w.member)
    r = await api.delete(f"{w.msgs}/{m['id']}", w.member.token)
    assert r.status == 204 and r.body is None
    assert_error(await api.get(f"{w.msgs}/{m['id']}", w.member.token), 404, 10008)
    await settle()
    [ev] = [e for e in events if e.name == "MESSAGE_DELETE"]
    assert ev.data == {"id": m["id"], "channel_id": w.channel, "guild_id": w.guild_id}
    assert ev.guild_id == int(w.guild_id) and ev.channel_id == int(w.channel)


async def test_delete_message_of_another_user_needs_manage_messages(
    api: Api, w: World, platform: Platform
) -> None:
    m = await send(api, w, w.owner)
    assert_error(await api.delete(f"{w.msgs}/{m['id']}", w.member.token), 403, 50013)
    await grant(platform, w, w.member, P.MANAGE_MESSAGES)
    assert (await api.delete(f"{w.msgs}/{m['id']}", w.member.token)).status == 204


async def test_delete_message_without_token_is_401(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    assert_error(await api.delete(f"{w.msgs}/{m['id']}"), 401, 40001)


async def test_delete_unknown_message_is_404(api: Api, w: World) -> None:
    assert_error(await api.delete(f"{w.msgs}/{UNKNOWN}", w.owner.token), 404, 10008)


async def test_delete_message_of_another_guild_is_404(api: Api, w: World) -> None:
    r = await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                       json={"content": "theirs"})
    assert_error(await api.delete(f"{w.msgs}/{r.body['id']}", w.owner.token), 404, 10008)
    got = await api.get(f"/channels/{w.other_channel}/messages/{r.body['id']}", w.outsider.token)
    assert got.status == 200


async def test_delete_message_by_non_member_is_403(api: Api, w: World) -> None:
    m = await send(api, w, w.member)
    assert_error(await api.delete(f"{w.msgs}/{m['id']}", w.outsider.token), 403, 50001)


async def test_delete_other_users_dm_message_is_403_50003(
    api: Api, w: World, platform: Platform
) -> None:
    dm = await platform.meta.get_or_create_dm(Channel(
        platform.ids.next(), ChannelType.DM, recipients=(int(w.member.id), int(w.outsider.id))))
    r = await api.post(f"/channels/{dm.id}/messages", w.member.token, json={"content": "x"})
    r = await api.delete(f"/channels/{dm.id}/messages/{r.body['id']}", w.outsider.token)
    assert_error(r, 403, 50003)


# -- POST /channels/{id}/messages/bulk-delete -------------------------------------------------

async def test_bulk_delete_removes_messages_and_publishes_bulk_event(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    ids = await fill(api, w, 4)
    unknown = str(platform.ids.next())  # recent, so not refused as too old
    r = await api.post(f"{w.msgs}/bulk-delete", w.owner.token,
                       json={"messages": [ids[0], int(ids[1]), ids[2], unknown]})
    assert r.status == 204, r.body
    left = await api.get(w.msgs, w.owner.token)
    assert [m["id"] for m in left.body] == [ids[3]]
    await settle()
    [ev] = [e for e in events if e.name == "MESSAGE_DELETE_BULK"]
    assert ev.data == {"ids": ids[:3], "channel_id": w.channel, "guild_id": w.guild_id}
    assert ev.channel_id == int(w.channel)


async def test_bulk_delete_without_token_is_401(api: Api, w: World) -> None:
    r = await api.post(f"{w.msgs}/bulk-delete", json={"messages": [UNKNOWN, UNKNOWN]})
    assert_error(r, 401, 40001)


async def test_bulk_delete_without_manage_messages_is_403(api: Api, w: World) -> None:
    ids = await fill(api, w, 2)
    r = await api.post(f"{w.msgs}/bulk-delete", w.member.token, json={"messages": ids})
    assert_error(r, 403, 50013)
    r = await api.post(f"{w.msgs}/bulk-delete", w.outsider.token, json={"messages": ids})
    assert_error(r, 403, 50001)


async def test_bulk_delete_in_unknown_channel_is_404(api: Api, w: World) -> None:
    r = await api.post(f"/channels/{UNKNOWN}/messages/bulk-delete", w.owner.token,
                       json={"messages": [UNKNOWN, UNKNOWN]})
    assert_error(r, 404, 10003)


@pytest.mark.parametrize("messages", [None, [], [UNKNOWN], [UNKNOWN] * 101, [UNKNOWN, "x"]])
async def test_bulk_delete_bad_list_is_400_50035(api: Api, w: World, messages: Any) -> None:
    r = await api.post(f"{w.msgs}/bulk-delete", w.owner.token, json={"messages": messages})
    assert_error(r, 400, 50035)
    assert "messages" in r.body["errors"]


async def test_bulk_delete_message_older_than_14_days_is_400_50034(
    api: Api, w: World, platform: Platform
) -> None:
    old_id = snowflake_from_ms(platform.now_ms() - 15 * 86_400_000) + 1
    await platform.messages.insert_many([Message(old_id, int(w.channel), int(w.owner.id), "old")])
    [new] = await fill(api, w, 1)
    r = await api.post(f"{w.msgs}/bulk-delete", w.owner.token, json={"messages": [old_id, new]})
    assert_error(r, 400, 50034)
    assert len((await api.get(w.msgs, w.owner.token)).body) == 2


async def test_bulk_delete_ids_of_another_guild_are_not_deleted(api: Api, w: World) -> None:
    theirs = [(await api.post(f"/channels/{w.other_channel}/messages", w.outsider.token,
                              json={"content": str(i)})).body["id"] for i in range(2)]
    r = await api.post(f"{w.msgs}/bulk-delete", w.owner.token, json={"messages": theirs})
    assert r.status == 204
    left = await api.get(f"/channels/{w.other_channel}/messages", w.outsider.token)
    assert len(left.body) == 2


# -- POST /channels/{id}/typing ---------------------------------------------------------------

async def test_typing_is_204_and_publishes_typing_start(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    r = await api.post(f"/channels/{w.channel}/typing", w.member.token)
    assert r.status == 204 and r.body is None
    await settle()
    [ev] = [e for e in events if e.name == "TYPING_START"]
    d = ev.data
    assert d["channel_id"] == w.channel and d["guild_id"] == w.guild_id
    assert d["user_id"] == w.member.id and abs(d["timestamp"] - platform.now_ms() // 1000) <= 2
    assert d["member"]["user"]["id"] == w.member.id
    assert ev.guild_id == int(w.guild_id) and ev.channel_id == int(w.channel)


async def test_typing_without_token_is_401(api: Api, w: World) -> None:
    assert_error(await api.post(f"/channels/{w.channel}/typing"), 401, 40001)


async def test_typing_without_send_messages_is_403(
    api: Api, w: World, platform: Platform
) -> None:
    await deny_everyone(platform, w, P.SEND_MESSAGES)
    assert_error(await api.post(f"/channels/{w.channel}/typing", w.member.token), 403, 50013)


async def test_typing_in_other_guild_channel_is_403(api: Api, w: World) -> None:
    r = await api.post(f"/channels/{w.other_channel}/typing", w.member.token)
    assert_error(r, 403, 50001)


async def test_typing_in_unknown_channel_is_404(api: Api, w: World) -> None:
    assert_error(await api.post(f"/channels/{UNKNOWN}/typing", w.member.token), 404, 10003)


async def test_typing_in_category_is_400_50008(
    api: Api, w: World, platform: Platform
) -> None:
    cat = Channel(platform.ids.next(), ChannelType.GUILD_CATEGORY, int(w.guild_id), "cat")
    await platform.meta.create_channel(cat)
    assert_error(await api.post(f"/channels/{cat.id}/typing", w.owner.token), 400, 50008)


# -- last_message_id ----------------------------------------------------------------------------

async def test_channel_reads_carry_the_newest_message_id(api: Api, w: World) -> None:
    """GET /channels/{id}, GET /guilds/{id}/channels and GET /users/@me/channels."""
    r = await api.post(f"/guilds/{w.guild_id}/channels", w.owner.token,
                       json={"name": "cat", "type": 4})
    assert r.status == 201, r.body
    category = r.body["id"]
    assert (await api.get(f"/channels/{w.channel}", w.member.token)).body["last_message_id"] \
        is None
    ids = await fill(api, w, 2)
    got = await api.get(f"/channels/{w.channel}", w.member.token)
    assert got.status == 200 and got.body["last_message_id"] == ids[-1]
    listed = {c["id"]: c for c in (await api.get(f"/guilds/{w.guild_id}/channels",
                                                 w.member.token)).body}
    assert listed[w.channel]["last_message_id"] == ids[-1]
    assert "last_message_id" not in listed[category]  # categories have none
    dm = await api.post("/users/@me/channels", w.member.token, json={"recipient_id": w.owner.id})
    sent = await api.post(f"/channels/{dm.body['id']}/messages", w.owner.token,
                          json={"content": "hi"})
    assert sent.status == 200, sent.body
    [listed_dm] = (await api.get("/users/@me/channels", w.member.token)).body
    assert listed_dm["last_message_id"] == sent.body["id"]
    got = await api.get(f"/channels/{dm.body['id']}", w.owner.token)
    assert got.body["last_message_id"] == sent.body["id"]


async def test_with_last_message_ids_reads_newest_message(
    api: Api, w: World, platform: Platform
) -> None:
    channel = await platform.meta.get_channel(int(w.channel))
    assert channel is not None
    [before] = await with_last_message_ids(platform, [channel])
    assert before.last_message_id is None
    ids = await fill(api, w, 3)
    [after] = await with_last_message_ids(platform, [channel])
    assert after.last_message_id == int(ids[-1])
