"""Interactions over REST: a member invokes a bot's guild command (POST /interactions), the bot
hears INTERACTION_CREATE alone, answers once (a message, ephemeral, deferred then followed up),
edits and deletes @original with the token; bad tokens, a second answer, bad options."""

from __future__ import annotations

from typing import Any

from core.events import Event
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import add_member, assert_error, make_bot

ROLL: dict[str, Any] = {
    "name": "roll", "description": "Roll dice", "type": 1,
    "options": [{"type": 4, "name": "sides", "description": "Sides", "required": True,
                 "min_value": 2, "max_value": 100},
                {"type": 6, "name": "who", "description": "Who"}],
}


async def setup(api: Api, platform: Platform) -> tuple[Account, Account, dict[str, Any], str]:
    owner = await api.register()
    bot = await make_bot(api, owner)
    guild = await api.guild(owner)
    await add_member(platform, guild, bot)
    r = await api.post(f"/applications/{bot.id}/guilds/{guild['id']}/commands", bot.token,
                       bot=True, json=ROLL)
    assert r.status == 201, r.body
    return owner, bot, guild, r.body["id"]


async def invoke(api: Api, who: Account, bot: Account, guild: dict[str, Any], command_id: str,
                 options: list[Any], events: list[Event]) -> Event:
    channel_id = guild["system_channel_id"] or guild["id"]
    r = await api.post("/interactions", who.token, json={
        "type": 2, "application_id": bot.id, "guild_id": guild["id"], "channel_id": channel_id,
        "data": {"id": command_id, "name": "roll", "type": 1, "options": options}})
    assert r.status == 204, r.body
    created = [e for e in events if e.name == "INTERACTION_CREATE"]
    return created[-1]


async def channel_of(api: Api, owner: Account, guild: dict[str, Any]) -> str:
    r = await api.get(f"/guilds/{guild['id']}/channels", owner.token)
    return str(next(c["id"] for c in r.body if c["type"] == 0))


async def test_invoke_answer_and_follow_up(api: Api, platform: Platform,
                                           events: list[Event]) -> None:
    owner, bot, guild, cmd = await setup(api, platform)
    guild = {**guild, "system_channel_id": await channel_of(api, owner, guild)}
    e = await invoke(api, owner, bot, guild, cmd,
                     [{"name": "sides", "type": 4, "value": 6},
                      {"name": "who", "type": 6, "value": owner.id}], events)
    assert e.user_ids == (int(bot.id),) and e.guild_id == int(guild["id"])
    d = e.data
    assert d["data"]["guild_id"] == guild["id"] and d["data"]["name"] == "roll"
    assert d["data"]["resolved"]["users"][owner.id]["id"] == owner.id
    assert d["member"]["user"]["id"] == owner.id and d["version"] == 1 and d["token"]
    iid, token = d["id"], d["token"]
    cb = f"/interactions/{iid}/{token}/callback"
    # A wrong token is an unknown interaction.
    bad = await api.post(f"/interactions/{iid}/{token}x/callback", None, json={"type": 4})
    assert_error(bad, 404, 10062)
    r = await api.post(cb + "?with_response=1", None,
                       json={"type": 4, "data": {"content": "rolled 4"}})
    assert r.status == 200, r.body
    message = r.body["resource"]["message"]
    assert r.body["interaction"]["response_message_id"] == message["id"]
    assert message["type"] == 20 and message["author"]["id"] == bot.id
    assert message["interaction_metadata"]["user"]["id"] == owner.id
    again = await api.post(cb, None, json={"type": 4, "data": {"content": "again"}})
    assert_error(again, 400, 40060)
    history = await api.get(f"/channels/{guild['system_channel_id']}/messages", owner.token)
    assert [m["content"] for m in history.body] == ["rolled 4"]
    hook = f"/webhooks/{bot.id}/{token}"
    follow = await api.post(hook, None, json={"content": "and more"})
    assert follow.status == 200 and follow.body["content"] == "and more"
    edited = await api.patch(f"{hook}/messages/@original", None, json={"content": "rolled 5"})
    assert edited.status == 200 and edited.body["content"] == "rolled 5"
    got = await api.get(f"{hook}/messages/@original", None)
    assert got.body["content"] == "rolled 5"
    assert (await api.delete(f"{hook}/messages/@original", None)).status == 204
    assert_error(await api.get(f"{hook}/messages/@original", None), 404, 10008)
    assert_error(await api.post(f"/webhooks/{owner.id}/{token}", None, json={"content": "x"}),
                 401, 50027)


async def test_ephemeral_and_deferred(api: Api, platform: Platform,
                                      events: list[Event]) -> None:
    owner, bot, guild, cmd = await setup(api, platform)
    guild = {**guild, "system_channel_id": await channel_of(api, owner, guild)}
    d = (await invoke(api, owner, bot, guild, cmd, [{"name": "sides", "type": 4, "value": 2}],
                      events)).data
    r = await api.post(f"/interactions/{d['id']}/{d['token']}/callback?with_response=true",
                       None, json={"type": 4, "data": {"content": "secret", "flags": 64}})
    assert r.status == 200 and r.body["interaction"]["response_message_ephemeral"] is True
    sent = [e for e in events if e.name == "MESSAGE_CREATE" and e.data["content"] == "secret"]
    assert len(sent) == 1 and sent[0].user_ids == (int(owner.id),) and sent[0].guild_id is None
    assert sent[0].data["flags"] & 64
    history = await api.get(f"/channels/{guild['system_channel_id']}/messages", owner.token)
    assert history.body == []
    got = await api.get(f"/webhooks/{bot.id}/{d['token']}/messages/@original", None)
    assert got.body["content"] == "secret"
    # Deferred, then the first follow-up is the response.
    d = (await invoke(api, owner, bot, guild, cmd, [{"name": "sides", "type": 4, "value": 3}],
                      events)).data
    r = await api.post(f"/interactions/{d['id']}/{d['token']}/callback?with_response=1", None,
                       json={"type": 5})
    assert r.status == 200 and r.body["interaction"]["response_message_loading"] is True
    follow = await api.post(f"/webhooks/{bot.id}/{d['token']}", None, json={"content": "done"})
    assert follow.status == 200
    got = await api.get(f"/webhooks/{bot.id}/{d['token']}/messages/@original", None)
    assert got.body["id"] == follow.body["id"]


async def test_bad_invocations(api: Api, platform: Platform, events: list[Event]) -> None:
    owner, bot, guild, cmd = await setup(api, platform)
    channel_id = await channel_of(api, owner, guild)
    body = {"type": 2, "application_id": bot.id, "guild_id": guild["id"],
            "channel_id": channel_id,
            "data": {"id": cmd, "name": "roll", "type": 1,
                     "options": [{"name": "sides", "type": 4, "value": 1000}]}}
    r = await api.post("/interactions", owner.token, json=body)
    assert_error(r, 400, 50035)
    body["data"] = {**body["data"], "id": "12345", "options": []}  # type: ignore[dict-item]
    assert_error(await api.post("/interactions", owner.token, json=body), 404, 10063)
    outsider = await api.register()
    body["data"] = {**body["data"], "id": cmd}  # type: ignore[dict-item]
    r = await api.post("/interactions", outsider.token, json=body)
    assert r.status in (403, 404)
    assert not [e for e in events if e.name == "INTERACTION_CREATE"]
    assert_error(await api.post("/interactions/1/aW50ZXJhY3Rpb246x/callback", None,
                                json={"type": 4}), 404, 10062)
