"""Slash commands from the web client: a person types "/", picks a command of the server's bot
from the list, fills its options and runs it; the bot (a real gateway session in a thread of
this test, answering INTERACTION_CREATE over the callback route) replies, publicly or to the
invoker alone (ephemeral: the other person never sees it). Its buttons, select menus and
modals work as well: a click edits the bot's message, a pick and a modal's submit bring
answers everyone sees."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from playwright.sync_api import Route, expect

from tests.e2e.conftest import (
    ARTIFACTS,
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    _name,
    message,
    open_chat,
)

COMMANDS = [
    {"name": "roll", "description": "Roll a die", "options": [
        {"type": 4, "name": "sides", "description": "How many sides", "required": True,
         "min_value": 2, "max_value": 100},
        {"type": 5, "name": "secret", "description": "Only you see it"},
    ]},
    {"name": "coin", "description": "Coins", "options": [
        {"type": 1, "name": "flip", "description": "Flip a coin"},
    ]},
    {"name": "poll", "description": "Ask about lunch"},
    {"name": "city", "description": "A city's weather", "options": [
        {"type": 3, "name": "name", "description": "Which city", "required": True,
         "autocomplete": True},
    ]},
]
CITIES = [("Lyon", "lyon"), ("Lille", "lille"), ("Paris", "paris")]
POLL = [
    {"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Yes", "custom_id": "yes"},
        {"type": 2, "style": 2, "label": "Feedback", "custom_id": "feedback"},
        {"type": 2, "style": 5, "label": "Menu", "url": "https://example.invalid/menu"},
    ]},
    {"type": 1, "components": [
        {"type": 3, "custom_id": "dish", "placeholder": "Pick a dish", "options": [
            {"label": "Pizza", "value": "pizza"}, {"label": "Soup", "value": "soup"}]},
    ]},
]
FEEDBACK = {"custom_id": "fb", "title": "Lunch feedback", "components": [
    {"type": 1, "components": [{"type": 4, "custom_id": "thoughts", "label": "Your thoughts",
                                "style": 2, "min_length": 2}]},
]}
EPHEMERAL = 64


class CommandBot:
    """A bot's gateway session in a thread of its own (Playwright's sync API holds this one's
    event loop): it answers each INTERACTION_CREATE at once and keeps the data it got."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.received: list[dict[str, Any]] = []
        self.commands_url = ""
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),),
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(UI_MS / 1000), "the bot's session did not become READY"

    def stop(self) -> None:
        if self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        auth = {"Authorization": f"Bot {self.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base_url}/api/v10/gateway/bot", headers=auth) as r:
                url = (await r.json())["url"]
            async with http.ws_connect(f"{url}/?v=10&encoding=json") as ws:
                hello = await ws.receive_json()
                beat = asyncio.create_task(self._heartbeat(ws, hello["d"]["heartbeat_interval"]))
                await ws.send_json({"op": 2, "d": {"token": self.token, "intents": 1, "properties": {
                    "os": "linux", "browser": "test", "device": "test"}}})
                stop = asyncio.create_task(self.stopping.wait())
                while True:
                    frame = asyncio.create_task(ws.receive())
                    done, _ = await asyncio.wait({frame, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop in done:
                        frame.cancel()
                        break
                    msg = frame.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    await self._on(http, msg.json())
                beat.cancel()

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval_ms: int) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000 / 2)
            await ws.send_json({"op": 1, "d": None})

    async def _on(self, http: aiohttp.ClientSession, payload: dict[str, Any]) -> None:
        if payload.get("t") == "READY":
            self.ready.set()
        if payload.get("t") != "INTERACTION_CREATE":
            return
        d = payload["d"]
        data = d["data"]
        self.received.append(data)
        who = d["member"]["user"]["username"]
        kind, answer = 4, {}  # a message, unless said otherwise
        if d["type"] == 4:  # autocomplete: the cities starting with what is typed
            typed = next(o["value"] for o in data["options"] if o.get("focused")).lower()
            kind, answer = 8, {"choices": [{"name": n, "value": v} for n, v in CITIES
                                           if n.lower().startswith(typed)]}
        elif d["type"] == 3 and data["custom_id"] == "yes":
            kind, answer = 7, {"content": "lunch? 1 yes"}  # an edit of the poll
        elif d["type"] == 3 and data["custom_id"] == "feedback":
            kind, answer = 9, FEEDBACK
        elif d["type"] == 3:
            answer = {"content": f"{who} picked {data['values'][0]}"}
        elif d["type"] == 5:
            answer = {"content": f"feedback: {data['components'][0]['components'][0]['value']}"}
        elif data["name"] == "poll":
            answer = {"content": "lunch?", "components": POLL}
        elif data["name"] == "city":
            answer = {"content": f"weather in {data['options'][0]['value']}: sunny"}
        elif data["name"] == "coin":
            answer = {"content": "the coin says heads"}
        else:
            options = {o["name"]: o.get("value") for o in data.get("options", [])}
            answer = {"content": f"rolled a d{options['sides']}: 4"}
            if options.get("secret"):
                answer["flags"] = EPHEMERAL
        url = f"{self.base_url}/api/v10/interactions/{d['id']}/{d['token']}/callback"
        async with http.post(url, json={"type": kind, "data": answer}) as r:
            assert r.status in (200, 204), await r.text()


@pytest.fixture
def world(server: ServerProcess, rest: Rest) -> Iterator[tuple[str, str, CommandBot, str]]:
    """Alice's guild with Bob and a bot whose guild commands are COMMANDS, its session live:
    (alice token, bob token, the bot, the bot's name); the bot's ``commands_url`` is where
    it syncs them."""
    alice_token, _ = rest.register(_name("alice"))
    bob_token, _ = rest.register(_name("bob"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Commands"})
    general = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{general['id']}/invites", alice_token, {})
    rest.call("POST", f"/invites/{invite['code']}", bob_token)
    app = rest.call("POST", "/applications", alice_token, {"name": "Dice"})
    bot_id, bot_token = app["bot"]["id"], app["token"]
    rest.call("PUT", f"/guilds/{guild['id']}/members/{bot_id}", alice_token)
    r = rest.request.put(f"/api/v10/applications/{bot_id}/guilds/{guild['id']}/commands",
                         headers={"Authorization": f"Bot {bot_token}"}, data=COMMANDS)
    assert r.ok, r.text()
    bot = CommandBot(server.url, bot_token)
    bot.commands_url = f"{server.url}/api/v10/applications/{bot_id}/guilds/{guild['id']}/commands"
    bot.start()
    try:
        yield alice_token, bob_token, bot, app["bot"].get("global_name") or app["bot"]["username"]
    finally:
        bot.stop()


def open_both(server: ServerProcess, new_page: Any, alice_token: str, bob_token: str
              ) -> tuple[Any, Any, Any]:
    """Alice's and Bob's pages, both live in the guild's channel, and Alice's message box."""
    alice, bob = new_page("alice"), new_page("bob")
    open_chat(alice, server.url, alice_token)
    open_chat(bob, server.url, bob_token)
    return alice, bob, alice.locator("#composer-input")


def test_a_slash_command_runs_from_the_picker_and_the_bot_answers(
    server: ServerProcess, world: tuple[str, str, CommandBot, str], new_page: Any
) -> None:
    alice_token, bob_token, bot, bot_name = world
    alice, bob, box = open_both(server, new_page, alice_token, bob_token)

    # "/" lists every command (a sub-command as its own entry), with its application.
    box.press_sequentially("/")
    listed = alice.get_by_role("listbox", name="Commands")
    expect(listed.get_by_role("option")).to_have_count(4, timeout=UI_MS)
    expect(listed.locator(".command-name")).to_have_text(["/city", "/coin flip", "/poll", "/roll"])
    expect(listed.get_by_role("option").first).to_contain_text("Dice")
    box.press_sequentially("ro")
    expect(listed.get_by_role("option")).to_have_count(1)
    box.press("Enter")
    form = alice.get_by_role("form", name="Command options")
    expect(form).to_contain_text("/roll")
    expect(box).to_have_value("/roll ")
    form.get_by_label("sides").fill("20")
    form.get_by_label("sides").press("Enter")

    # The bot's public answer: both see it, under "alice used ..." (the server does not keep
    # the command's name in the message's interaction: "used a command" until it does).
    answer = message(bob, "rolled a d20")
    expect(answer).to_be_visible(timeout=UI_MS)
    expect(answer.locator(".author")).to_have_text(bot_name)
    expect(answer.locator(".bot-tag")).to_have_text("BOT")
    expect(answer.locator(".invocation")).to_contain_text(re.compile(r"^alice\d+ used "))
    expect(message(alice, "rolled a d20")).to_be_visible(timeout=LIVE_MS)
    expect(form).to_be_hidden()
    expect(box).to_have_value("")

    # Secretly: the answer is Alice's alone.
    box.press_sequentially("/roll")
    box.press("Enter")
    form.get_by_label("sides").fill("6")
    form.get_by_label("secret").select_option("true")
    form.get_by_role("button", name="Run").click()
    secret = message(alice, "rolled a d6")
    expect(secret).to_be_visible(timeout=UI_MS)
    expect(secret).to_contain_text("Only you can see this")

    # A sub-command, chosen with the arrow keys; its answer reaching Bob shows the secret one
    # (sent before it) never did.
    box.press_sequentially("/")
    expect(listed.get_by_role("option")).to_have_count(4)
    for _ in range(5):
        box.press("ArrowDown")  # the fourth wraps around to the first: the fifth is /coin flip
    box.press("Enter")
    expect(box).to_have_value("/coin flip ")
    box.press("Enter")  # no options: Enter in the box runs it
    expect(message(bob, "the coin says heads")).to_be_visible(timeout=UI_MS)
    expect(message(bob, "rolled a d6")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "web-client-commands.png"))
    secret.get_by_role("button", name="Dismiss message").click()
    expect(message(alice, "rolled a d6")).to_have_count(0)

    # A command the bot syncs now is listed at the next "/" (the index is read again).
    synced = alice.request.put(bot.commands_url, headers={"Authorization": f"Bot {bot.token}"},
                               data=[*COMMANDS, {"name": "weather", "description": "Today's"}])
    assert synced.ok, synced.text()
    box.press_sequentially("/")
    expect(listed.locator(".command-name")).to_have_text(
        ["/city", "/coin flip", "/poll", "/roll", "/weather"], timeout=UI_MS)
    box.press("Escape")
    box.fill("")

    # In a fresh page, Enter pressed while the commands are still being read picks the first
    # match once they arrive; "/roll" is never sent as a message.
    alice.reload()
    open_chat(alice, server.url, alice_token)
    held: list[Route] = []
    alice.route("**/application-command-index", lambda route: held.append(route))
    box.press_sequentially("/roll")
    expect(listed).to_contain_text("Loading commands")
    box.press("Enter")
    assert len(held) == 1
    held[0].continue_()
    form.get_by_label("sides").fill("12")
    form.get_by_label("sides").press("Enter")
    expect(message(bob, "rolled a d12")).to_be_visible(timeout=UI_MS)
    expect(message(bob, "/roll")).to_have_count(0)

    assert [d["name"] for d in bot.received] == ["roll", "roll", "coin", "roll"]
    assert bot.received[0]["options"] == [{"type": 4, "name": "sides", "value": 20}]
    assert bot.received[1]["options"] == [{"type": 4, "name": "sides", "value": 6},
                                          {"type": 5, "name": "secret", "value": True}]
    assert [(o["type"], o["name"]) for o in bot.received[2]["options"]] == [(1, "flip")]
    assert bot.received[3]["options"] == [{"type": 4, "name": "sides", "value": 12}]


def test_buttons_selects_and_modals_of_a_bot_message(
    server: ServerProcess, world: tuple[str, str, CommandBot, str], new_page: Any
) -> None:
    alice_token, bob_token, bot, _ = world
    alice, bob, box = open_both(server, new_page, alice_token, bob_token)
    box.press_sequentially("/poll")
    expect(alice.get_by_role("listbox", name="Commands").get_by_role("option")).to_have_count(1, timeout=UI_MS)
    box.press("Enter")
    box.press("Enter")
    poll = message(bob, "lunch?")
    expect(poll).to_be_visible(timeout=UI_MS)
    expect(poll.get_by_role("link", name="Menu")).to_have_attribute("href", "https://example.invalid/menu")

    # Bob's click: the bot edits its message (callback 7), both see the new text.
    poll.get_by_role("button", name="Yes").click()
    expect(message(bob, "lunch? 1 yes")).to_be_visible(timeout=UI_MS)
    expect(message(alice, "lunch? 1 yes")).to_be_visible(timeout=LIVE_MS)

    # Bob's pick in the select menu: an answer everyone sees.
    message(bob, "lunch? 1 yes").get_by_role("combobox", name="Pick a dish").select_option("soup")
    expect(message(alice, "picked soup")).to_be_visible(timeout=UI_MS)

    # Alice's Feedback opens the bot's modal for her alone; its submit reaches the bot.
    message(alice, "lunch? 1 yes").get_by_role("button", name="Feedback").click()
    modal = alice.get_by_role("dialog", name="Lunch feedback")
    expect(modal).to_be_visible(timeout=UI_MS)
    expect(bob.get_by_role("dialog")).to_have_count(0)
    modal.get_by_label("Your thoughts").fill("more soup please")
    modal.get_by_role("button", name="Submit").click()
    expect(modal).to_have_count(0)
    expect(message(bob, "feedback: more soup please")).to_be_visible(timeout=UI_MS)
    kinds = [(d.get("custom_id"), d.get("component_type")) for d in bot.received[1:]]
    assert kinds == [("yes", 2), ("dish", 3), ("feedback", 2), ("fb", None)]
    assert bot.received[2]["values"] == ["soup"]


def test_an_option_the_bot_completes_offers_its_choices(
    server: ServerProcess, world: tuple[str, str, CommandBot, str], new_page: Any
) -> None:
    alice_token, bob_token, bot, _ = world
    alice, bob, box = open_both(server, new_page, alice_token, bob_token)
    box.press_sequentially("/city")
    expect(alice.get_by_role("listbox", name="Commands").get_by_role("option")).to_have_count(1, timeout=UI_MS)
    box.press("Enter")
    field = alice.get_by_role("form", name="Command options").get_by_label("name")
    choices = alice.locator("#command-choices-0 option")
    # Focusing the empty field asks once: every city; typing narrows it down.
    expect(choices).to_have_count(3, timeout=UI_MS)
    field.press_sequentially("l")
    expect(choices).to_have_count(2, timeout=UI_MS)
    expect(choices.nth(0)).to_have_attribute("value", "lyon")
    expect(choices.nth(1)).to_have_attribute("label", "Lille")
    field.press_sequentially("i")
    expect(choices).to_have_count(1, timeout=UI_MS)
    field.fill("lille")
    field.press("Enter")
    expect(message(bob, "weather in lille: sunny")).to_be_visible(timeout=UI_MS)
    asked = [d for d in bot.received if any(o.get("focused") for o in d.get("options", []))]
    assert [o["value"] for d in asked for o in d["options"]][:3] == ["", "l", "li"]
    runs = [d for d in bot.received if d not in asked]
    assert runs[-1]["options"] == [{"type": 3, "name": "name", "value": "lille"}]
