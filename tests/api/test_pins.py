"""Pin routes (the deprecated ``/pins`` and the newer ``/messages/pins``): permissions, limits,
the listings, and the events and system message of a pin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from core.events import Event
from core.models import Channel, ChannelType, Message, Overwrite, OverwriteType, Role
from core.permissions import Permission
from core.pins import MAX_PINS
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, named, settle

P = Permission
NEW, OLD = "/messages/pins", "/pins"  # Discord's newer routes, and the deprecated ones


@dataclass
class World:
    owner: Account
    member: Account
    guild_id: str
    channel: str

    @property
    def msgs(self) -> str:
        return f"/channels/{self.channel}/messages"

    def pins(self, route: str = NEW) -> str:
        return f"/channels/{self.channel}{route}"


@pytest.fixture
async def w(api: Api) -> World:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    return World(owner, member, guild["id"], guild["channels"][0]["id"])


async def send(api: Api, w: World, who: Account, content: str = "pin me") -> str:
    r = await api.post(w.msgs, who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def grant(platform: Platform, w: World, who: Account, perms: int) -> None:
    gid = int(w.guild_id)
    role = Role(platform.ids.next(), gid, "granted", perms, position=1)
    await platform.meta.create_role(role)
    await platform.meta.add_member_role(gid, int(who.id), role.id)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


# -- PUT ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [NEW, OLD])
async def test_pin_marks_the_message_pinned(api: Api, w: World, route: str) -> None:
    message = await send(api, w, w.member)
    r = await api.put(f"{w.pins(route)}/{message}", w.owner.token)
    assert r.status == 204, r.body
    got = await api.get(f"{w.msgs}/{message}", w.member.token)
    assert got.body["pinned"] is True


async def test_pin_publishes_update_pins_update_and_a_system_message(
    api: Api, w: World, events: list[Event]
) -> None:
    message = await send(api, w, w.member)
    before = datetime.now().astimezone()
    await api.put(f"{w.pins()}/{message}", w.owner.token)
    await settle()
    [update] = named(events, "MESSAGE_UPDATE")
    assert update.data["id"] == message and update.data["pinned"] is True
    assert update.channel_id == int(w.channel) and update.guild_id == int(w.guild_id)
    [pins] = named(events, "CHANNEL_PINS_UPDATE")
    assert set(pins.data) == {"guild_id", "channel_id", "last_pin_timestamp"}
    assert pins.data["channel_id"] == w.channel and pins.data["guild_id"] == w.guild_id
    assert when(pins.data["last_pin_timestamp"]) >= before.replace(microsecond=0)
    assert pins.channel_id == int(w.channel)
    [_, created] = named(events, "MESSAGE_CREATE")  # the first is the message itself
    system = created.data
    assert system["type"] == 6 and system["content"] == "" and system["pinned"] is False
    assert system["author"]["id"] == w.owner.id and system["member"]
    assert system["message_reference"] == {"type": 0, "message_id": message,
                                           "channel_id": w.channel, "guild_id": w.guild_id}
    assert "referenced_message" not in system
    history = await api.get(w.msgs, w.member.token)
    assert [(m["id"], m["type"]) for m in history.body] == [(system["id"], 6), (message, 0)]


async def test_pin_twice_changes_nothing(api: Api, w: World, events: list[Event]) -> None:
    message = await send(api, w, w.member)
    assert (await api.put(f"{w.pins()}/{message}", w.owner.token)).status == 204
    assert (await api.put(f"{w.pins(OLD)}/{message}", w.owner.token)).status == 204
    await settle()
    assert len(named(events, "CHANNEL_PINS_UPDATE")) == 1
    assert [e.data["type"] for e in named(events, "MESSAGE_CREATE")] == [0, 6]


async def test_pin_needs_pin_messages_or_manage_messages(
    api: Api, w: World, platform: Platform
) -> None:
    message = await send(api, w, w.member)
    assert_error(await api.put(f"{w.pins()}/{message}", w.member.token), 403, 50013)
    assert_error(await api.delete(f"{w.pins()}/{message}", w.member.token), 403, 50013)
    await grant(platform, w, w.member, P.PIN_MESSAGES)
    assert (await api.put(f"{w.pins()}/{message}", w.member.token)).status == 204
    other = await api.register()
    await api.join({"channels": [{"id": w.channel}]}, w.owner, other)
    await grant(platform, w, other, P.MANAGE_MESSAGES)
    assert (await api.delete(f"{w.pins()}/{message}", other.token)).status == 204


async def test_pin_unknown_or_elsewhere_is_404(api: Api, w: World) -> None:
    assert_error(await api.put(f"{w.pins()}/{UNKNOWN}", w.owner.token), 404, 10008)
    assert_error(await api.put(f"{w.pins()}/nope", w.owner.token), 404, 10008)
    elsewhere = await api.guild(w.member, "Mine")
    message = await send(api, w, w.member)
    r = await api.put(f"/channels/{elsewhere['channels'][0]['id']}{NEW}/{message}", w.member.token)
    assert_error(r, 404, 10008)
    assert_error(await api.put(f"/channels/{UNKNOWN}{NEW}/{message}", w.owner.token), 404, 10003)


async def test_a_system_message_cannot_be_pinned(
    api: Api, w: World, events: list[Event]
) -> None:
    await api.put(f"{w.pins()}/{await send(api, w, w.member)}", w.owner.token)
    await settle()
    system = named(events, "MESSAGE_CREATE")[-1].data["id"]
    assert_error(await api.put(f"{w.pins()}/{system}", w.owner.token), 400, 50021)


async def test_a_channel_holds_at_most_50_pins(api: Api, w: World, platform: Platform) -> None:
    channel, now = int(w.channel), platform.now_ms()
    ids = [platform.ids.next() for _ in range(MAX_PINS + 1)]
    await platform.messages.insert_many(
        [Message(i, channel, int(w.owner.id), "m", int(w.guild_id)) for i in ids])
    for i in ids[:MAX_PINS]:
        await platform.messages.pin_message(channel, i, now, MAX_PINS)
    assert_error(await api.put(f"{w.pins()}/{ids[-1]}", w.owner.token), 400, 30003)
    assert (await api.delete(f"{w.pins()}/{ids[0]}", w.owner.token)).status == 204
    assert (await api.put(f"{w.pins()}/{ids[-1]}", w.owner.token)).status == 204


async def test_pin_in_a_dm_by_either_recipient(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    dm = await platform.meta.get_or_create_dm(Channel(
        platform.ids.next(), ChannelType.DM, recipients=(int(w.owner.id), int(w.member.id))))
    sent = await api.post(f"/channels/{dm.id}/messages", w.owner.token, json={"content": "x"})
    assert (await api.put(f"/channels/{dm.id}{NEW}/{sent.body['id']}", w.member.token)).status == 204
    await settle()
    [pins] = named(events, "CHANNEL_PINS_UPDATE")
    assert "guild_id" not in pins.data
    assert pins.guild_id is None and set(pins.user_ids) == {int(w.owner.id), int(w.member.id)}


# -- DELETE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [NEW, OLD])
async def test_unpin_publishes_the_newest_remaining_pin_time(
    api: Api, w: World, events: list[Event], route: str
) -> None:
    first, second = await send(api, w, w.member, "a"), await send(api, w, w.member, "b")
    await api.put(f"{w.pins()}/{first}", w.owner.token)
    await api.put(f"{w.pins()}/{second}", w.owner.token)
    listed = await api.get(w.pins(), w.owner.token)
    first_at = listed.body["items"][1]["pinned_at"]
    await settle()
    events.clear()
    assert (await api.delete(f"{w.pins(route)}/{second}", w.owner.token)).status == 204
    await settle()
    [update] = named(events, "MESSAGE_UPDATE")
    assert update.data["id"] == second and update.data["pinned"] is False
    [pins] = named(events, "CHANNEL_PINS_UPDATE")
    assert when(pins.data["last_pin_timestamp"]) == when(first_at)
    assert (await api.delete(f"{w.pins(route)}/{first}", w.owner.token)).status == 204
    await settle()
    assert named(events, "CHANNEL_PINS_UPDATE")[-1].data["last_pin_timestamp"] is None
    # Unpinning what is not pinned changes nothing.
    assert (await api.delete(f"{w.pins(route)}/{first}", w.owner.token)).status == 204
    await settle()
    assert len(named(events, "CHANNEL_PINS_UPDATE")) == 2
    assert (await api.get(f"{w.msgs}/{first}", w.owner.token)).body["pinned"] is False


# -- GET ------------------------------------------------------------------------------------------


async def test_get_pins_lists_newest_pin_first(api: Api, w: World) -> None:
    ids = [await send(api, w, w.member, f"m{i}") for i in range(3)]
    for message in (ids[1], ids[0], ids[2]):
        await api.put(f"{w.pins()}/{message}", w.owner.token)
    old = await api.get(w.pins(OLD), w.member.token)
    assert old.status == 200
    assert [m["id"] for m in old.body] == [ids[2], ids[0], ids[1]]
    assert all(m["pinned"] for m in old.body)
    new = await api.get(w.pins(), w.member.token)
    assert new.body["has_more"] is False
    assert [i["message"]["id"] for i in new.body["items"]] == [ids[2], ids[0], ids[1]]
    times = [when(i["pinned_at"]) for i in new.body["items"]]
    assert times == sorted(times, reverse=True) and len(set(times)) == 3


async def test_get_pins_pages_with_before_and_limit(api: Api, w: World) -> None:
    ids = [await send(api, w, w.member, f"m{i}") for i in range(5)]
    for message in ids:
        await api.put(f"{w.pins()}/{message}", w.owner.token)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:  # as discord.py's channel.pins() pages: before = the last item's pinned_at
        page = await api.get(w.pins(), w.member.token, params=params)
        assert page.status == 200, page.body
        seen += [i["message"]["id"] for i in page.body["items"]]
        if not page.body["has_more"]:
            break
        params = {"limit": 2, "before": page.body["items"][-1]["pinned_at"]}
    assert seen == ids[::-1]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 51}, {"before": "yesterday"},
                                    {"before": ""}])
async def test_get_pins_bad_query_is_400_50035(
    api: Api, w: World, params: dict[str, Any]
) -> None:
    assert_error(await api.get(w.pins(), w.member.token, params=params), 400, 50035)


async def test_get_pins_without_read_message_history_lists_nothing(
    api: Api, w: World, platform: Platform
) -> None:
    await api.put(f"{w.pins()}/{await send(api, w, w.member)}", w.owner.token)
    gid = int(w.guild_id)
    await platform.meta.put_overwrite(
        int(w.channel), Overwrite(gid, OverwriteType.ROLE, 0, P.READ_MESSAGE_HISTORY))
    assert (await api.get(w.pins(OLD), w.member.token)).body == []
    assert (await api.get(w.pins(), w.member.token)).body == {"items": [], "has_more": False}
    assert len((await api.get(w.pins(OLD), w.owner.token)).body) == 1


async def test_get_pins_of_a_channel_one_cannot_see_is_403(api: Api, w: World) -> None:
    outsider = await api.register()
    assert_error(await api.get(w.pins(), outsider.token), 403, 50001)
    assert_error(await api.get(w.pins(OLD), outsider.token), 403, 50001)


async def test_pinned_messages_carry_their_reactions(api: Api, w: World) -> None:
    message = await send(api, w, w.member)
    await api.put(f"{w.msgs}/{message}/reactions/%F0%9F%91%8D/@me", w.member.token)
    await api.put(f"{w.pins()}/{message}", w.owner.token)
    page = await api.get(w.pins(), w.member.token)
    assert page.body["items"][0]["message"]["reactions"][0]["me"] is True
