"""Attachments with the S3 blob store configured (``s3_bucket``), end to end through the API.

The bucket is on the S3 server of ``tests/services.py``: ``DISCORD_ARCH_TEST_S3_URL``, else
**moto's standalone S3 server, an emulator of the S3 API** (real HTTP and SigV4, objects kept
in its memory), since no real S3 server is packaged for this machine. A file is sent through
the message route, downloaded back from the CDN route byte for byte (streamed from the bucket,
ranges passed through), and deleting the message deletes the object.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from core.blobs import BLOBS_DIR
from core.blobs_s3 import PART_BYTES
from core.config import Config
from core.platform import Platform
from tests.api.conftest import Api
from tests.api.helpers import setup
from tests.api.test_attachments import form, png, send
from tests.integration.test_blob_contract import new_bucket, open_uploads, s3_client
from tests.services import S3_ACCESS_KEY, S3_SECRET

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def bucket(s3_url: str) -> str:
    return await new_bucket(s3_url)


@pytest.fixture
def config(tmp_path: Any, s3_url: str, bucket: str) -> Config:
    return Config(
        data_dir=str(tmp_path), argon2_time_cost=1, argon2_memory_kib=64,
        ratelimit_route_limit=1000, ratelimit_global_per_s=1000, batch_max_delay_ms=0,
        s3_bucket=bucket, s3_endpoint_url=s3_url, s3_access_key_id=S3_ACCESS_KEY,
        s3_secret_access_key=S3_SECRET, s3_path_style=True,
    )


async def objects(url: str, bucket: str) -> dict[str, int]:
    async with await s3_client(url) as client:
        listed = await client.list_objects_v2(Bucket=bucket)
    return {o["Key"]: o["Size"] for o in listed.get("Contents", [])}


async def test_upload_download_range_delete(
    api: Api, platform: Platform, config: Config, s3_url: str, bucket: str
) -> None:
    owner, guild, _ = await setup(api, platform)
    channel_id = guild["channels"][0]["id"]
    # Over one S3 part: a multipart upload, its parts sent as the body streams in.
    data = os.urandom(PART_BYTES + 300_001)
    r = await send(api, owner, channel_id, form({"content": "big"}, ("big.bin", data)))
    assert r.status == 200, r.body
    [att] = r.body["attachments"]
    key = f"attachments/{channel_id}/{att['id']}"
    assert await objects(s3_url, bucket) == {key: len(data)}
    assert not (Path(config.data_dir) / BLOBS_DIR).exists()  # nothing written locally
    assert await open_uploads(s3_url, bucket) == []

    path = att["url"].removeprefix(platform.config.http_url)
    resp = await api.client.get(path)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Accept-Ranges"] == "bytes" and "immutable" in resp.headers[
        "Cache-Control"]
    etag = resp.headers["ETag"]

    resp = await api.client.get(path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and await resp.read() == data[100:200]
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    resp = await api.client.get(path, headers={"Range": f"bytes={PART_BYTES - 5}-"})
    assert resp.status == 206 and await resp.read() == data[PART_BYTES - 5:]
    resp = await api.client.get(path, headers={"Range": "bytes=-10"})
    assert resp.status == 206 and await resp.read() == data[-10:]
    resp = await api.client.get(path, headers={"Range": f"bytes={len(data)}-"})
    assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{len(data)}"
    resp = await api.client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert resp.status == 200 and len(await resp.read()) == len(data)
    resp = await api.client.get(path, headers={"If-None-Match": etag})
    assert resp.status == 304
    resp = await api.client.head(path)
    assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))

    assert (await api.delete(f"/channels/{channel_id}/messages/{r.body['id']}",
                             owner.token)).status == 204
    assert await objects(s3_url, bucket) == {}
    assert (await api.client.get(path)).status == 404


async def test_broken_off_upload_leaves_no_object(
    api: Api, platform: Platform, s3_url: str, bucket: str
) -> None:
    owner, guild, _ = await setup(api, platform)
    channel_id = guild["channels"][0]["id"]
    boundary = "b" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; "
            f"filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    # A part and more (the multipart reader holds back its last chunk), then the body stops.
    body = head + os.urandom(PART_BYTES + 300_000)
    reader, writer = await asyncio.open_connection(api.client.server.host,
                                                   api.client.server.port)
    writer.write((f"POST /api/v10/channels/{channel_id}/messages HTTP/1.1\r\n"
                  f"Host: x\r\nAuthorization: {owner.token}\r\n"
                  f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                  f"Content-Length: {len(body) + 10_000}\r\n\r\n").encode() + body)
    await writer.drain()
    async with await s3_client(s3_url) as client:
        async def uploads() -> int:
            listed = await client.list_multipart_uploads(Bucket=bucket)
            return len(listed.get("Uploads", []))

        # Once the first part is in the bucket the upload is open: then the body stops.
        for _ in range(200):
            if await uploads():
                break
            await asyncio.sleep(0.05)
        assert await uploads() == 1
        writer.close()
        await writer.wait_closed()
        for _ in range(200):
            if not await uploads():
                break
            await asyncio.sleep(0.05)
        assert await uploads() == 0
    assert await objects(s3_url, bucket) == {}
    history = await api.get(f"/channels/{channel_id}/messages", owner.token)
    assert history.body == []


async def test_avatar_in_the_bucket(api: Api, platform: Platform, s3_url: str,
                                    bucket: str) -> None:
    owner, _, _ = await setup(api, platform)
    image = png(4, 4)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    r = await api.patch("/users/@me", owner.token, json={"avatar": uri})
    assert r.status == 200, r.body
    assert f"avatars/{owner.id}/{r.body['avatar']}" in await objects(s3_url, bucket)
    resp = await api.client.get(f"/avatars/{owner.id}/{r.body['avatar']}.png?size=64")
    assert resp.status == 200 and await resp.read() == image
    assert resp.headers["Content-Type"] == "image/png"

