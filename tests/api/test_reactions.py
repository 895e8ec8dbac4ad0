"""Reaction routes: add, remove, list and clear, their permissions, errors and events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import pytest

from core.events import Event
from core.models import Channel, ChannelType, Overwrite, OverwriteType, Role
from core.permissions import Permission
from core.platform import Platform
from core.reactions import MAX_EMOJIS
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, named, settle

P = Permission
THUMBS, HEART = "\N{THUMBS UP SIGN}", "\N{HEAVY BLACK HEART}\ufe0f"
FAMILY = "\N{MAN}\u200d\N{WOMAN}\u200d\N{GIRL}"  # a ZWJ sequence
FLAG = "\N{REGIONAL INDICATOR SYMBOL LETTER F}\N{REGIONAL INDICATOR SYMBOL LETTER R}"
KEYCAP = "1\ufe0f\u20e3"


@dataclass
class World:
    owner: Account
    member: Account
    guild_id: str
    channel: str
    message: str  # a message of the owner's in ``channel``

    def reactions(self, message: str | None = None) -> str:
        return f"/channels/{self.channel}/messages/{message or self.message}/reactions"


@pytest.fixture
async def w(api: Api) -> World:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    channel = guild["channels"][0]["id"]
    r = await api.post(f"/channels/{channel}/messages", owner.token, json={"content": "react"})
    assert r.status == 200, r.body
    return World(owner, member, guild["id"], channel, r.body["id"])


def enc(emoji: str) -> str:
    """The path segment as discord.py sends it (``quote(emoji, safe='')``)."""
    return quote(emoji, safe="")


async def react(api: Api, w: World, who: Account, emoji: str = THUMBS,
                message: str | None = None) -> Any:
    return await api.put(f"{w.reactions(message)}/{enc(emoji)}/@me", who.token)


async def deny_everyone(platform: Platform, w: World, perms: int) -> None:
    gid = int(w.guild_id)
    await platform.meta.put_overwrite(int(w.channel), Overwrite(gid, OverwriteType.ROLE, 0, perms))


async def grant(platform: Platform, w: World, who: Account, perms: int) -> None:
    gid = int(w.guild_id)
    role = Role(platform.ids.next(), gid, "granted", perms, position=1)
    await platform.meta.create_role(role)
    await platform.meta.add_member_role(gid, int(who.id), role.id)


# -- PUT .../reactions/{emoji}/@me ---------------------------------------------------------------


async def test_react_shows_on_the_message_with_me_per_reader(api: Api, w: World) -> None:
    r = await react(api, w, w.member)
    assert r.status == 204, r.body
    mine = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.member.token)
    assert mine.body["reactions"] == [{
        "count": 1, "count_details": {"burst": 0, "normal": 1}, "me": True, "me_burst": False,
        "burst_colors": [], "emoji": {"id": None, "name": THUMBS},
    }]
    theirs = await api.get(f"/channels/{w.channel}/messages", w.owner.token)
    assert theirs.body[0]["reactions"][0]["me"] is False
    assert theirs.body[0]["reactions"][0]["count"] == 1


async def test_react_publishes_message_reaction_add(
    api: Api, w: World, events: list[Event]
) -> None:
    await react(api, w, w.member)
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_ADD")
    assert ev.guild_id == int(w.guild_id) and ev.channel_id == int(w.channel)
    member = ev.data.pop("member")
    assert member["user"]["id"] == w.member.id and member["roles"] == []
    assert ev.data == {
        "user_id": w.member.id, "channel_id": w.channel, "guild_id": w.guild_id,
        "message_id": w.message, "emoji": {"id": None, "name": THUMBS}, "burst": False,
        "type": 0, "message_author_id": w.owner.id, "burst_colors": [],
    }


async def test_react_twice_changes_nothing(api: Api, w: World, events: list[Event]) -> None:
    assert (await react(api, w, w.member)).status == 204
    assert (await react(api, w, w.member)).status == 204
    await settle()
    assert len(named(events, "MESSAGE_REACTION_ADD")) == 1
    got = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.member.token)
    assert got.body["reactions"][0]["count"] == 1


@pytest.mark.parametrize("emoji", [THUMBS, HEART, FAMILY, FLAG, KEYCAP, "\N{COPYRIGHT SIGN}"])
async def test_react_accepts_unicode_emojis(api: Api, w: World, emoji: str) -> None:
    assert (await react(api, w, w.member, emoji)).status == 204
    got = await api.get(f"{w.reactions()}/{enc(emoji)}", w.owner.token)
    assert [u["id"] for u in got.body] == [w.member.id]


@pytest.mark.parametrize("emoji", ["a", "abc", "1", "thumbsup", ":thumbsup:", "name:123456789",
                                   "a:name:123456789", "<:name:123456789>", "\N{THUMBS UP SIGN}x",
                                   FLAG[0], THUMBS * 40])
async def test_react_with_an_unknown_emoji_is_400_10014(api: Api, w: World, emoji: str) -> None:
    # Custom emojis (name:id) are Discord's syntax, but this server has none: 10014.
    assert_error(await react(api, w, w.member, emoji), 400, 10014)


async def test_react_to_an_unknown_message_is_404_10008(api: Api, w: World) -> None:
    assert_error(await react(api, w, w.member, message=UNKNOWN), 404, 10008)
    assert_error(await react(api, w, w.member, message="pins"), 404, 10008)
    r = await api.put(f"/channels/{UNKNOWN}/messages/{w.message}/reactions/{enc(THUMBS)}/@me",
                      w.member.token)
    assert_error(r, 404, 10003)


async def test_react_to_a_message_of_another_channel_is_404(api: Api, w: World) -> None:
    other = await api.guild(w.member, "Mine")
    r = await api.put(f"/channels/{other['channels'][0]['id']}/messages/{w.message}"
                      f"/reactions/{enc(THUMBS)}/@me", w.member.token)
    assert_error(r, 404, 10008)


async def test_a_new_emoji_needs_add_reactions_an_existing_one_does_not(
    api: Api, w: World, platform: Platform
) -> None:
    await deny_everyone(platform, w, P.ADD_REACTIONS)
    assert_error(await react(api, w, w.member, THUMBS), 403, 50013)
    assert (await react(api, w, w.owner, THUMBS)).status == 204  # the owner has every bit
    assert (await react(api, w, w.member, THUMBS)).status == 204


async def test_react_needs_read_message_history(api: Api, w: World, platform: Platform) -> None:
    await react(api, w, w.owner)
    await deny_everyone(platform, w, P.READ_MESSAGE_HISTORY)
    assert_error(await react(api, w, w.member), 403, 50013)


async def test_a_timed_out_member_cannot_react(api: Api, w: World, platform: Platform) -> None:
    await react(api, w, w.owner)
    gid, uid = int(w.guild_id), int(w.member.id)
    await platform.meta.update_member(
        gid, uid, {"communication_disabled_until": platform.now_ms() + 60_000})
    assert_error(await react(api, w, w.member), 403, 50013)


async def test_a_message_holds_at_most_20_emojis(api: Api, w: World) -> None:
    emojis = [chr(0x1F600 + i) for i in range(MAX_EMOJIS + 1)]
    for emoji in emojis[:MAX_EMOJIS]:
        assert (await react(api, w, w.member, emoji)).status == 204
    assert_error(await react(api, w, w.member, emojis[-1]), 400, 30010)
    # More users on an emoji already there is fine.
    assert (await react(api, w, w.owner, emojis[0])).status == 204
    got = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.owner.token)
    assert [r["emoji"]["name"] for r in got.body["reactions"]] == emojis[:MAX_EMOJIS]


async def test_react_without_token_is_401(api: Api, w: World) -> None:
    r = await api.put(f"{w.reactions()}/{enc(THUMBS)}/@me")
    assert_error(r, 401, 40001)


# -- DELETE .../reactions/{emoji}/@me and /{user_id} ---------------------------------------------


async def test_remove_own_reaction_publishes_remove_once(
    api: Api, w: World, events: list[Event]
) -> None:
    await react(api, w, w.member)
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/@me", w.member.token)
    assert r.status == 204, r.body
    again = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/@me", w.member.token)
    assert again.status == 204
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_REMOVE")
    assert ev.data == {
        "user_id": w.member.id, "channel_id": w.channel, "guild_id": w.guild_id,
        "message_id": w.message, "emoji": {"id": None, "name": THUMBS}, "burst": False,
        "type": 0,
    }
    got = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.member.token)
    assert "reactions" not in got.body


async def test_remove_own_reaction_by_user_id_needs_no_permission(api: Api, w: World) -> None:
    await react(api, w, w.member)
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/{w.member.id}", w.member.token)
    assert r.status == 204
    assert (await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.owner.token)).body == []


async def test_remove_another_users_reaction_needs_manage_messages(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    await react(api, w, w.owner)
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/{w.owner.id}", w.member.token)
    assert_error(r, 403, 50013)
    await grant(platform, w, w.member, P.MANAGE_MESSAGES)
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/{w.owner.id}", w.member.token)
    assert r.status == 204
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_REMOVE")
    assert ev.data["user_id"] == w.owner.id


async def test_remove_reaction_with_bad_ids_or_emoji(api: Api, w: World) -> None:
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}/nobody", w.owner.token)
    assert_error(r, 404, 10013)
    r = await api.delete(f"{w.reactions()}/abc/@me", w.owner.token)
    assert_error(r, 400, 10014)
    r = await api.delete(f"{w.reactions(UNKNOWN)}/{enc(THUMBS)}/@me", w.owner.token)
    assert_error(r, 404, 10008)


# -- GET .../reactions/{emoji} -------------------------------------------------------------------


async def test_list_reaction_users_pages_by_user_id(
    api: Api, w: World, platform: Platform
) -> None:
    others = [await api.register() for _ in range(3)]
    for who in others:
        await platform.meta.add_member(replace(
            await platform.meta.get_member(int(w.guild_id), int(w.member.id)),  # type: ignore[arg-type]
            user_id=int(who.id)))
    everyone = [w.owner, w.member, *others]
    for who in everyone:
        assert (await react(api, w, who)).status == 204
    ids = sorted((a.id for a in everyone), key=int)
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token)
    assert [u["id"] for u in got.body] == ids
    assert set(got.body[0]) >= {"id", "username", "avatar", "discriminator", "bot"}
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token,
                        params={"after": ids[1], "limit": 2})
    assert [u["id"] for u in got.body] == ids[2:4]
    # Super reactions (type 1) do not exist here.
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token, params={"type": 1})
    assert got.status == 200 and got.body == []
    got = await api.get(f"{w.reactions()}/{enc(HEART)}", w.member.token)
    assert got.status == 200 and got.body == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"},
                                    {"type": 2}, {"after": "x"}])
async def test_list_reaction_users_bad_query_is_400_50035(
    api: Api, w: World, params: dict[str, Any]
) -> None:
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token, params=params)
    assert_error(got, 400, 50035)


async def test_list_reaction_users_needs_read_message_history(
    api: Api, w: World, platform: Platform
) -> None:
    await deny_everyone(platform, w, P.READ_MESSAGE_HISTORY)
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token)
    assert_error(got, 403, 50013)


# -- DELETE .../reactions and .../reactions/{emoji} ----------------------------------------------


async def test_clear_all_reactions_needs_manage_messages(
    api: Api, w: World, events: list[Event]
) -> None:
    await react(api, w, w.member, THUMBS)
    await react(api, w, w.owner, HEART)
    assert_error(await api.delete(w.reactions(), w.member.token), 403, 50013)
    r = await api.delete(w.reactions(), w.owner.token)
    assert r.status == 204, r.body
    assert (await api.delete(w.reactions(), w.owner.token)).status == 204  # nothing left
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_REMOVE_ALL")
    assert ev.data == {"channel_id": w.channel, "guild_id": w.guild_id, "message_id": w.message}
    got = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.owner.token)
    assert "reactions" not in got.body


async def test_clear_one_emoji_publishes_remove_emoji(
    api: Api, w: World, events: list[Event]
) -> None:
    await react(api, w, w.member, THUMBS)
    await react(api, w, w.owner, THUMBS)
    await react(api, w, w.owner, HEART)
    assert_error(await api.delete(f"{w.reactions()}/{enc(THUMBS)}", w.member.token), 403, 50013)
    r = await api.delete(f"{w.reactions()}/{enc(THUMBS)}", w.owner.token)
    assert r.status == 204
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_REMOVE_EMOJI")
    assert ev.data == {"channel_id": w.channel, "guild_id": w.guild_id, "message_id": w.message,
                       "emoji": {"id": None, "name": THUMBS}}
    got = await api.get(f"/channels/{w.channel}/messages/{w.message}", w.owner.token)
    assert [(r["emoji"]["name"], r["count"]) for r in got.body["reactions"]] == [(HEART, 1)]


# -- DMs, other messages, events and limits ------------------------------------------------------


async def test_reactions_in_a_dm(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    dm = await platform.meta.get_or_create_dm(Channel(
        platform.ids.next(), ChannelType.DM, recipients=(int(w.owner.id), int(w.member.id))))
    sent = await api.post(f"/channels/{dm.id}/messages", w.owner.token, json={"content": "dm"})
    base = f"/channels/{dm.id}/messages/{sent.body['id']}/reactions"
    assert (await api.put(f"{base}/{enc(THUMBS)}/@me", w.member.token)).status == 204
    await settle()
    [ev] = named(events, "MESSAGE_REACTION_ADD")
    assert ev.guild_id is None and set(ev.user_ids) == {int(w.owner.id), int(w.member.id)}
    assert "member" not in ev.data and "guild_id" not in ev.data
    # Nobody removes the other's reactions in a DM.
    assert_error(await api.delete(f"{base}/{enc(THUMBS)}/{w.member.id}", w.owner.token),
                 403, 50003)
    assert_error(await api.delete(base, w.owner.token), 403, 50003)
    assert (await api.delete(f"{base}/{enc(THUMBS)}/@me", w.member.token)).status == 204


async def test_edit_answer_has_reactions_and_its_event_has_none(
    api: Api, w: World, events: list[Event]
) -> None:
    await react(api, w, w.owner)
    r = await api.patch(f"/channels/{w.channel}/messages/{w.message}", w.owner.token,
                        json={"content": "edited"})
    assert r.status == 200 and r.body["reactions"][0]["me"] is True
    await settle()
    [ev] = named(events, "MESSAGE_UPDATE")
    assert "reactions" not in ev.data  # one payload for every reader: no ``me`` to give


async def test_deleting_the_message_deletes_its_reactions(api: Api, w: World) -> None:
    await react(api, w, w.member)
    assert (await api.delete(f"/channels/{w.channel}/messages/{w.message}",
                             w.owner.token)).status == 204
    assert_error(await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.owner.token), 404, 10008)


async def test_reaction_writes_share_one_bucket_per_channel(api: Api, w: World) -> None:
    put = await react(api, w, w.member, THUMBS)
    delete = await api.delete(f"{w.reactions()}/{enc(HEART)}/@me", w.member.token)
    clear = await api.delete(w.reactions(), w.owner.token)
    buckets = {r.headers["X-RateLimit-Bucket"] for r in (put, delete, clear)}
    assert buckets == {f"reactions:{w.channel}"}
    got = await api.get(f"{w.reactions()}/{enc(THUMBS)}", w.member.token)
    assert got.headers["X-RateLimit-Bucket"] != f"reactions:{w.channel}"
    # Shared: the same user's count went down by one per write.
    assert int(delete.headers["X-RateLimit-Remaining"]) == int(put.headers["X-RateLimit-Remaining"]) - 1
