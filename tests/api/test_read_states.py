"""``POST /channels/{c}/messages/{m}/ack``, MESSAGE_ACK and the mention counts behind READY's
``read_state`` (core.read_states, core.mentions): user accounts only, forward unless manual,
counts of what the message form resolved, one's own messages never counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from core.events import Event
from core.models import Overwrite, OverwriteType, ReadState
from core.permissions import Permission
from core.platform import Platform
from core.read_states import ready_read_state
from core.snowflake import snowflake_from_ms
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, grant, make_bot, named, settle

P = Permission
NO_TOKEN = {"token": None}


@dataclass
class World:
    owner: Account
    member: Account
    guild: dict[str, Any]

    @property
    def channel(self) -> str:
        return str(self.guild["channels"][0]["id"])

    def ack(self, message_id: str, channel: str | None = None) -> str:
        return f"/channels/{channel or self.channel}/messages/{message_id}/ack"


@pytest.fixture
async def w(api: Api) -> World:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    return World(owner, member, guild)


async def send(api: Api, who: Account, channel: str, content: str) -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token, json={"content": content})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def states(platform: Platform, who: Account) -> dict[int, ReadState]:
    return {s.channel_id: s for s in await platform.meta.read_states(int(who.id))}


# -- the ack ----------------------------------------------------------------------------------


async def test_ack_answers_a_null_token_and_tells_the_users_sessions_only(
    api: Api, w: World, events: list[Event]
) -> None:
    message = await send(api, w.owner, w.channel, "hello")
    r = await api.post(w.ack(message), w.member.token, json=NO_TOKEN)
    assert r.status == 200 and r.body == {"token": None}
    await settle()
    [ack] = named(events, "MESSAGE_ACK")
    assert ack.user_ids == (int(w.member.id),) and ack.guild_id is None
    assert ack.data == {"channel_id": w.channel, "message_id": message,
                        "version": ack.data["version"], "mention_count": 0}
    assert ack.data["version"] > 0


async def test_an_empty_body_is_an_ack_too(api: Api, w: World) -> None:
    message = await send(api, w.owner, w.channel, "hello")
    r = await api.post(w.ack(message), w.member.token)
    assert r.status == 200 and r.body == {"token": None}
    doc = await (await api.client.get("/api/openapi.json")).json()
    op = doc["paths"]["/api/v10/channels/{channel_id}/messages/{message_id}/ack"]["post"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(r.body, {**schema, "components": doc["components"]},
                        cls=jsonschema.Draft202012Validator)


async def test_bots_cannot_ack(api: Api, w: World, platform: Platform) -> None:
    bot = await make_bot(api, w.owner)
    await grant(platform, w.guild, bot, 0)
    message = await send(api, w.owner, w.channel, "hello")
    assert_error(await api.post(w.ack(message), bot.token, json=NO_TOKEN, bot=True), 403, 20001)


async def test_ack_needs_the_channel(api: Api, w: World, platform: Platform) -> None:
    message = await send(api, w.owner, w.channel, "hello")
    stranger = await api.register()
    assert_error(await api.post(w.ack(message), stranger.token, json=NO_TOKEN), 403, 50001)
    assert_error(await api.post(w.ack(message, UNKNOWN), w.member.token), 404, 10003)
    hidden = Overwrite(int(w.member.id), OverwriteType.MEMBER, 0, int(P.VIEW_CHANNEL))
    await platform.meta.put_overwrite(int(w.channel), hidden)
    assert_error(await api.post(w.ack(message), w.member.token), 403, 50001)


async def test_ack_of_a_category_is_refused(api: Api, w: World) -> None:
    r = await api.post(f"/guilds/{w.guild['id']}/channels", w.owner.token,
                       json={"name": "cat", "type": 4})
    message = await send(api, w.owner, w.channel, "hello")
    assert_error(await api.post(w.ack(message, r.body["id"]), w.owner.token), 400, 50008)


async def test_ack_of_a_message_from_the_future_is_unknown(
    api: Api, w: World, platform: Platform
) -> None:
    later = snowflake_from_ms(platform.now_ms() + 3_600_000)
    assert_error(await api.post(w.ack(str(later)), w.member.token), 404, 10008)
    # A deleted (or never seen) message of the past is a position all the same.
    past = snowflake_from_ms(platform.now_ms() - 1000)
    assert (await api.post(w.ack(str(past)), w.member.token)).status == 200


@pytest.mark.parametrize("body", [{"manual": "yes"}, {"token": 5}, {"mention_count": -1},
                                  {"last_viewed": "soon"}])
async def test_bad_ack_fields_are_50035(api: Api, w: World, body: dict[str, Any]) -> None:
    message = await send(api, w.owner, w.channel, "hello")
    assert_error(await api.post(w.ack(message), w.member.token, json=body), 400, 50035)


async def test_ack_moves_forward_unless_manual(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    first = await send(api, w.owner, w.channel, "one")
    second = await send(api, w.owner, w.channel, "two")
    await api.post(w.ack(second), w.member.token)
    await api.post(w.ack(first), w.member.token)
    assert (await states(platform, w.member))[int(w.channel)].last_message_id == int(second)
    await api.post(w.ack(first), w.member.token, json={"manual": True})
    assert (await states(platform, w.member))[int(w.channel)].last_message_id == int(first)
    await settle()
    acks = [e.data for e in named(events, "MESSAGE_ACK")]
    assert [a["message_id"] for a in acks] == [second, second, first]
    versions = [a["version"] for a in acks]
    assert versions == sorted(set(versions))


# -- mention counts -----------------------------------------------------------------------------


async def test_mentions_count_until_acked_and_ones_own_never(
    api: Api, w: World, platform: Platform, events: list[Event]
) -> None:
    member = w.member.id
    first = await send(api, w.owner, w.channel, f"<@{member}> look")
    await send(api, w.owner, w.channel, "nothing for you")
    await send(api, w.owner, w.channel, f"<@{member}> and @everyone")  # counted once
    await send(api, w.member, w.channel, f"<@{member}> talking to myself")
    got = await states(platform, w.member)
    assert got == {int(w.channel): ReadState(int(w.channel), 0, 2, 0)}
    assert await states(platform, w.owner) == {}  # the @everyone was the owner's own
    await api.post(w.ack(first), w.member.token)
    await settle()
    assert named(events, "MESSAGE_ACK")[-1].data["mention_count"] == 1
    assert (await states(platform, w.member))[int(w.channel)].mention_count == 1


async def test_only_mentions_the_author_may_make_count(
    api: Api, w: World, platform: Platform
) -> None:
    gid = int(w.guild["id"])
    await platform.meta.update_role(gid, gid, {"permissions": int(P.VIEW_CHANNEL
                                                                 | P.SEND_MESSAGES)})
    await send(api, w.member, w.channel, "@everyone wake up")  # no MENTION_EVERYONE
    assert await states(platform, w.owner) == {}


async def test_a_role_mention_counts_for_its_members_only(
    api: Api, w: World, platform: Platform
) -> None:
    third = await api.register()
    await api.join(w.guild, w.owner, third)
    role = await grant(platform, w.guild, w.member, 0)
    await send(api, w.owner, w.channel, f"<@&{role}> meeting")
    assert (await states(platform, w.member))[int(w.channel)].mention_count == 1
    assert await states(platform, third) == {}


async def test_every_dm_message_of_the_other_counts(api: Api, platform: Platform) -> None:
    alice, bob = await api.register(), await api.register()
    dm = (await api.post("/users/@me/channels", alice.token,
                         json={"recipient_id": bob.id})).body["id"]
    await send(api, alice, dm, "hi")
    await send(api, alice, dm, "are you there")
    await send(api, bob, dm, "yes")
    assert await states(platform, bob) == {int(dm): ReadState(int(dm), 0, 2, 0)}
    assert await states(platform, alice) == {int(dm): ReadState(int(dm), 0, 1, 0)}


async def test_ready_read_state_lists_only_the_channels_told_of(
    api: Api, w: World, platform: Platform
) -> None:
    message = await send(api, w.owner, w.channel, f"<@{w.member.id}>")
    payload = await ready_read_state(platform, int(w.member.id), {int(w.channel)})
    assert payload == {"version": 0, "partial": False, "entries": [{
        "id": w.channel, "last_message_id": "0", "mention_count": 1,
        "last_pin_timestamp": "1970-01-01T00:00:00+00:00"}]}
    await api.post(w.ack(message), w.member.token)
    payload = await ready_read_state(platform, int(w.member.id), {int(w.channel)})
    assert payload["version"] > 0
    assert payload["entries"][0]["last_message_id"] == message
    assert payload["entries"][0]["mention_count"] == 0
    assert (await ready_read_state(platform, int(w.member.id), set()))["entries"] == []
