"""A scripted gateway client for the session tests: bytes in, decoded payloads out.

It plays the part of the adapter and of a Discord client library at once: it encodes what a
client sends (JSON or ETF), feeds the session, and decodes the session's frames the way
discord.py does (one zlib or zstd decompression context per connection).
"""

from __future__ import annotations

import zlib
from typing import Any

import erlpack  # type: ignore[import-untyped]
import orjson
import zstandard

from core.config import Config
from core.models import Application, User
from gateway.codec import Encoding
from gateway.compress import Compression
from gateway.limits import SessionLimits
from gateway.params import ConnectParams
from gateway.protocol import Identify
from gateway.session import Session, frames

INTERVAL_MS = 1000
CONFIG = Config(heartbeat_interval_ms=INTERVAL_MS)
PROPERTIES = {"os": "linux", "browser": "discord.py", "device": "discord.py"}
TOKEN = "dG9rZW4.secret"
BOT = User(10, "bot", bot=True)
APP = Application(10, "app", owner_id=1, flags=1 << 23)
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


def guild(guild_id: int) -> dict[str, Any]:
    """A small GUILD_CREATE payload (the session only reads ``id``)."""
    return {"id": str(guild_id), "name": f"g{guild_id}", "channels": [], "members": [],
            "unavailable": False}


def identify(**overrides: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"token": TOKEN, "properties": dict(PROPERTIES), "intents": 513,
                         "compress": True, "large_threshold": 250}
    d.update(overrides)
    return {"op": 2, "d": {k: v for k, v in d.items() if v is not ...}}


class Client:
    """One connection: a session plus the client's encoder and decompressor.

    Args:
        encoding: json or etf.
        compress: the transport compression, or None.
        now: the connection time.
        limits: the session's limits.
        query: a raw query string instead of ``encoding``/``compress``.
    """

    def __init__(
        self,
        encoding: str = "json",
        compress: str | None = None,
        now: float = 0.0,
        limits: SessionLimits = SessionLimits(),  # noqa: B008
        query: str | None = None,
    ) -> None:
        if query is None:
            query = f"v=10&encoding={encoding}" + (f"&compress={compress}" if compress else "")
        params = ConnectParams.parse(query)
        self.session = Session(CONFIG, now, params, limits)
        self.encoding = params.encoding
        self.compress = params.compress
        self._zlib = zlib.decompressobj()
        self._buffer = bytearray()
        self._zstd = zstandard.ZstdDecompressor().decompressobj()
        self.raw: list[bytes] = []

    def send(self, payload: Any, now: float = 0.0) -> None:
        """Encode ``payload`` as this client would and feed it to the session."""
        if self.encoding is Encoding.ETF:
            data = bytes(erlpack.pack(payload))
        else:
            data = orjson.dumps(payload)
        self.session.receive(data, now)

    def recv(self) -> list[Any]:
        """Decode every frame the session wants written."""
        out = []
        for frame in frames(self.session.outgoing()):
            self.raw.append(frame)
            data = self._decompress(frame)
            if data is None:
                continue
            if self.encoding is Encoding.ETF:
                out.append(erlpack.ErlangTermDecoder(encoding="utf-8").loads(data))
            else:
                out.append(orjson.loads(data))
        return out

    def _decompress(self, frame: bytes) -> bytes | None:
        if self.compress is Compression.ZLIB_STREAM:
            self._buffer.extend(frame)
            if not frame.endswith(ZLIB_SUFFIX):
                return None
            data = self._zlib.decompress(self._buffer)
            self._buffer = bytearray()
            return data
        if self.compress is Compression.ZSTD_STREAM:
            return bytes(self._zstd.decompress(frame))
        return frame

    def ready(
        self,
        guilds: int = 2,
        user: User = BOT,
        application: Application | None = APP,
        session_id: str = "sid-1",
        **fields: Any,
    ) -> list[Any]:
        """Identify, authenticate as ``user`` and return READY and the GUILD_CREATEs."""
        self.recv()
        self.send(identify(**fields))
        requests = self.session.requests()
        assert len(requests) == 1 and isinstance(requests[0], Identify), requests
        self.session.on_identified(user, application, [guild(100 + i) for i in range(guilds)],
                                   session_id, "ws://127.0.0.1:9001")
        return self.recv()

    @property
    def close(self) -> tuple[int | None, str]:
        return self.session.close_code, self.session.close_reason
