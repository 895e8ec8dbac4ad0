"""gateway.etf, the pure-Python ETF, against erlpack: the same bytes out, the same values in.

Packing is compared byte for byte, on seeded random nested values and on edge cases (integer
width boundaries, 64-bit limits, floats, unicode, long binaries, atoms, tuple arity 255/256,
recursion depth); a value erlpack refuses must be refused with the same exception. Decoding is
compared on erlpack's own output, on hand-made terms of every tag the decoder knows, and on
seeded random mutations of valid payloads: the value (types included: Atom, str, bytes, bool,
the bits of a float) or the exception type and message must be erlpack's. Last, the gateway
without erlpack: the package imports, the codec falls back, and a session speaks ETF.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import erlpack  # type: ignore[import-untyped]
import pytest

from gateway import etf
from gateway.codec import (
    ERLPACK_ETF,
    ETF_BACKEND,
    PYTHON_ETF,
    Dispatch,
    Encoding,
    EtfCodec,
    codec_for,
)
from gateway.protocol import CloseCode, ProtocolError

REPO = Path(__file__).resolve().parents[2]
ENCODINGS = [None, "utf-8"]

# -- comparing ------------------------------------------------------------------------------------


def norm(v: Any) -> Any:
    """``v`` as plain data that tells every distinction a decoder can make (erlpack's types
    and gateway.etf's compare by what they hold; floats by their bits, so NaN equals itself)."""
    if isinstance(v, erlpack.Atom | etf.Atom):
        return ("atom", str(v))
    if isinstance(v, erlpack.Reference | etf.Reference):
        return ("ref", norm(v.node), v.ref_id, v.creation)
    if isinstance(v, erlpack.Port | etf.Port):
        return ("port", norm(v.node), v.port_id, v.creation)
    if isinstance(v, erlpack.PID | etf.PID):
        return ("pid", norm(v.node), v.pid_id, v.serial, v.creation)
    if isinstance(v, erlpack.Export | etf.Export):
        return ("export", norm(v.module), norm(v.function), v.arity)
    if isinstance(v, dict):
        pairs = []
        for k, x in v.items():  # loops, not comprehensions: one frame per level of nesting
            pairs.append((norm(k), norm(x)))
        return ("map", pairs)
    if isinstance(v, list | tuple):
        items = []
        for x in v:
            items.append(norm(x))
        return (type(v).__name__, items)
    if isinstance(v, float):
        return ("float", struct.pack(">d", v))
    return (type(v).__name__, v)


def error(e: BaseException) -> tuple[str, str]:
    # erlpack's ErlangTermDecodeError / EncodingError live in its own modules; struct.error
    # and zlib.error share a name, so the module is kept for those.
    name = type(e).__name__
    if type(e).__module__ in ("struct", "zlib"):
        name = f"{type(e).__module__}.{name}"
    return name, str(e)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except (Exception, RecursionError) as e:
        return "error", error(e)


def decoded(decoder: Any, data: bytes) -> tuple[str, Any]:
    kind, value = outcome(decoder.loads, data)
    return kind, (norm(value) if kind == "ok" else value)


def decoders(encoding: str | None) -> tuple[Any, Any]:
    return erlpack.ErlangTermDecoder(encoding=encoding), etf.ErlangTermDecoder(encoding=encoding)


def assert_decodes_alike(data: bytes) -> tuple[str, Any]:
    for encoding in ENCODINGS:
        c, py = decoders(encoding)
        expected = decoded(c, data)
        assert decoded(py, data) == expected, (encoding, data[:64])
    return expected


# -- random values ----------------------------------------------------------------------------------


def atom(s: str, module: Any) -> Any:
    return module.Atom(s)


class Values:
    """Seeded random values of every type erlpack packs, nested; atoms built per module."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self) -> str:
        rng = self.rng
        alphabets = ["abcxyz_ 0123", "héllo wörld ✓", "日本語テキスト", "😀🎉🧪𝄞", "\x00\x7f\x80\uffff"]
        alphabet = rng.choice(alphabets)
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 300])))

    def integer(self) -> int:
        rng = self.rng
        kind = rng.randrange(8)
        if kind == 0:
            return rng.randrange(256)
        if kind == 1:
            return rng.choice([0, 1, 254, 255, 256, 257, -1, -255, -256, 2**31 - 1, 2**31,
                               -(2**31), -(2**31) - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
                               -(2**63), -(2**63) + 1, 2**40, 1 << 56, (1 << 56) - 1])
        if kind == 2:
            return rng.randrange(-(2**31), 2**31)
        if kind == 3:
            return rng.randrange(2**64)
        if kind == 4:
            return -rng.randrange(2**63 + 1)
        if kind == 5:  # snowflakes, the gateway's usual big ints
            return rng.randrange(1 << 40, 1 << 63)
        return rng.randrange(-1000, 1000)

    def number(self) -> float:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return rng.uniform(-1e6, 1e6)
        if kind == 1:
            return rng.choice([0.0, -0.0, 1.5, math.inf, -math.inf, math.nan, -math.nan, 5e-324,
                               1.7976931348623157e308, 1e-300, 0.1])
        return float(struct.unpack(">d", rng.randbytes(8))[0])

    def scalar(self) -> tuple[Any, Any]:
        """A value and its twin for erlpack (they differ only for atoms)."""
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0:
            v: Any = rng.choice([None, True, False])
            return v, v
        if kind in (1, 2):
            v = self.integer()
            return v, v
        if kind == 3:
            v = self.number()
            return v, v
        if kind in (4, 5):
            v = self.text()
            return v, v
        if kind == 6:
            v = rng.randbytes(rng.choice([0, 1, 16, 300]))
            return v, v
        s = rng.choice(["ok", "nil", "true", "false", "héllo", "", "a" * rng.choice([1, 254, 255])])
        return atom(s, etf), atom(s, erlpack)

    def key(self) -> tuple[Any, Any]:
        rng = self.rng
        kind = rng.randrange(6)
        if kind < 3:
            text = self.text()[:20] or "k"
            return text, text
        if kind == 3:
            n = self.integer()
            return n, n
        if kind == 4:
            s = rng.choice(["op", "d", "t", "s", "id"])
            return atom(s, etf), atom(s, erlpack)
        a, b = zip(*(self.scalar() for _ in range(2)), strict=True)
        return (tuple(a), tuple(b)) if all(x is None or not isinstance(x, float) or not math.isnan(x)
                                          for x in a) else ("k", "k")

    def value(self, depth: int = 0) -> tuple[Any, Any]:
        rng = self.rng
        if depth > 4 or rng.random() < 0.35:
            return self.scalar()
        kind = rng.randrange(3)
        n = rng.choice([0, 1, 2, 3, 7])
        if kind == 0:
            py: dict[Any, Any] = {}
            c: dict[Any, Any] = {}
            for _ in range(n):
                (ka, kb), (va, vb) = self.key(), self.value(depth + 1)
                if ka in py:
                    continue  # True and 1 are one key: keep both dicts the same length
                py[ka], c[kb] = va, vb
            return py, c
        items = [self.value(depth + 1) for _ in range(n)]
        a, b = [x for x, _ in items], [y for _, y in items]
        return (a, b) if kind == 1 else (tuple(a), tuple(b))


# -- packing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_pack_is_erlpacks_on_random_nested_values(seed: int) -> None:
    values = Values(seed)
    for _ in range(100):
        py, c = values.value()
        assert etf.pack(py) == erlpack.pack(c), (py, c)


EDGE_VALUES: list[Any] = [
    None, True, False, 0, 1, 127, 128, 254, 255, 256, 257, -1, -128, -255, -256, -257,
    2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1, 2**32, 2**40, 2**56 - 1, 2**56,
    2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**63) + 1, -(2**32),
    0.0, -0.0, 1.5, -1.5, 0.1, math.pi, math.inf, -math.inf, math.nan, 5e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, 1e16, 123456789.0,
    "", "a", "op", "héllo ✓", "日本語", "😀𝄞", "\x00", "a\x00b", "x" * 65535, "x" * 65536,
    "é" * 40_000, b"", b"\x00\xff", bytes(range(256)) * 300,
    [], [[]], [[], []], (), ((),), {}, {"": {}}, [None, True, False], (None, True, False),
    tuple(range(255)), tuple(range(256)), tuple(range(300)), list(range(300)),
    {1: 2, "1": 3, 2.5: 4, (1, "a"): 5, None: 6, b"k": 7}, {True: 1, False: 0},
    {"op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": {"content": "hi", "mentions": [], "id": "1"}},
]


@pytest.mark.parametrize("value", EDGE_VALUES, ids=lambda v: repr(v)[:40])
def test_pack_is_erlpacks_on_edge_values(value: Any) -> None:
    assert etf.pack(value) == erlpack.pack(value)


@pytest.mark.parametrize("name", ["", "a", "ok", "nil", "héllo", "✓", "a✓", "a" * 254, "a" * 255,
                                  "é" * 254, "é" * 255, "a" * 65535, "a" * 65536])
def test_pack_atoms_is_erlpacks(name: str) -> None:
    # Latin-1: SMALL_ATOM_EXT below 255 bytes, else ATOM_EXT; beyond latin-1, UnicodeEncodeError.
    assert outcome(etf.pack, etf.Atom(name)) == outcome(erlpack.pack, erlpack.Atom(name))
    assert outcome(etf.pack, [{etf.Atom(name): etf.Atom(name)}]) == outcome(
        erlpack.pack, [{erlpack.Atom(name): erlpack.Atom(name)}])


class _Enum(int):
    pass


class _Str(str):
    pass


class _Tuple(tuple):  # type: ignore[type-arg]
    pass


class _List(list):  # type: ignore[type-arg]
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _Custom:
    def __erlpack__(self) -> Any:
        return {"custom": [1, 2]}


def test_pack_subclasses_and_erlpack_hook_are_erlpacks() -> None:
    from enum import IntEnum, StrEnum

    class Op(IntEnum):
        HELLO = 10
        BIG = 2**40

    class Name(StrEnum):
        READY = "READY"

    for value in [_Enum(3), _Enum(2**33), _Str("x"), _Tuple((1, 2)), _List([1, "a"]),
                  _Dict(a=1), _Custom(), [_Custom()], Op.HELLO, Op.BIG, Name.READY,
                  {Name.READY: Op.HELLO}, 1.0.__class__(2.5)]:
        assert etf.pack(value) == erlpack.pack(value), value


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [
    2**64, -(2**63) - 1, 2**100, -(2**100), object(), bytearray(b"x"), {1, 2}, "\ud800",
    {"a": "\udcff"}, [1, object()], etf.Atom("a" * 65536), nested(256), nested(257),
    nested(300), nested(256, []), nested(257, []), nested(255, {"a": 1}), nested(256, {"a": 1}),
], ids=lambda v: repr(v)[:30])
def test_pack_errors_are_erlpacks(value: Any) -> None:
    twin = erlpack.Atom(value) if isinstance(value, etf.Atom) else value
    assert outcome(etf.pack, value)[0] == outcome(erlpack.pack, twin)[0]
    expected = outcome(erlpack.pack, twin)
    got = outcome(etf.pack, value)
    if expected[0] == "ok":
        assert got == expected
    else:
        assert got[0] == "error" and got[1] == expected[1]


# -- decoding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_decode_is_erlpacks_on_random_nested_values(seed: int) -> None:
    values = Values(1000 + seed)
    for _ in range(100):
        _, c = values.value()
        data = erlpack.pack(c)
        assert assert_decodes_alike(data)[0] in ("ok", "error")


@pytest.mark.parametrize("value", EDGE_VALUES, ids=lambda v: repr(v)[:40])
def test_decode_roundtrips_edge_values(value: Any) -> None:
    data = erlpack.pack(value)
    kind, _ = assert_decodes_alike(data)
    assert kind == "ok" or value == b"\x00\xff" or value == bytes(range(256)) * 300  # not UTF-8
    if value is None or isinstance(value, str | int | list):
        assert etf.ErlangTermDecoder("utf-8").loads(data) == value


def _compressed(term: bytes, usize: int | None = None, level: int = 6) -> bytes:
    body = zlib.compress(term, level)
    return b"P" + struct.pack(">L", len(term) if usize is None else usize) + body


_LONG = erlpack.pack({"content": "x" * 500, "list": list(range(50))})[1:]

HANDMADE: dict[str, bytes] = {
    "empty": b"",
    "version-only": b"\x83",
    "bad-version": b"\x00abc",
    "bad-tag": b"\x83\x99",
    "json": b'{"op":1}',
    "trailing-bytes": b"\x83a\x01garbage",
    "small-int": b"\x83a\xff",
    "small-int-truncated": b"\x83a",
    "int": b"\x83b\xff\xff\xff\xfe",
    "int-truncated": b"\x83b\x00\x01",
    "new-float": b"\x83F" + struct.pack(">d", 1.25),
    "new-float-nan-bits": b"\x83F\xff\xf8\x00\x00\x00\x00\x00\x01",
    "new-float-truncated": b"\x83F\x00",
    "float-ext": b"\x83c" + b"1.50000000000000000000e+00".ljust(31, b"\x00"),
    "float-ext-truncated": b"\x83c1.5",
    "atom": b"\x83d\x00\x03abc",
    "atom-latin1": b"\x83d\x00\x02\xe9\xe9",
    "atom-true": b"\x83d\x00\x04true",
    "atom-truncated": b"\x83d\x00\x05ab",
    "atom-len-truncated": b"\x83d\x00",
    "small-atom-nil": b"\x83s\x03nil",
    "small-atom-false": b"\x83s\x05false",
    "small-atom-truncated": b"\x83s",
    "atom-utf8": b"\x83v\x00\x05h\xc3\xa9llo",
    "atom-utf8-bad": b"\x83v\x00\x02\xe9\xe9",
    "atom-utf8-truncated": b"\x83v\x00",
    "small-atom-utf8": b"\x83w\x03abc",
    "small-atom-utf8-true": b"\x83w\x04true",
    "small-atom-utf8-bad": b"\x83w\x01\xff",
    "string": b"\x83k\x00\x03abc",
    "string-not-utf8": b"\x83k\x00\x02\xff\xfe",
    "string-empty": b"\x83k\x00\x00",
    "string-truncated": b"\x83k\x00\x09ab",
    "list": b"\x83l\x00\x00\x00\x02a\x01m\x00\x00\x00\x01xj",
    "list-tail": b"\x83l\x00\x00\x00\x01a\x01a\x02",
    "list-map-tail": b"\x83l\x00\x00\x00\x01a\x01t\x00\x00\x00\x00",
    "list-string-tail": b"\x83l\x00\x00\x00\x01a\x01k\x00\x00",
    "list-no-tail": b"\x83l\x00\x00\x00\x01a\x01",
    "list-huge-length": b"\x83l\xff\xff\xff\xffa\x01",
    "nil": b"\x83j",
    "binary": b"\x83m\x00\x00\x00\x05h\xc3\xa9lo",
    "binary-not-utf8": b"\x83m\x00\x00\x00\x02\xff\xfe",
    "binary-truncated": b"\x83m\x00\x00\x00\x09ab",
    "binary-len-truncated": b"\x83m\x00\x00",
    "small-big": b"\x83n\x02\x00\x01\x01",
    "small-big-negative": b"\x83n\x02\x01\x01\x01",
    "small-big-sign-2": b"\x83n\x01\x02\x05",
    "small-big-9": b"\x83n\x09\x00" + b"\x01" * 9,
    "small-big-9-negative": b"\x83n\x09\x01" + b"\xff" * 9,
    "small-big-8-max": b"\x83n\x08\x00" + b"\xff" * 8,
    "small-big-zero-length": b"\x83n\x00\x00",
    "small-big-no-sign": b"\x83n\x00",
    "small-big-truncated": b"\x83n\x09\x00" + b"\x01" * 8,
    "small-big-no-length": b"\x83n",
    "large-big": b"\x83o\x00\x00\x00\x02\x00\x01\x01",
    "large-big-20": b"\x83o\x00\x00\x00\x14\x01" + bytes(range(1, 21)),
    "large-big-truncated": b"\x83o\xff\xff\xff\xff\x00",
    "small-tuple": b"\x83h\x02a\x01m\x00\x00\x00\x01x",
    "small-tuple-truncated": b"\x83h\x03a\x01",
    "large-tuple": b"\x83i\x00\x00\x00\x02a\x01a\x02",
    "map": b"\x83t\x00\x00\x00\x01m\x00\x00\x00\x02opa\x01",
    "map-atom-keys": b"\x83t\x00\x00\x00\x02s\x02opa\x01d\x00\x01ds\x03nil",
    "map-duplicate-key": b"\x83t\x00\x00\x00\x02a\x01a\x02a\x01a\x03",
    "map-true-and-1": b"\x83t\x00\x00\x00\x02s\x04truea\x02a\x01a\x03",
    "map-unhashable-key": b"\x83t\x00\x00\x00\x01ja\x01",
    "map-truncated": b"\x83t\x00\x00",
    "map-missing-value": b"\x83t\x00\x00\x00\x01a\x01",
    "reference": b"\x83es\x03abc\x00\x00\x00\x01\x01",
    "reference-not-atom": b"\x83ea\x01\x00\x00\x00\x01\x01",
    "reference-tuple-node": b"\x83eh\x02a\x01a\x02\x00\x00\x00\x01\x01",
    "new-reference": b"\x83r\x00\x01s\x03abc\x01\x00\x00\x00\x01",
    "new-reference-at-end": b"\x83r\x00\x01s\x03abc",
    "new-reference-not-atom": b"\x83r\x00\x01a\x01\x01\x00\x00\x00\x01",
    "port": b"\x83fs\x03abc\x00\x00\x00\x01\x01",
    "pid": b"\x83gs\x03abc\x00\x00\x00\x01\x00\x00\x00\x02\x01",
    "pid-truncated": b"\x83gs\x03abc\x00\x00",
    "export": b"\x83qs\x01ms\x01fa\x02",
    "export-in-list": b"\x83l\x00\x00\x00\x02qs\x01ms\x01fa\x02a\x05j",
    "export-not-atom": b"\x83qa\x01s\x01fa\x02",
    "export-bad-arity": b"\x83qs\x01ms\x01fs\x01x",
    "compressed": b"\x83" + _compressed(_LONG),
    "compressed-in-list": b"\x83l\x00\x00\x00\x02" + _compressed(_LONG) + b"a\x05j",
    "compressed-usize-short": b"\x83" + _compressed(b"a\x01"),
    "compressed-usize-large": b"\x83" + _compressed(b"m\x00\x00\x00\x02ab", usize=1000),
    "compressed-not-zlib": b"\x83P\x00\x00\x00\x05abcde",
    "compressed-truncated": b"\x83P\x00\x00",
    "compressed-nested": b"\x83" + _compressed(_compressed(_LONG), usize=10_000),
    "bit-binary": b"\x83M\x00\x00\x00\x01\x08a",
    "nested-300": b"\x83" + b"l\x00\x00\x00\x01" * 300 + b"j" * 301,
    "tuples-300": b"\x83" + b"h\x01" * 300 + b"j",
}


@pytest.mark.parametrize("data", list(HANDMADE.values()), ids=list(HANDMADE))
def test_decode_handmade_terms_is_erlpacks(data: bytes) -> None:
    assert_decodes_alike(data)


def test_decode_keeps_atom_and_binary_apart() -> None:
    decoded = etf.ErlangTermDecoder(encoding="utf-8").loads(HANDMADE["map-atom-keys"])
    assert decoded == {"op": 1, "d": None}
    assert [type(k) for k in decoded] == [etf.Atom, etf.Atom]
    assert repr(next(iter(decoded))) == repr(next(iter(erlpack.unpack(HANDMADE["map-atom-keys"]))))
    assert etf.unpack(b"\x83m\x00\x00\x00\x01x") == b"x"
    assert etf.ErlangTermDecoder("utf-8").loads(b"\x83m\x00\x00\x00\x01x") == "x"


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.randrange(5)
        i = rng.randrange(1, max(2, len(b)))
        if op == 0 and len(b) > 1:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[min(i, len(b) - 1):min(i, len(b) - 1) + 1] = bytes([rng.choice(b"abcdFhijklmnostvwPqefgr")])
        elif op == 2:
            del b[i:]
        elif op == 3:
            b.insert(i, rng.randrange(256))
        else:
            b[i:i] = rng.randbytes(rng.randrange(1, 6))
    return bytes(b)


@pytest.mark.parametrize("seed", range(20))
def test_decode_mutated_payloads_is_erlpacks(seed: int) -> None:
    # Valid payloads with bytes flipped, retagged, cut or inserted: garbage a client may send.
    rng = random.Random(5000 + seed)
    values = Values(5000 + seed)
    for _ in range(300):
        data = _mutate(rng, erlpack.pack(values.value()[1]))
        assert_decodes_alike(data)


# -- the codec over both backends ------------------------------------------------------------------


def test_default_backend_is_erlpack_when_installed() -> None:
    assert ERLPACK_ETF is not None and ERLPACK_ETF.name == "erlpack"
    assert ETF_BACKEND is ERLPACK_ETF
    assert codec_for(Encoding.ETF).backend is ETF_BACKEND  # type: ignore[attr-defined]


MALFORMED = ["empty", "version-only", "bad-version", "bad-tag", "float-ext", "list-tail",
             "list-no-tail", "binary-not-utf8", "small-big-truncated", "map-unhashable-key",
             "compressed-not-zlib", "compressed-usize-short", "new-reference", "atom-utf8-bad",
             "reference-not-atom", "int-truncated", "json"]


@pytest.mark.parametrize("backend", [ERLPACK_ETF, PYTHON_ETF], ids=["erlpack", "python"])
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_etf_is_4002_on_both_backends(backend: Any, name: str) -> None:
    with pytest.raises(ProtocolError) as info:
        EtfCodec(backend).decode(HANDMADE[name])
    assert info.value.code is CloseCode.DECODE_ERROR


@pytest.mark.parametrize("backend", [ERLPACK_ETF, PYTHON_ETF], ids=["erlpack", "python"])
def test_deep_nesting_is_4002_on_both_backends(backend: Any) -> None:
    # A 4 KiB compressed term inflates to 2,000,000 nested tuples. erlpack's decoder recurses
    # on the C stack and crashes the process on it (not run here): both backends decode with
    # the Python decoder, which stops at its recursion limit, a decode error.
    body = b"h\x01" * 2_000_000 + b"j"
    data = b"\x83P" + struct.pack(">L", len(body)) + zlib.compress(body, 9)
    assert len(data) < 4096
    with pytest.raises(ProtocolError) as info:
        EtfCodec(backend).decode(data)
    assert info.value.code is CloseCode.DECODE_ERROR


def test_dispatch_parts_are_the_same_bytes_on_both_backends() -> None:
    c, py = EtfCodec(ERLPACK_ETF), EtfCodec(PYTHON_ETF)  # type: ignore[arg-type]
    values = Values(7)
    for i in range(200):
        text, (nested, twin) = values.text(), values.value()
        parts = py.dispatch_parts("MESSAGE_CREATE", {"id": str(i), "content": text, "n": nested})
        data = {"id": str(i), "content": text, "n": twin}
        assert parts == c.dispatch_parts("MESSAGE_CREATE", data)
        for seq in (0, 255, 256, 2**31 - 1, 2**31, 2**40):
            assert py.splice(parts, seq) == erlpack.pack(
                {"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": data})
    assert py.heartbeat_ack == c.heartbeat_ack
    assert py.encode(10, {"heartbeat_interval": 41250}) == c.encode(10, {"heartbeat_interval": 41250})


# -- without erlpack -------------------------------------------------------------------------------

_WITHOUT_ERLPACK = r"""
import sys
sys.modules["erlpack"] = None  # import erlpack raises ImportError, as when it is not installed

from gateway import codec
from gateway.codec import Dispatch, Encoding, codec_for
from gateway.etf import ErlangTermDecoder, pack
from gateway.session import frames

assert codec.ERLPACK_ETF is None and codec.ETF_BACKEND is codec.PYTHON_ETF
etf_codec = codec_for(Encoding.ETF)
assert etf_codec.backend is codec.PYTHON_ETF

import gateway.cli  # the package's entry point imports without erlpack
from core.config import Config
from gateway.limits import SessionLimits
from gateway.params import ConnectParams
from gateway.session import Session

session = Session(Config(heartbeat_interval_ms=1000), 0.0, ConnectParams.parse("v=10&encoding=etf"),
                  SessionLimits())
assert session.binary
decode = ErlangTermDecoder(encoding="utf-8").loads
out = [decode(f) for f in frames(session.outgoing())]
assert out == [{"op": 10, "d": {"heartbeat_interval": 1000}, "s": None, "t": None}], out
session.receive(pack({"op": 1, "d": None}), 0.5)
out = [decode(f) for f in frames(session.outgoing())]
assert out == [{"op": 11, "d": None, "s": None, "t": None}], out
session.receive(b"\x83l\x00\x00\x00\x01a\x01a\x02", 0.6)  # malformed: closes with 4002
assert session.close_code == 4002, session.close_code
parts = Dispatch("MESSAGE_CREATE", {"content": "hi"}).parts(Encoding.ETF)
assert decode(etf_codec.splice(parts, 300)) == {"op": 0, "t": "MESSAGE_CREATE", "s": 300,
                                                "d": {"content": "hi"}}
print("python backend ok")
"""


def test_gateway_speaks_etf_without_erlpack() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", _WITHOUT_ERLPACK], capture_output=True, text=True,
                       cwd=REPO, env=env, timeout=60)
    assert r.returncode == 0 and "python backend ok" in r.stdout, r.stderr


def test_dispatch_is_encoded_by_the_default_backend() -> None:
    parts = Dispatch("READY", {"v": 10}).parts(Encoding.ETF)
    assert parts == EtfCodec(PYTHON_ETF).dispatch_parts("READY", {"v": 10})


def test_a_compressed_term_within_the_budget_still_decodes() -> None:
    # The gateway's bound on inflation (ETF_MAX_INFLATED) refuses bombs, not compressed terms.
    body = erlpack.pack({"op": 1, "d": 7})[1:]
    data = b"\x83P" + struct.pack(">L", len(body)) + zlib.compress(body)
    assert EtfCodec(PYTHON_ETF).decode(data) == {"op": 1, "d": 7}
    lying = b"\x83P" + struct.pack(">L", len(body) - 1) + zlib.compress(body)
    with pytest.raises(ProtocolError):  # inflates past its declared size
        EtfCodec(PYTHON_ETF).decode(lying)
    decoder = etf.ErlangTermDecoder(encoding="utf-8", max_inflated=len(body) - 1)
    with pytest.raises(etf.ErlangTermDecodeError):
        decoder.loads(data)
