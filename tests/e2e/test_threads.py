"""Threads in the web client: started from a message's menu, listed under their channel (live
for the other person, THREAD_CREATE), opened in a view of their own where both talk live, and
marked unread like a channel; a reload finds them again (GET /guilds/{id}/threads/active)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    guild_of_two,
    message,
    open_chat,
    send,
)

UNREAD = re.compile(r"\bunread\b")


def link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Channels").get_by_role("link", name=name)


def test_a_thread_from_a_message_shows_in_the_list_and_opens_for_both(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Threads")
    alice, bob = new_page("alice"), new_page("bob")
    for page, token in ((alice, alice_token), (bob, bob_token)):
        open_chat(page, server.url, token)
    send(bob, "shall we plan the launch?")
    start = message(alice, "shall we plan the launch?")
    expect(start).to_be_visible(timeout=LIVE_MS)

    # Alice starts a thread from Bob's message and is taken into it.
    start.hover()
    start.get_by_role("button", name="Create thread").click()
    dialog = alice.get_by_role("dialog")
    expect(dialog.get_by_label("Thread name")).to_have_value("shall we plan the launch?")
    dialog.get_by_label("Thread name").fill("launch plan")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(alice.locator(".chat-title")).to_have_text("# general › launch plan", timeout=UI_MS)
    expect(alice).to_have_url(re.compile(r"/channels/\d+/\d+$"))
    send(alice, "first: a date")
    expect(message(alice, "first: a date")).to_be_visible(timeout=LIVE_MS)

    # Bob sees the thread under #general, unread, and the message that started it links it.
    thread = link(bob, "launch plan")
    expect(thread).to_be_visible(timeout=LIVE_MS)
    expect(thread).to_have_class(UNREAD, timeout=LIVE_MS)
    expect(message(bob, "first: a date")).to_have_count(0)  # not in #general
    chip = message(bob, "shall we plan the launch?").get_by_role("button", name="Open thread launch plan")
    expect(chip).to_be_visible(timeout=LIVE_MS)
    chip.click()
    expect(bob.locator(".chat-title")).to_have_text("# general › launch plan", timeout=UI_MS)
    expect(message(bob, "first: a date")).to_be_visible(timeout=UI_MS)
    expect(thread).not_to_have_class(UNREAD)
    send(bob, "next friday?")
    expect(message(alice, "next friday?")).to_be_visible(timeout=LIVE_MS)

    # Back in #general, Alice sees the thread's new messages as unread; a reload keeps it.
    link(alice, "general").click()
    expect(alice.locator(".chat-title")).to_have_text("# general")
    send(bob, "or monday")
    expect(link(alice, "launch plan")).to_have_class(UNREAD, timeout=LIVE_MS)
    alice.reload()
    expect(link(alice, "launch plan")).to_be_visible(timeout=UI_MS)
    link(alice, "launch plan").click()
    for text in ("first: a date", "next friday?", "or monday"):
        expect(message(alice, text)).to_be_visible(timeout=UI_MS)
    # A reload in the thread comes back to it (its address names it).
    alice.reload()
    expect(alice.locator(".chat-title")).to_have_text("# general › launch plan", timeout=UI_MS)
    expect(message(alice, "or monday")).to_be_visible(timeout=UI_MS)


def test_the_threads_panel_lists_archived_threads_and_starts_new_ones(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Archive")
    guild = rest.call("GET", "/users/@me/guilds", alice_token)[0]
    general = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]["id"]
    old = rest.call("POST", f"/channels/{general}/threads", alice_token, {"name": "old talk", "type": 11})
    rest.call("POST", f"/channels/{old['id']}/messages", alice_token, {"content": "from the archive"})
    rest.call("PATCH", f"/channels/{old['id']}", alice_token, {"archived": True})
    alice, bob = new_page("alice"), new_page("bob")
    for page, token in ((alice, alice_token), (bob, bob_token)):
        open_chat(page, server.url, token)
    expect(link(bob, "general")).to_be_visible()
    expect(link(bob, "old talk")).to_have_count(0)  # archived: not in the list

    bob.get_by_role("button", name="Threads", exact=True).click()
    panel = bob.get_by_role("complementary", name="Threads")
    expect(panel.get_by_role("region", name="Active threads")).to_contain_text("No active threads.")
    archived = panel.get_by_role("region", name="Archived threads")
    expect(archived.get_by_role("button", name="Open thread old talk")).to_be_visible(timeout=UI_MS)
    expect(bob.get_by_role("complementary", name="Members")).to_be_hidden()

    # A thread of its own (no message), from the panel: Bob is taken in, Alice sees it listed.
    panel.get_by_role("button", name="Create thread").click()
    dialog = bob.get_by_role("dialog")
    dialog.get_by_label("Thread name").fill("new idea")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(bob.locator(".chat-title")).to_have_text("# general › new idea", timeout=UI_MS)
    expect(link(alice, "new idea")).to_be_visible(timeout=LIVE_MS)
    expect(panel.get_by_role("region", name="Active threads").get_by_role(
        "button", name="Open thread new idea")).to_be_visible(timeout=LIVE_MS)

    # The archived one opens from the panel, with its history.
    archived.get_by_role("button", name="Open thread old talk").click()
    expect(bob.locator(".chat-title")).to_have_text("# general › old talk", timeout=UI_MS)
    expect(message(bob, "from the archive")).to_be_visible(timeout=UI_MS)
    expect(link(bob, "old talk")).to_be_visible()  # listed while it is open
