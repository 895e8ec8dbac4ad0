"""Thread routes: creating public and private threads (from a message or not), their
messages, members, archiving and locking, the listings, permissions and events."""

from __future__ import annotations

from typing import Any

from core.events import Event
from core.message_form import HAS_THREAD
from core.permissions import Permission
from core.platform import Platform
from tests.api.conftest import Api
from tests.api.helpers import assert_error, grant, named, set_everyone, settle, setup

P = Permission


async def message(api: Api, who: Any, channel: str, content: str = "start") -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def test_a_thread_from_a_message_has_its_id_and_takes_messages(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    mid = await message(api, owner, channel)
    r = await api.post(f"/channels/{channel}/messages/{mid}/threads", member.token,
                       json={"name": " talk ", "auto_archive_duration": 60})
    assert r.status == 201, r.body
    t = r.body
    assert (t["id"], t["type"], t["parent_id"], t["owner_id"], t["name"]) == (
        mid, 11, channel, member.id, "talk")
    assert t["thread_metadata"]["auto_archive_duration"] == 60
    assert t["thread_metadata"]["archived"] is False and t["member"]["user_id"] == member.id
    assert t["member_count"] == 1
    await settle()
    [created] = named(events, "THREAD_CREATE")
    assert created.data["newly_created"] is True and created.channel_id == int(mid)
    [update] = named(events, "MESSAGE_UPDATE")
    assert update.data["id"] == mid and update.data["thread"]["id"] == mid
    assert update.data["flags"] & HAS_THREAD
    # Read back, the message keeps its HAS_THREAD flag and its ``thread``, as on Discord.
    got = await api.get(f"/channels/{channel}/messages/{mid}", owner.token)
    assert got.status == 200, got.body
    assert got.body["flags"] & HAS_THREAD and got.body["thread"]["id"] == mid
    assert got.body["thread"]["name"] == "talk"
    page = await api.get(f"/channels/{channel}/messages", owner.token)
    assert [m["thread"]["id"] for m in page.body if "thread" in m] == [mid]
    # A second thread on the same message, a missing message, a bad name or duration.
    again = await api.post(f"/channels/{channel}/messages/{mid}/threads", owner.token,
                           json={"name": "x"})
    assert_error(again, 400, 160004)
    other = await message(api, owner, channel)
    for body in ({"name": ""}, {"name": "x" * 101}, {"name": "x", "auto_archive_duration": 61},
                 {}):
        r = await api.post(f"/channels/{channel}/messages/{other}/threads", owner.token,
                           json=body)
        assert_error(r, 400, 50035)
    # Messages in the thread: history and counts.
    sent = await api.post(f"/channels/{mid}/messages", owner.token, json={"content": "in"})
    assert sent.status == 200, sent.body
    history = await api.get(f"/channels/{mid}/messages", member.token)
    assert [m["content"] for m in history.body] == ["in"]
    got = await api.get(f"/channels/{mid}", owner.token)
    assert got.body["message_count"] == 1 and got.body["total_message_sent"] == 1
    # Not one of the guild's channels.
    listed = await api.get(f"/guilds/{guild['id']}/channels", owner.token)
    assert mid not in [c["id"] for c in listed.body]


async def test_private_threads_are_seen_by_members_and_thread_managers_only(
    api: Api, platform: Platform
) -> None:
    owner, guild, member = await setup(api, platform)
    outsider = await api.register()
    await grant(platform, guild, outsider, 0)
    channel = guild["channels"][0]["id"]
    r = await api.post(f"/channels/{channel}/threads", member.token,
                       json={"name": "secret", "type": 12, "invitable": False})
    assert r.status == 201, r.body
    tid = r.body["id"]
    assert r.body["type"] == 12 and r.body["thread_metadata"]["invitable"] is False
    assert_error(await api.get(f"/channels/{tid}", outsider.token), 403, 50001)
    assert_error(await api.post(f"/channels/{tid}/messages", outsider.token,
                                json={"content": "x"}), 403, 50001)
    assert (await api.get(f"/channels/{tid}", owner.token)).status == 200  # administrator
    # Added by a member (its owner may, invitable or not), then seen.
    assert (await api.put(f"/channels/{tid}/thread-members/{outsider.id}", member.token)).status == 204
    assert (await api.get(f"/channels/{tid}", outsider.token)).status == 200
    members = await api.get(f"/channels/{tid}/thread-members", outsider.token)
    assert sorted(m["user_id"] for m in members.body) == sorted([member.id, outsider.id])
    one = await api.get(f"/channels/{tid}/thread-members/{member.id}?with_member=true",
                        outsider.token)
    assert one.status == 200 and one.body["member"]["user"]["id"] == member.id
    # Leaving: seen no more.
    assert (await api.delete(f"/channels/{tid}/thread-members/@me", outsider.token)).status == 204
    assert_error(await api.get(f"/channels/{tid}", outsider.token), 403, 50001)


async def test_thread_permissions(api: Api, platform: Platform) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    mid = await message(api, owner, channel)
    await set_everyone(platform, guild, int(P.VIEW_CHANNEL | P.SEND_MESSAGES
                                            | P.READ_MESSAGE_HISTORY))
    r = await api.post(f"/channels/{channel}/messages/{mid}/threads", member.token,
                       json={"name": "x"})
    assert_error(r, 403, 50013)
    r = await api.post(f"/channels/{channel}/threads", member.token, json={"name": "x", "type": 12})
    assert_error(r, 403, 50013)
    made = await api.post(f"/channels/{channel}/threads", owner.token,
                          json={"name": "x", "type": 11})
    tid = made.body["id"]
    # SEND_MESSAGES does not reach into threads: SEND_MESSAGES_IN_THREADS does.
    assert_error(await api.post(f"/channels/{tid}/messages", member.token,
                                json={"content": "x"}), 403, 50013)
    await grant(platform, guild, member, int(P.SEND_MESSAGES_IN_THREADS))
    assert (await api.post(f"/channels/{tid}/messages", member.token,
                           json={"content": "x"})).status == 200
    # Only its owner or MANAGE_THREADS edit it; only MANAGE_THREADS locks or deletes it.
    assert_error(await api.patch(f"/channels/{tid}", member.token, json={"name": "y"}), 403, 50013)
    assert_error(await api.delete(f"/channels/{tid}", member.token), 403, 50013)
    assert (await api.delete(f"/channels/{tid}", owner.token)).status == 200
    assert_error(await api.get(f"/channels/{tid}", owner.token), 404, 10003)


async def test_archive_lock_unarchive_by_message_and_listings(
    api: Api, platform: Platform, events: list[Event]
) -> None:
    owner, guild, member = await setup(api, platform)
    channel = guild["channels"][0]["id"]
    made = await api.post(f"/channels/{channel}/threads", member.token,
                          json={"name": "a", "type": 11})
    tid = made.body["id"]
    active = await api.get(f"/guilds/{guild['id']}/threads/active", member.token)
    assert [t["id"] for t in active.body["threads"]] == [tid]
    assert [m["user_id"] for m in active.body["members"]] == [member.id]
    r = await api.patch(f"/channels/{tid}", member.token, json={"archived": True})
    assert r.status == 200 and r.body["thread_metadata"]["archived"] is True, r.body
    await settle()
    assert named(events, "THREAD_UPDATE")[-1].data["thread_metadata"]["archived"] is True
    assert (await api.get(f"/guilds/{guild['id']}/threads/active", member.token)).body[
        "threads"] == []
    page = await api.get(f"/channels/{channel}/threads/archived/public", member.token)
    assert [t["id"] for t in page.body["threads"]] == [tid] and page.body["has_more"] is False
    # A message unarchives it.
    assert (await api.post(f"/channels/{tid}/messages", member.token,
                           json={"content": "back"})).status == 200
    got = await api.get(f"/channels/{tid}", member.token)
    assert got.body["thread_metadata"]["archived"] is False
    # Locked and archived: only MANAGE_THREADS may send (50083 for others).
    r = await api.patch(f"/channels/{tid}", owner.token, json={"archived": True, "locked": True})
    assert r.status == 200, r.body
    assert_error(await api.post(f"/channels/{tid}/messages", member.token,
                                json={"content": "x"}), 400, 50083)
    assert_error(await api.patch(f"/channels/{tid}", member.token, json={"archived": False}),
                 403, 50013)
    assert (await api.post(f"/channels/{tid}/messages", owner.token,
                           json={"content": "mod"})).status == 200
    # Private archived listings: MANAGE_THREADS, or the reader's own.
    priv = await api.post(f"/channels/{channel}/threads", member.token, json={"name": "p"})
    await api.patch(f"/channels/{priv.body['id']}", member.token, json={"archived": True})
    assert_error(await api.get(f"/channels/{channel}/threads/archived/private", member.token),
                 403, 50013)
    mine = await api.get(f"/channels/{channel}/users/@me/threads/archived/private",
                         member.token)
    assert [t["id"] for t in mine.body["threads"]] == [priv.body["id"]]
    everyone = await api.get(f"/channels/{channel}/threads/archived/private?limit=1",
                             owner.token)
    assert [t["id"] for t in everyone.body["threads"]] == [priv.body["id"]]
