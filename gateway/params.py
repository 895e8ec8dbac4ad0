"""The query parameters of a gateway connection: ``/?v=10&encoding=json&compress=zlib-stream``.

Discord's "Connecting" section: ``v`` (required, the gateway version), ``encoding`` (``json`` or
``etf``; default ``json``) and ``compress`` (optional transport compression). A bad version is
4012 Invalid API version; Discord documents no close code for a bad encoding or compression,
and 4002 Decode error says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from gateway.codec import Encoding
from gateway.compress import Compression
from gateway.protocol import GATEWAY_VERSION, CloseCode, ProtocolError

__all__ = ["ConnectParams"]

_ENCODINGS = frozenset(Encoding)
_COMPRESSIONS = frozenset(Compression)


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """What the client asked for in the URL; ``error`` is set when it must be refused.

    Attributes:
        encoding: the payload encoding (JSON when the parameter was invalid).
        compress: the transport compression stream, or None.
        error: the close to send instead of Hello, or None when the parameters are valid.
    """

    encoding: Encoding = Encoding.JSON
    compress: Compression | None = None
    error: ProtocolError | None = None

    @classmethod
    def parse(cls, query: str) -> ConnectParams:
        """The parameters in ``query`` (the URL's query string, without ``?``)."""
        params = parse_qs(query)

        def last(key: str) -> str | None:
            values = params.get(key)
            return values[-1] if values else None

        return cls.of(last("v"), last("encoding"), last("compress"))

    @classmethod
    def of(cls, version: str | None, encoding: str | None, compress: str | None) -> ConnectParams:
        """The parameters from their raw values (None: absent)."""
        if version != str(GATEWAY_VERSION):
            return cls(error=ProtocolError(CloseCode.INVALID_API_VERSION))
        if encoding is not None and encoding not in _ENCODINGS:
            return cls(error=ProtocolError(CloseCode.DECODE_ERROR, "Invalid encoding"))
        if compress is not None and compress not in _COMPRESSIONS:
            return cls(error=ProtocolError(CloseCode.DECODE_ERROR, "Invalid compression"))
        return cls(
            encoding=Encoding(encoding) if encoding else Encoding.JSON,
            compress=Compression(compress) if compress else None,
        )
