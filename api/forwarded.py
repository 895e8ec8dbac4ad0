"""The REST side of trusted proxies: ``request.remote`` becomes the client behind them.

Outermost in the middleware chain, so that everything after it (the rate limits' ``ip:``
key of anonymous requests, the logs) sees the client's address, never the proxy's. Whose
headers are believed, and how they are read: ``core.proxies``. Not in the chain at all when
no proxy is trusted (the default): nothing to read, nothing to pay.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.http import Handler
from core.proxies import TrustedProxies

__all__ = ["forwarded_middleware"]


def forwarded_middleware(proxies: TrustedProxies) -> Middleware:
    """Replace ``request.remote`` by the client's address when a trusted proxy names it."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if peer is not None:
            client = proxies.client(peer, request.headers)  # the peer unless a proxy's
            if client != peer:
                # aiohttp's way (its docs, aiohttp-remotes): a clone with another remote.
                request = request.clone(remote=client)
        return await handler(request)

    return forwarded
