"""Reactions and pins in the web client, with two people in two browser contexts.

Alice reacts and pins in her page; Bob sees each change live in his (MESSAGE_REACTION_ADD /
REMOVE / REMOVE_ALL / REMOVE_EMOJI, MESSAGE_UPDATE and CHANNEL_PINS_UPDATE), and what the
pages did is checked against the server's record over REST.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    ARTIFACTS,
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    guild_of_two,
    message,
    open_chat,
)

MINE = re.compile(r"\bmine\b")
PINNED = re.compile(r"\bpinned\b")


def reaction(page: Page, text: str, emoji: str) -> Locator:
    return message(page, text).locator(".reaction", has=page.locator(".reaction-emoji", has_text=emoji))


def open_pair(server: ServerProcess, api: Rest, new_page: Any) -> tuple[Page, Page, str, str, str]:
    """Alice (the owner) and Bob, both live in #general: (alice, bob, alice token, bob token,
    the channel id)."""
    alice_token, _, bob_token, _ = guild_of_two(api, "Reactions")
    guild = api.call("GET", "/users/@me/guilds", alice_token)[0]
    channel = api.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]["id"]
    alice, bob = new_page("alice"), new_page("bob")
    for page, token in ((alice, alice_token), (bob, bob_token)):
        open_chat(page, server.url, token)
    return alice, bob, alice_token, bob_token, channel


def test_reactions_toggle_and_show_live(server: ServerProcess, rest: Rest, new_page: Any) -> None:
    alice, bob, alice_token, bob_token, channel = open_pair(server, rest, new_page)
    posted = rest.call("POST", f"/channels/{channel}/messages", bob_token, {"content": "react to me"})
    expect(message(alice, "react to me")).to_be_visible(timeout=LIVE_MS)

    # Alice picks 👍 from the picker: one reaction, hers, on both screens.
    target = message(alice, "react to me")
    target.hover()
    target.get_by_role("button", name="Add reaction").click()
    alice.get_by_role("dialog", name="Add a reaction").get_by_role("button", name="React with thumbs up").click()
    expect(reaction(alice, "react to me", "👍")).to_have_class(MINE, timeout=LIVE_MS)
    expect(reaction(alice, "react to me", "👍").locator(".reaction-count")).to_have_text("1")
    expect(reaction(bob, "react to me", "👍").locator(".reaction-count")).to_have_text("1", timeout=LIVE_MS)
    expect(reaction(bob, "react to me", "👍")).not_to_have_class(MINE)
    thumbs = quote("👍")
    users = rest.call("GET", f"/channels/{channel}/messages/{posted['id']}/reactions/{thumbs}", bob_token)
    assert [u["username"] for u in users] == [alice.locator(".user-name").inner_text()]

    # Bob clicks the existing reaction to add his: 2 on both, his button pressed.
    reaction(bob, "react to me", "👍").click()
    expect(reaction(bob, "react to me", "👍").locator(".reaction-count")).to_have_text("2", timeout=LIVE_MS)
    expect(reaction(bob, "react to me", "👍")).to_have_attribute("aria-pressed", "true")
    expect(reaction(alice, "react to me", "👍").locator(".reaction-count")).to_have_text("2", timeout=LIVE_MS)
    # Pointing at it names who reacted.
    alice_name = alice.locator(".user-name").inner_text()
    bob_name = bob.locator(".user-name").inner_text()
    reaction(alice, "react to me", "👍").hover()
    expect(reaction(alice, "react to me", "👍")).to_have_attribute(
        "title", f"{alice_name}, {bob_name} reacted with 👍", timeout=UI_MS)

    # Any emoji typed into the picker; then Alice takes her 👍 back by clicking it.
    target.hover()
    target.get_by_role("button", name="Add reaction").click()
    box = alice.get_by_role("dialog", name="Add a reaction").get_by_label("Any emoji")
    box.fill("🦀")
    box.press("Enter")
    expect(reaction(bob, "react to me", "🦀").locator(".reaction-count")).to_have_text("1", timeout=LIVE_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "web-client-reactions.png"))
    reaction(alice, "react to me", "👍").click()
    expect(reaction(alice, "react to me", "👍").locator(".reaction-count")).to_have_text("1", timeout=LIVE_MS)
    expect(reaction(alice, "react to me", "👍")).not_to_have_class(MINE)
    expect(reaction(bob, "react to me", "👍").locator(".reaction-count")).to_have_text("1", timeout=LIVE_MS)
    expect(reaction(bob, "react to me", "👍")).to_have_class(MINE)

    # A moderator's clears, over REST: one emoji (REMOVE_EMOJI), then all (REMOVE_ALL).
    crab = quote("🦀")
    rest.call("DELETE", f"/channels/{channel}/messages/{posted['id']}/reactions/{crab}", alice_token)
    expect(reaction(bob, "react to me", "🦀")).to_have_count(0, timeout=LIVE_MS)
    expect(reaction(bob, "react to me", "👍")).to_have_count(1)
    rest.call("DELETE", f"/channels/{channel}/messages/{posted['id']}/reactions", alice_token)
    expect(message(bob, "react to me").locator(".reaction")).to_have_count(0, timeout=LIVE_MS)
    expect(message(alice, "react to me").locator(".reaction")).to_have_count(0, timeout=LIVE_MS)

    # A reload reads the reactions back from history, mine marked.
    rest.call("PUT", f"/channels/{channel}/messages/{posted['id']}/reactions/{thumbs}/@me", bob_token)
    expect(reaction(alice, "react to me", "👍").locator(".reaction-count")).to_have_text("1", timeout=LIVE_MS)
    bob.reload()
    expect(reaction(bob, "react to me", "👍")).to_have_class(MINE, timeout=UI_MS)
    expect(reaction(bob, "react to me", "👍").locator(".reaction-count")).to_have_text("1")


def test_pins_from_the_message_menu_show_live_in_the_pins_list(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice, bob, _, bob_token, channel = open_pair(server, rest, new_page)
    rest.call("POST", f"/channels/{channel}/messages", bob_token, {"content": "the rules are simple"})
    rest.call("POST", f"/channels/{channel}/messages", bob_token, {"content": "not worth pinning"})
    expect(message(bob, "not worth pinning")).to_be_visible(timeout=LIVE_MS)

    # Bob (no MANAGE_MESSAGES) has no pin action; Alice, the owner, has.
    message(bob, "the rules are simple").hover()
    expect(message(bob, "the rules are simple").get_by_role("button", name="Pin message")).to_have_count(0)
    bob.get_by_role("button", name="Pinned messages", exact=True).click()
    pins = bob.get_by_role("complementary", name="Pinned messages")
    expect(pins.get_by_role("status")).to_have_text("No pinned messages", timeout=UI_MS)

    rules = message(alice, "the rules are simple")
    rules.hover()
    rules.get_by_role("button", name="Pin message").click()
    # Bob's open list reads the pins again on CHANNEL_PINS_UPDATE; the message is marked.
    expect(pins.locator(".pin-item")).to_have_count(1, timeout=LIVE_MS)
    expect(pins.locator(".pin-item .message-content")).to_have_text("the rules are simple")
    expect(message(bob, "the rules are simple")).to_have_class(PINNED, timeout=LIVE_MS)
    # The system message (type 6) says who pinned it.
    expect(bob.locator(".system-message")).to_contain_text("pinned a message to this channel", timeout=LIVE_MS)
    assert [m["content"] for m in rest.call("GET", f"/channels/{channel}/pins", bob_token)] == [
        "the rules are simple"]

    # Alice opens the list from the system message and unpins it there; Bob's list empties.
    alice.locator(".system-message").get_by_role("button", name="See all pinned messages.").click()
    alice_pins = alice.get_by_role("complementary", name="Pinned messages")
    expect(alice_pins.locator(".pin-item")).to_have_count(1, timeout=UI_MS)
    expect(alice.get_by_role("complementary", name="Members")).to_be_hidden()
    alice_pins.get_by_role("button", name=re.compile(r"^Unpin")).click()
    expect(pins.locator(".pin-item")).to_have_count(0, timeout=LIVE_MS)
    expect(pins.get_by_role("status")).to_have_text("No pinned messages")
    expect(message(bob, "the rules are simple")).not_to_have_class(PINNED, timeout=LIVE_MS)
    assert rest.call("GET", f"/channels/{channel}/pins", bob_token) == []

    # Its close button gives the member list its place back; the toolbar button says so.
    pins.get_by_role("button", name="Close pinned messages").click()
    expect(pins).to_be_hidden()
    expect(bob.get_by_role("complementary", name="Members")).to_be_visible()
    expect(bob.get_by_role("button", name="Pinned messages", exact=True)).to_have_attribute(
        "aria-expanded", "false")
