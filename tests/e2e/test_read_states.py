"""Unread channels and mention badges in the web client, with two people and two tabs.

Alice writes over REST; Bob reads in Chromium. A channel with messages Bob has not seen is
bold (``unread``), one that mentions him shows a badge with the count (on the channel and on
its server), and viewing a channel acknowledges it: the badge goes, in his other tab too
(MESSAGE_ACK), and after a reload (READY's ``read_state``).
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LIVE_MS, UI_MS, Rest, ServerProcess, guild_of_two, log_in_with_token

UNREAD = re.compile(r"\bunread\b")


def channel_link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Channels").get_by_role("link", name=name)


def badge(page: Page, name: str) -> Locator:
    """The count a channel's mention badge shows (its words for screen readers left out)."""
    return channel_link(page, name).locator(".mention-badge > [aria-hidden]")


def scene(rest: Rest) -> tuple[str, str, str, str, str]:
    """Alice's guild (#general, #random) with Bob in it: (alice token, bob token, bob id,
    general id, random id)."""
    alice, _, bob, bob_id = guild_of_two(rest, "Reading Room")
    guild = rest.call("GET", "/users/@me/guilds", alice)[0]
    general = rest.call("GET", f"/guilds/{guild['id']}/channels", alice)[0]["id"]
    random = rest.call("POST", f"/guilds/{guild['id']}/channels", alice, {"name": "random"})["id"]
    return alice, bob, bob_id, general, random


def say(rest: Rest, token: str, channel: str, content: str) -> None:
    rest.call("POST", f"/channels/{channel}/messages", token, {"content": content})


def test_unread_and_mentions_show_live_and_clear_in_every_tab(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice, bob, bob_id, general, random = scene(rest)
    tab1, tab2 = new_page("bob-tab-1"), new_page("bob-tab-2")
    for tab in (tab1, tab2):
        log_in_with_token(tab, server.url, bob)
        expect(tab.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
        expect(channel_link(tab, "random")).not_to_have_class(UNREAD)

    say(rest, alice, random, "anyone here?")
    for tab in (tab1, tab2):
        expect(channel_link(tab, "random")).to_have_class(UNREAD, timeout=LIVE_MS)
        expect(badge(tab, "random")).to_have_count(0)
    say(rest, alice, random, f"<@{bob_id}> look at this")
    say(rest, alice, random, f"<@{bob_id}> and this")
    for tab in (tab1, tab2):
        expect(badge(tab, "random")).to_have_text("2", timeout=LIVE_MS)
        expect(tab.locator(".server-button.selected .server-badge")).to_have_text("2")
    # Messages in the channel Bob is looking at are read as they come.
    say(rest, alice, general, f"<@{bob_id}> hi")
    expect(tab1.locator(".message-content", has_text="hi")).to_be_visible(timeout=LIVE_MS)
    expect(channel_link(tab1, "general")).not_to_have_class(UNREAD)

    # Bob opens #random in his first tab: read there, and in the other tab through the ack.
    channel_link(tab1, "random").click()
    expect(tab1.locator(".chat-title")).to_have_text("# random")
    expect(badge(tab1, "random")).to_have_count(0)
    expect(channel_link(tab2, "random")).not_to_have_class(UNREAD, timeout=LIVE_MS)
    expect(badge(tab2, "random")).to_have_count(0)
    expect(tab2.locator(".server-badge")).to_have_count(0)

    # A new session starts from the server's record: nothing unread.
    tab2.reload()
    expect(tab2.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(channel_link(tab2, "random")).to_be_visible()
    expect(channel_link(tab2, "random")).not_to_have_class(UNREAD)
    expect(badge(tab2, "random")).to_have_count(0)


def test_what_came_while_away_is_unread_on_return(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice, bob, bob_id, general, random = scene(rest)
    say(rest, alice, random, f"<@{bob_id}> are you there?")
    say(rest, alice, random, "@everyone meeting at noon")
    say(rest, alice, general, "just chatting")
    page = new_page("bob")
    log_in_with_token(page, server.url, bob)
    # #general opens first and is read by being shown; #random waits, with its two mentions.
    expect(page.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(channel_link(page, "random")).to_have_class(UNREAD, timeout=UI_MS)
    expect(badge(page, "random")).to_have_text("2")
    expect(channel_link(page, "general")).not_to_have_class(UNREAD)
    channel_link(page, "random").click()
    expect(badge(page, "random")).to_have_count(0)
    channel_link(page, "general").click()
    expect(channel_link(page, "random")).not_to_have_class(UNREAD)
    page.reload()
    expect(page.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(channel_link(page, "random")).to_be_visible()
    expect(channel_link(page, "random")).not_to_have_class(UNREAD)
    expect(badge(page, "random")).to_have_count(0)
