"""The blob store contract: every :class:`core.blobs.BlobStore` backend passes the same tests.

``local`` is :class:`core.blobs.LocalBlobStore` in a temporary directory; ``s3`` is
:class:`core.blobs_s3.S3BlobStore` on a fresh bucket of the S3 server of ``tests/services.py``:
``DISCORD_ARCH_TEST_S3_URL`` when set, else **moto's standalone S3 server**, an emulator of the
S3 API (real HTTP, SigV4, multipart uploads and ranges; objects in its memory) started as its
own process, since no real S3 server is packaged for this machine. The S3 side fails, never
skips, when no server can be had.

The S3-only tests at the end check what the protocol cannot see: a multipart upload that
breaks off, is cancelled or grows too large leaves no upload open in the bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from core.blobs import BlobStore, BlobTooLarge, LocalBlobStore
from core.blobs_s3 import PART_BYTES, S3BlobStore
from tests.services import S3_ACCESS_KEY, S3_SECRET

pytestmark = pytest.mark.timeout(120)


async def s3_client(url: str) -> Any:
    """A raw client (the test's own view of the bucket), as an async context manager."""
    return get_session().create_client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET)


async def new_bucket(url: str) -> str:
    name = f"blobs-{secrets.token_hex(6)}"
    async with await s3_client(url) as client:
        await client.create_bucket(Bucket=name)
    return name


async def open_s3(url: str, bucket: str) -> S3BlobStore:
    return await S3BlobStore.open(bucket=bucket, endpoint_url=url, access_key_id=S3_ACCESS_KEY,
                                  secret_access_key=S3_SECRET, path_style=True)


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    blobs: BlobStore
    if request.param == "local":
        blobs = LocalBlobStore(tmp_path / "blobs")
    else:
        url = request.getfixturevalue("s3_url")
        blobs = await open_s3(url, await new_bucket(url))
    try:
        yield blobs
    finally:
        await blobs.aclose()


async def feed(*chunks: bytes) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(key, start, end)])


async def test_put_stat_read(store: BlobStore) -> None:
    data = os.urandom(200_000)
    size = await store.put("attachments/1/2", feed(data[:1000], data[1000:]), 1 << 20)
    assert size == len(data)
    info = await store.stat("attachments/1/2")
    assert info is not None and info.size == len(data)
    assert info.etag.startswith('"') and info.etag.endswith('"')
    assert await read_all(store, "attachments/1/2") == data


async def test_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 1000
    await store.put("icons/5/abc", feed(data), 1 << 20)
    assert await read_all(store, "icons/5/abc", 0, 10) == data[:10]
    assert await read_all(store, "icons/5/abc", 1000, 70_001) == data[1000:70_001]
    assert await read_all(store, "icons/5/abc", len(data) - 5) == data[-5:]
    assert await read_all(store, "icons/5/abc", 10, len(data) + 99) == data[10:]
    assert await read_all(store, "icons/5/abc", len(data)) == b""


async def test_empty_blob(store: BlobStore) -> None:
    assert await store.put("avatars/1/e", feed(), 10) == 0
    info = await store.stat("avatars/1/e")
    assert info is not None and info.size == 0
    assert await read_all(store, "avatars/1/e") == b""


async def test_replace_changes_bytes_and_etag(store: BlobStore) -> None:
    await store.put("avatars/1/h", feed(b"first"), 100)
    before = await store.stat("avatars/1/h")
    await store.put("avatars/1/h", feed(b"second version"), 100)
    after = await store.stat("avatars/1/h")
    assert before is not None and after is not None
    assert after.size == len(b"second version") and after.etag != before.etag
    assert await read_all(store, "avatars/1/h") == b"second version"


async def test_absent(store: BlobStore) -> None:
    assert await store.stat("attachments/9/9") is None
    with pytest.raises(FileNotFoundError):
        await read_all(store, "attachments/9/9")
    await store.delete(["attachments/9/9"])  # absent keys are ignored


async def test_too_large_keeps_nothing(store: BlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        await store.put("attachments/1/3", feed(b"x" * 60, b"y" * 60), 100)
    assert await store.stat("attachments/1/3") is None


async def test_broken_upload_keeps_nothing(store: BlobStore) -> None:
    class Broke(Exception):
        pass

    async def broken() -> AsyncIterator[bytes]:
        yield b"half of it"
        raise Broke

    with pytest.raises(Broke):
        await store.put("attachments/1/4", broken(), 1 << 20)
    assert await store.stat("attachments/1/4") is None


async def test_broken_replacement_keeps_the_old(store: BlobStore) -> None:
    await store.put("avatars/2/k", feed(b"old"), 100)
    with pytest.raises(BlobTooLarge):
        await store.put("avatars/2/k", feed(b"n" * 200), 100)
    assert await read_all(store, "avatars/2/k") == b"old"


async def test_large_blob_round_trip(store: BlobStore) -> None:
    # Over two S3 parts, fed in odd-sized chunks as a multipart body arrives.
    data = os.urandom(2 * PART_BYTES + 12_345)
    chunks = [data[i:i + 65_521] for i in range(0, len(data), 65_521)]
    assert await store.put("attachments/7/8", feed(*chunks), len(data)) == len(data)
    info = await store.stat("attachments/7/8")
    assert info is not None and info.size == len(data)
    got = hashlib.sha256()
    async for chunk in store.read("attachments/7/8"):
        got.update(chunk)
    assert got.digest() == hashlib.sha256(data).digest()
    mid = PART_BYTES - 10
    assert await read_all(store, "attachments/7/8", mid, mid + 20) == data[mid:mid + 20]


async def test_delete_and_delete_prefix(store: BlobStore) -> None:
    for key in ("attachments/1/1", "attachments/1/2", "attachments/10/1", "avatars/1/a"):
        await store.put(key, feed(key.encode()), 100)
    await store.delete(["attachments/1/1"])
    assert await store.stat("attachments/1/1") is None
    assert await store.stat("attachments/1/2") is not None
    await store.delete_prefix("attachments/1")
    assert await store.stat("attachments/1/2") is None
    # A prefix is whole segments: channel 10's files are not channel 1's.
    assert await read_all(store, "attachments/10/1") == b"attachments/10/1"
    assert await read_all(store, "avatars/1/a") == b"avatars/1/a"
    await store.delete_prefix("attachments/404")  # nothing there: no error


async def test_keys_are_checked(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        await store.put("../etc/passwd", feed(b"x"), 10)
    with pytest.raises(ValueError):
        await store.stat("attachments/a b")


# -- S3 only: no multipart upload left open --------------------------------------------------


async def open_uploads(url: str, bucket: str) -> list[Any]:
    async with await s3_client(url) as client:
        listed = await client.list_multipart_uploads(Bucket=bucket)
    return list(listed.get("Uploads", []))


async def test_s3_broken_multipart_upload_is_aborted(s3_url: str) -> None:
    bucket = await new_bucket(s3_url)
    store = await open_s3(s3_url, bucket)

    class Broke(Exception):
        pass

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART_BYTES + 1)  # one part sent, the upload open
        assert len(await open_uploads(s3_url, bucket)) == 1
        raise Broke

    try:
        with pytest.raises(Broke):
            await store.put("attachments/1/5", broken(), 1 << 30)
        assert await open_uploads(s3_url, bucket) == []
        assert await store.stat("attachments/1/5") is None
        with pytest.raises(BlobTooLarge):
            await store.put("attachments/1/6", feed(os.urandom(PART_BYTES), b"more"),
                            PART_BYTES + 2)
        assert await open_uploads(s3_url, bucket) == []
        assert await store.stat("attachments/1/6") is None
    finally:
        await store.aclose()


async def test_s3_cancelled_upload_is_aborted(s3_url: str) -> None:
    bucket = await new_bucket(s3_url)
    store = await open_s3(s3_url, bucket)
    part_sent = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(PART_BYTES)
        part_sent.set()  # asked for more: the first part was uploaded
        await asyncio.Event().wait()
        yield b""

    try:
        task = asyncio.create_task(store.put("attachments/2/1", stalls(), 1 << 30))
        await part_sent.wait()
        assert len(await open_uploads(s3_url, bucket)) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await open_uploads(s3_url, bucket) == []
        assert await store.stat("attachments/2/1") is None
    finally:
        await store.aclose()


async def test_s3_missing_bucket_is_refused(s3_url: str) -> None:
    with pytest.raises(OSError, match="not reachable"):
        await open_s3(s3_url, f"absent-{secrets.token_hex(4)}")
