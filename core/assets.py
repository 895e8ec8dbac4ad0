"""Avatars and guild icons as images: a data URI decoded, checked and stored under its hash.

Discord's clients (and discord.py's ``ClientUser.edit(avatar=...)``) upload an image as a
``data:image/...;base64,...`` URI in the JSON body, and every object then carries only its hash.
The hash stays what it was here (the MD5 of the data URI, Discord's hash format); the decoded
bytes now also go to the blob store as ``avatars/{user_id}/{hash}``, ``icons/{guild_id}/{hash}``
and (a group DM's) ``channel-icons/{channel_id}/{hash}``,
which the CDN (``api/routes/cdn.py``) serves at Discord's URLs whatever extension is asked
(``.png``, ``.webp``, ``.jpg``, ``.gif``): the stored image as it was uploaded, with its own
type. The image must be a PNG, JPEG, GIF or WebP by its first bytes (the declared type is not
trusted) and at most :data:`MAX_IMAGE_BYTES`; the body holding it is bounded anyway by
``max_body_bytes``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator

from core.blobs import blob_key
from core.errors import invalid_form
from core.images import sniff
from core.platform import Platform

__all__ = ["MAX_IMAGE_BYTES", "image_hash", "is_data_uri", "store_image"]

MAX_IMAGE_BYTES = 10 << 20  # Discord: 10 MiB for an avatar or icon


def is_data_uri(value: object) -> bool:
    return isinstance(value, str) and value.startswith("data:image/")


def image_hash(value: object, field: str) -> str | None:
    """An image field's hash: None for null, a hash (1-64 characters) as given, a data URI's
    MD5 (Discord's hash format; storing the image too is :func:`store_image`'s).

    Raises:
        ApiError: 400 50035 ``IMAGE_INVALID`` at ``field`` for anything else.
    """
    if value is None:
        return None
    if is_data_uri(value):
        return hashlib.md5(str(value).encode(), usedforsecurity=False).hexdigest()
    if isinstance(value, str) and 1 <= len(value) <= 64:
        return value
    raise invalid_form(field, "IMAGE_INVALID", "Invalid image data")


async def store_image(p: Platform, kind: str, owner_id: int, data_uri: str, field: str) -> str:
    """Store an uploaded image (``kind``: ``avatars``, ``icons`` or ``channel-icons``); its hash.

    Raises:
        ApiError: 400 50035 ``IMAGE_INVALID`` at ``field`` for data that is no base64 image
            of a known type, or larger than :data:`MAX_IMAGE_BYTES`.
    """
    header, sep, payload = data_uri.partition(",")
    if not sep or not header.endswith(";base64") or len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise invalid_form(field, "IMAGE_INVALID", "Invalid image data")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_form(field, "IMAGE_INVALID", "Invalid image data") from None
    if len(data) > MAX_IMAGE_BYTES or sniff(data[:64]) is None:
        raise invalid_form(field, "IMAGE_INVALID", "Invalid image data")
    digest = hashlib.md5(data_uri.encode(), usedforsecurity=False).hexdigest()

    async def one() -> AsyncIterator[bytes]:
        yield data

    await p.blobs.put(blob_key(kind, owner_id, digest), one(), MAX_IMAGE_BYTES)
    return digest
