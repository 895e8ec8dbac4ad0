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

Memory is the cost (each connection owns a context), and in a fanout it is also the CPU: a
delivery touches its connection's context cold, so a smaller one is cheaper per recipient
(bench/RESULTS.md, "Compressed fanout"). The defaults use smaller windows than the libraries
do (zlib 2**12 bytes and ``memLevel`` 4 instead of 2**15 and 8, Zstandard 2**15 with small
tables instead of level 3's 2**21): about 29 KiB (zlib) and 125 KiB (zstd) per connection
instead of 260 KiB and 800 KiB. On chat traffic zlib's costs 8% more bytes than 2**13 and
``memLevel`` 6 (70 KiB) for a quarter less CPU per delivery. Clients decompress either with
their default settings: a zlib window smaller than 2**15 and a zstd window under 2**27 are
accepted by every decompressor.
"""

from __future__ import annotations

import struct
import zlib
from enum import StrEnum
from typing import Final, Protocol

import zstandard

__all__ = ["ZLIB_HEADER", "Compression", "Compressor", "SharedZlib", "ZlibStream", "ZstdStream",
           "deflate_alone", "new_compressor"]

# The zlib header of a SharedZlib stream: CM 8 (deflate), CINFO 7 (a 32 KiB window, the most
# any piece may need and what every inflater accepts), FLEVEL 0, FCHECK so that the two bytes
# are a multiple of 31 (RFC 1950).
ZLIB_HEADER: Final = b"\x78\x01"
_STORED_LEN = struct.Struct("<HH").pack  # a stored block's LEN and NLEN (RFC 1951 3.2.4)


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
        level: zlib level 0-9 (6 is zlib's default; 1, this one's, costs each delivery about
            half of 6's CPU for about a fifth more bytes: the module docstring).
        wbits: log2 of the window, 9-15; memory is about ``2**(wbits+2)`` bytes.
        mem_level: 1-9, size of the match hash; memory is about ``2**(mem_level+9)`` bytes.
    """

    __slots__ = ("_z",)

    def __init__(self, level: int = 1, wbits: int = 12, mem_level: int = 4) -> None:
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


def deflate_alone(data: bytes, level: int) -> bytes:
    """``data`` as raw deflate blocks that refer to nothing before them, ending byte-aligned
    with a sync flush (``00 00 ff ff``): a piece that may follow any message of any zlib
    stream, so one compression serves every connection that gets ``data``."""
    z = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)


class SharedZlib:
    """A zlib-stream whose messages are each self-contained (``gateway_zlib_shared``).

    Still one zlib stream per connection, each message ending with the sync-flush marker,
    decoded by one inflater per connection (discord.py, discord.js); but no message refers
    to an earlier one, so the part of a dispatch that is the same for every recipient (all
    but ``s``) is deflated once per event (:func:`deflate_alone`) and each delivery only adds
    a stored block with the dispatch's start and its ``s`` (:meth:`dispatch`): no
    compression per recipient, and no compression context per connection (about 29 KiB
    each for :class:`ZlibStream`). The cost is bytes: without the history of the
    connection, a chat message deflates to about 55% of its size instead of 8% (seven
    times the bytes; bench/RESULTS.md, "Compressed fanout").
    """

    __slots__ = ("_head", "level")

    def __init__(self, level: int = 1) -> None:
        self.level = level
        self._head = ZLIB_HEADER  # before the first message only

    def compress(self, frame: bytes) -> bytes:
        head, self._head = self._head, b""
        return head + deflate_alone(frame, self.level)

    def dispatch(self, start: bytes, seq: bytes, body: bytes) -> bytes:
        """The message of a dispatch: ``start + seq`` stored, then ``body``, the rest of the
        payload already deflated alone (shared by every recipient)."""
        n = len(start) + len(seq)  # a dispatch's start is its first ~40 bytes: n < 65536
        head, self._head = self._head, b""
        # A non-final stored block: 3 header bits (0, 00) padded to a byte, LEN, NLEN.
        return b"".join((head, b"\x00", _STORED_LEN(n, n ^ 0xFFFF), start, seq, body))


def new_compressor(kind: Compression, zlib_level: int = 1, zstd_level: int = 3,
                   zlib_shared: bool = False) -> Compressor:
    """A fresh stream of ``kind`` for one connection, at the level given for its kind
    (``gateway_zlib_level`` / ``gateway_zstd_level``), with the default windows; with
    ``zlib_shared``, a zlib-stream of self-contained messages (:class:`SharedZlib`)."""
    if kind is Compression.ZLIB_STREAM:
        return SharedZlib(zlib_level) if zlib_shared else ZlibStream(zlib_level)
    return ZstdStream(zstd_level)
