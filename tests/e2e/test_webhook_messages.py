"""A webhook's messages in the web client: shown under the webhook's name (or the one the
execute gave), with its avatar from the CDN and an APP tag, never as a member's message.
A member's own avatar shows in the member list the same way."""

from __future__ import annotations

import base64
import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import (
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    guild_of_two,
    log_in_with_token,
    message,
    open_chat,
)
from tests.e2e.test_uploads import png


def test_webhook_messages_show_its_name_avatar_and_tag(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Hooks")
    guild = rest.call("GET", "/users/@me/guilds", alice_token)[0]
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]["id"]
    avatar = "data:image/png;base64," + base64.b64encode(png(8, 8)).decode()
    hook = rest.call("POST", f"/channels/{channel}/webhooks", alice_token,
                     {"name": "Deploy Bot", "avatar": avatar})
    alice_user = rest.call("PATCH", "/users/@me", alice_token, {"avatar": avatar})
    bob = new_page("bob")
    open_chat(bob, server.url, bob_token)

    alice_id, alice_avatar = alice_user["id"], alice_user["avatar"]
    face = bob.locator(f'.member[data-user-id="{alice_id}"] img.avatar-image')
    expect(face).to_have_attribute("src", re.compile(rf"^/avatars/{alice_id}/{alice_avatar}\.png"))
    bob.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=face.element_handle(),
                          timeout=UI_MS)

    execute = f"/webhooks/{hook['id']}/{hook['token']}?wait=true"
    rest.call("POST", execute, None, {"content": "build 42 passed"})
    shown = message(bob, "build 42 passed")
    expect(shown).to_be_visible(timeout=LIVE_MS)
    expect(shown).to_have_attribute("data-webhook-id", hook["id"])
    expect(shown.locator(".author")).to_have_text("Deploy Bot")
    expect(shown.locator(".bot-tag")).to_have_text("APP")
    picture = shown.locator(".avatar img.avatar-image")
    expect(picture).to_have_attribute("src", re.compile(rf"^/avatars/{hook['id']}/{hook['avatar']}\.png"))
    bob.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=picture.element_handle(),
                          timeout=UI_MS)

    # Another name for one message: its own header (not grouped under "Deploy Bot"); an
    # avatar_url is never fetched, so the initials stand in for it.
    rest.call("POST", execute, None, {"content": "deploying now", "username": "Release Train",
                                      "avatar_url": "https://example.invalid/a.png"})
    other = message(bob, "deploying now")
    expect(other).to_be_visible(timeout=LIVE_MS)
    expect(other).not_to_have_class(re.compile(r"\bgrouped\b"))
    expect(other.locator(".author")).to_have_text("Release Train")
    expect(other.locator(".avatar img")).to_have_count(0, timeout=UI_MS)
    expect(other.locator(".avatar")).to_have_text("RT")

    # Alice, who made the webhook, may not edit or delete its messages as her own.
    alice = new_page("alice")
    log_in_with_token(alice, server.url, alice_token)
    own = message(alice, "build 42 passed")
    expect(own).to_be_visible(timeout=UI_MS)
    own.hover()
    expect(own.get_by_role("button", name="Edit message")).to_have_count(0)
    expect(own.locator(".author")).to_have_text("Deploy Bot")
