"""The web client end to end: two people in two browser contexts against a real server.

What another user does must show within ``LIVE_MS`` of the action (gateway MESSAGE_CREATE,
MESSAGE_UPDATE, MESSAGE_DELETE, TYPING_START): each of those waits starts after the action
returned. Page loads and account creation get the more patient ``UI_MS``.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import (
    ARTIFACTS,
    LIVE_MS,
    PASSWORD,
    TOKEN_KEY,
    UI_MS,
    Rest,
    ServerProcess,
    TcpProxy,
    _name,
    capture_frames,
    create_channel,
    guild_of_two,
    log_in_with_token,
    message,
    register,
    send,
    user_id_of,
    wait_live,
)

# -- the tests --------------------------------------------------------------------------------


def test_two_people_chat_live(server: ServerProcess, new_page: Any) -> None:
    alice, bob = new_page("alice"), new_page("bob")
    alice_name, bob_name = _name("alice"), _name("bob")

    # Alice registers, creates a server and an invite link.
    register(alice, server.url + "/", alice_name)
    expect(alice.locator(".empty-state")).to_be_visible()
    alice.get_by_role("button", name="Create a server").click()
    alice.get_by_label("Server name").fill("Arch Lounge")
    alice.get_by_role("button", name="Create", exact=True).click()
    expect(alice.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(alice.locator(".guild-name")).to_have_text("Arch Lounge")
    wait_live(alice)
    alice.get_by_role("button", name="Invite people").click()
    link = alice.locator("#invite-link").input_value()
    assert re.fullmatch(re.escape(server.url) + r"/invite/[A-Za-z0-9-]+", link), link
    alice.get_by_role("button", name="Done").click()

    # Bob follows the link, registers from the invite screen and accepts.
    bob.goto(link)
    expect(bob.locator(".auth-invite-guild")).to_have_text("Arch Lounge", timeout=UI_MS)
    register(bob, link, bob_name)
    bob.get_by_role("button", name="Accept invite").click()
    expect(bob.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(bob).to_have_url(re.compile(r"/channels/\d+/\d+$"))
    wait_live(bob)
    bob_id = user_id_of(bob)
    # GUILD_MEMBER_ADD reached Alice's member list.
    expect(alice.locator(f'.member[data-user-id="{bob_id}"]')).to_contain_text(bob_name, timeout=LIVE_MS)
    expect(bob.locator(".members")).to_contain_text(alice_name)

    # Messages both ways, each seen by the other within LIVE_MS.
    send(bob, "hello alice")
    expect(message(alice, "hello alice")).to_be_visible(timeout=LIVE_MS)
    send(alice, "hi bob, welcome to the lounge")
    expect(message(bob, "hi bob, welcome")).to_be_visible(timeout=LIVE_MS)
    # The sender's own pending copy was replaced by the real one (one message, not two).
    expect(message(alice, "hi bob, welcome")).to_have_count(1, timeout=LIVE_MS)
    expect(alice.locator(".message.pending")).to_have_count(0)

    # Typing: Bob sees Alice typing, and the indicator goes when her message comes. However
    # many keys she presses, one POST /typing announces it (the next may come after 8 s).
    typing_posts: list[str] = []
    alice.on("request", lambda r: r.url.endswith("/typing") and typing_posts.append(r.url))
    alice.locator("#composer-input").press_sequentially("typing away")
    expect(bob.locator(".typing")).to_have_text(f"{alice_name} is typing…", timeout=LIVE_MS)
    alice.locator("#composer-input").press("Shift+Enter")
    alice.locator("#composer-input").press_sequentially("second line")
    alice.locator("#composer-input").press("Enter")
    expect(message(bob, "typing away\nsecond line")).to_be_visible(timeout=LIVE_MS)
    expect(bob.locator(".typing")).to_have_text("", timeout=LIVE_MS)
    assert len(typing_posts) == 1, typing_posts

    # User content is text, never markup; a mention of Bob is drawn as one and highlighted.
    send(bob, '<img src=x onerror="window.pwned=1"><b>not bold</b>')
    expect(message(alice, "<b>not bold</b>")).to_be_visible(timeout=LIVE_MS)
    assert alice.locator(".message-content img, .message-content b").count() == 0
    assert alice.evaluate("window.pwned") is None
    send(alice, f"<@{bob_id}> have a look")
    mention = message(bob, "have a look")
    expect(mention).to_be_visible(timeout=LIVE_MS)
    expect(mention).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(mention.locator(".mention-me")).to_have_text(f"@{bob_name}")

    # A reload keeps the history (read back over REST) and the channel (in the URL).
    bob.reload()
    expect(bob.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    for text in ("hello alice", "hi bob, welcome", "second line", "<b>not bold</b>", "have a look"):
        expect(message(bob, text)).to_be_visible(timeout=UI_MS)
    wait_live(bob)

    # Bob edits, then deletes, his own message; Alice sees both.
    key = message(bob, "hello alice").get_attribute("data-key")
    hello = bob.locator(f'.message[data-key="{key}"]')  # its text changes: find it by id
    hello.hover()
    hello.get_by_role("button", name="Edit message").click()
    editor = hello.get_by_role("textbox", name="Edit message")
    editor.fill("hello alice, edited")
    editor.press("Enter")
    edited = message(alice, "hello alice, edited")
    expect(edited).to_be_visible(timeout=LIVE_MS)
    expect(edited.locator(".edited")).to_have_text("(edited)")
    gone = message(bob, "not bold")
    gone.hover()
    gone.get_by_role("button", name="Delete message").click()
    bob.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(message(alice, "not bold")).to_have_count(0, timeout=LIVE_MS)
    expect(message(bob, "not bold")).to_have_count(0)

    # The other way round too; and the picture of it all (docs/web-client.png is one).
    bob.locator("#composer-input").press_sequentially("see you")
    expect(alice.locator(".typing")).to_have_text(f"{bob_name} is typing…", timeout=LIVE_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "web-client.png"))


def test_log_in_and_out(server: ServerProcess, rest: Rest, new_page: Any) -> None:
    name = _name("carol")
    old_token, _ = rest.register(name)
    rest.call("POST", "/guilds", old_token, {"name": "Carol's place"})
    page = new_page("carol")
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Welcome back!")).to_be_visible(timeout=UI_MS)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Login or password is invalid.", timeout=UI_MS)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator(".guild-name")).to_have_text("Carol's place", timeout=UI_MS)
    token = page.evaluate("(key) => localStorage.getItem(key)", TOKEN_KEY)
    wait_live(page)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Welcome back!")).to_be_visible(timeout=UI_MS)
    assert page.evaluate("(key) => localStorage.getItem(key)", TOKEN_KEY) is None
    r = rest.request.get("/api/v10/users/@me", headers={"Authorization": token})
    assert r.status == 401  # the token was revoked, not only forgotten


def test_failed_send_can_be_retried(server: ServerProcess, rest: Rest, new_page: Any) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Retry")
    alice, bob = new_page("alice"), new_page("bob")
    log_in_with_token(alice, server.url, alice_token)
    log_in_with_token(bob, server.url, bob_token)
    wait_live(bob)

    sends = "**/api/v10/channels/*/messages"
    alice.route(sends, lambda route: route.abort() if route.request.method == "POST"
                else route.continue_())
    send(alice, "second time lucky")
    failed = alice.locator(".message.failed")
    expect(failed).to_contain_text("Not sent: The server cannot be reached.", timeout=UI_MS)
    expect(message(bob, "second time lucky")).to_have_count(0)
    alice.unroute(sends)
    failed.get_by_role("button", name="Retry").click()
    expect(message(bob, "second time lucky")).to_be_visible(timeout=LIVE_MS)
    expect(message(alice, "second time lucky")).to_have_count(1, timeout=LIVE_MS)
    expect(alice.locator(".message.failed, .message.pending")).to_have_count(0)


def test_member_list_shows_who_is_online(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, bob_id = guild_of_two(rest, "Presence")
    alice = new_page("alice")
    log_in_with_token(alice, server.url, alice_token)
    wait_live(alice)
    bob_entry = alice.locator(f'.member[data-user-id="{bob_id}"]')
    expect(bob_entry).to_have_attribute("data-status", "offline", timeout=UI_MS)

    bob = new_page("bob")
    log_in_with_token(bob, server.url, bob_token)
    wait_live(bob)
    expect(bob_entry).to_have_attribute("data-status", "online", timeout=LIVE_MS)
    bob.context.close()  # the last connection of Bob is gone
    expect(bob_entry).to_have_attribute("data-status", "offline", timeout=UI_MS)


def test_member_list_shows_members_already_online(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, alice_id = rest.register(_name("alice"))
    bob_token, bob_id = rest.register(_name("bob"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Presence"})
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{channel['id']}/invites", alice_token, {})
    alice, bob = new_page("alice"), new_page("bob")
    log_in_with_token(alice, server.url, alice_token)
    log_in_with_token(bob, server.url, bob_token)
    wait_live(alice)
    wait_live(bob)
    rest.call("POST", f"/invites/{invite['code']}", bob_token)  # Bob joins while online
    expect(alice.locator(f'.member[data-user-id="{bob_id}"]')).to_have_attribute(
        "data-status", "online", timeout=3 * LIVE_MS)
    expect(bob.locator(f'.member[data-user-id="{alice_id}"]')).to_have_attribute(
        "data-status", "online", timeout=3 * LIVE_MS)


def test_channels_invites_and_kicks_show_live(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _ = rest.register(_name("alice"))
    bob_name = _name("bob")
    bob_token, bob_id = rest.register(bob_name)
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Channels"})
    general = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{general['id']}/invites", alice_token, {})
    alice, bob = new_page("alice"), new_page("bob")
    log_in_with_token(alice, server.url, alice_token)
    log_in_with_token(bob, server.url, bob_token)
    wait_live(alice)
    wait_live(bob)
    expect(bob.locator(".empty-state")).to_be_visible()

    # An invite link in the #/invite/CODE form, opened in a tab already showing the app.
    bob.goto(f"{server.url}/#/invite/{invite['code']}")
    bob.get_by_role("button", name="Accept invite").click()
    expect(bob.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    expect(alice.locator(f'.member[data-user-id="{bob_id}"]')).to_be_visible(timeout=LIVE_MS)

    # Alice creates #random-talk and is taken there. A message there shows the channel, unread,
    # to Bob, who is in #general.
    create_channel(alice, "Random Talk")
    expect(alice.locator(".chat-title")).to_have_text("# random-talk", timeout=UI_MS)
    send(alice, "over here")
    bob_channel = bob.get_by_role("navigation", name="Channels").get_by_role("link", name="random-talk")
    expect(bob_channel).to_have_class(re.compile(r"\bunread\b"), timeout=LIVE_MS)
    bob_channel.click()
    expect(bob.locator(".chat-title")).to_have_text("# random-talk")
    expect(message(bob, "over here")).to_be_visible(timeout=UI_MS)
    expect(bob_channel).not_to_have_class(re.compile(r"\bunread\b"))

    # Alice kicks Bob: the server leaves Bob's column, Bob leaves Alice's member list.
    rest.call("DELETE", f"/guilds/{guild['id']}/members/{bob_id}", alice_token)
    expect(bob.get_by_role("button", name="Channels", exact=True)).to_have_count(0, timeout=LIVE_MS)
    expect(bob.locator(".empty-state")).to_be_visible(timeout=LIVE_MS)
    expect(alice.locator(f'.member[data-user-id="{bob_id}"]')).to_have_count(0, timeout=LIVE_MS)


def test_new_channel_appears_live_for_other_members(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Channels")
    alice, bob = new_page("alice"), new_page("bob")
    log_in_with_token(alice, server.url, alice_token)
    log_in_with_token(bob, server.url, bob_token)
    wait_live(alice)
    wait_live(bob)
    create_channel(alice, "news")
    news = bob.get_by_role("navigation", name="Channels").get_by_role("link", name="news")
    expect(news).to_be_visible(timeout=LIVE_MS)  # CHANNEL_CREATE


def test_history_loads_older_pages_when_scrolled_up(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    token, _ = rest.register(_name("reader"))
    guild = rest.call("POST", "/guilds", token, {"name": "Archive"})
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", token)[0]
    count = 130  # three pages of 50
    for i in range(1, count + 1):
        rest.call("POST", f"/channels/{channel['id']}/messages", token, {"content": f"message {i}"})
    page = new_page("reader")
    log_in_with_token(page, server.url, token)
    expect(message(page, "message 130")).to_be_visible(timeout=UI_MS)
    expect(page.locator(".message")).to_have_count(50)

    history = page.locator(".messages")
    welcome = page.get_by_role("heading", name="Welcome to #general!")
    for _ in range(10):  # scroll to the top until the beginning of the channel shows
        history.evaluate("el => { el.scrollTop = 0; }")
        try:
            expect(welcome).to_be_visible(timeout=1000)
            break
        except AssertionError:
            continue
    expect(welcome).to_be_visible()
    texts = page.locator(".message-content").all_inner_texts()
    assert texts == [f"message {i}" for i in range(1, count + 1)]


def test_client_reconnects_after_server_restart(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice_token, _, bob_token, _ = guild_of_two(rest, "Restart")
    alice, bob = new_page("alice"), new_page("bob")
    log_in_with_token(alice, server.url, alice_token)
    log_in_with_token(bob, server.url, bob_token)
    wait_live(alice)
    wait_live(bob)
    send(bob, "before the restart")
    expect(message(alice, "before the restart")).to_be_visible(timeout=LIVE_MS)

    server.stop()  # op 7 Reconnect to every session, then the sockets close
    banner = alice.locator(".connection-banner")
    expect(banner).to_contain_text("Reconnecting", timeout=UI_MS)
    server.start()  # same ports, same data; the old sessions are gone: re-identify
    wait_live(alice)
    wait_live(bob)
    send(bob, "after the restart")
    expect(message(alice, "after the restart")).to_be_visible(timeout=LIVE_MS)
    expect(message(alice, "before the restart")).to_be_visible()


def test_client_resumes_after_the_connection_drops(
    server: ServerProcess, gateway_proxy: TcpProxy, rest: Rest, new_page: Any
) -> None:
    alice_token, _ = rest.register(_name("alice"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": "Resume"})
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    alice = new_page("alice")
    sent, received = capture_frames(alice)
    log_in_with_token(alice, server.url, alice_token)
    wait_live(alice)

    gateway_proxy.refuse = True  # the network is down: reconnecting fails for now
    gateway_proxy.cut()
    expect(alice.locator(".connection-banner")).to_contain_text("Reconnecting", timeout=UI_MS)
    rest.call("POST", f"/channels/{channel['id']}/messages", alice_token,
              {"content": "sent while the socket was down"})
    gateway_proxy.refuse = False
    wait_live(alice)
    expect(message(alice, "sent while the socket was down")).to_be_visible(timeout=LIVE_MS)
    # It came back by RESUME and replay, not by a new session and a history reload.
    assert any('"op":6' in f.replace(" ", "") for f in sent), sent
    assert any('"t":"RESUMED"' in f.replace(" ", "") for f in received)
    assert sum('"op":2' in f.replace(" ", "") for f in sent) == 1  # one IDENTIFY, at the start
