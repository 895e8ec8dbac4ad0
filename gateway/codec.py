"""Gateway payload encodings: JSON (orjson) and ETF (erlpack or gateway.etf), and encode-once
dispatches.

A dispatch ``{op: 0, t, s, d}`` differs between recipients only by ``s``, the session's sequence
number. :class:`Dispatch` therefore encodes an event at most once per encoding, as two byte
strings around the place of ``s``; a session's frame is ``prefix + s + suffix``, one join of
three buffers. No recipient re-serializes ``d`` (docs/architecture.md, "Encode once, write once").

- JSON: ``{"op":0,"t":"NAME","s":`` + ``b"%d" % seq`` + ``,"d":{...}}``.
- ETF: the same map (MAP_EXT, 4 pairs, binary keys) cut after the ``s`` key; ``s`` is one
  SMALL_INTEGER_EXT (2 bytes) below 256 or INTEGER_EXT (5 bytes) below 2**31, so splicing
  costs what JSON's does. Strings are sent as binaries and keys are binaries, which erlpack
  clients (discord.js) decode to strings; ``None``/``True``/``False`` are the atoms
  ``nil``/``true``/``false`` (Discord's "ETF/JSON" section).

Decoding is the edge: anything undecodable raises ``ProtocolError(4002)``.

ETF is encoded by the ``erlpack`` C extension when it is installed (the ``speedups`` extra; it
builds from source, with a C++ compiler and the Python headers: 2.6x faster per dispatch) and
by the pure-Python :mod:`gateway.etf` otherwise, which gives the same bytes. Client payloads
are always decoded by :mod:`gateway.etf`: erlpack's decoder recurses on the C stack, and one
4 KiB compressed frame of nested tuples (under the payload limit, before IDENTIFY) crashed the
whole process with it, while the Python decoder stops at its recursion limit (4002) and is as
fast on gateway-sized payloads (8.9 vs 8.3 µs for an IDENTIFY; bench/RESULTS.md). The choice
is made once, at import (:data:`ETF_BACKEND`); ``EtfCodec(PYTHON_ETF)`` forces the fallback
for one codec.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, overload

import orjson

from gateway import etf
from gateway.compress import deflate_alone
from gateway.protocol import CloseCode, Opcode, ProtocolError

__all__ = [
    "ERLPACK_ETF",
    "ETF_BACKEND",
    "PYTHON_ETF",
    "Codec",
    "DeflateKey",
    "Deflated",
    "Dispatch",
    "Encoding",
    "EtfBackend",
    "Parts",
    "codec_for",
]

# A dispatch encoded for one encoding: the bytes before and after the value of ``s``.
Parts = tuple[bytes, bytes]
# A dispatch for ``SharedZlib`` sessions: its :data:`Parts` (for the replay buffer and the
# start of each message) and its suffix deflated alone, once for all of them.
Deflated = tuple[Parts, bytes]

_ETF_VERSION: Final = b"\x83"
_ETF_SMALL_INT: Final = 97  # SMALL_INTEGER_EXT: one unsigned byte
_ETF_INT: Final = b"b"  # INTEGER_EXT: four bytes, signed big-endian
# What either ETF decoder raises for a payload that is not a term it supports (UnicodeError is
# a ValueError; NotImplementedError is a list with a tail, zlib.error a bad compressed term).
_ETF_DECODE_ERRORS: Final = (
    ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError,
    NotImplementedError, struct.error, zlib.error,
)


@dataclass(frozen=True, slots=True)
class EtfBackend:
    """One implementation of ETF: erlpack (C++) or :mod:`gateway.etf` (Python), same bytes.

    Attributes:
        name: ``"erlpack"`` or ``"python"``.
        pack: a value to a term with the version byte (``erlpack.pack``).
        loads: a term to a value, binaries as UTF-8 ``str`` (``ErlangTermDecoder.loads``).
        decode_errors: what ``loads`` raises for a malformed payload.
    """

    name: str
    pack: Callable[[Any], bytes]
    loads: Callable[[bytes], object]
    decode_errors: tuple[type[BaseException], ...]


# What a client's compressed terms (tag 80) may inflate to, all levels of one payload together.
# No Discord client compresses what it sends; without a bound a 576-byte payload, accepted
# before IDENTIFY, inflated to 256 MiB (nested compressed terms multiply). 16 payload limits.
ETF_MAX_INFLATED: Final = 16 * 4096
PYTHON_ETF: Final = EtfBackend(
    "python", etf.pack,
    etf.ErlangTermDecoder(encoding="utf-8", max_inflated=ETF_MAX_INFLATED).loads,
    (etf.ErlangTermDecodeError, *_ETF_DECODE_ERRORS),
)


def _erlpack_backend() -> EtfBackend | None:
    try:
        import erlpack  # type: ignore[import-untyped]
    except ImportError:
        return None
    # erlpack encodes; decoding stays in Python (the module docstring says why).
    return EtfBackend("erlpack", erlpack.pack, PYTHON_ETF.loads, PYTHON_ETF.decode_errors)


# The ``speedups`` pattern: the C extension if it is installed, else the same in Python.
ERLPACK_ETF: Final = _erlpack_backend()
ETF_BACKEND: Final = ERLPACK_ETF or PYTHON_ETF


class Encoding(StrEnum):
    """The ``encoding`` query parameter of the gateway URL."""

    JSON = "json"
    ETF = "etf"


class Codec:
    """Encodes and decodes the payloads of one encoding. Stateless; one instance per encoding.

    Attributes:
        encoding: which encoding this is.
        binary: whether frames are binary websocket messages (ETF) or text (JSON). Any frame
            of a compressed stream is binary whatever the encoding.
        heartbeat_ack: the op 11 payload, encoded once.
    """

    __slots__ = ("binary", "encoding", "heartbeat_ack")

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self.binary = encoding is Encoding.ETF
        self.heartbeat_ack = self.encode(Opcode.HEARTBEAT_ACK, None)

    def decode(self, data: bytes) -> object:
        """The value in ``data``.

        Raises:
            ProtocolError: 4002, the payload is not valid in this encoding.
        """
        raise NotImplementedError

    def encode(self, op: int, d: Any) -> bytes:
        """A non-dispatch payload ``{op, d, s: null, t: null}``, as Discord sends them."""
        raise NotImplementedError

    def dispatch_parts(self, name: str, data: Any) -> Parts:
        """A dispatch ``{op: 0, t: name, s: ?, d: data}`` split around the value of ``s``."""
        raise NotImplementedError

    def splice(self, parts: Parts, seq: int) -> bytes:
        """The frame of a dispatch for sequence number ``seq``."""
        return b"".join((parts[0], self.seq_bytes(seq), parts[1]))

    def seq_bytes(self, seq: int) -> bytes:
        """The encoded value of ``s`` that goes between a dispatch's parts."""
        raise NotImplementedError


class JsonCodec(Codec):
    """JSON text frames through orjson (UTF-8, no whitespace)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(Encoding.JSON)

    def decode(self, data: bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProtocolError(CloseCode.DECODE_ERROR, "Invalid JSON") from None

    def encode(self, op: int, d: Any) -> bytes:
        return orjson.dumps({"op": op, "d": d, "s": None, "t": None})

    def dispatch_parts(self, name: str, data: Any) -> Parts:
        return (
            b'{"op":0,"t":' + orjson.dumps(name) + b',"s":',
            b',"d":' + orjson.dumps(data) + b"}",
        )

    def seq_bytes(self, seq: int) -> bytes:
        return b"%d" % seq


class EtfCodec(Codec):
    """Erlang External Term Format binary frames, with string keys.

    Args:
        backend: the ETF implementation; by default erlpack if installed, else Python.
    """

    __slots__ = ("_decode_errors", "_loads", "_pack", "backend")

    def __init__(self, backend: EtfBackend = ETF_BACKEND) -> None:
        self.backend = backend
        self._pack = backend.pack
        # Binaries decode to str, as JSON strings do; atoms come back as Atom (a str).
        self._loads = backend.loads
        self._decode_errors = backend.decode_errors
        super().__init__(Encoding.ETF)

    def decode(self, data: bytes) -> object:
        try:
            return self._loads(data)
        except self._decode_errors:
            raise ProtocolError(CloseCode.DECODE_ERROR, "Invalid ETF") from None

    def encode(self, op: int, d: Any) -> bytes:
        return bytes(self._pack({"op": op, "d": d, "s": None, "t": None}))

    def dispatch_parts(self, name: str, data: Any) -> Parts:
        # MAP_EXT (116) with 4 pairs; each term below is packed without the version byte.
        term = self._term
        return (
            b"".join((_ETF_VERSION, b"t\x00\x00\x00\x04", term("op"), term(0),
                      term("t"), term(name), term("s"))),
            term("d") + term(data),
        )

    def seq_bytes(self, seq: int) -> bytes:
        if 0 <= seq < 256:
            return bytes((_ETF_SMALL_INT, seq))
        if seq < 1 << 31:
            return _ETF_INT + seq.to_bytes(4, "big")
        return self._term(seq)

    def _term(self, value: Any) -> bytes:
        return bytes(self._pack(value))[1:]


_CODECS: Final[dict[Encoding, Codec]] = {Encoding.JSON: JsonCodec(), Encoding.ETF: EtfCodec()}


def codec_for(encoding: Encoding) -> Codec:
    """The shared codec of ``encoding``."""
    return _CODECS[encoding]


@dataclass(frozen=True, slots=True)
class DeflateKey:
    """What zlib-stream sessions of self-contained messages (``gateway_zlib_shared``, see
    :class:`~gateway.compress.SharedZlib`) ask a :class:`Dispatch` for instead of an
    encoding: its :data:`Deflated` form in ``encoding``, deflated at ``level``."""

    encoding: Encoding
    level: int


class Dispatch:
    """One dispatch event, encoded lazily and at most once per encoding.

    The hub makes one per event (per audience variant, e.g. with and without message
    content) and hands the same object to every session; each session asks for the parts of
    its encoding. The parts tuples are shared by every session and replay buffer that holds
    them, so N recipients cost one encoding plus N small joins.

    Args:
        name: the dispatch name (``t``).
        data: the payload (``d``), Discord's JSON shape. Must not be mutated once encoded.
    """

    __slots__ = ("_parts", "data", "name")

    def __init__(self, name: str, data: Any) -> None:
        self.name = name
        self.data = data
        self._parts: dict[Encoding | DeflateKey, Parts | Deflated] = {}

    @overload
    def parts(self, encoding: Encoding) -> Parts: ...

    @overload
    def parts(self, encoding: DeflateKey) -> Deflated: ...

    def parts(self, encoding: Encoding | DeflateKey) -> Parts | Deflated:
        """The ``(prefix, suffix)`` of this dispatch in ``encoding`` (encoded on first use);
        for a :class:`DeflateKey`, its :data:`Deflated` form (deflated on first use)."""
        parts = self._parts.get(encoding)
        if parts is None:
            if isinstance(encoding, DeflateKey):
                plain = self.parts(encoding.encoding)
                parts = (plain, deflate_alone(plain[1], encoding.level))
            else:
                parts = _CODECS[encoding].dispatch_parts(self.name, self.data)
            self._parts[encoding] = parts
        return parts
