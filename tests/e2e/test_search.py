"""The web client's search box end to end: a person finds an old message in another channel
by a word of it, and opens it from the results (older pages are loaded until it is there)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import UI_MS, Rest, ServerProcess, _name, log_in_with_token, message


def test_a_search_finds_an_old_message_and_opens_it(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    token, _ = rest.register(_name("seeker"))
    guild = rest.call("POST", "/guilds", token, {"name": "Haystack"})
    archive = rest.call("POST", f"/guilds/{guild['id']}/channels", token, {"name": "archive"})

    def post(channel_id: str, content: str) -> None:
        rest.call("POST", f"/channels/{channel_id}/messages", token, {"content": content})

    post(archive["id"], "the Needle is here")
    for i in range(120):  # the needle is now three pages of history back
        post(archive["id"], f"hay {i}")
    page = new_page("seeker")
    log_in_with_token(page, server.url, token)  # opens #general, not #archive
    expect(page.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("needle")
    box.press("Enter")
    results = page.get_by_role("complementary", name="Search results")
    expect(results.get_by_role("status")).to_have_text("1 result", timeout=UI_MS)
    expect(results.locator(".search-hit")).to_have_count(1)
    expect(results.locator(".search-hit-channel")).to_have_text("#archive")
    expect(page.get_by_role("complementary", name="Members")).to_be_hidden()

    results.get_by_role("button", name=re.compile("^Jump to")).click()
    expect(page.locator(".chat-title")).to_have_text("# archive", timeout=UI_MS)
    found = message(page, "the Needle is here")
    expect(found).to_be_in_viewport(timeout=UI_MS)
    expect(found).to_have_class(re.compile(r"\bhighlight\b"))
    expect(found).to_be_focused()

    # A word in no message: nothing; closing gives the member list its place back.
    box.fill("nowhere")
    box.press("Enter")
    expect(results.get_by_role("status")).to_have_text("No results", timeout=UI_MS)
    results.get_by_role("button", name="Close search results").click()
    expect(results).to_be_hidden()
    expect(page.get_by_role("complementary", name="Members")).to_be_visible()
