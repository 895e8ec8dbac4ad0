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
