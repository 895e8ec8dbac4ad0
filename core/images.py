"""An image's type and size from its first bytes: PNG, JPEG, GIF and WebP, no image library.

Used for an attachment's ``content_type``/``width``/``height`` and to check that an avatar or
icon is an image at all. Only the header is read (at most :data:`HEAD_BYTES`, kept while the
upload streams): a JPEG whose frame header comes later has a type but no size, as Discord
leaves it out when it cannot tell.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HEAD_BYTES", "ImageInfo", "sniff"]

# How much of the start of a file is kept to sniff it (bounded: one buffer per upload).
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ImageInfo:
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def sniff(head: bytes) -> ImageInfo | None:
    """What image ``head`` (a file's first bytes) starts, or None when it is no image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        size = _be(head, 16, ">II") if head[12:16] == b"IHDR" else None
        return ImageInfo("image/png", "png", *(size or (None, None)))
    if head[:6] in (b"GIF87a", b"GIF89a"):
        size = _be(head, 6, "<HH")
        return ImageInfo("image/gif", "gif", *(size or (None, None)))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageInfo("image/webp", "webp", *(_webp_size(head) or (None, None)))
    if head[:3] == b"\xff\xd8\xff":
        return ImageInfo("image/jpeg", "jpg", *(_jpeg_size(head) or (None, None)))
    return None


def _be(data: bytes, offset: int, fmt: str) -> tuple[int, int] | None:
    end = offset + struct.calcsize(fmt)
    if len(data) < end:
        return None
    w, h = struct.unpack(fmt, data[offset:end])
    return (int(w), int(h)) if w and h else None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:  # lossy: 14-bit sizes after the frame tag
        w, h = struct.unpack("<HH", head[26:30])
        return (w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:  # lossless
        bits = int.from_bytes(head[21:25], "little")
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(head) >= 30:  # extended: 24-bit sizes minus one
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return (w, h)
    return None


# JPEG start-of-frame markers (baseline, progressive...), which carry the size; not DHT (C4),
# JPG (C8) or DAC (CC), which share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            h, w = struct.unpack(">HH", head[i + 5:i + 9])
            return (w, h) if w and h else None
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2:i + 4])
        i += 2 + length
    return None
