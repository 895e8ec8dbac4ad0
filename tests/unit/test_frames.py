"""``gateway.listener.frames_buffer``: the frames a flush coalesces into one write (RFC 6455 §5.2).

A server frame is FIN + opcode, then the payload length unmasked in the fewest bytes: 7 bits
below 126, else 126 and 16 bits below 65536, else 127 and 64 bits.
"""

from __future__ import annotations

from picows import WSMsgType

from gateway.listener import frames_buffer


def parse(buffer: bytes) -> list[tuple[int, int, bytes]]:
    """``(opcode, header size, payload)`` of each frame, checking FIN and no mask."""
    out, i = [], 0
    while i < len(buffer):
        start, first, second = i, buffer[i], buffer[i + 1]
        assert first & 0xF0 == 0x80  # FIN, no RSV bits
        assert not second & 0x80  # a server never masks (§5.1)
        n, i = second & 0x7F, i + 2
        if n == 126:
            n, i = int.from_bytes(buffer[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(buffer[i:i + 8], "big"), i + 8
        out.append((first & 0x0F, i - start, buffer[i:i + n]))
        i += n
    return out


def test_frames_buffer_lengths_use_the_shortest_header() -> None:
    frames = [b"", b"a", b"b" * 125, b"c" * 126, b"d" * 65535, b"e" * 65536]
    parsed = parse(frames_buffer(WSMsgType.TEXT, frames)[0])
    assert [p[2] for p in parsed] == frames
    assert [p[1] for p in parsed] == [2, 2, 2, 4, 4, 10]
    assert {p[0] for p in parsed} == {WSMsgType.TEXT.value}


def test_frames_buffer_binary_frames_keep_their_opcode_and_order() -> None:
    frames = [b"\x83\x74" + bytes([i]) * i for i in range(10)]
    parsed = parse(frames_buffer(WSMsgType.BINARY, frames)[0])
    assert [(p[0], p[2]) for p in parsed] == [(WSMsgType.BINARY.value, f) for f in frames]


def test_frames_buffer_writes_chunked_frames_as_one_frame_each() -> None:
    # A shared dispatch comes as its parts then its s: one frame, its length the sum of all three.
    prefix, suffix = b'{"op":0,"t":"X","s":', b',"d":' + b"y" * 200 + b"}"
    out = [(prefix, suffix), b"7", b"plain", (prefix, suffix), b"1234"]
    buffer, count = frames_buffer(WSMsgType.TEXT, out)
    parsed = parse(buffer)
    assert count == 3
    assert [p[2] for p in parsed] == [prefix + b"7" + suffix, b"plain", prefix + b"1234" + suffix]
    assert [p[1] for p in parsed] == [4, 2, 4]
