"""Unit tests for gateway.compress: zlib-stream and zstd-stream as clients decompress them.

The decoders below mirror discord.py's: for zlib-stream, one ``zlib.decompressobj()`` per
connection, fed a buffer of chunks until one ends with ``00 00 ff ff``; for zstd-stream, one
``zstandard.ZstdDecompressor().decompressobj()`` per connection that must yield each whole
message from each websocket message.
"""

from __future__ import annotations

import zlib

import orjson
import pytest
import zstandard

from gateway.compress import Compression, ZlibStream, ZstdStream, new_compressor

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


def messages(n: int = 30) -> list[bytes]:
    return [
        orjson.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": i,
                      "d": {"id": str(10**17 + i), "content": f"message {i} " * (i % 7)}})
        for i in range(n)
    ]


class ZlibClient:
    """discord.py's ``_ZlibDecompressionContext``."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.inflator = zlib.decompressobj()

    def feed(self, data: bytes) -> bytes | None:
        self.buffer.extend(data)
        if len(data) < 4 or data[-4:] != ZLIB_SUFFIX:
            return None
        out = self.inflator.decompress(self.buffer)
        self.buffer = bytearray()
        return out


def test_zlib_every_message_ends_with_sync_flush_marker() -> None:
    stream = ZlibStream()
    for msg in messages():
        assert stream.compress(msg).endswith(ZLIB_SUFFIX)


def test_zlib_fresh_client_decodes_each_message_in_order() -> None:
    stream, client = ZlibStream(), ZlibClient()
    for msg in messages():
        assert client.feed(stream.compress(msg)) == msg


def test_zlib_client_fed_in_chunks_decodes_on_marker() -> None:
    # A client may see a message split (discord.js buffers until the marker).
    stream, client = ZlibStream(), ZlibClient()
    for msg in messages(10):
        frame = stream.compress(msg)
        cut = len(frame) // 2
        assert client.feed(frame[:cut]) is None
        assert client.feed(frame[cut:]) == msg


def test_zlib_stream_shares_history_across_messages() -> None:
    # The second copy of a message compresses far better: the window is per connection.
    stream = ZlibStream()
    msg = messages()[12]
    first, second = stream.compress(msg), stream.compress(msg)
    assert len(second) < len(first) / 2


def test_zlib_default_wbits_decodes_small_window_stream() -> None:
    stream = ZlibStream(wbits=9, mem_level=1)
    inflator = zlib.decompressobj(wbits=15)
    for msg in messages():
        assert inflator.decompress(stream.compress(msg)) == msg


def test_zstd_fresh_client_decodes_each_message_in_order() -> None:
    stream = ZstdStream()
    context = zstandard.ZstdDecompressor().decompressobj()  # discord.py, one per connection
    for msg in messages():
        assert context.decompress(stream.compress(msg)) == msg


def test_zstd_stream_is_one_frame_shared_across_messages() -> None:
    stream = ZstdStream()
    msg = messages()[12]
    first, second = stream.compress(msg), stream.compress(msg)
    assert first.startswith(b"\x28\xb5\x2f\xfd")  # zstd frame magic, once per connection
    assert not second.startswith(b"\x28\xb5\x2f\xfd")
    assert len(second) < len(first) / 2


def test_zstd_concatenation_is_one_decodable_stream() -> None:
    stream = ZstdStream()
    msgs = messages()
    whole = b"".join(stream.compress(m) for m in msgs)
    reader = zstandard.ZstdDecompressor().decompressobj()
    assert reader.decompress(whole) == b"".join(msgs)


@pytest.mark.parametrize("kind", list(Compression))
def test_new_compressor_gives_independent_streams(kind: Compression) -> None:
    a, b = new_compressor(kind), new_compressor(kind)
    msg = messages()[3]
    assert a.compress(msg) == b.compress(msg)  # same state, same bytes: nothing shared


# -- levels (gateway_zlib_level / gateway_zstd_level) -------------------------------------------

def chat_stream(n: int) -> list[bytes]:
    """``n`` MESSAGE_CREATE-like payloads of a busy channel: alike, never equal."""
    words = "the a to and of you is it in that for on my this be with not are so just".split()
    return [
        orjson.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": i, "d": {
            "id": str(1_300_000_000_000_000_000 + i * 4_096), "channel_id": "42",
            "author": {"id": str(7 + i % 5), "username": f"user{i % 5}", "bot": False},
            "content": " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(i % 19)),
            "mentions": [], "embeds": [], "nonce": str(i * 7919)}})
        for i in range(n)
    ]


@pytest.mark.parametrize("level", range(10))
def test_zlib_long_stream_at_every_level_decodes_with_a_fresh_decompressor(level: int) -> None:
    # 3,000 messages (~0.5 MiB): the 8 KiB window slides many times; discord.py's decoder,
    # and one decompressobj fed the whole stream at once, both get every message back.
    stream, client = new_compressor(Compression.ZLIB_STREAM, zlib_level=level), ZlibClient()
    msgs = chat_stream(3000)
    frames = [stream.compress(m) for m in msgs]
    assert [client.feed(f) for f in frames] == msgs
    assert zlib.decompressobj().decompress(b"".join(frames)) == b"".join(msgs)


@pytest.mark.parametrize("level", [-7, -1, 1, 3, 9, 19])
def test_zstd_long_stream_at_levels_decodes_with_a_fresh_decompressor(level: int) -> None:
    stream = new_compressor(Compression.ZSTD_STREAM, zstd_level=level)
    context = zstandard.ZstdDecompressor().decompressobj()
    msgs = chat_stream(3000)
    frames = [stream.compress(m) for m in msgs]
    assert [context.decompress(f) for f in frames] == msgs
    whole = zstandard.ZstdDecompressor().decompressobj().decompress(b"".join(frames))
    assert whole == b"".join(msgs)


def test_zlib_level_is_the_one_asked_for() -> None:
    # Level 0 stores (no smaller than the input); 1 and 9 compress a chat stream well, 9 no
    # worse than 1.
    msgs = chat_stream(500)
    size = {}
    for level in (0, 1, 9):
        stream = new_compressor(Compression.ZLIB_STREAM, zlib_level=level)
        size[level] = sum(len(stream.compress(m)) for m in msgs)
    raw = sum(map(len, msgs))
    assert size[0] > raw > 5 * size[1] and size[9] <= size[1]


def test_zlib_default_window_is_4_kib_and_decodes_with_default_settings() -> None:
    # CMF 0x48: deflate with a 2**12 window (bench/RESULTS.md: a smaller context is cheaper
    # per recipient); discord.py's zlib.decompressobj() (wbits 15) takes it.
    stream, client = ZlibStream(), ZlibClient()
    msgs = chat_stream(200)
    frames = [stream.compress(m) for m in msgs]
    assert frames[0][0] == 0x48 and (frames[0][0] << 8 | frames[0][1]) % 31 == 0
    assert [client.feed(f) for f in frames] == msgs
