"""``multipart/form-data`` message bodies: ``payload_json`` and ``files[n]``, as discord.py and
discord.js send them (discord.py: the JSON first; discord.js: the files first).

Each ``files[n]`` part is streamed to the blob store as it arrives (aiohttp's multipart reader,
one chunk in memory at a time; the first :data:`core.images.HEAD_BYTES` kept to tell an image
and its size), under a fresh attachment id, and checked against ``max_attachment_bytes``
while it streams. :func:`message_upload` deletes every file it stored unless the body's use
(the send or edit) succeeds: a refused send, a bad shape or an upload that breaks off leaves
no file behind (and :class:`core.blobs.LocalBlobStore` never leaves half of one).

Bounds: at most :data:`core.attachments.MAX_FILES` files, each at most
``max_attachment_bytes`` (413 40005), ``payload_json`` at most ``max_body_bytes`` (the JSON
body's limit), no other part (400 50035). aiohttp's ``client_max_size`` applies only to bodies
read whole, so JSON bodies keep theirs while a multipart body may reach the files' limits.

A file name is never logged: it is user content (and part of the CDN URL, which
``api.ops`` logs as its template).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, ClientError, web
from aiohttp.http_exceptions import HttpProcessingError

from api.http import INVALID_JSON
from core.attachments import MAX_FILES, StoredFile
from core.blobs import BlobTooLarge, blob_key
from core.errors import ApiError, invalid_form
from core.images import HEAD_BYTES, sniff
from core.platform import Platform
from core.validate import reject_control_chars, require_object

__all__ = ["MessageUpload", "is_multipart", "message_upload"]

CHUNK = 64 * 1024
TOO_LARGE = 40005
_FILE_PART = re.compile(r"^files\[(\d{1,2})\]$")
# A declared part type kept as the attachment's content_type (type/subtype, no parameters).
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")


@dataclass(slots=True)
class MessageUpload:
    """A multipart body read: its JSON part (``{}`` when none) and the files stored."""

    body: dict[str, Any] = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)


def is_multipart(request: web.Request) -> bool:
    return request.content_type == "multipart/form-data"


def too_large() -> ApiError:
    return ApiError(413, TOO_LARGE, "Request entity too large")


@contextlib.asynccontextmanager
async def message_upload(
    request: web.Request, p: Platform, channel_id: int,
    may_attach: Callable[[], Awaitable[None]],
) -> AsyncIterator[MessageUpload]:
    """Read a multipart message body, storing its files; delete them if the block raises.

    Args:
        may_attach: called before the first file's first byte is stored (the permission
            check: a refused sender stores nothing).

    Raises:
        ApiError: 413 40005 for a file over ``max_attachment_bytes`` (or ``payload_json``
            over ``max_body_bytes``); 400 50109 for ``payload_json`` that is not JSON; 400
            50035 for another part, a repeated one, too many files or a body that broke off.
    """
    upload = MessageUpload()
    try:
        await _read(request, p, channel_id, may_attach, upload)
        yield upload
    except BaseException:
        keys = [blob_key("attachments", channel_id, f.id) for f in upload.files]
        await p.blobs.delete(keys)
        raise


async def _read(
    request: web.Request, p: Platform, channel_id: int,
    may_attach: Callable[[], Awaitable[None]], upload: MessageUpload,
) -> None:
    seen: set[str] = set()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):  # a nested multipart: no Discord shape
                raise invalid_form("files", "BASE_TYPE_BAD_SHAPE", "Nested multipart.")
            name = part.name or ""
            if name in seen:
                raise invalid_form(name if name == "payload_json" else "files",
                                   "BASE_TYPE_DUPLICATE", "Sent twice.")
            seen.add(name)
            if name == "payload_json":
                upload.body = await _json_part(part, p.config.max_body_bytes)
                continue
            match = _FILE_PART.match(name)
            if match is None:
                raise invalid_form("files", "BASE_TYPE_BAD_SHAPE",
                                   "Only payload_json and files[n] parts are accepted.")
            if len(upload.files) >= MAX_FILES:
                raise invalid_form("files", "BASE_TYPE_MAX_LENGTH",
                                   f"Must be {MAX_FILES} or fewer in length.")
            if not upload.files:
                await may_attach()
            upload.files.append(await _file_part(part, int(match.group(1)), p, channel_id))
    except (ClientError, HttpProcessingError, OSError, ValueError, AssertionError):
        # A body that broke off or is no valid multipart (aiohttp raises these, and asserts
        # on some malformed boundaries): the client's fault, never a 500 with a traceback.
        raise invalid_form("files", "BASE_TYPE_BAD_SHAPE",
                           "The multipart body is incomplete or malformed.") from None


async def _json_part(part: BodyPartReader, limit: int) -> dict[str, Any]:
    raw = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        raw += chunk
        if len(raw) > limit:
            raise too_large()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, INVALID_JSON, "The request body contains invalid JSON.") from None
    reject_control_chars(body)
    return require_object(body)


async def _file_part(
    part: BodyPartReader, index: int, p: Platform, channel_id: int
) -> StoredFile:
    attachment_id = p.ids.next()
    head = bytearray()

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await part.read_chunk(CHUNK):
            if len(head) < HEAD_BYTES:
                head.extend(chunk[:HEAD_BYTES - len(head)])
            yield chunk

    key = blob_key("attachments", channel_id, attachment_id)
    try:
        size = await p.blobs.put(key, chunks(), p.config.max_attachment_bytes)
    except BlobTooLarge:
        raise too_large() from None
    declared = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return StoredFile(
        index=index, id=attachment_id, filename=part.filename or f"file{index}", size=size,
        content_type=declared if _MIME.match(declared) and declared != "application/octet-stream"
        else None,
        image=sniff(bytes(head)),
    )
