"""``frames_buffer``: the frames a flush coalesces into one write (RFC 6455 §5.2).

A server frame is FIN + opcode, then the payload length unmasked in the fewest bytes: 7 bits
below 126, else 126 and 16 bits below 65536, else 127 and 64 bits.

Every test runs on both implementations: ``gateway.frames`` (pure Python) and the C module
``gateway.speedups`` (built by ``pip install`` when a compiler is there); property tests
compare their bytes on random frames. In CI (``CI`` set) the C module must have been built,
unless ``DISCORD_ARCH_NO_SPEEDUPS`` asks for the pure-Python one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from picows import WSMsgType

import gateway.frames
import gateway.listener

try:
    import gateway.speedups as speedups
except ImportError:
    speedups = None  # type: ignore[assignment]

_IMPLEMENTATIONS = [
    pytest.param(gateway.frames, id="python"),
    pytest.param(speedups, id="c", marks=pytest.mark.skipif(
        speedups is None and not os.environ.get("CI"),
        reason="gateway.speedups not compiled (no C compiler at install)")),
]
Builder = Callable[[WSMsgType | int, list], tuple[bytes, int]]  # type: ignore[type-arg]


@pytest.fixture(params=_IMPLEMENTATIONS)
def frames_buffer(request: pytest.FixtureRequest) -> Builder:
    module: ModuleType | None = request.param
    assert module is not None, "gateway.speedups was not built (CI must have a C compiler)"
    return module.frames_buffer  # type: ignore[no-any-return]


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


def test_frames_buffer_lengths_use_the_shortest_header(frames_buffer: Builder) -> None:
    frames = [b"", b"a", b"b" * 125, b"c" * 126, b"d" * 65535, b"e" * 65536]
    parsed = parse(frames_buffer(WSMsgType.TEXT, frames)[0])
    assert [p[2] for p in parsed] == frames
    assert [p[1] for p in parsed] == [2, 2, 2, 4, 4, 10]
    assert {p[0] for p in parsed} == {WSMsgType.TEXT.value}


def test_frames_buffer_binary_frames_keep_their_opcode_and_order(frames_buffer: Builder) -> None:
    frames = [b"\x83\x74" + bytes([i]) * i for i in range(10)]
    parsed = parse(frames_buffer(WSMsgType.BINARY, frames)[0])
    assert [(p[0], p[2]) for p in parsed] == [(WSMsgType.BINARY.value, f) for f in frames]


def test_frames_buffer_writes_chunked_frames_as_one_frame_each(frames_buffer: Builder) -> None:
    # A shared dispatch comes as its parts then its s: one frame, its length the sum of all three.
    prefix, suffix = b'{"op":0,"t":"X","s":', b',"d":' + b"y" * 200 + b"}"
    out = [(prefix, suffix), b"7", b"plain", (prefix, suffix), b"1234"]
    buffer, count = frames_buffer(WSMsgType.TEXT, out)
    parsed = parse(buffer)
    assert count == 3
    assert [p[2] for p in parsed] == [prefix + b"7" + suffix, b"plain", prefix + b"1234" + suffix]
    assert [p[1] for p in parsed] == [4, 2, 4]


def test_frames_buffer_of_nothing_is_empty(frames_buffer: Builder) -> None:
    assert frames_buffer(WSMsgType.TEXT, []) == (b"", 0)


def test_frames_buffer_dispatch_lengths_at_the_header_boundaries(frames_buffer: Builder) -> None:
    # A dispatch's length is prefix + s + suffix: 125/126 and 65535/65536 change the header.
    for n, header in ((125, 2), (126, 4), (65535, 4), (65536, 10)):
        out = [(b"p" * 10, b"x" * (n - 11)), b"7"]
        buffer, count = frames_buffer(WSMsgType.TEXT, out)
        assert count == 1
        assert parse(buffer) == [(WSMsgType.TEXT.value, header, b"p" * 10 + b"7" + b"x" * (n - 11))]


def test_the_listener_uses_the_c_module_unless_told_not_to() -> None:
    """Built and not turned off: the gateway writes with the C one (CI has a compiler)."""
    if os.environ.get("DISCORD_ARCH_NO_SPEEDUPS", "") not in ("", "0"):
        assert gateway.listener.frames_buffer is gateway.frames.frames_buffer
    elif speedups is not None or os.environ.get("CI"):
        assert speedups is not None, "gateway.speedups was not built (CI must have a C compiler)"
        assert gateway.listener.frames_buffer is speedups.frames_buffer
    else:  # a machine without a compiler: the fallback
        assert gateway.listener.frames_buffer is gateway.frames.frames_buffer


def test_no_speedups_in_the_environment_picks_the_pure_python_one() -> None:
    code = ("import gateway.frames, gateway.listener as l; "
            "print(l.frames_buffer is gateway.frames.frames_buffer)")
    for value, pure in (("1", "True"), ("true", "True"), ("0", str(speedups is None))):
        env = {**os.environ, "DISCORD_ARCH_NO_SPEEDUPS": value}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        assert run.stdout.strip() == pure, (value, run.stdout, run.stderr)


# -- the C module against the Python one -------------------------------------------------------

_needs_c = pytest.mark.skipif(speedups is None and not os.environ.get("CI"),
                              reason="gateway.speedups not compiled (no C compiler at install)")
_pieces = st.binary(max_size=300) | st.sampled_from([b"", b"x" * 125, b"x" * 126,
                                                     b"x" * 65535, b"x" * 65536])
_item = st.one_of(_pieces.map(lambda b: [b]),
                  st.tuples(st.tuples(_pieces, _pieces), _pieces).map(lambda t: [t[0], t[1]]))


@_needs_c
@given(opcode=st.sampled_from([WSMsgType.TEXT, WSMsgType.BINARY, 1, 2, 0x7F]),
       items=st.lists(_item, max_size=8))
def test_the_c_module_gives_the_same_bytes(opcode: WSMsgType | int, items: list[list]) -> None:  # type: ignore[type-arg]
    assert speedups is not None
    out = [part for item in items for part in item]
    assert speedups.frames_buffer(opcode, out) == gateway.frames.frames_buffer(opcode, out)
    assert speedups.frames_buffer(opcode, tuple(out)) == gateway.frames.frames_buffer(opcode, out)


@_needs_c
@pytest.mark.parametrize("args", [
    (WSMsgType.TEXT, [("a", b"b"), b"1"]),  # a str piece
    (WSMsgType.TEXT, [b"a", 3]),
    (WSMsgType.TEXT, [(b"a", b"b"), (b"a", b"b")]),  # a dispatch's s is a tuple
    (WSMsgType.TEXT, None),
    (WSMsgType.TEXT, 5),
    ("1", [b"a"]),
    (1.0, [b"a"]),
    (WSMsgType.TEXT,),
    (WSMsgType.TEXT, [b"a"], 3),
])
def test_the_c_module_rejects_bad_input_with_type_error(args: tuple) -> None:  # type: ignore[type-arg]
    assert speedups is not None
    with pytest.raises(TypeError):
        speedups.frames_buffer(*args)


@_needs_c
@pytest.mark.parametrize("args", [
    (WSMsgType.TEXT, [(b"a", b"b")]),  # the parts without their s
    (WSMsgType.TEXT, [b"x", (b"a",), b"1"]),
    (WSMsgType.TEXT, [(b"a", b"b", b"c"), b"1"]),
    (-1, [b"a"]),
    (0x80, [b"a"]),
])
def test_the_c_module_rejects_malformed_lists_and_opcodes(args: tuple) -> None:  # type: ignore[type-arg]
    assert speedups is not None
    with pytest.raises(ValueError):
        speedups.frames_buffer(*args)


@_needs_c
def test_the_c_module_rejects_an_opcode_beyond_a_c_integer() -> None:
    assert speedups is not None
    with pytest.raises(OverflowError):
        speedups.frames_buffer(1 << 70, [b"a"])


@_needs_c
@pytest.mark.skipif(not hasattr(sys, "getrefcount"), reason="CPython's reference counts")
def test_the_c_module_keeps_reference_counts() -> None:
    """Neither a result nor an error leaks or frees a piece it was given."""
    assert speedups is not None
    prefix, suffix, s, plain = b"prefix-%d" % id(0), b"suffix-%d" % id(1), b"77-%d" % id(2), b"p" * 300
    out = [(prefix, suffix), s, plain, bytearray(b"ba")]
    bad = [(prefix, suffix), s, plain, "str"]
    before = [sys.getrefcount(o) for o in (prefix, suffix, s, plain, out, bad)]
    for _ in range(1000):
        speedups.frames_buffer(WSMsgType.TEXT, out)
        speedups.frames_buffer(WSMsgType.TEXT, tuple(out))
        with pytest.raises(TypeError):
            speedups.frames_buffer(WSMsgType.TEXT, bad)
    assert [sys.getrefcount(o) for o in (prefix, suffix, s, plain, out, bad)] == before
    buffer, count = speedups.frames_buffer(WSMsgType.TEXT, out)
    assert count == 3 and sys.getrefcount(buffer) == 2  # the name and getrefcount's argument
