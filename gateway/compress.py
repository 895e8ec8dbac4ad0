"""Transport compression streams: ``compress=zlib-stream`` and ``compress=zstd-stream``.

Discord's "Transport Compression": one compression context lives as long as the connection
and every websocket message is a flushed piece of that single stream, so the client keeps one
decompression context too. Frames are compressed in the order they are sent; never skip or
reorder one.

- zlib-stream: a zlib (RFC 1950) stream; each message ends with a ``Z_SYNC_FLUSH``, so it ends
  with ``00 00 ff ff``, the marker clients (discord.py, discord.js) wait for before inflating.
- zstd-stream: a single Zstandard frame of unknown size for the whole connection; each message
  is flushed with ``COMPRESSOBJ_FLUSH_BLOCK``. discord.py feeds every message to one
  ``ZstdDecompressor().decompressobj()`` and expects it to yield the whole payload, which a
  block flush guarantees; ending the frame per message would break it, since a
  decompressobj refuses input after its frame ends.

Memory is the cost (each connection owns a context): the defaults use smaller windows than the
libraries do (zlib 2**13 bytes instead of 2**15, Zstandard 2**15 with small tables instead of
level 3's 2**21): about 70 KiB (zlib) and 100 KiB (zstd) per connection instead of 260 KiB
and 800 KiB, for a compression ratio within a few percent on chat traffic. Clients decompress
either with their default settings: a zlib window smaller than 2**15 and a zstd window under
2**27 are accepted by every decompressor.
"""

from __future__ import annotations

import zlib
from enum import StrEnum
from typing import Protocol

import zstandard

__all__ = ["Compression", "Compressor", "ZlibStream", "ZstdStream", "new_compressor"]


class Compression(StrEnum):
    """The ``compress`` query parameter of the gateway URL."""

    ZLIB_STREAM = "zlib-stream"
    ZSTD_STREAM = "zstd-stream"


class Compressor(Protocol):
    """A per-connection compression stream."""

    def compress(self, frame: bytes) -> bytes:
        """The next websocket message of the stream, carrying all of ``frame``."""
        ...


class ZlibStream:
    """One zlib stream per connection, sync-flushed after every message.

    Args:
        level: zlib level 0-9 (6 is zlib's default; lower is cheaper per recipient).
        wbits: log2 of the window, 9-15; memory is about ``2**(wbits+2)`` bytes.
        mem_level: 1-9, size of the match hash; memory is about ``2**(mem_level+9)`` bytes.
    """

    __slots__ = ("_z",)

    def __init__(self, level: int = 6, wbits: int = 13, mem_level: int = 6) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, wbits, mem_level)

    def compress(self, frame: bytes) -> bytes:
        z = self._z
        return z.compress(frame) + z.flush(zlib.Z_SYNC_FLUSH)


class ZstdStream:
    """One Zstandard frame per connection, block-flushed after every message.

    Args:
        level: Zstandard level (1-22).
        window_log: log2 of the window; clients accept up to 27.
        hash_log: log2 of the hash table entries.
        chain_log: log2 of the chain table entries.
    """

    __slots__ = ("_z",)

    def __init__(
        self, level: int = 3, window_log: int = 15, hash_log: int = 12, chain_log: int = 12
    ) -> None:
        params = zstandard.ZstdCompressionParameters.from_level(
            level, window_log=window_log, hash_log=hash_log, chain_log=chain_log
        )
        self._z = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def compress(self, frame: bytes) -> bytes:
        z = self._z
        return z.compress(frame) + z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


def new_compressor(kind: Compression) -> Compressor:
    """A fresh stream of ``kind`` for one connection (default parameters)."""
    if kind is Compression.ZLIB_STREAM:
        return ZlibStream()
    return ZstdStream()
