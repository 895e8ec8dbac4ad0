"""Uploads in the web client: files chosen with the upload button or dropped on the chat go
as Discord's multipart send (payload_json and files[n]); the other person sees images inline
from the CDN and other files as download links, and every file comes back through its
attachment URL byte for byte."""

from __future__ import annotations

import base64
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright, expect

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


def png(width: int, height: int) -> bytes:
    """A real PNG of ``width`` x ``height`` (RGB, a gradient), as an image editor saves one."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (x * 10 % 256, y * 15 % 256, 128))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pair(server: ServerProcess, api: Rest, new_page: Any) -> tuple[Page, Page]:
    alice_token, _, bob_token, _ = guild_of_two(api, "Uploads")
    alice, bob = new_page("alice"), new_page("bob")
    # Bob reaches the server by another name than the one its attachment URLs carry (its
    # public_http_url): the page still shows the images, from its own origin.
    for page, url, token in ((alice, server.url, alice_token),
                             (bob, server.url.replace("127.0.0.1", "localhost"), bob_token)):
        open_chat(page, url, token)
    return alice, bob


def fetched(api: Rest, url: str) -> bytes:
    r = api.request.get(url)
    assert r.ok, f"GET {url}: {r.status}"
    return r.body()


def test_picked_files_show_as_image_and_download_and_come_back_identical(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice, bob = pair(server, rest, new_page)
    image = png(24, 16)
    blob = os.urandom(300_000)  # every byte value, more than one read chunk

    alice.locator("#composer-files").set_input_files([
        {"name": "chart.png", "mimeType": "image/png", "buffer": image},
        {"name": "data.bin", "mimeType": "application/octet-stream", "buffer": blob},
    ])
    waiting = alice.get_by_role("list", name="Files to send")
    expect(waiting.locator(".upload-item")).to_have_count(2)
    expect(waiting.locator(".upload-item").first).to_contain_text("chart.png")
    # The image is previewed before it is sent (a data: URL of the file itself).
    preview = waiting.locator("img.upload-preview")
    expect(preview).to_have_attribute("src", "data:image/png;base64," + base64.b64encode(image).decode())
    # A file can be taken off again before sending.
    alice.locator("#composer-files").set_input_files(
        [{"name": "oops.txt", "mimeType": "text/plain", "buffer": b"not this one"}])
    expect(waiting.locator(".upload-item")).to_have_count(3)
    waiting.get_by_role("button", name="Remove oops.txt").click()
    expect(waiting.locator(".upload-item")).to_have_count(2)

    box = alice.locator("#composer-input")
    box.fill("the numbers")
    box.press("Enter")
    expect(waiting).to_be_hidden()

    seen = message(bob, "the numbers")
    expect(seen).to_be_visible(timeout=LIVE_MS)
    img = seen.locator(".attachment-image img")
    expect(img).to_have_attribute("alt", "chart.png")
    # The browser loaded it from the CDN: its natural size is the PNG's.
    bob.wait_for_function("img => img.complete && img.naturalWidth === 24 && img.naturalHeight === 16",
                          arg=img.element_handle(), timeout=UI_MS)
    link = seen.locator(".attachment-file a.attachment-name")
    expect(link).to_have_text("data.bin")
    expect(link).to_have_attribute("download", "data.bin")
    expect(seen.locator(".attachment-size")).to_have_text("293 KB")

    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "web-client-uploads.png"))
    assert fetched(rest, img.get_attribute("src") or "") == image
    assert fetched(rest, link.get_attribute("href") or "") == blob
    # Alice's own copy (the POST's answer) shows the same files, no pending one left.
    expect(message(alice, "the numbers").locator(".attachment-image img")).to_have_count(1, timeout=LIVE_MS)
    expect(alice.locator(".message.pending")).to_have_count(0)


def test_a_file_dropped_on_the_chat_is_sent_without_text(
    server: ServerProcess, rest: Rest, new_page: Any
) -> None:
    alice, bob = pair(server, rest, new_page)
    notes = "shopping list:\n- bread\n- ünïcödé\n".encode()
    bob.evaluate("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, { type: "text/plain" }));
        const target = document.querySelector(".messages");
        for (const type of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
        }
    }""", ["notes.txt", base64.b64encode(notes).decode()])
    waiting = bob.get_by_role("list", name="Files to send")
    expect(waiting.locator(".upload-item")).to_have_count(1)
    expect(waiting).to_contain_text("notes.txt")
    expect(bob.locator(".drop-hint")).to_be_hidden()
    bob.locator("#composer-input").press("Enter")  # no text: the file alone is the message

    got = alice.locator(".message:not(.pending)", has=alice.locator(".attachment-name", has_text="notes.txt"))
    expect(got).to_have_count(1, timeout=LIVE_MS)
    href = got.locator("a.attachment-name").get_attribute("href") or ""
    assert fetched(rest, href) == notes


def test_a_file_over_the_servers_limit_is_refused_and_can_be_discarded(
    playwright: Playwright, new_page: Any, request: pytest.FixtureRequest
) -> None:
    # A server of its own, taking files of at most 1 KiB (DISCORD_ARCH_MAX_ATTACHMENT_BYTES).
    ARTIFACTS.mkdir(exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="discord-arch-e2e-"))
    small = ServerProcess(data, ARTIFACTS / f"{request.node.name}.server.log",
                          {"DISCORD_ARCH_MAX_ATTACHMENT_BYTES": "1024"})
    small.start()
    context = playwright.request.new_context(base_url=small.url)
    try:
        api = Rest(context)
        alice_token, _, bob_token, _ = guild_of_two(api, "Limits")
        alice, bob = new_page("alice"), new_page("bob")
        for page, token in ((alice, alice_token), (bob, bob_token)):
            open_chat(page, small.url, token)
        alice.locator("#composer-files").set_input_files(
            [{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": os.urandom(4096)}])
        box = alice.locator("#composer-input")
        box.fill("too much")
        box.press("Enter")
        failed = alice.locator(".message.failed")
        expect(failed).to_contain_text("Not sent: a file is larger than this server accepts", timeout=UI_MS)
        expect(failed.locator(".attachment-name")).to_have_text("big.bin")
        failed.get_by_role("button", name="Discard").click()
        expect(alice.locator(".message.failed")).to_have_count(0)
        # Nothing reached Bob; a small file still goes.
        alice.locator("#composer-files").set_input_files(
            [{"name": "ok.txt", "mimeType": "text/plain", "buffer": b"fits"}])
        box.press("Enter")
        expect(bob.locator(".attachment-name", has_text="ok.txt")).to_be_visible(timeout=UI_MS)
        expect(message(bob, "too much")).to_have_count(0)
    finally:
        context.dispose()
        small.stop()
        shutil.rmtree(data, ignore_errors=True)
