"""What an interaction's answers carry and keep: the invoked command's full name ("cmd",
"cmd group sub") in a response's ``interaction.name`` and ``interaction_metadata.name``, a
follow-up's ``original_response_message_id``; ephemeral follow-ups kept with their interaction
(the last MAX_EPHEMERAL_FOLLOWUPS) so that their buttons can be clicked, by their user alone,
and 7 / 6 then @original act on them, as on an ephemeral @original."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Event
from core.interaction_responses import MAX_EPHEMERAL_FOLLOWUPS
from core.interactions import TOKEN_TTL_MS
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import add_member, assert_error, make_bot

Json = dict[str, Any]

ADMIN: Json = {
    "name": "admin", "description": "d", "options": [
        {"type": 2, "name": "role", "description": "d", "options": [
            {"type": 1, "name": "give", "description": "d", "options": [
                {"type": 3, "name": "what", "description": "d"}]}]},
        {"type": 1, "name": "ping", "description": "d"}],
}
BUTTON = [{"type": 1, "components": [
    {"type": 2, "style": 1, "label": "Yes", "custom_id": "yes"}]}]
YES = {"custom_id": "yes", "component_type": 2}


async def setup(api: Api, platform: Platform) -> tuple[Account, Account, str, str]:
    owner = await api.register()
    bot = await make_bot(api, owner)
    guild = await api.guild(owner)
    await add_member(platform, guild, bot)
    r = await api.get(f"/guilds/{guild['id']}/channels", owner.token)
    channel = str(next(c["id"] for c in r.body if c["type"] == 0))
    r = await api.post(f"/applications/{bot.id}/guilds/{guild['id']}/commands", bot.token,
                       bot=True, json=ADMIN)
    assert r.status == 201, r.body
    return owner, bot, channel, str(r.body["id"])


def last(events: list[Event], name: str) -> Event:
    return [e for e in events if e.name == name][-1]


async def run(api: Api, who: Account, bot: Account, channel: str, command: str,
              options: list[Json], events: list[Event]) -> Json:
    r = await api.post("/interactions", who.token, json={
        "type": 2, "application_id": bot.id, "channel_id": channel,
        "data": {"id": command, "name": "admin", "type": 1, "options": options}})
    assert r.status == 204, r.body
    data: Json = last(events, "INTERACTION_CREATE").data
    return data


async def click(api: Api, who: Account, channel: str, message: str) -> Any:
    return await api.post("/interactions", who.token, json={
        "type": 3, "channel_id": channel, "message_id": message, "data": YES})


async def test_a_response_names_the_command_invoked(api: Api, platform: Platform,
                                                    events: list[Event]) -> None:
    owner, bot, channel, command = await setup(api, platform)
    e = await run(api, owner, bot, channel, command, [
        {"type": 2, "name": "role", "options": [
            {"type": 1, "name": "give", "options": [{"type": 3, "name": "what",
                                                      "value": "x"}]}]}], events)
    r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback?with_response=1", None,
                       json={"type": 4, "data": {"content": "given"}})
    assert r.status == 200, r.body
    message = r.body["resource"]["message"]
    assert message["interaction"]["name"] == "admin role give"
    assert message["interaction_metadata"]["name"] == "admin role give"
    assert "original_response_message_id" not in message["interaction_metadata"]
    created = last(events, "MESSAGE_CREATE").data
    assert created["interaction"]["name"] == "admin role give"
    # A follow-up names it too, and the response it follows.
    r = await api.post(f"/webhooks/{bot.id}/{e['token']}", None, json={"content": "more"})
    assert r.status == 200, r.body
    assert r.body["interaction"]["name"] == "admin role give"
    assert r.body["interaction_metadata"]["original_response_message_id"] == message["id"]

    e = await run(api, owner, bot, channel, command, [{"type": 1, "name": "ping"}], events)
    r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback?with_response=1", None,
                       json={"type": 4, "data": {"content": "pong", "flags": 64,
                                                 "components": BUTTON}})
    message = r.body["resource"]["message"]
    assert message["interaction"]["name"] == "admin ping"
    # A component's response: no command, no name in the metadata.
    assert (await click(api, owner, channel, message["id"])).status == 204
    e = last(events, "INTERACTION_CREATE").data
    r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback?with_response=1", None,
                       json={"type": 4, "data": {"content": "clicked"}})
    message = r.body["resource"]["message"]
    assert message["interaction"]["name"] == "" and message["interaction_metadata"]["type"] == 3
    assert "name" not in message["interaction_metadata"]


async def test_buttons_of_ephemeral_follow_ups(api: Api, platform: Platform,
                                               events: list[Event]) -> None:
    owner, bot, channel, command = await setup(api, platform)
    member = await api.register()
    guild_id = (await api.get(f"/channels/{channel}", owner.token)).body["guild_id"]
    await add_member(platform, {"id": guild_id}, member)
    e = await run(api, owner, bot, channel, command, [{"type": 1, "name": "ping"}], events)
    cb = f"/interactions/{e['id']}/{e['token']}/callback"
    assert (await api.post(cb, None, json={"type": 5, "data": {"flags": 64}})).status == 204
    hook = f"/webhooks/{bot.id}/{e['token']}"
    first = await api.post(hook, None, json={"content": "original", "components": BUTTON})
    assert first.status == 200 and first.body["flags"] & 64  # the deferral's: @original

    async def ephemeral_followup(text: str) -> str:
        r = await api.post(hook, None, json={"content": text, "flags": 64, "components": BUTTON})
        assert r.status == 200 and r.body["flags"] & 64, r.body
        assert last(events, "MESSAGE_CREATE").user_ids == (int(owner.id),)
        return str(r.body["id"])

    a = await ephemeral_followup("a")
    # In no history; clicked by its user alone.
    assert_error(await api.get(f"/channels/{channel}/messages/{a}", owner.token), 404, 10008)
    assert_error(await click(api, member, channel, a), 404, 10008)
    assert (await click(api, owner, channel, a)).status == 204
    got = last(events, "INTERACTION_CREATE").data
    assert got["message"]["id"] == a and got["message"]["content"] == "a"
    assert got["message"]["flags"] & 64
    r = await api.post(f"/interactions/{got['id']}/{got['token']}/callback?with_response=1",
                       None, json={"type": 7, "data": {"content": "a done", "components": []}})
    assert r.status == 200 and r.body["resource"]["message"]["content"] == "a done", r.body
    update = last(events, "MESSAGE_UPDATE")
    assert update.user_ids == (int(owner.id),) and update.data["id"] == a
    assert_error(await click(api, owner, channel, a), 400, 50035)  # its button is gone
    # The original is untouched by the follow-up's edit, and still clickable.
    assert (await api.get(f"{hook}/messages/@original", None)).body["content"] == "original"
    assert (await click(api, owner, channel, first.body["id"])).status == 204

    # 6, then the click's @original is the follow-up: read, edited, deleted.
    b = await ephemeral_followup("b")
    assert (await click(api, owner, channel, b)).status == 204
    got = last(events, "INTERACTION_CREATE").data
    assert (await api.post(f"/interactions/{got['id']}/{got['token']}/callback", None,
                           json={"type": 6})).status == 204
    mine = f"/webhooks/{bot.id}/{got['token']}/messages/@original"
    assert (await api.get(mine, None)).body["content"] == "b"
    r = await api.patch(mine, None, json={"content": "b later"})
    assert r.status == 200 and r.body["id"] == b and r.body["content"] == "b later"
    # The follow-up's own token reads it by id too.
    assert (await api.get(f"{hook}/messages/{b}", None)).body["content"] == "b later"
    assert (await api.delete(mine, None)).status == 204
    gone = last(events, "MESSAGE_DELETE")
    assert gone.data["id"] == b and gone.user_ids == (int(owner.id),)
    assert_error(await click(api, owner, channel, b), 404, 10008)
    assert_error(await api.get(f"{hook}/messages/{b}", None), 404, 10008)

    # Bounded: only the newest MAX_EPHEMERAL_FOLLOWUPS are kept.
    kept = [await ephemeral_followup(f"n{n}") for n in range(MAX_EPHEMERAL_FOLLOWUPS + 1)]
    assert_error(await click(api, owner, channel, kept[0]), 404, 10008)
    assert (await click(api, owner, channel, kept[1])).status == 204
    assert (await click(api, owner, channel, kept[-1])).status == 204


async def test_ephemeral_follow_ups_forgotten_with_the_token(
        api: Api, platform: Platform, events: list[Event], monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, bot, channel, command = await setup(api, platform)
    e = await run(api, owner, bot, channel, command, [{"type": 1, "name": "ping"}], events)
    assert (await api.post(f"/interactions/{e['id']}/{e['token']}/callback", None,
                           json={"type": 4, "data": {"content": "hi"}})).status == 204
    r = await api.post(f"/webhooks/{bot.id}/{e['token']}", None,
                       json={"content": "later", "flags": 64, "components": BUTTON})
    assert r.status == 200, r.body
    assert (await click(api, owner, channel, r.body["id"])).status == 204
    later = Platform.now_ms() + TOKEN_TTL_MS + 1
    monkeypatch.setattr(Platform, "now_ms", staticmethod(lambda: later))
    assert_error(await click(api, owner, channel, r.body["id"]), 404, 10008)
