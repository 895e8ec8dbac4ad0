"""Erlang External Term Format in pure Python: erlpack 1.0.1's encoder and decoder, byte for byte.

The gateway's ETF codec (:mod:`gateway.codec`) uses the ``erlpack`` C extension when it is
installed (the ``speedups`` extra: it needs a C++ compiler and the Python headers, PyPI has no
wheel) and this module otherwise, so that ``pip install .`` needs nothing but Python. The API
is erlpack's (``pack``, ``unpack``, ``ErlangTermDecoder``, ``Atom``...), and so is the
behaviour, quirks included, because a client must not see which one the server runs:

- :func:`pack` gives the bytes ``erlpack.pack`` gives for every value it accepts: ``None``,
  ``True``, ``False`` as the atoms ``nil``, ``true``, ``false`` (SMALL_ATOM_EXT); ints as
  SMALL_INTEGER_EXT (0..255), INTEGER_EXT (32 bits) or SMALL_BIG_EXT (up to 64 bits; beyond,
  ``OverflowError``); floats as NEW_FLOAT_EXT; ``str`` and ``bytes`` as BINARY_EXT (UTF-8);
  :class:`Atom` in latin-1 as SMALL_ATOM_EXT below 255 bytes, else ATOM_EXT (an atom that is
  not latin-1 raises ``UnicodeEncodeError``); tuples as SMALL/LARGE_TUPLE;
  lists as LIST_EXT + NIL_EXT (``[]`` as NIL_EXT); dicts as MAP_EXT in iteration order;
  objects with ``__erlpack__``; nesting deeper than 256 raises :class:`EncodingError`, any
  other type ``NotImplementedError``.
- :class:`ErlangTermDecoder` returns what erlpack's decoder returns and raises the exception
  types it raises, for the same inputs: e.g. STRING_EXT is a list of ints, FLOAT_EXT (the
  old string float) is a ``TypeError`` (erlpack splits bytes with a str on Python 3), a list
  with a non-empty tail is ``NotImplementedError``, a truncated binary is silently short, a
  compressed term (tag 80) is inflated from at most "uncompressed size" bytes, and bytes after
  the term are ignored. The one difference is depth: erlpack recurses on the C stack (a term
  nested ~100,000 deep, which a 4 KiB compressed term can hold, crashes the process), this
  module on Python's (past ~900 levels it raises ``RecursionError``).

``tests/unit/test_etf.py`` compares the two on random and edge-case values, and on mutated
payloads.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final

__all__ = [
    "PID",
    "Atom",
    "EncodingError",
    "ErlangTermDecodeError",
    "ErlangTermDecoder",
    "Export",
    "Port",
    "Reference",
    "pack",
    "unpack",
]

FORMAT_VERSION: Final = 131
_RECURSE_LIMIT: Final = 256  # erlpack's DEFAULT_RECURSE_LIMIT
_MAX_U64: Final = (1 << 64) - 1
_MIN_I64: Final = -(1 << 63)


class Atom(str):
    """An Erlang atom (erlpack.Atom): a str that packs as an atom, not a binary."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({super().__repr__()})"


class Reference:
    """REFERENCE_EXT / NEW_REFERENCE_EXT, as erlpack.Reference."""

    __slots__ = ("creation", "node", "ref_id")

    def __init__(self, node: Any, ref_id: Any, creation: Any) -> None:
        self.node = node
        self.ref_id = ref_id if isinstance(ref_id, tuple) else tuple(ref_id)
        self.creation = creation

    def __str__(self) -> str:
        return "#Ref<%d.%s>" % (self.creation, ".".join(str(i) for i in self.ref_id))  # noqa: UP031

    def __repr__(self) -> str:
        return f"{self}::{self.node}"


class Port:
    """PORT_EXT, as erlpack.Port."""

    __slots__ = ("creation", "node", "port_id")

    def __init__(self, node: Any, port_id: Any, creation: Any) -> None:
        self.node = node
        self.port_id = port_id
        self.creation = creation

    def __str__(self) -> str:
        return "#Port<%d.%d>" % (self.creation, self.port_id)  # noqa: UP031

    def __repr__(self) -> str:
        return f"{self}::{self.node}"


class PID:
    """PID_EXT, as erlpack.PID."""

    __slots__ = ("creation", "node", "pid_id", "serial")

    def __init__(self, node: Any, pid_id: Any, serial: Any, creation: Any) -> None:
        self.node = node
        self.pid_id = pid_id
        self.serial = serial
        self.creation = creation

    def __str__(self) -> str:
        return "<%d.%d.%d>" % (self.creation, self.pid_id, self.serial)  # noqa: UP031

    def __repr__(self) -> str:
        return f"{self}::{self.node}"


class Export:
    """EXPORT_EXT, as erlpack.Export."""

    __slots__ = ("arity", "function", "module")

    def __init__(self, module: Any, function: Any, arity: Any) -> None:
        self.module = module
        self.function = function
        self.arity = arity

    def __str__(self) -> str:
        return "#Fun<%s.%s.%d>" % (self.module, self.function, self.arity)  # noqa: UP031

    def __repr__(self) -> str:
        return str(self)


# -- encoding -------------------------------------------------------------------------------------


class EncodingError(Exception):
    """Nesting deeper than erlpack's limit (256)."""


_SMALL_INTS: Final = tuple(bytes((97, i)) for i in range(256))  # SMALL_INTEGER_EXT
_tag_i32 = struct.Struct(">Bl").pack  # INTEGER_EXT
_tag_f64 = struct.Struct(">Bd").pack  # NEW_FLOAT_EXT
_tag_u32 = struct.Struct(">BL").pack  # BINARY_EXT, LIST_EXT, MAP_EXT, LARGE_TUPLE_EXT
_tag_u16 = struct.Struct(">BH").pack  # ATOM_EXT
_NIL: Final = b"s\x03nil"
_TRUE: Final = b"s\x04true"
_FALSE: Final = b"s\x05false"


def pack(obj: Any) -> bytes:
    """``obj`` as an ETF term with the version byte: exactly ``erlpack.pack(obj)``.

    Raises:
        EncodingError: nested deeper than 256.
        OverflowError: an int beyond 64 bits (unsigned) or below -2**63.
        NotImplementedError: a value of no ETF type.
        UnicodeEncodeError: a str that is not UTF-8 encodable (a lone surrogate).
    """
    out = bytearray(b"\x83")
    _pack(obj, out, _RECURSE_LIMIT)
    return bytes(out)


def _pack(o: Any, out: bytearray, limit: int) -> None:
    # The exact types the gateway packs come first; anything else takes erlpack's own order
    # of checks in _pack_other (so a str subclass is a binary, an Atom an atom, a bool an atom).
    if limit < 0:
        raise EncodingError("Exceeded recursion limit")
    t = type(o)
    if t is str:
        b = o.encode()
        out += _tag_u32(109, len(b))
        out += b
    elif t is dict:
        out += _tag_u32(116, len(o))
        limit -= 1
        for k, v in o.items():
            _pack(k, out, limit)
            _pack(v, out, limit)
    elif o is None:
        out += _NIL
    elif t is int:
        if 0 <= o <= 255:
            out += _SMALL_INTS[o]
        else:
            _pack_int(o, out)
    elif o is True:
        out += _TRUE
    elif o is False:
        out += _FALSE
    elif t is list:
        if o:
            out += _tag_u32(108, len(o))
            limit -= 1
            for item in o:
                _pack(item, out, limit)
        out += b"j"
    else:
        _pack_other(o, out, limit)


def _pack_int(o: int, out: bytearray) -> None:
    if 0 <= o <= 255:
        out += _SMALL_INTS[o]
    elif -2147483648 <= o <= 2147483647:
        out += _tag_i32(98, o)
    elif o > 0:  # SMALL_BIG_EXT from an unsigned long long, little-endian, no leading zeros
        if o > _MAX_U64:
            raise OverflowError("Python int too large to convert to C unsigned long")
        n = (o.bit_length() + 7) >> 3
        out += bytes((110, n, 0))
        out += o.to_bytes(n, "little")
    else:
        if o < _MIN_I64:
            raise OverflowError("Python int too large to convert to C long")
        n = ((-o).bit_length() + 7) >> 3
        out += bytes((110, n, 1))
        out += (-o).to_bytes(n, "little")


def _pack_other(o: Any, out: bytearray, limit: int) -> None:
    """erlpack's ``_pack`` for what :func:`_pack` does not handle inline, in its order."""
    if isinstance(o, int):
        _pack_int(o, out)
    elif isinstance(o, float):
        out += _tag_f64(70, o)
    elif isinstance(o, Atom):  # latin-1, strictly (erlpack's str() then its bytes)
        b = str.encode(o, "latin-1")
        if len(b) < 255:
            out += bytes((115, len(b)))
        elif len(b) > 0xFFFF:
            # erlpack's append returns 1, which its pack() reports as this TypeError.
            raise TypeError("_pack returned code(1)")
        else:
            out += _tag_u16(100, len(b))
        out += b
    elif isinstance(o, bytes):  # subclasses by their buffer and C sizes, as erlpack reads them
        out += _tag_u32(109, bytes.__len__(o))
        out += o
    elif isinstance(o, str):
        b = str.encode(o)
        out += _tag_u32(109, len(b))
        out += b
    elif isinstance(o, tuple):
        n = tuple.__len__(o)
        out += bytes((104, n)) if n < 256 else _tag_u32(105, n)
        for item in o:
            _pack(item, out, limit - 1)
    elif isinstance(o, list):
        n = list.__len__(o)
        if n:
            out += _tag_u32(108, n)
            for item in o:
                _pack(item, out, limit - 1)
        out += b"j"
    elif isinstance(o, dict):
        out += _tag_u32(116, dict.__len__(o))
        for k, v in o.items():
            _pack(k, out, limit - 1)
            _pack(v, out, limit - 1)
    elif hasattr(o, "__erlpack__"):
        _pack(o.__erlpack__(), out, limit - 1)
    else:
        raise NotImplementedError(f"Unable to serialize {o!r}")


# -- decoding -------------------------------------------------------------------------------------


class ErlangTermDecodeError(Exception):
    """A bad version byte, or a reference, port, pid or export without its atoms."""


_u16 = struct.Struct(">H").unpack
_u32 = struct.Struct(">L").unpack
_i32 = struct.Struct(">l").unpack
_f64 = struct.Struct(">d").unpack
_ref = struct.Struct(">LB").unpack
_pid = struct.Struct(">LLB").unpack


def _atom(name: bytes, encoding: str = "latin1") -> Any:
    if name == b"true":
        return True
    if name == b"false":
        return False
    if name == b"nil":
        return None
    return Atom(name.decode(encoding))


class ErlangTermDecoder:
    """erlpack's ``ErlangTermDecoder``: ``loads(data)`` is the term in ``data``.

    Args:
        encoding: what BINARY_EXT decodes with (strictly: a binary that does not decode
            raises ``UnicodeDecodeError``); None keeps binaries as bytes.
        max_inflated: bytes that compressed terms (tag 80) may inflate to in one ``loads``,
            all levels together; past it, :class:`ErlangTermDecodeError`. None: erlpack's
            behaviour (each level bounded only by its declared size, and nested ones
            multiply: a 576-byte term inflated to 256 MiB). The gateway sets it for what
            clients send.
    """

    __slots__ = ("_budget", "encoding", "max_inflated")

    def __init__(self, encoding: str | None = None, max_inflated: int | None = None) -> None:
        self.encoding = encoding
        self.max_inflated = max_inflated
        self._budget = 0  # what this loads() may still inflate (used with max_inflated only)

    def loads(self, data: bytes, offset: int = 0) -> Any:
        """The term at ``offset`` (a version byte, then the term); what follows is ignored."""
        version = ord(data[offset:offset + 1])
        if version != FORMAT_VERSION:
            raise ErlangTermDecodeError(
                f"Bad version number. Expected {FORMAT_VERSION} found {version}")
        # Synchronous and on one thread (the event loop's): the budget lives for this call.
        self._budget = self.max_inflated or 0
        return self._decode(data, offset + 1)[0]

    def _inflate(self, compressed: bytes, usize: int) -> bytes:
        """A compressed term's bytes, within ``max_inflated`` (module docstring)."""
        if self.max_inflated is None:
            return zlib.decompress(compressed)
        if usize > self._budget:
            raise ErlangTermDecodeError("Compressed term too large")
        inflater = zlib.decompressobj()
        out = inflater.decompress(compressed, usize + 1)  # never more than declared + 1
        if len(out) > usize:
            raise ErlangTermDecodeError("Compressed term larger than declared")
        self._budget -= usize
        return out

    def _decode(self, data: bytes, offset: int) -> tuple[Any, int]:
        # One Python frame per nesting level, and erlpack's reads: struct on slices (short
        # slices raise struct.error), ord() on one-byte slices (TypeError when empty), and
        # lengths trusted (a binary or atom past the end is what is there). Its messages are
        # %-formatted with the node itself: a tuple there is a TypeError, in both.
        try:
            tag = data[offset]
        except IndexError:
            raise ValueError(f"Unexpected opcode {data[offset:offset + 1]!s}") from None
        offset += 1
        if tag == 116:  # MAP_EXT
            arity, = _u32(data[offset:offset + 4])
            offset += 4
            kv = {}
            for _ in range(arity):
                key, offset = self._decode(data, offset)
                value, offset = self._decode(data, offset)
                kv[key] = value
            return kv, offset
        if tag == 109:  # BINARY_EXT
            length, = _u32(data[offset:offset + 4])
            offset += 4
            rv: Any = data[offset:offset + length]
            if self.encoding:
                rv = rv.decode(self.encoding)
            return rv, offset + length
        if tag == 97:  # SMALL_INTEGER_EXT
            return ord(data[offset:offset + 1]), offset + 1
        if tag == 98:  # INTEGER_EXT
            return _i32(data[offset:offset + 4])[0], offset + 4
        if tag == 115:  # SMALL_ATOM_EXT (latin-1)
            length = ord(data[offset:offset + 1])
            offset += 1
            return _atom(data[offset:offset + length]), offset + length
        if tag == 106:  # NIL_EXT
            return [], offset
        if tag == 108:  # LIST_EXT
            length, = _u32(data[offset:offset + 4])
            offset += 4
            items = []
            for _ in range(length):
                value, offset = self._decode(data, offset)
                items.append(value)
            tail, offset = self._decode(data, offset)
            if tail != []:
                raise NotImplementedError("Lists with non empty tails are not supported")
            return items, offset
        if tag == 110:  # SMALL_BIG_EXT
            return _bigint(ord(data[offset:offset + 1]), data, offset + 1)
        if tag == 111:  # LARGE_BIG_EXT
            n, = _u32(data[offset:offset + 4])
            return _bigint(n, data, offset + 4)
        if tag == 70:  # NEW_FLOAT_EXT
            return _f64(data[offset:offset + 8])[0], offset + 8
        if tag == 119:  # SMALL_ATOM_UTF8_EXT
            length = ord(data[offset:offset + 1])
            offset += 1
            return _atom(data[offset:offset + length], "utf-8"), offset + length
        if tag == 118:  # ATOM_UTF8_EXT
            length, = _u16(data[offset:offset + 2])
            offset += 2
            return _atom(data[offset:offset + length], "utf-8"), offset + length
        if tag == 100:  # ATOM_EXT (latin-1)
            length, = _u16(data[offset:offset + 2])
            offset += 2
            return _atom(data[offset:offset + length]), offset + length
        if tag == 104 or tag == 105:  # SMALL_TUPLE_EXT, LARGE_TUPLE_EXT
            if tag == 104:
                arity = ord(data[offset:offset + 1])
                offset += 1
            else:
                arity, = _u32(data[offset:offset + 4])
                offset += 4
            items = []
            for _ in range(arity):
                value, offset = self._decode(data, offset)
                items.append(value)
            return tuple(items), offset
        if tag == 107:  # STRING_EXT: a list of byte values, whatever the encoding
            length, = _u16(data[offset:offset + 2])
            offset += 2
            return list(data[offset:offset + length]), offset + length
        if tag == 99:  # FLOAT_EXT: erlpack does bytes.split("\x00"), which Python 3 refuses
            raise TypeError("a bytes-like object is required, not 'str'")
        if tag == 80:  # compressed term; the offset returned is the inflated buffer's
            usize, = _u32(data[offset:offset + 4])
            offset += 4
            return self._decode(self._inflate(data[offset:offset + usize], usize), 0)
        if tag == 101:  # REFERENCE_EXT
            node, offset = self._decode(data, offset)
            if not isinstance(node, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing REFERENCE_EXT, found %r instead" % node)  # noqa: UP031
            reference_id, creation = _ref(data[offset:offset + 5])
            return Reference(node, [reference_id], creation), offset + 5
        if tag == 114:  # NEW_REFERENCE_EXT: erlpack fails on ord(int) once the node is read
            _u16(data[offset:offset + 2])
            node, offset = self._decode(data, offset + 2)
            if not isinstance(node, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing NEW_REFERENCE_EXT, found %r instead" % node)  # noqa: UP031
            ord(data[offset])  # type: ignore[arg-type]  # IndexError, else TypeError
            raise AssertionError("unreachable")  # pragma: no cover
        if tag == 102:  # PORT_EXT
            node, offset = self._decode(data, offset)
            if not isinstance(node, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing PORT_EXT, found %r instead" % node)  # noqa: UP031
            port_id, creation = _ref(data[offset:offset + 5])
            return Port(node, port_id, creation), offset + 5
        if tag == 103:  # PID_EXT
            node, offset = self._decode(data, offset)
            if not isinstance(node, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing PID_EXT, found %r instead" % node)  # noqa: UP031
            pid_id, serial, creation = _pid(data[offset:offset + 9])
            return PID(node, pid_id, serial, creation), offset + 9
        if tag == 113:  # EXPORT_EXT (erlpack skips one byte more than the arity term)
            module, offset = self._decode(data, offset)
            if not isinstance(module, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing EXPORT_EXT, found %r instead" % module)  # noqa: UP031
            function, offset = self._decode(data, offset)
            if not isinstance(function, Atom):
                raise ErlangTermDecodeError(
                    "Expected atom while parsing EXPORT_EXT, found %r instead" % function)  # noqa: UP031
            arity, offset = self._decode(data, offset)
            if not isinstance(arity, int):
                raise ErlangTermDecodeError(
                    "Expected integer while parsing EXPORT_EXT, found %r instead" % arity)  # noqa: UP031
            return Export(module, function, arity), offset + 1
        raise ValueError(f"Unexpected opcode {data[offset - 1:offset]!s}")


def _bigint(n: int, data: bytes, offset: int) -> tuple[int, int]:
    """SMALL_BIG_EXT / LARGE_BIG_EXT after ``n``: a sign byte and ``n`` little-endian bytes."""
    if not isinstance(data, bytes):  # erlpack reads the buffer with PyBytes_AsString
        raise TypeError(f"expected bytes, {type(data).__name__} found")
    end = offset + 1 + n
    if end > len(data):
        raise OverflowError(f"Overflown! {end} {len(data)}")
    value = int.from_bytes(data[offset + 1:end], "little")
    return (-value if data[offset] else value), end


_DEFAULT_DECODER: Final = ErlangTermDecoder()
unpack = _DEFAULT_DECODER.loads
