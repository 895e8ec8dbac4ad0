"""Kick and ban from the web client's member list, for those allowed.

The buttons follow the permissions the client computes from roles (KICK_MEMBERS,
BAN_MEMBERS, the owner, and a role above the target's), live as roles change; the server has
the last word, and its refusal is shown in the dialog as it came.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    _name,
    message,
    open_chat,
)

KICK_MEMBERS = 1 << 1


def entry(page: Page, user_id: str) -> Locator:
    return page.locator(f'.member[data-user-id="{user_id}"]')


def test_owner_bans_and_kicks_from_the_member_list(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, alice_id = rest.register(_name("alice"))
    bob_token, bob_id = rest.register(_name("bob"))
    carol_token, carol_id = rest.register(_name("carol"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Moderated"})
    general = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{general['id']}/invites", alice_token, {})
    for token in (bob_token, carol_token):
        rest.call("POST", f"/invites/{invite['code']}", token)
    alice, bob, carol = new_page("alice"), new_page("bob"), new_page("carol")
    for page, token in ((alice, alice_token), (bob, bob_token), (carol, carol_token)):
        open_chat(page, server.url, token)

    # Carol, a plain member, has no such buttons; Alice has them on the others, not herself.
    expect(entry(carol, bob_id)).to_be_visible()
    entry(carol, bob_id).hover()
    expect(entry(carol, bob_id).get_by_role("button")).to_have_count(0)
    entry(alice, bob_id).hover()
    expect(entry(alice, bob_id).get_by_role("button", name=re.compile(r"^Ban "))).to_be_visible()
    expect(entry(alice, alice_id).get_by_role("button")).to_have_count(0)

    # A moderator deletes another's message from its menu (Carol may not: no such button).
    rest.call("POST", f"/channels/{general['id']}/messages", bob_token, {"content": "buy cheap stuff"})
    spam = message(alice, "buy cheap stuff")
    expect(spam).to_be_visible(timeout=LIVE_MS)
    message(carol, "buy cheap stuff").hover()
    expect(message(carol, "buy cheap stuff").get_by_role("button", name="Delete message")).to_have_count(0)
    spam.hover()
    spam.get_by_role("button", name="Delete message").click()
    alice.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(message(carol, "buy cheap stuff")).to_have_count(0, timeout=LIVE_MS)

    # Alice bans Bob: the server leaves Bob's screen, Bob leaves every member list, the ban
    # is on record.
    entry(alice, bob_id).hover()
    entry(alice, bob_id).get_by_role("button", name=re.compile(r"^Ban ")).click()
    dialog = alice.get_by_role("dialog")
    expect(dialog).to_contain_text("cannot join it again")
    dialog.get_by_role("button", name="Ban", exact=True).click()
    expect(bob.locator(".empty-state")).to_be_visible(timeout=LIVE_MS)
    expect(entry(alice, bob_id)).to_have_count(0, timeout=LIVE_MS)
    expect(entry(carol, bob_id)).to_have_count(0, timeout=LIVE_MS)
    assert rest.call("GET", f"/guilds/{guild['id']}/bans/{bob_id}", alice_token)["user"]["id"] == bob_id

    # Alice kicks Carol: gone too, but not banned (she may come back with an invite).
    entry(alice, carol_id).hover()
    entry(alice, carol_id).get_by_role("button", name=re.compile(r"^Kick ")).click()
    alice.get_by_role("dialog").get_by_role("button", name="Kick", exact=True).click()
    expect(carol.locator(".empty-state")).to_be_visible(timeout=LIVE_MS)
    expect(entry(alice, carol_id)).to_have_count(0, timeout=LIVE_MS)
    bans = rest.call("GET", f"/guilds/{guild['id']}/bans", alice_token)
    assert [b["user"]["id"] for b in bans] == [bob_id]


def test_a_role_grants_kick_live_and_a_refusal_is_shown(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _ = rest.register(_name("alice"))
    bob_token, bob_id = rest.register(_name("bob"))
    carol_token, carol_id = rest.register(_name("carol"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Roles"})
    gid = guild["id"]
    general = rest.call("GET", f"/guilds/{gid}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{general['id']}/invites", alice_token, {})
    for token in (bob_token, carol_token):
        rest.call("POST", f"/invites/{invite['code']}", token)
    carol = new_page("carol")
    open_chat(carol, server.url, carol_token)
    expect(entry(carol, bob_id)).to_be_visible()
    expect(entry(carol, bob_id).get_by_role("button")).to_have_count(0)

    # A "mods" role with KICK_MEMBERS (above Bob's none): Carol gets Kick, not Ban, at once.
    mods = rest.call("POST", f"/guilds/{gid}/roles", alice_token,
                     {"name": "mods", "permissions": str(KICK_MEMBERS)})
    rest.call("PUT", f"/guilds/{gid}/members/{carol_id}/roles/{mods['id']}", alice_token)
    entry(carol, bob_id).hover()
    kick = entry(carol, bob_id).get_by_role("button", name=re.compile(r"^Kick "))
    expect(kick).to_be_visible(timeout=LIVE_MS)
    expect(entry(carol, bob_id).get_by_role("button", name=re.compile(r"^Ban "))).to_have_count(0)

    # The permission is taken away while her dialog is open: the server refuses, the dialog
    # says so and stays, and Bob is still a member.
    kick.click()
    dialog = carol.get_by_role("dialog")
    expect(dialog).to_be_visible()
    rest.call("PATCH", f"/guilds/{gid}/roles/{mods['id']}", alice_token, {"permissions": "0"})
    dialog.get_by_role("button", name="Kick", exact=True).click()
    expect(dialog.get_by_role("alert")).to_have_text("Missing Permissions", timeout=UI_MS)
    member = rest.call("GET", f"/guilds/{gid}/members/{bob_id}", alice_token)
    assert member["user"]["id"] == bob_id
    dialog.get_by_role("button", name="Cancel").click()
    # And the button went with the permission (GUILD_ROLE_UPDATE).
    entry(carol, bob_id).hover()
    expect(entry(carol, bob_id).get_by_role("button")).to_have_count(0, timeout=LIVE_MS)
