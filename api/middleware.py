"""Errors, authentication and rate limits, as Discord does them."""

from __future__ import annotations

import logging
import math
import time

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.forwarded import forwarded_middleware
from api.http import USER, Handler, json_response
from api.ops import measure_middleware
from core.errors import ApiError
from core.platform import Platform
from core.proxies import TrustedProxies

__all__ = ["make_middlewares"]

logger = logging.getLogger(__name__)

# discord.py takes a 429 without `Via` for a Cloudflare ban and gives up (docs/compatibility.md).
_VIA = "1.1 discord-arch"
_READ_MULTIPLIER = 10  # GET buckets allow this many times the write limit
# Discord's body for an unexpected server error.
_INTERNAL = {"message": "500: Internal Server Error", "code": 0}


def make_middlewares(platform: Platform) -> list[Middleware]:
    """The middleware chain: the client's address behind trusted proxies (outermost, only
    when ``trusted_proxies`` names some), metrics, errors, authentication, rate limits."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as e:
            return json_response(e.body(), status=e.status)
        except web.HTTPRequestEntityTooLarge:
            return json_response({"message": "Request entity too large", "code": 40005}, 413)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return json_response(
                {"message": f"{e.status}: {e.reason}", "code": 0}, e.status, headers=_allow(e)
            )
        except Exception as e:
            # A bug or a backend failure: Discord's JSON 500, never aiohttp's text page with
            # its traceback, and one log line (with the traceback) for the operator. The
            # metrics middleware outside never sees it raised, so the backend is counted here.
            platform.metrics.backend_error(e, "http")
            logger.exception("%s %s failed", request.method, _route(request),
                             extra={"peer": request.remote})
            return json_response(_INTERNAL, 500)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        unmatched = request.match_info.http_exception is not None  # 404/405 need no token
        if unmatched or getattr(handler, "public", False) or not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        is_bot = header.startswith("Bot ")
        token = header[4:] if is_bot else header
        if token.startswith("Bearer "):
            token = token[7:]
        user = await platform.tokens.resolve_user(token) if token else None
        # Bot tokens must come with the "Bot " prefix and user tokens without it.
        if user is None or user.bot != is_bot:
            raise ApiError.unauthorized()
        request[USER] = user
        return await handler(request)

    @web.middleware
    async def ratelimit(request: web.Request, handler: Handler) -> web.StreamResponse:
        cfg = platform.config
        # The CDN (api/routes/cdn.py) is outside /api: not the API's buckets, as static files.
        if (not cfg.ratelimit_route_limit or request.match_info.route.resource is None
                or not request.path.startswith("/api/")):
            return await handler(request)
        user = request.get(USER)
        # request.remote: the client, also behind a trusted proxy (api.forwarded), so that
        # one client's burst never limits everyone behind the proxy.
        who = str(user.id) if user is not None else f"ip:{request.remote}"
        if user is not None and cfg.ratelimit_global_per_s:
            ok, _, reset_ms = await platform.cache.rate_hit(
                f"rl:g:{who}", cfg.ratelimit_global_per_s, 1000
            )
            if not ok:
                return _too_many(reset_ms, "global", is_global=True)
        bucket = _bucket(request, handler)
        limit, window_ms = cfg.ratelimit_route_limit, cfg.ratelimit_route_window_ms
        if request.method == "GET":
            limit *= _READ_MULTIPLIER
        per_resource = getattr(handler, "resource_limit", None)
        if per_resource is not None:  # api.http.limited_per_resource: any caller, one bucket
            who, limit, window_ms = (per_resource.key(request), per_resource.limit,
                                     per_resource.window_ms)
        ok, remaining, reset_ms = await platform.cache.rate_hit(
            f"rl:{bucket}:{who}", limit, window_ms
        )
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_ms / 1000:.3f}",
            "X-RateLimit-Reset-After": f"{reset_ms / 1000:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if not ok:
            return _too_many(reset_ms, "user", headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    chain = [measure_middleware(platform.metrics), errors, auth, ratelimit]
    proxies = TrustedProxies.parse(platform.config.trusted_proxies)
    return [forwarded_middleware(proxies), *chain] if proxies else chain


def _bucket(request: web.Request, handler: Handler) -> str:
    """Discord-style bucket: method + route template + the major parameter's value, or the
    name several routes share (``api.http.shared_bucket``) + the major parameter's value."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    info = request.match_info
    major = info.get("channel_id") or info.get("guild_id") or info.get("webhook_id") or ""
    shared = getattr(handler, "bucket", None)
    return f"{shared}:{major}" if shared else f"{request.method}:{template}:{major}"


def _route(request: web.Request) -> str:
    """The route template of ``request`` (never the raw path: it may carry anything)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


def _too_many(
    reset_ms: int, scope: str, *, is_global: bool = False, headers: dict[str, str] | None = None
) -> web.Response:
    retry_after = max(reset_ms, 1) / 1000
    out = dict(headers or {})
    out.update({
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Scope": scope,
        "Via": _VIA,
    })
    if is_global:
        out["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after,
            "global": is_global, "code": 0}
    return json_response(body, 429, headers=out)


def _allow(e: web.HTTPException) -> dict[str, str] | None:
    allow = e.headers.get("Allow")
    return {"Allow": allow} if allow else None
