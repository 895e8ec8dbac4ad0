"""Where uploaded files live: the ``BlobStore`` protocol and its local-directory backend.

A blob is the bytes of one attachment, avatar or icon under a key made of ids and hashes only
(``attachments/{channel_id}/{attachment_id}``, ``avatars/{user_id}/{hash}``,
``icons/{guild_id}/{hash}``): never a name a user typed, so no key can climb out of the store
or collide with another's.

Writes are streamed (bytes in, chunk by chunk, never the whole file in memory) to a temporary
name and renamed into place only once complete and within the size limit: a reader never sees
half a file, and an upload that breaks off, or is too large, leaves nothing behind.

Reads are streamed too: :meth:`BlobStore.stat` says a blob's size, ETag and age (and, for a
local one, the file, which the CDN hands to ``sendfile``), :meth:`BlobStore.read` yields a byte
range of it chunk by chunk (the CDN's ``Range`` answers).

The local backend (:class:`LocalBlobStore`, under ``DATA_DIR/blobs``) suits one host: several
workers of a host share it, several hosts do not. Hosts that share their files use the
S3-compatible backend (``core.blobs_s3``), behind this same protocol and tested by the same
contract suite (tests/integration/test_blob_contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, Protocol

__all__ = ["BLOBS_DIR", "BlobInfo", "BlobStore", "BlobTooLarge", "LocalBlobStore", "blob_key"]

BLOBS_DIR = "blobs"
_TMP = ".tmp"
# A key: slash-separated segments of letters, digits, "_" and "-" (ids, hashes, kinds).
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,3}$")
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What is known of a stored blob without reading it.

    Attributes:
        size: its length in bytes.
        etag: a strong validator, quoted (``"..."``), that changes when the bytes do.
        modified: when it was written (seconds since the epoch).
        file: a local file holding exactly its bytes (served with ``sendfile``), None when
            the blob lives elsewhere (read it with :meth:`BlobStore.read`).
    """

    size: int
    etag: str
    modified: float
    file: Path | None = None


class BlobTooLarge(Exception):
    """A write passed its ``max_bytes``; nothing was kept."""


def blob_key(*parts: str | int) -> str:
    """The key of ``parts`` (``blob_key("attachments", channel_id, attachment_id)``).

    Raises:
        ValueError: a part that is not an id, a hash or a kind (a bug: keys are never typed
            by users).
    """
    key = "/".join(str(p) for p in parts)
    if not _KEY.match(key):
        raise ValueError("not a blob key")
    return key


class BlobStore(Protocol):
    """Files by key: streamed in, read back in ranges, deleted by key or by prefix."""

    async def put(self, key: str, chunks: AsyncIterable[bytes], max_bytes: int) -> int:
        """Store ``chunks`` under ``key`` (replacing it), all or nothing; the size.

        Raises:
            BlobTooLarge: more than ``max_bytes`` came (nothing is kept).
            Exception: whatever ``chunks`` raised (a broken upload: nothing is kept).
        """

    async def stat(self, key: str) -> BlobInfo | None:
        """``key``'s size, validator and age, None when absent."""

    def read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """``key``'s bytes ``[start, end)`` (``end`` None: to the end), chunk by chunk.

        Raises:
            FileNotFoundError: ``key`` is absent (raised at the first iteration).
        """

    async def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (absent ones are ignored)."""

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key under ``prefix`` (``attachments/{channel_id}``)."""

    async def aclose(self) -> None:
        """Release connections (the platform's shutdown)."""


class LocalBlobStore:
    """:class:`BlobStore` in a directory: each key a file under ``root``.

    File I/O runs in the default executor (a disk write must not stall the event loop); each
    chunk is written as it arrives, so memory holds one chunk per upload.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / _TMP

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("not a blob key")
        return self.root / key

    async def put(self, key: str, chunks: AsyncIterable[bytes], max_bytes: int) -> int:
        final = self._file(key)
        await asyncio.to_thread(_makedirs, self._tmp, final.parent)
        # A unique name: two uploads of one key (or two workers) never share a temp file.
        tmp = self._tmp / f"{secrets.token_hex(12)}.part"
        f = await asyncio.to_thread(open, tmp, "wb")
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge
                await asyncio.to_thread(f.write, chunk)
            await asyncio.to_thread(_finish, f, tmp, final)
        except BaseException:
            # Cancelled, broken off or too large: no partial file anywhere.
            f.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return size

    async def stat(self, key: str) -> BlobInfo | None:
        file = self._file(key)
        try:
            st = await asyncio.to_thread(file.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not S_ISREG(st.st_mode):  # a prefix's directory is no blob
            return None
        # The temp file is renamed into place whole, so (inode, mtime, size) changes with
        # the bytes: a strong validator without reading them.
        etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
        return BlobInfo(size=st.st_size, etag=etag, modified=st.st_mtime, file=file)

    async def read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        file = self._file(key)
        f = await asyncio.to_thread(open, file, "rb")
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                want = READ_CHUNK if left is None else min(READ_CHUNK, left)
                chunk = await asyncio.to_thread(f.read, want)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def delete(self, keys: list[str]) -> None:
        files = [self._file(k) for k in keys]
        if files:
            await asyncio.to_thread(_unlink_all, files)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._file(prefix), True)

    async def aclose(self) -> None:
        return None


def _makedirs(*dirs: Path) -> None:
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)


def _finish(f: BinaryIO, tmp: Path, final: Path) -> None:
    """Flush, close and move a complete temp file into place (atomic on one filesystem)."""
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(tmp, final)


def _unlink_all(files: list[Path]) -> None:
    for file in files:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
