"""The picows adapter: one :class:`Connection` per websocket, feeding a sans-I/O ``Session``.

It only moves bytes: frames in (decoded inside ``on_ws_frame``, because picows reuses a
frame's buffer once the callback returns), ``session.outgoing()`` out, and a close frame once
``session.close_code`` is set. It fills the RFC 6455 gaps picows leaves (docs/gateway.md):
reassembly of fragmented messages (capped at the payload limit), UTF-8 validation of text
messages (1007, as soon as a fragment makes the text invalid), reserved bits on any frame
(1002), the answer to a PING (picows' auto-pong would answer before those checks), close codes
picows lets through (0, 1006, 5000 and up: 1002) and the reply to a client's CLOSE. Commands
that need I/O are handed to its :class:`Host` (the worker's :class:`~gateway.server.GatewayServer`).
tests/integration/test_rfc6455.py holds it to the Autobahn|Testsuite's cases 1-7.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from typing import Protocol

from multidict import CIMultiDict, CIMultiDictProxy
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from core.config import Config
from core.metrics import Metrics
from core.models import User
from gateway.limits import SessionLimits
from gateway.params import ConnectParams
from gateway.protocol import CloseCode
from gateway.session import Session

# The per-socket frame builder: gateway.speedups (C) when it was built and not turned off,
# else gateway.frames, its pure-Python twin (the same bytes: tests/unit/test_frames.py runs
# both). Chosen once, at import, like python-websockets' WEBSOCKETS_NO_SPEEDUPS: it is not a
# Config setting, since the choice is made before any Config exists; set
# DISCORD_ARCH_NO_SPEEDUPS=1 in the environment to use the pure-Python one.
_NO_SPEEDUPS = os.environ.get("DISCORD_ARCH_NO_SPEEDUPS", "").strip().lower()
if _NO_SPEEDUPS in ("", "0", "false", "no", "off"):
    try:
        from gateway.speedups import frames_buffer
    except ImportError:  # not compiled (no compiler at install): the same function in Python
        from gateway.frames import frames_buffer
else:
    from gateway.frames import frames_buffer

__all__ = ["Connection", "Host", "frames_buffer"]

_TEXT, _BINARY, _CONT, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
_PING, _PONG = WSMsgType.PING, WSMsgType.PONG
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
# What a connected transport's upgrade request and response hold as headers once the server
# has read them: read-only, shared by every connection (:func:`_forget_headers`).
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def _forget_headers(transport: WSTransport) -> None:
    """Let go of the upgrade request's and response's headers, which picows keeps for the
    connection's life but reads only during the handshake: ~2.1 KB per idle connection (a
    client's seven request headers ~1.55 KB, the 101's three ~0.55 KB; issue 16)."""
    for message in (transport.request, transport.response):
        if message is not None:
            message.headers = _NO_HEADERS  # type: ignore[assignment]  # read-only: nobody writes


class Host(Protocol):
    """What a connection needs of its server (``gateway.server.GatewayServer``)."""

    config: Config
    limits: SessionLimits
    metrics: Metrics
    send_buffer_limit: int  # bytes queued unsent before 4900 Slow consumer

    def now(self) -> float:
        """The sessions' clock."""
        ...

    def connected(self, conn: Connection) -> None:
        """The websocket is open (the Hello is queued)."""

    def submit(self, conn: Connection) -> None:
        """The session has commands that need I/O."""

    def disconnected(self, conn: Connection) -> None:
        """The socket is gone."""


class Connection(WSListener):
    """One gateway websocket and its session.

    Attributes:
        session: this connection's session (a RESUME on another connection moves the hub's
            subscriptions and the replay buffer there; this one then ends CLOSED).
        user: the authenticated user (None before READY).
        guilds: the guilds the hub subscribed this connection to, as the keys of a dict (a
            third of a ``set``'s size; the hub puts its guild cache's own id objects there,
            so ten guilds cost a session 352 bytes, not 728 and ten ints).
        status: the presence status this connection set (Identify ``presence``, op 3).
        connected: False once the socket is gone.
    """

    # One per socket: slots save the ~300-byte attribute dict of each idle connection.
    __slots__ = ("_abort", "_closing", "_msg_type", "_parts", "_parts_size", "_parts_utf8",
                 "client_close", "connected", "forwarded_for", "guilds", "server", "session",
                 "status", "transport", "user")

    def __init__(self, server: Host, params: ConnectParams) -> None:
        self.server = server
        self.session = Session(server.config, server.now(), params, server.limits)
        self.user: User | None = None
        self.guilds: dict[int, None] = {}
        self.status = "online"
        self.connected = False
        self.transport: WSTransport | None = None
        self.client_close: int | None = None
        # The client's address a trusted proxy named in the upgrade request (set by the
        # server on connect, core.proxies); None: the socket's peer is the client.
        self.forwarded_for: str | None = None
        self._msg_type = _BINARY if self.session.binary else _TEXT
        self._parts: list[bytes] | None = None  # a fragmented message being reassembled
        self._parts_size = 0
        self._parts_utf8: codecs.IncrementalDecoder | None = None  # checks a text message's parts
        self._closing = False  # our close frame is out: write nothing more
        self._abort: asyncio.TimerHandle | None = None  # ends a slow consumer's closing socket

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport, self.connected = transport, True
        self.server.connected(self)  # reads what it needs of the request (a proxy's headers)
        _forget_headers(transport)
        self.flush()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension was negotiated (§5.2)
            self._protocol_close(WSCloseCode.PROTOCOL_ERROR, "Reserved bits set")
            return None
        if kind is _CLOSE:
            self._answer_close(frame)
            return None
        if self._closing:
            return None
        if kind is _PING:  # here, not by picows (enable_auto_pong=False): after the checks above
            transport.send_pong(frame.get_payload_as_bytes())
            return None
        if kind is _PONG:
            return None  # unsolicited, or an answer: nothing to do (§5.5.3)
        data = self._message(kind, frame)
        if data is None:
            return None
        self.server.metrics.frames_in += 1  # an int, not a prometheus Counter (core.metrics)
        session = self.session
        session.receive(data, self.server.now())
        if session.has_requests:
            self.server.submit(self)
        self.flush()
        return None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connected = False
        self._parts = None
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        self.server.disconnected(self)

    # -- writing ---------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the session's pending frames; close the connection if the session asked."""
        transport = self.transport
        if transport is None or not self.connected or self._closing or transport.is_close_frame_sent:
            return  # is_close_frame_sent: picows failed the connection (a bad frame's 1002/1009)
        frames = self.session.outgoing()
        if frames:
            # One write for every frame queued this iteration (docs/architecture.md, measured),
            # built here rather than by picows' send: a dispatch arrives as shared parts.
            underlying = transport.underlying_transport
            buffer, count = frames_buffer(self._msg_type, frames)
            underlying.write(buffer)
            self.server.metrics.frames_out += count
            if underlying.get_write_buffer_size() > self.server.send_buffer_limit:
                self.server.metrics.slow_consumer_closes += 1
                self.session.close(CloseCode.SLOW_CONSUMER)
        code = self.session.close_code
        if code is not None:
            self._closing = True
            transport.send_close(WSCloseCode(code), self.session.close_reason.encode()[:123])
            # Graceful: the transport writes its backlog, then the close frame, then ends the
            # socket, so the client sees the code (a slow consumer's 4900 says "resume").
            transport.disconnect()
            if code == CloseCode.SLOW_CONSUMER:
                # It may never read that backlog: abort, dropping it, after a bounded grace.
                self._abort = asyncio.get_running_loop().call_later(
                    self.server.limits.slow_close_timeout_s, transport.disconnect, False
                )

    def peer(self) -> str:
        """The client's address: ``host:port`` of the socket, the address a trusted proxy
        named (``forwarded_for``, no port), or ``-``."""
        if self.forwarded_for is not None:
            return self.forwarded_for
        transport = self.transport
        peer = transport.underlying_transport.get_extra_info("peername") if transport else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "-"

    # -- RFC 6455 details picows leaves to the application -------------------------------------

    def _message(self, kind: WSMsgType, frame: WSFrame) -> bytes | None:
        """The whole message once its last fragment arrived (§5.4), else None."""
        parts = self._parts
        if kind is _CONT:
            if parts is None:
                self._protocol_close(WSCloseCode.PROTOCOL_ERROR, "Unexpected continuation")
                return None
        elif parts is not None:
            self._protocol_close(WSCloseCode.PROTOCOL_ERROR, "Expected a continuation")
            return None
        elif frame.fin:
            return self._checked(kind, frame.get_payload_as_bytes())
        else:
            parts = self._parts = []
            self._parts_size = 0
            self._parts_utf8 = _utf8_decoder() if kind is _TEXT else None
        self._parts_size += frame.payload_size
        if self._parts_size > self.server.limits.max_payload_bytes:
            self._parts = None
            self.session.close(CloseCode.DECODE_ERROR, "Payload too large")
            self.flush()
            return None
        payload = frame.get_payload_as_bytes()
        utf8 = self._parts_utf8
        if utf8 is not None:
            try:  # fragment by fragment: fail as soon as the text cannot be UTF-8 (§8.1)
                utf8.decode(payload, frame.fin)
            except UnicodeDecodeError:
                self._parts = None
                self._protocol_close(WSCloseCode.INVALID_TEXT, "Invalid UTF-8")
                return None
        parts.append(payload)
        if not frame.fin:
            return None
        self._parts = None
        return b"".join(parts)

    def _checked(self, kind: WSMsgType, data: bytes) -> bytes | None:
        """``data``, unless a text message is not UTF-8 (§8.1: close with 1007)."""
        if kind is _BINARY or _valid_utf8(data):
            return data
        self._protocol_close(WSCloseCode.INVALID_TEXT, "Invalid UTF-8")
        return None

    def _protocol_close(self, code: WSCloseCode, reason: str) -> None:
        transport = self.transport
        if transport is not None and not self._closing:
            self._closing = True
            transport.send_close(code, reason.encode())
            transport.disconnect()

    def _answer_close(self, frame: WSFrame) -> None:
        """Echo the client's close code (§5.5.1) and end the TCP connection (§7.1.1).

        picows fails a 1-byte payload, a reason that is not UTF-8 and most invalid codes
        itself; the codes it lets through (0, 1006, 5000 and up) are failed here (§7.4).
        """
        transport = self.transport
        if frame.payload_size >= 2:
            code = frame.get_close_code().value
            if not _valid_close_code(code):
                self._protocol_close(WSCloseCode.PROTOCOL_ERROR, "Invalid close code")
                if transport is not None:
                    transport.disconnect()
                return
            self.client_close = code
        if transport is not None and not self._closing:
            self._closing = True
            if self.client_close is None:
                transport.send(_CLOSE, b"")  # no status received: none sent back
            else:
                transport.send_close(WSCloseCode(self.client_close))
        if transport is not None:
            transport.disconnect()


def _valid_close_code(code: int) -> bool:
    """A code a peer may send (§7.4.1, IANA's registry: 1012-1014 too; 3000-4999 for
    libraries and applications)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
