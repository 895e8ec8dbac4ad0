"""Presences in a large guild, from the web client: the member list shows the statuses of the
members it follows (op 8 with presences, then op 14 with the members it shows), and nothing
more reaches the page (docs/compatibility.md, "Presences in large guilds").

The guild is large for real: over ``core.guilds.LARGE_THRESHOLD`` (250) members, registered
and joined over REST before the browser connects (the server is a subprocess: no monkeypatch
reaches it, and the threshold is Discord's, not a setting). The other members come online
from this test with a plain websocket client (websocket-client, synchronous: Playwright's
sync API owns this thread's event loop).
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect
from websocket import WebSocket, create_connection

from core.guilds import LARGE_THRESHOLD
from tests.e2e.conftest import (
    LIVE_MS,
    UI_MS,
    Rest,
    ServerProcess,
    _name,
    capture_frames,
    open_chat,
)

# The client sends op 14 at most every 3 s and 0.5 s after its list last changed
# (web/member_subscriptions.js): on load, op 8 first, then op 14 up to 3 s later.
SUBSCRIBE_MS = 3000 + UI_MS
WS_TIMEOUT_S = 10.0


def _online(server: ServerProcess, token: str) -> WebSocket:
    """A gateway session of ``token`` (GUILDS, GUILD_MEMBERS, GUILD_PRESENCES), READY."""
    ws = create_connection(f"ws://127.0.0.1:{server.gateway_port}/?v=10&encoding=json",
                           timeout=WS_TIMEOUT_S, suppress_origin=True)  # not a browser
    assert json.loads(ws.recv())["op"] == 10
    ws.send(json.dumps({"op": 2, "d": {"token": token, "intents": 1 | 2 | 256, "properties": {
        "os": "linux", "browser": "e2e", "device": "e2e"}}}))
    while (payload := json.loads(ws.recv())).get("t") != "READY":
        assert payload["op"] == 0, payload
    return ws


def _set_status(ws: WebSocket, status: str) -> None:
    ws.send(json.dumps({"op": 3, "d": {"status": status, "since": None, "activities": [],
                                       "afk": False}}))


def _payloads(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(f) for f in frames if f.startswith("{")]


def _shown_ids(page: Page) -> list[str]:
    return page.locator(".members .member").evaluate_all(
        "els => els.map(e => e.dataset.userId)")


def test_member_list_of_a_large_guild_follows_the_members_it_shows(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    owner_token, owner_id = rest.register(_name("owner"))
    guild = rest.call("POST", "/guilds", owner_token, {"name": "Large"})
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", owner_token)[0]
    invite = rest.call("POST", f"/channels/{channel['id']}/invites", owner_token,
                       {"max_uses": 0})
    others: dict[str, str] = {}  # user id -> token, in registration (id) order
    for _ in range(LARGE_THRESHOLD):  # with the owner: one over the threshold
        token, user_id = rest.register(_name("m"))
        rest.call("POST", f"/invites/{invite['code']}", token)
        others[user_id] = token

    page = new_page("owner")
    sent, received = capture_frames(page)
    open_chat(page, server.url, owner_token)
    created = next(p["d"] for p in _payloads(received)
                   if p.get("t") == "GUILD_CREATE" and p["d"]["id"] == guild["id"])
    assert created["large"] is True and created["member_count"] == LARGE_THRESHOLD + 1

    # The client knows every member (REST, when it opens the guild) but lists only as many as
    # it may follow: 100 and me, online first, then by name; the rest are counted, not shown.
    expect(page.locator(".members .member")).to_have_count(101, timeout=UI_MS)
    expect(page.locator(".members-more")).to_have_text(f"{LARGE_THRESHOLD - 100} more not shown")
    shown = _shown_ids(page)
    followed = shown[-1]
    hidden = next(i for i in reversed(others) if i not in shown)
    assert followed in others

    def subscription() -> list[str] | None:
        """The members of the last op 14 the page sent for the guild."""
        subs = [p["d"]["members"] for p in _payloads(sent)
                if p["op"] == 14 and p["d"]["guild_id"] == guild["id"]]
        return subs[-1] if subs else None

    deadline_ms = SUBSCRIBE_MS
    while ((members := subscription()) is None or followed not in members) and deadline_ms > 0:
        page.wait_for_timeout(100)
        deadline_ms -= 100
    assert members is not None, "the client never sent op 14"
    assert followed in members and hidden not in members and owner_id not in members

    # A member the list does not show comes online and changes status first; then one it
    # shows. The hub delivers in order: by the time the second one's presences reach the
    # page, the first one's would have, had they been sent to it.
    hidden_ws = _online(server, others[hidden])
    _set_status(hidden_ws, "dnd")
    followed_ws = _online(server, others[followed])
    try:
        entry = page.locator(f'.member[data-user-id="{followed}"]')
        expect(entry).to_have_attribute("data-status", "online", timeout=LIVE_MS)
        expect(page.locator(f'.member-group[aria-label^="Online"] .member[data-user-id="{followed}"]')
               ).to_be_visible()
        _set_status(followed_ws, "dnd")
        expect(entry).to_have_attribute("data-status", "dnd", timeout=LIVE_MS)
    finally:
        followed_ws.close()
        hidden_ws.close()

    presences = [p["d"] for p in _payloads(received) if p.get("t") == "PRESENCE_UPDATE"]
    about = {d["user"]["id"] for d in presences}
    assert followed in about
    assert hidden not in about, "a member the list does not show sent its presence to the page"
    assert hidden not in _shown_ids(page)
