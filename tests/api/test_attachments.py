"""Attachments: multipart sends as discord.py and discord.js make them, the CDN, limits."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import orjson
from aiohttp import FormData

from core.blobs import BLOBS_DIR
from core.config import Config
from core.permissions import DEFAULT_EVERYONE, Permission
from core.platform import Platform
from tests.api.conftest import Account, Api, Reply
from tests.api.helpers import set_everyone, setup


def png(width: int, height: int) -> bytes:
    """A valid PNG of one colour (``width`` x ``height``)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    raw = b"".join(b"\0" + b"\xff\0\0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def form(payload: dict[str, Any] | None, *files: tuple[str, bytes], json_last: bool = False
         ) -> FormData:
    """A body as discord.py sends it (``payload_json`` first) or discord.js (last)."""
    data = FormData()
    if payload is not None and not json_last:
        data.add_field("payload_json", orjson.dumps(payload).decode(),
                       content_type="application/json")
    for i, (name, content) in enumerate(files):
        data.add_field(f"files[{i}]", content, filename=name,
                       content_type="application/octet-stream")
    if payload is not None and json_last:
        data.add_field("payload_json", orjson.dumps(payload).decode(),
                       content_type="application/json")
    return data


async def send(api: Api, who: Account, channel_id: str, data: Any,
               method: str = "POST", path: str = "") -> Reply:
    resp = await api.client.request(
        method, f"/api/v10/channels/{channel_id}/messages{path}", data=data,
        headers={"Authorization": who.token})
    return Reply(resp.status, await resp.json(content_type=None), resp.headers)


def blob_files(config: Config) -> list[Path]:
    root = Path(config.data_dir) / BLOBS_DIR
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _channel(api: Api, platform: Platform) -> tuple[Account, str, Account]:
    owner, guild, member = await setup(api, platform)
    return owner, guild["channels"][0]["id"], member


async def test_round_trip_discordpy_shape(api: Api, platform: Platform) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    image, blob = png(3, 2), os.urandom(300_000)
    payload = {"content": "files", "attachments": [
        {"id": 0, "filename": "pic.png", "description": "a red one"},
        {"id": 1, "filename": "my data.bin"}]}
    r = await send(api, owner, channel_id, form(payload, ("pic.png", image), ("x.bin", blob)))
    assert r.status == 200, r.body
    first, second = r.body["attachments"]
    assert first["filename"] == "pic.png" and first["size"] == len(image)
    assert first["content_type"] == "image/png" and (first["width"], first["height"]) == (3, 2)
    assert first["description"] == "a red one" and first["ephemeral"] is False
    base = platform.config.http_url
    assert first["url"] == f"{base}/attachments/{channel_id}/{first['id']}/pic.png"
    assert first["proxy_url"] == first["url"]
    assert second["filename"] == "my_data.bin" and "width" not in second
    # The history shows the same objects.
    got = await api.get(f"/channels/{channel_id}/messages/{r.body['id']}", owner.token)
    assert got.body["attachments"] == r.body["attachments"]
    # Downloaded byte for byte, with no token, then by ranges and revalidated.
    path = second["url"].removeprefix(base)
    resp = await api.client.get(path)
    assert resp.status == 200 and await resp.read() == blob
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert "immutable" in resp.headers["Cache-Control"]
    etag = resp.headers["ETag"]
    resp = await api.client.get(path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and await resp.read() == blob[100:200]
    resp = await api.client.get(path, headers={"If-None-Match": etag})
    assert resp.status == 304
    resp = await api.client.get(first["url"].removeprefix(base))
    assert resp.headers["Content-Type"] == "image/png" and await resp.read() == image


async def test_discordjs_shape_json_last_and_no_array(api: Api, platform: Platform) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    r = await send(api, owner, channel_id,
                   form({"content": ""}, ("notes.txt", b"hello"), json_last=True))
    assert r.status == 200, r.body
    [att] = r.body["attachments"]
    assert att["filename"] == "notes.txt" and att["content_type"].startswith("text/plain")
    resp = await api.client.get(att["url"].removeprefix(platform.config.http_url))
    assert await resp.read() == b"hello"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_html_is_never_served_inline(api: Api, platform: Platform) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    r = await send(api, owner, channel_id, form({}, ("page.html", b"<script>1</script>")))
    [att] = r.body["attachments"]
    resp = await api.client.get(att["url"].removeprefix(platform.config.http_url))
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == "attachment"
    assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_over_the_limit_is_40005_and_leaves_no_file(
    api: Api, platform: Platform, config: Config
) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    limit = platform.config.max_attachment_bytes
    object.__setattr__(platform.config, "max_attachment_bytes", 1000)
    try:
        r = await send(api, owner, channel_id, form({"content": "x"}, ("ok.bin", b"1" * 10),
                                                    ("big.bin", b"2" * 1001)))
    finally:
        object.__setattr__(platform.config, "max_attachment_bytes", limit)
    assert r.status == 413 and r.body["code"] == 40005, r.body
    assert blob_files(config) == []
    # JSON bodies keep their own limit.
    big = {"content": "x" * (platform.config.max_body_bytes + 10)}
    assert (await api.post(f"/channels/{channel_id}/messages", owner.token, json=big)).status == 413


async def test_bad_shapes(api: Api, platform: Platform, config: Config) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    r = await send(api, owner, channel_id, form({"attachments": [{"id": 3}]}, ("a.txt", b"a")))
    assert r.status == 400 and r.body["code"] == 50035, r.body
    bad = FormData()
    bad.add_field("payload_json", "{not json")
    bad.add_field("files[0]", b"x", filename="a.txt")
    r = await send(api, owner, channel_id, bad)
    assert r.status == 400 and r.body["code"] == 50109, r.body
    other = FormData()
    other.add_field("avatar", b"x", filename="a.txt")
    r = await send(api, owner, channel_id, other)
    assert r.status == 400 and r.body["code"] == 50035
    many = form({}, *[(f"{i}.txt", b"x") for i in range(11)])
    r = await send(api, owner, channel_id, many)
    assert r.status == 400 and r.body["code"] == 50035
    assert blob_files(config) == []


async def test_broken_off_upload_leaves_no_file(
    api: Api, platform: Platform, config: Config
) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    host, port = api.client.server.host, api.client.server.port
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; "
            f"filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    request = (f"POST /api/v10/channels/{channel_id}/messages HTTP/1.1\r\nHost: {host}\r\n"
               f"Authorization: {owner.token}\r\nContent-Length: 10000000\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request + head + os.urandom(300_000))
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    for _ in range(50):
        await asyncio.sleep(0.05)
        tmp = Path(config.data_dir) / BLOBS_DIR / ".tmp"
        if not blob_files(config) and (not tmp.exists() or not any(tmp.iterdir())):
            break
    assert blob_files(config) == []
    history = await api.get(f"/channels/{channel_id}/messages", owner.token)
    assert history.body == []


async def test_attach_files_denied_stores_nothing(
    api: Api, platform: Platform, config: Config
) -> None:
    owner, channel_id, member = await _channel(api, platform)
    guild_id = (await api.get(f"/channels/{channel_id}", owner.token)).body["guild_id"]
    await set_everyone(platform, {"id": guild_id}, DEFAULT_EVERYONE & ~Permission.ATTACH_FILES)
    r = await send(api, member, channel_id, form({"content": "x"}, ("a.txt", b"abc")))
    assert r.status == 403 and r.body["code"] == 50013, r.body
    assert blob_files(config) == []
    # A text-only message still goes.
    assert (await api.post(f"/channels/{channel_id}/messages", member.token,
                           json={"content": "ok"})).status == 200


async def test_delete_edit_and_bulk_delete_remove_files(
    api: Api, platform: Platform, config: Config
) -> None:
    owner, channel_id, _ = await _channel(api, platform)
    r = await send(api, owner, channel_id, form({}, ("a.txt", b"a"), ("b.txt", b"b")))
    a, b = r.body["attachments"]
    assert len(blob_files(config)) == 2
    # An edit keeping only b (discord.py sends the kept ones whole) and adding c.
    edit = form({"attachments": [b, {"id": 0, "filename": "c.txt"}]}, ("c.txt", b"c"))
    e = await send(api, owner, channel_id, edit, "PATCH", f"/{r.body['id']}")
    assert e.status == 200, e.body
    assert [x["filename"] for x in e.body["attachments"]] == ["b.txt", "c.txt"]
    assert len(blob_files(config)) == 2
    gone = await api.client.get(a["url"].removeprefix(platform.config.http_url))
    assert gone.status == 404
    assert (await api.delete(f"/channels/{channel_id}/messages/{r.body['id']}",
                             owner.token)).status == 204
    assert blob_files(config) == []
    ids = []
    for name in ("x.txt", "y.txt"):
        s = await send(api, owner, channel_id, form({}, (name, b"z")))
        ids.append(s.body["id"])
    r = await api.post(f"/channels/{channel_id}/messages/bulk-delete", owner.token,
                       json={"messages": ids})
    assert r.status == 204 and blob_files(config) == []
    await send(api, owner, channel_id, form({}, ("w.txt", b"w")))
    assert (await api.delete(f"/channels/{channel_id}", owner.token)).status == 200
    assert blob_files(config) == []


async def test_avatar_and_icon_are_stored_and_served(api: Api, platform: Platform) -> None:
    owner, _, member = await _channel(api, platform)
    image = png(4, 4)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    r = await api.patch("/users/@me", owner.token, json={"avatar": uri})
    assert r.status == 200, r.body
    for ext in ("png", "webp", "gif"):
        resp = await api.client.get(f"/avatars/{owner.id}/{r.body['avatar']}.{ext}?size=1024")
        assert resp.status == 200 and await resp.read() == image
        assert resp.headers["Content-Type"] == "image/png"
        assert "immutable" in resp.headers["Cache-Control"]
    assert (await api.client.get(f"/avatars/{owner.id}/{'0' * 32}.png")).status == 404
    not_image = "data:image/png;base64," + base64.b64encode(b"<svg/>" * 10).decode()
    r = await api.patch("/users/@me", owner.token, json={"avatar": not_image})
    assert r.status == 400 and r.body["code"] == 50035
    guild = await api.guild(owner)
    r = await api.patch(f"/guilds/{guild['id']}", owner.token, json={"icon": uri})
    assert r.status == 200, r.body
    resp = await api.client.get(f"/icons/{guild['id']}/{r.body['icon']}.png")
    assert resp.status == 200 and await resp.read() == image
