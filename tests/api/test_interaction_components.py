"""Components, modals, autocomplete and DM commands over REST: a bot's message with buttons
and a select menu, clicked with POST /interactions type 3 and answered with callback 7 (the
message edited) or 6 then @original; a modal (9) shown, submitted (type 5) once; autocomplete
(type 4) answered with choices (8); a global command in the bot's DM by its contexts. The
callback types each interaction allows, 40060, 10062, 50035."""

from __future__ import annotations

from typing import Any

from core.events import Event
from core.platform import Platform
from tests.api.conftest import Account, Api
from tests.api.helpers import add_member, assert_error, make_bot

Json = dict[str, Any]

COMPONENTS = [
    {"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Yes", "custom_id": "yes"},
        {"type": 2, "style": 2, "label": "Off", "custom_id": "off", "disabled": True},
        {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com/"}]},
    {"type": 1, "components": [
        {"type": 3, "custom_id": "color", "max_values": 2, "options": [
            {"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"},
            {"label": "Green", "value": "green"}]}]},
    {"type": 1, "components": [{"type": 5, "custom_id": "who"}]},
]
MODAL = {"custom_id": "fb", "title": "Feedback", "components": [
    {"type": 1, "components": [{"type": 4, "custom_id": "name", "label": "Name", "style": 1,
                                "max_length": 20}]}]}


async def setup(api: Api, platform: Platform) -> tuple[Account, Account, str]:
    owner = await api.register()
    bot = await make_bot(api, owner)
    guild = await api.guild(owner)
    await add_member(platform, guild, bot)
    r = await api.get(f"/guilds/{guild['id']}/channels", owner.token)
    return owner, bot, str(next(c["id"] for c in r.body if c["type"] == 0))


def last(events: list[Event], name: str) -> Event:
    return [e for e in events if e.name == name][-1]


async def click(api: Api, who: Account, channel: str, message: str, data: Json) -> Any:
    return await api.post("/interactions", who.token, json={
        "type": 3, "channel_id": channel, "message_id": message, "data": data})


async def test_components_on_a_bots_message_only(api: Api, platform: Platform) -> None:
    owner, bot, channel = await setup(api, platform)
    r = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                       json={"content": "Pick", "components": COMPONENTS})
    assert r.status == 200, r.body
    assert r.body["components"][0]["components"][0] == {
        "type": 2, "style": 1, "label": "Yes", "custom_id": "yes", "disabled": False}
    got = await api.get(f"/channels/{channel}/messages/{r.body['id']}", owner.token)
    assert got.body["components"] == r.body["components"]
    # Components alone make a message; a user account may not send them.
    alone = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                           json={"components": COMPONENTS[:1]})
    assert alone.status == 200, alone.body
    assert_error(await api.post(f"/channels/{channel}/messages", owner.token,
                                json={"content": "x", "components": COMPONENTS}), 400, 50035)
    six = [COMPONENTS[0]] * 6
    r = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                       json={"content": "x", "components": six})
    assert_error(r, 400, 50035)
    assert "components" in r.body["errors"]
    # An edit replaces them, [] clears them.
    edited = await api.patch(f"/channels/{channel}/messages/{alone.body['id']}", bot.token,
                             bot=True, json={"content": "now", "components": []})
    assert edited.status == 200 and edited.body["components"] == []


async def test_click_updates_the_message(api: Api, platform: Platform,
                                         events: list[Event]) -> None:
    owner, bot, channel = await setup(api, platform)
    sent = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                          json={"content": "Pick", "components": COMPONENTS})
    mid = sent.body["id"]
    r = await click(api, owner, channel, mid, {"custom_id": "yes", "component_type": 2})
    assert r.status == 204, r.body
    e = last(events, "INTERACTION_CREATE")
    assert e.user_ids == (int(bot.id),) and e.data["type"] == 3
    assert e.data["data"] == {"custom_id": "yes", "component_type": 2}
    assert e.data["message"]["id"] == mid and e.data["message"]["components"]
    assert e.data["member"]["user"]["id"] == owner.id
    cb = f"/interactions/{e.data['id']}/{e.data['token']}/callback"
    assert_error(await api.post(cb, None, json={"type": 8, "data": {"choices": []}}), 400, 50035)
    r = await api.post(cb + "?with_response=true", None, json={"type": 7, "data": {
        "content": "Chosen: yes", "components": COMPONENTS[1:]}})
    assert r.status == 200, r.body
    assert r.body["resource"]["type"] == 7 and r.body["resource"]["message"]["id"] == mid
    update = last(events, "MESSAGE_UPDATE")
    assert update.data["content"] == "Chosen: yes" and len(update.data["components"]) == 2
    got = await api.get(f"/channels/{channel}/messages/{mid}", owner.token)
    assert got.body["content"] == "Chosen: yes" and len(got.body["components"]) == 2
    assert_error(await api.post(cb, None, json={"type": 6}), 400, 40060)
    # The clicked button is gone now; a disabled one, a link, another type: 50035.
    for data in ({"custom_id": "yes", "component_type": 2},
                 {"custom_id": "color", "component_type": 2},
                 {"custom_id": "color", "component_type": 3, "values": ["pink"]},
                 {"custom_id": "color", "component_type": 3, "values": []}):
        assert_error(await click(api, owner, channel, mid, data), 400, 50035)
    assert_error(await click(api, owner, channel, "1", {"custom_id": "yes",
                                                         "component_type": 2}), 404, 10008)
    outsider = await api.register()
    r = await click(api, outsider, channel, mid, {"custom_id": "color", "component_type": 3,
                                                   "values": ["red"]})
    assert r.status in (403, 404)


async def test_select_values_and_deferred_update(api: Api, platform: Platform,
                                                 events: list[Event]) -> None:
    owner, bot, channel = await setup(api, platform)
    sent = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                          json={"content": "Pick", "components": COMPONENTS})
    mid = sent.body["id"]
    r = await click(api, owner, channel, mid, {"custom_id": "color", "component_type": 3,
                                                "values": ["red", "blue"]})
    assert r.status == 204, r.body
    e = last(events, "INTERACTION_CREATE").data
    assert e["data"]["values"] == ["red", "blue"]
    r = await click(api, owner, channel, mid, {"custom_id": "who", "component_type": 5,
                                                "values": [owner.id]})
    assert r.status == 204, r.body
    e = last(events, "INTERACTION_CREATE").data
    assert e["data"]["resolved"]["users"][owner.id]["id"] == owner.id
    assert owner.id in e["data"]["resolved"]["members"]
    # 6, then @original is the component's message.
    cb = f"/interactions/{e['id']}/{e['token']}/callback"
    assert (await api.post(cb, None, json={"type": 6})).status == 204
    hook = f"/webhooks/{bot.id}/{e['token']}/messages/@original"
    assert (await api.get(hook, None)).body["id"] == mid
    r = await api.patch(hook, None, json={"content": "Later", "components": []})
    assert r.status == 200 and r.body["id"] == mid and r.body["components"] == []


async def test_modal_shown_and_submitted_once(api: Api, platform: Platform,
                                              events: list[Event]) -> None:
    owner, bot, channel = await setup(api, platform)
    sent = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                          json={"content": "Pick", "components": COMPONENTS})
    mid = sent.body["id"]
    await click(api, owner, channel, mid, {"custom_id": "yes", "component_type": 2})
    e = last(events, "INTERACTION_CREATE").data
    cb = f"/interactions/{e['id']}/{e['token']}/callback"
    bad = {**MODAL, "components": [{"type": 1, "components": [{"type": 2, "style": 1,
                                                               "label": "x", "custom_id": "x"}]}]}
    assert_error(await api.post(cb, None, json={"type": 9, "data": bad}), 400, 50035)
    assert (await api.post(cb, None, json={"type": 9, "data": MODAL})).status == 204
    shown = last(events, "INTERACTION_MODAL_CREATE")
    assert shown.user_ids == (int(owner.id),) and shown.data["id"] == e["id"]
    assert shown.data["custom_id"] == "fb" and shown.data["title"] == "Feedback"

    def submit(value: str, who: Account = owner) -> Any:
        return api.post("/interactions", who.token, json={
            "type": 5, "application_id": bot.id, "channel_id": channel,
            "data": {"id": e["id"], "custom_id": "fb", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "name", "value": value}]}]}})

    assert_error(await submit("x" * 21), 400, 50035)
    assert_error(await submit("Ada", await api.register()), 404, 10062)
    assert (await submit("Ada")).status == 204
    got = last(events, "INTERACTION_CREATE").data
    assert got["type"] == 5 and got["data"]["custom_id"] == "fb"
    assert got["data"]["components"][0]["components"][0]["value"] == "Ada"
    assert got["message"]["id"] == mid  # the modal came from the message's button
    assert_error(await submit("Ada"), 404, 10062)  # once
    cb = f"/interactions/{got['id']}/{got['token']}/callback"
    assert_error(await api.post(cb, None, json={"type": 9, "data": MODAL}), 400, 50035)
    r = await api.post(cb, None, json={"type": 7, "data": {"content": "Thanks Ada"}})
    assert r.status == 204, r.body
    assert (await api.get(f"/channels/{channel}/messages/{mid}", owner.token)).body[
        "content"] == "Thanks Ada"


async def test_autocomplete_answered_with_choices(api: Api, platform: Platform,
                                                  events: list[Event]) -> None:
    owner, bot, channel = await setup(api, platform)
    command = {"name": "fruit", "description": "Pick a fruit", "options": [
        {"type": 3, "name": "name", "description": "Name", "autocomplete": True},
        {"type": 4, "name": "count", "description": "Count", "autocomplete": True},
        {"type": 5, "name": "ripe", "description": "Ripe"}]}
    r = await api.post(f"/applications/{bot.id}/commands", bot.token, bot=True, json=command)
    assert r.status == 201, r.body

    def ask(options: list[Json]) -> Any:
        return api.post("/interactions", owner.token, json={
            "type": 4, "application_id": bot.id, "channel_id": channel, "nonce": "n1",
            "data": {"id": r.body["id"], "name": "fruit", "type": 1, "options": options}})

    assert_error(await ask([{"name": "name", "type": 3, "value": "ap"}]), 400, 50035)
    assert_error(await ask([{"name": "ripe", "type": 5, "value": True, "focused": True}]),
                 400, 50035)
    assert (await ask([{"name": "count", "type": 4, "value": "1", "focused": True}])).status == 204
    e = last(events, "INTERACTION_CREATE").data
    assert e["type"] == 4 and e["data"]["options"][0] == {
        "name": "count", "type": 4, "value": "1", "focused": True}
    cb = f"/interactions/{e['id']}/{e['token']}/callback"
    assert_error(await api.post(cb, None, json={"type": 4, "data": {"content": "x"}}), 400, 50035)
    assert_error(await api.post(cb, None, json={"type": 8, "data": {"choices": [
        {"name": "ten", "value": "10"}]}}), 400, 50035)
    r = await api.post(cb, None, json={"type": 8, "data": {"choices": [
        {"name": "ten", "value": 10}, {"name": "twelve", "value": 12}]}})
    assert r.status == 204, r.body
    got = last(events, "APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE")
    assert got.user_ids == (int(owner.id),) and got.data["nonce"] == "n1"
    assert [c["value"] for c in got.data["choices"]] == [10, 12]
    assert_error(await api.post(cb, None, json={"type": 8, "data": {"choices": []}}), 400, 40060)


async def test_commands_in_the_bots_dm(api: Api, platform: Platform,
                                       events: list[Event]) -> None:
    owner, bot, channel = await setup(api, platform)
    made = {}
    for name, extra in (("anywhere", {"contexts": [0, 1]}), ("guildonly", {"contexts": [0]}),
                        ("nodm", {"dm_permission": False}), ("dmonly", {"contexts": [1]})):
        r = await api.post(f"/applications/{bot.id}/commands", bot.token, bot=True,
                           json={"name": name, "description": "d", **extra})
        assert r.status == 201, r.body
        made[name] = r.body["id"]
    dm = await api.post("/users/@me/channels", owner.token, json={"recipient_id": bot.id})
    assert dm.status == 200, dm.body

    def run(name: str, where: str) -> Any:
        return api.post("/interactions", owner.token, json={
            "type": 2, "application_id": bot.id, "channel_id": where,
            "data": {"id": made[name], "name": name, "type": 1}})

    assert (await run("anywhere", dm.body["id"])).status == 204
    e = last(events, "INTERACTION_CREATE")
    assert e.guild_id is None and e.user_ids == (int(bot.id),)
    assert "guild_id" not in e.data and "member" not in e.data
    assert e.data["user"]["id"] == owner.id and e.data["context"] == 1
    assert e.data["channel"]["type"] == 1
    assert_error(await run("guildonly", dm.body["id"]), 403, 50001)
    assert_error(await run("nodm", dm.body["id"]), 403, 50001)
    assert_error(await run("dmonly", channel), 403, 50001)
    assert (await run("nodm", channel)).status == 204
    # The answer is a message in the DM.
    r = await api.post(f"/interactions/{e.data['id']}/{e.data['token']}/callback"
                       "?with_response=1", None, json={"type": 4, "data": {"content": "hi"}})
    assert r.status == 200, r.body
    history = await api.get(f"/channels/{dm.body['id']}/messages", owner.token)
    assert [m["content"] for m in history.body] == ["hi"]
    # A DM with someone else is not the bot's.
    friend = await api.register()
    other = await api.post("/users/@me/channels", owner.token, json={"recipient_id": friend.id})
    assert_error(await run("anywhere", other.body["id"]), 403, 50001)


async def test_modal_from_a_command_deferred_without_a_message(
        api: Api, platform: Platform, events: list[Event]) -> None:
    """A command answered with a modal; its submit has no message: 7 is refused, 6 (what
    discord.py's defer() sends for a modal submit) only acknowledges it."""
    owner, bot, channel = await setup(api, platform)
    r = await api.post(f"/applications/{bot.id}/commands", bot.token, bot=True,
                       json={"name": "feedback", "description": "d"})
    assert r.status == 201, r.body
    r = await api.post("/interactions", owner.token, json={
        "type": 2, "application_id": bot.id, "channel_id": channel,
        "data": {"id": r.body["id"], "name": "feedback", "type": 1}})
    assert r.status == 204, r.body
    e = last(events, "INTERACTION_CREATE").data
    r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback", None,
                       json={"type": 9, "data": MODAL})
    assert r.status == 204, r.body
    r = await api.post("/interactions", owner.token, json={
        "type": 5, "application_id": bot.id, "channel_id": channel,
        "data": {"id": e["id"], "custom_id": "fb", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "name", "value": "Ada"}]}]}})
    assert r.status == 204, r.body
    got = last(events, "INTERACTION_CREATE").data
    assert got["type"] == 5 and "message" not in got
    cb = f"/interactions/{got['id']}/{got['token']}/callback"
    assert_error(await api.post(cb, None, json={"type": 7, "data": {"content": "x"}}), 400, 50035)
    assert (await api.post(cb, None, json={"type": 6})).status == 204
    follow = await api.post(f"/webhooks/{bot.id}/{got['token']}", None,
                            json={"content": "noted"})
    assert follow.status == 200 and follow.body["content"] == "noted"


async def test_components_of_an_ephemeral_response(api: Api, platform: Platform,
                                                   events: list[Event]) -> None:
    """An ephemeral response with a button (kept on its interaction, in no history) can be
    clicked by its user alone; 7 edits it (MESSAGE_UPDATE to that user only), and after 6 the
    click's @original reads and edits it too."""
    owner, bot, channel = await setup(api, platform)
    member = await api.register()
    guild_id = (await api.get(f"/channels/{channel}", owner.token)).body["guild_id"]
    await add_member(platform, {"id": guild_id}, member)
    r = await api.post(f"/applications/{bot.id}/commands", bot.token, bot=True,
                       json={"name": "panel", "description": "d"})
    command = r.body["id"]

    async def panel() -> str:
        r = await api.post("/interactions", owner.token, json={
            "type": 2, "application_id": bot.id, "channel_id": channel,
            "data": {"id": command, "name": "panel", "type": 1}})
        assert r.status == 204, r.body
        e = last(events, "INTERACTION_CREATE").data
        r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback?with_response=1",
                           None, json={"type": 4, "data": {
                               "content": "Panel", "flags": 64, "components": COMPONENTS[:1]}})
        assert r.status == 200, r.body
        message = r.body["resource"]["message"]
        assert message["flags"] & 64 and message["components"][0]["components"][0][
            "custom_id"] == "yes"
        return str(message["id"])

    mid = await panel()
    assert_error(await click(api, member, channel, mid, {"custom_id": "yes",
                                                          "component_type": 2}), 404, 10008)
    assert (await click(api, owner, channel, mid, {"custom_id": "yes",
                                                    "component_type": 2})).status == 204
    e = last(events, "INTERACTION_CREATE").data
    assert e["message"]["id"] == mid and e["message"]["flags"] & 64
    r = await api.post(f"/interactions/{e['id']}/{e['token']}/callback?with_response=1", None,
                       json={"type": 7, "data": {"content": "Done", "components": []}})
    assert r.status == 200, r.body
    assert r.body["resource"]["message"]["content"] == "Done"
    update = last(events, "MESSAGE_UPDATE")
    assert update.user_ids == (int(owner.id),) and update.data["id"] == mid
    assert update.data["components"] == []
    # Its button is gone now.
    assert_error(await click(api, owner, channel, mid, {"custom_id": "yes",
                                                         "component_type": 2}), 400, 50035)

    mid = await panel()
    await click(api, owner, channel, mid, {"custom_id": "yes", "component_type": 2})
    e = last(events, "INTERACTION_CREATE").data
    assert (await api.post(f"/interactions/{e['id']}/{e['token']}/callback", None,
                           json={"type": 6})).status == 204
    hook = f"/webhooks/{bot.id}/{e['token']}/messages/@original"
    assert (await api.get(hook, None)).body["id"] == mid
    r = await api.patch(hook, None, json={"content": "Later"})
    assert r.status == 200 and r.body["id"] == mid and r.body["content"] == "Later"
    assert_error(await api.patch(hook, None, json={"content": "x" * 5000}), 400, 50035)
    assert last(events, "MESSAGE_UPDATE").user_ids == (int(owner.id),)
    # A modal from an ephemeral response's button: its submit carries that message, and 7
    # edits it.
    mid = await panel()
    await click(api, owner, channel, mid, {"custom_id": "yes", "component_type": 2})
    e = last(events, "INTERACTION_CREATE").data
    assert (await api.post(f"/interactions/{e['id']}/{e['token']}/callback", None,
                           json={"type": 9, "data": MODAL})).status == 204
    r = await api.post("/interactions", owner.token, json={
        "type": 5, "application_id": bot.id, "channel_id": channel,
        "data": {"id": e["id"], "custom_id": "fb", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "name", "value": "Ada"}]}]}})
    assert r.status == 204, r.body
    got = last(events, "INTERACTION_CREATE").data
    assert got["type"] == 5 and got["message"]["id"] == mid and got["message"]["flags"] & 64
    assert (await api.post(f"/interactions/{got['id']}/{got['token']}/callback", None,
                           json={"type": 7, "data": {"content": "Thanks"}})).status == 204
    update = last(events, "MESSAGE_UPDATE")
    assert update.data["id"] == mid and update.data["content"] == "Thanks"


async def test_no_click_where_the_clicker_cannot_see(api: Api, platform: Platform,
                                                     events: list[Event]) -> None:
    """A member denied a channel cannot use the components of a bot's message there (nor
    learn anything of it): 403/404, no INTERACTION_CREATE, the message's text in no answer."""
    owner, bot, channel = await setup(api, platform)
    guild_id = (await api.get(f"/channels/{channel}", owner.token)).body["guild_id"]
    member = await api.register()
    await add_member(platform, {"id": guild_id}, member)
    r = await api.put(f"/channels/{channel}/permissions/{member.id}", owner.token,
                      json={"type": 1, "allow": "0", "deny": str(1 << 10)})
    assert r.status == 204, r.body
    sent = await api.post(f"/channels/{channel}/messages", bot.token, bot=True,
                          json={"content": "zq-secret-panel", "components": COMPONENTS})
    before = len([e for e in events if e.name == "INTERACTION_CREATE"])
    for data in ({"custom_id": "yes", "component_type": 2},
                 {"custom_id": "nope", "component_type": 2}):
        r = await click(api, member, channel, sent.body["id"], data)
        assert r.status in (403, 404), r.body
        assert "zq-secret-panel" not in str(r.body)
    assert len([e for e in events if e.name == "INTERACTION_CREATE"]) == before
