"""A message's files: the uploads of a ``multipart/form-data`` send, checked against the
``attachments`` array of its ``payload_json``, and the attachment objects Discord shows.

The REST layer (``api/multipart.py``) streams each ``files[n]`` part to the blob store under a
fresh attachment id before the JSON part may even have arrived (discord.js sends it last), and
hands over what it stored (:class:`StoredFile`). Here they become attachment objects: the
``attachments`` array may name each file by its ``n`` (``id``) to give it a ``filename`` and a
``description``; without the array every file is attached in the order sent.

The attachment object is built once, at upload, with its ``url`` on this server's CDN
(``{public_http_url}/attachments/{channel_id}/{id}/{filename}``, ``api/routes/cdn.py``) and
kept whole with the message, as Discord keeps its CDN URLs: a later change of
``public_http_url`` leaves old messages pointing at the old origin.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.blobs import BlobStore, blob_key
from core.errors import invalid_form
from core.images import ImageInfo
from core.models import Message
from core.validate import reject_control_chars

__all__ = [
    "MAX_FILES",
    "StoredFile",
    "attachment_objects",
    "blob_keys",
    "delete_channel_files",
    "kept_attachments",
    "safe_filename",
]

MAX_FILES = 10  # Discord: 10 files a message
FILENAME_MAX = 100
DESCRIPTION_MAX = 1024
# Characters a filename keeps; any other becomes "_" (Discord does so with spaces too): the
# name is part of the URL, and never of a path on disk (blob keys are ids).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One ``files[n]`` part, already in the blob store under ``attachments/{channel}/{id}``.

    Attributes:
        index: the ``n`` of its part name.
        id: its attachment id (a snowflake).
        filename: the part's filename, as sent.
        size: bytes stored.
        content_type: the part's declared type, if any.
        image: what its first bytes say it is (PNG/JPEG/GIF/WebP), with its size if known.
    """

    index: int
    id: int
    filename: str
    size: int
    content_type: str | None
    image: ImageInfo | None


def safe_filename(name: str) -> str:
    """``name`` as it appears in the attachment and its URL: the last path segment, at most
    100 characters of ``[A-Za-z0-9._-]`` (others become ``_``), never hidden or empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[-FILENAME_MAX:]
    return cleaned or "unknown"


def attachment_objects(
    stored: Sequence[StoredFile], body: Mapping[str, Any], channel_id: int, base_url: str
) -> tuple[dict[str, Any], ...]:
    """The attachment objects of a send's files, as the ``attachments`` array describes them.

    Raises:
        ApiError: 400 50035 for a bad ``attachments`` array, an entry naming a file that was
            not sent, or more than :data:`MAX_FILES` files.
    """
    if len(stored) > MAX_FILES:
        raise invalid_form("files", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {MAX_FILES} or fewer in length.")
    by_index = {f.index: f for f in stored}
    described = _described(body, set(by_index))
    # Described files in the array's order, then the others (all of them without an array).
    order = [*described, *(i for i in sorted(by_index) if i not in described)]
    out = []
    for i in order:
        filename, description = described.get(i, (None, None))
        out.append(_attachment(by_index[i], filename, description, channel_id, base_url))
    return tuple(out)


def _described(body: Mapping[str, Any], sent: set[int]) -> dict[int, tuple[str | None, str | None]]:
    """The new files the ``attachments`` array describes: index → (filename, description).
    Entries whose id is not a small index are existing attachments (edits): skipped here."""
    raw = body.get("attachments")
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > MAX_FILES:
        raise invalid_form("attachments", "BASE_TYPE_BAD_LENGTH",
                           f"Must be a list of at most {MAX_FILES}.")
    out: dict[int, tuple[str | None, str | None]] = {}
    for n, entry in enumerate(raw):
        where = f"attachments.{n}"
        if not isinstance(entry, dict):
            raise invalid_form(where, "MODEL_TYPE_CONVERT", "Must be an object.")
        reject_control_chars(entry)
        index = _index(entry.get("id"), where)
        if index is None or index >= 1 << 20:
            continue  # an existing attachment's snowflake: core.attachments.kept_attachments
        if index not in sent:
            raise invalid_form(f"{where}.id", "ATTACHMENT_NOT_FOUND",
                               f"files[{index}] was not sent.")
        filename = _text(entry.get("filename"), f"{where}.filename", 1, 1024)
        description = _text(entry.get("description"), f"{where}.description", 0,
                            DESCRIPTION_MAX)
        out[index] = (filename, description)
    return out


def _index(value: Any, where: str) -> int | None:
    if isinstance(value, bool):
        raise invalid_form(f"{where}.id", "NUMBER_TYPE_COERCE", "Not an integer.")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    if value is None:
        return None
    raise invalid_form(f"{where}.id", "NUMBER_TYPE_COERCE", "Not an integer.")


def _text(value: Any, where: str, low: int, high: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise invalid_form(where, "BASE_TYPE_BAD_LENGTH",
                           f"Must be a string of {low} to {high} characters.")
    return value


def _attachment(
    f: StoredFile, filename: str | None, description: str | None, channel_id: int,
    base_url: str,
) -> dict[str, Any]:
    name = safe_filename(filename or f.filename)
    url = f"{base_url}/attachments/{channel_id}/{f.id}/{name}"
    out: dict[str, Any] = {"id": str(f.id), "filename": name, "size": f.size, "url": url,
                           "proxy_url": url, "ephemeral": False}
    if description:
        out["description"] = description
    content_type = (f.image.content_type if f.image else f.content_type
                    or mimetypes.guess_type(name, strict=False)[0])
    if content_type:
        out["content_type"] = content_type
    if f.image is not None and f.image.width and f.image.height:
        out["width"], out["height"] = f.image.width, f.image.height
    return out


def kept_attachments(message: Message, body: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """An edit's existing attachments to keep: those the ``attachments`` array names by id
    (None when the edit has no array: all are kept). Ids the message does not have are
    ignored, as Discord does."""
    raw = body.get("attachments")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid_form("attachments", "BASE_TYPE_BAD_LENGTH", "Must be a list.")
    wanted = {str(e.get("id")) for e in raw if isinstance(e, dict)}
    return tuple(a for a in message.attachments if a.get("id") in wanted)


def blob_keys(channel_id: int, attachments: Sequence[Mapping[str, Any]]) -> list[str]:
    """The blob keys of ``attachments`` of a message of ``channel_id``."""
    return [blob_key("attachments", channel_id, int(a["id"])) for a in attachments]


async def delete_channel_files(blobs: BlobStore, channel_id: int) -> None:
    """Delete every file of a deleted channel's messages (with its history)."""
    await blobs.delete_prefix(blob_key("attachments", channel_id))
