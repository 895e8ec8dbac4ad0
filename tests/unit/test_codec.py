"""Unit tests for gateway.codec: JSON and ETF payloads, and encode-once dispatch splicing.

A dispatch is encoded once per encoding into a prefix and a suffix around the value of ``s``;
every session's frame is ``prefix + s + suffix``. These tests decode the spliced frames with
independent decoders (orjson, a fresh erlpack decoder) to prove the bytes are valid payloads.
Every ETF test runs on both backends: erlpack and the pure-Python gateway.etf.
"""

from __future__ import annotations

import erlpack  # type: ignore[import-untyped]
import orjson
import pytest

from gateway.codec import ERLPACK_ETF, PYTHON_ETF, Codec, Dispatch, Encoding, EtfCodec, codec_for
from gateway.protocol import CloseCode, Opcode, ProtocolError

JSON = codec_for(Encoding.JSON)
ETF = codec_for(Encoding.ETF)
assert ERLPACK_ETF is not None  # the test extra installs erlpack: both backends are compared
ETF_CODECS = [pytest.param(EtfCodec(ERLPACK_ETF), id="erlpack"),
              pytest.param(EtfCodec(PYTHON_ETF), id="python")]
DATA = {
    "id": "1234567890123456789",
    "content": "héllo \"world\" ✓",
    "mentions": [],
    "nested": {"a": None, "b": True, "c": False, "n": 42, "f": 1.5, "list": [1, "two"]},
}


def etf_loads(frame: bytes) -> object:
    return erlpack.ErlangTermDecoder(encoding="utf-8").loads(frame)


@pytest.mark.parametrize("seq", [0, 1, 255, 256, 65_535, 2**31 - 1, 2**31, 2**40])
def test_json_splice_any_seq_is_valid_json(seq: int) -> None:
    frame = JSON.splice(Dispatch("MESSAGE_CREATE", DATA).parts(Encoding.JSON), seq)
    assert orjson.loads(frame) == {"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": DATA}


@pytest.mark.parametrize("etf", ETF_CODECS)
@pytest.mark.parametrize("seq", [0, 1, 255, 256, 65_535, 2**31 - 1, 2**31, 2**40])
def test_etf_splice_any_seq_is_valid_etf(etf: Codec, seq: int) -> None:
    frame = etf.splice(etf.dispatch_parts("MESSAGE_CREATE", DATA), seq)
    assert frame[0] == 131
    assert etf_loads(frame) == {"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": DATA}


@pytest.mark.parametrize("etf", ETF_CODECS)
@pytest.mark.parametrize("seq", [7, 300, 2**31, 2**40])
def test_etf_splice_matches_erlpack(etf: Codec, seq: int) -> None:
    # The spliced map is byte-for-byte what erlpack packs for the same dict.
    frame = etf.splice(etf.dispatch_parts("READY", DATA), seq)
    assert frame == erlpack.pack({"op": 0, "t": "READY", "s": seq, "d": DATA})


def test_dispatch_parts_are_the_default_etf_codecs() -> None:
    assert Dispatch("READY", DATA).parts(Encoding.ETF) == ETF.dispatch_parts("READY", DATA)


def test_dispatch_encodes_once_per_encoding_and_shares_parts() -> None:
    event = Dispatch("MESSAGE_CREATE", DATA)
    first = event.parts(Encoding.JSON)
    assert event.parts(Encoding.JSON) is first
    assert event.parts(Encoding.ETF) is event.parts(Encoding.ETF)
    assert event.parts(Encoding.ETF) is not first


def test_dispatch_is_lazy_per_encoding() -> None:
    event = Dispatch("TYPING_START", {"x": object()})  # not encodable
    with pytest.raises(TypeError):
        event.parts(Encoding.JSON)


def test_splice_two_sessions_differ_only_by_seq() -> None:
    parts = Dispatch("MESSAGE_CREATE", DATA).parts(Encoding.JSON)
    a, b = JSON.splice(parts, 5), JSON.splice(parts, 123)
    assert a.replace(b'"s":5,', b'"s":123,') == b
    assert a.startswith(parts[0]) and a.endswith(parts[1])
    assert b.startswith(parts[0]) and b.endswith(parts[1])


@pytest.mark.parametrize("codec", [pytest.param(JSON, id="json"), *ETF_CODECS])
def test_encode_control_payload_has_all_four_keys(codec: Codec) -> None:
    frame = codec.encode(Opcode.HELLO, {"heartbeat_interval": 41250})
    decoded = orjson.loads(frame) if codec is JSON else etf_loads(frame)
    assert decoded == {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}


@pytest.mark.parametrize("etf", ETF_CODECS)
def test_heartbeat_ack_is_preencoded(etf: Codec) -> None:
    assert orjson.loads(JSON.heartbeat_ack) == {"op": 11, "d": None, "s": None, "t": None}
    assert etf_loads(etf.heartbeat_ack) == {"op": 11, "d": None, "s": None, "t": None}
    assert etf.heartbeat_ack == erlpack.pack({"op": 11, "d": None, "s": None, "t": None})


def test_json_decode_roundtrip() -> None:
    assert JSON.decode(b'{"op":1,"d":null}') == {"op": 1, "d": None}


@pytest.mark.parametrize("etf", ETF_CODECS)
def test_etf_decode_keys_and_strings_are_str(etf: Codec) -> None:
    # discord.js' erlpack sends strings (and keys) as binaries: they must come back as str.
    decoded = etf.decode(erlpack.pack({"op": 2, "d": {"token": "abc", "intents": 513}}))
    assert decoded == {"op": 2, "d": {"token": "abc", "intents": 513}}
    assert isinstance(decoded, dict)
    assert all(type(k) is str for k in decoded)


@pytest.mark.parametrize("etf", ETF_CODECS)
def test_etf_decode_atom_keys_are_found_by_str(etf: Codec) -> None:
    payload = erlpack.pack({erlpack.Atom("op"): 1, erlpack.Atom("d"): None})
    decoded = etf.decode(payload)
    assert isinstance(decoded, dict)
    assert decoded.get("op") == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"op":', b"\xff\xfe", b"[1,2", b"nul"],
    ids=["empty", "open", "truncated", "not-utf8", "list", "bad-literal"],
)
def test_json_decode_garbage_is_4002(data: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        JSON.decode(data)
    assert info.value.code is CloseCode.DECODE_ERROR


@pytest.mark.parametrize("etf", ETF_CODECS)
@pytest.mark.parametrize(
    "data",
    [b"", b"\x83", b"\x00abc", b"\x83t\x00\x00", b"\x83m\x00\x00\x00\x02\xff\xfe", b"\x83\x99",
     b'{"op":1}', b"\x83l\x00\x00\x00\x01a\x01a\x02", b"\x83P\x00\x00\x00\x05abcde",
     b"\x83c1.5" + bytes(28)],
    ids=["empty", "version-only", "bad-version", "truncated-map", "not-utf8", "bad-tag", "json",
         "list-tail", "bad-compressed", "float-ext"],
)
def test_etf_decode_garbage_is_4002(etf: Codec, data: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        etf.decode(data)
    assert info.value.code is CloseCode.DECODE_ERROR


@pytest.mark.parametrize("etf", ETF_CODECS)
def test_binary_flags(etf: Codec) -> None:
    assert JSON.binary is False
    assert etf.binary is True
