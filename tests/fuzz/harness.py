"""What the atheris targets drive: a :class:`gateway.listener.Connection` on fake picows
objects, and the payload decoders, each turning fuzz bytes into input the server can get.

Kept free of atheris so that a failing input can be replayed without it:
``python -c "from tests.fuzz.harness import frames_target; frames_target(open(path, 'rb').read())"``.
"""

from __future__ import annotations

import struct
from typing import Any

from picows import WSCloseCode, WSMsgType

from core.config import Config
from core.metrics import Metrics
from gateway.codec import PYTHON_ETF, EtfCodec, JsonCodec
from gateway.commands import parse_command
from gateway.limits import SessionLimits
from gateway.listener import Connection
from gateway.params import ConnectParams
from gateway.protocol import MAX_PAYLOAD_BYTES, ProtocolError

KINDS = [WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.PING,
         WSMsgType.PONG, WSMsgType.CLOSE]
# The close codes picows' parser lets through to the listener (picows.pyx: code < 3000 must
# be one of its WSCloseCode values).
_PICOWS_CODES = {int(c) for c in WSCloseCode}
QUERIES = ["v=10&encoding=json", "v=10&encoding=etf", "v=10&encoding=json&compress=zlib-stream",
           "v=10&encoding=etf&compress=zstd-stream"]


class FakeFrame:
    """The part of ``picows.WSFrame`` the listener reads."""

    def __init__(self, kind: WSMsgType, payload: bytes, fin: bool, rsv: int) -> None:
        self.msg_type, self.fin = kind, fin
        self.rsv1, self.rsv2, self.rsv3 = bool(rsv & 4), bool(rsv & 2), bool(rsv & 1)
        self._payload = payload
        self.payload_size = len(payload)

    def get_payload_as_bytes(self) -> bytes:
        return self._payload

    def get_close_code(self) -> WSCloseCode:
        if self.payload_size < 2:
            return WSCloseCode.NO_INFO
        return WSCloseCode(struct.unpack("!H", self._payload[:2])[0])


class FakeUnderlying:
    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        assert not self.transport.is_close_frame_sent, "a frame written after the close frame"
        assert not self.transport.disconnected, "a frame written after disconnect"
        self.transport.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


class FakeTransport:
    """The part of ``picows.WSTransport`` the listener uses, checking the order of things."""

    def __init__(self) -> None:
        self.is_close_frame_sent = False
        self.disconnected = False
        self.close_code: int | None = None
        self.written = 0
        self.underlying_transport = FakeUnderlying(self)
        self.request = self.response = None  # the upgrade's: none here

    def send_close(self, code: int = 0, reason: bytes = b"") -> None:
        if not self.is_close_frame_sent:
            code = int(code)
            # RFC 6455 §7.4.1 and IANA's registry (1012-1014), as gateway.listener allows.
            assert 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999, code
            assert len(reason) <= 123, reason
            self.is_close_frame_sent, self.close_code = True, code

    def send(self, kind: WSMsgType, payload: bytes) -> None:
        assert kind is WSMsgType.CLOSE and payload == b"", (kind, payload)
        self.is_close_frame_sent = True

    def send_pong(self, payload: bytes) -> None:
        assert not self.is_close_frame_sent and len(payload) <= 125

    def disconnect(self, graceful: bool = True) -> None:
        self.disconnected = True


class FakeHost:
    """A :class:`gateway.listener.Host` that answers nothing (the session alone)."""

    def __init__(self) -> None:
        self.config = Config()
        self.limits = SessionLimits()
        self.metrics = Metrics()
        self.send_buffer_limit = 1 << 20

    def now(self) -> float:
        return 0.0

    def connected(self, conn: Connection) -> None:
        pass

    def submit(self, conn: Connection) -> None:
        conn.session.requests()  # taken, never answered

    def disconnected(self, conn: Connection) -> None:
        pass


def frames_of(data: bytes) -> list[FakeFrame]:
    """Frames from fuzz bytes, each: a header byte (kind, FIN, RSV), a length byte, payload.

    Only frames picows' parser hands over: control frames are final and at most 125 bytes,
    a CLOSE payload is not 1 byte, its code passes picows' check and its reason is UTF-8.
    """
    frames, i = [], 0
    while i + 2 <= len(data):
        head, n = data[i], data[i + 1]
        payload = data[i + 2:i + 2 + n * (17 if head & 0x80 else 1)]  # some frames are long
        i += 2 + len(payload)
        kind = KINDS[head % len(KINDS)]
        fin, rsv = bool(head & 0x08) or kind in (WSMsgType.PING, WSMsgType.PONG, WSMsgType.CLOSE), \
            (head >> 4) & 7 if head & 0x40 else 0
        if kind in (WSMsgType.PING, WSMsgType.PONG, WSMsgType.CLOSE):
            payload = payload[:125]
        if kind is WSMsgType.CLOSE:
            if len(payload) == 1:
                continue
            if len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                if code < 3000 and code not in _PICOWS_CODES:
                    continue
                try:
                    payload[2:].decode()
                except UnicodeDecodeError:
                    continue
        frames.append(FakeFrame(kind, payload, fin, rsv))
    return frames


def encode_frames(query: int, frames: list[tuple[WSMsgType, bytes, bool]]) -> bytes:
    """The fuzz bytes :func:`frames_target` reads as ``frames`` (seeds for the corpus):
    ``(kind, payload, fin)``, payloads under 256 bytes, no RSV bits."""
    out = bytearray([query])
    for kind, payload, fin in frames:
        head = next(h for h in range(128) if KINDS[h % len(KINDS)] is kind
                    and bool(h & 0x08) is fin and not h & 0x40)
        out += bytes([head, len(payload)]) + payload
    return bytes(out)


_HOST = FakeHost()


def frames_target(data: bytes) -> None:
    """The reassembler and the rest of ``on_ws_frame``: no exception, no write after the close
    frame or the disconnect, and only valid close codes."""
    if not data:
        return
    conn = Connection(_HOST, ConnectParams.parse(QUERIES[data[0] % len(QUERIES)]))
    transport = FakeTransport()
    conn.on_ws_connected(transport)  # type: ignore[arg-type]
    for frame in frames_of(data[1:]):
        conn.on_ws_frame(transport, frame)  # type: ignore[arg-type]
        if transport.disconnected:
            break
    conn.on_ws_disconnected(transport)  # type: ignore[arg-type]


_DECODERS = [JsonCodec(), EtfCodec(PYTHON_ETF)]


def payload_target(data: bytes) -> None:
    """A client payload (at most the gateway's 4096 bytes) through a decoder and the command
    parser: a command or ProtocolError, nothing else."""
    if not data:
        return
    codec, payload = _DECODERS[data[0] & 1], data[1:1 + MAX_PAYLOAD_BYTES]
    try:
        parse_command(codec.decode(payload))
    except ProtocolError:
        pass
