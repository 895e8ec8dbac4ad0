"""Request and response helpers shared by every route module."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web

from core.errors import ApiError
from core.models import User
from core.validate import reject_control_chars, require_object

__all__ = [
    "USER", "ResourceLimit", "json_response", "limited_per_resource", "no_content", "public",
    "read_json", "read_json_value", "shared_bucket", "token_of", "user_of",
]

# The authenticated User of a request, set by the auth middleware.
USER = web.RequestKey("user", User)
# Discord's code for "The request body contains invalid JSON."
INVALID_JSON = 50109

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


def public(handler: H) -> H:
    """Mark a handler as reachable without a token (register, login, invites, gateway)."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def shared_bucket(name: str) -> Callable[[H], H]:
    """Put a handler in the rate-limit bucket ``name`` (per major parameter and user), shared
    with every handler that names it, instead of its own (method and route template).

    Discord shares some buckets between routes: all the reaction writes of a channel are one
    (``X-RateLimit-Bucket`` the same whatever the method or emoji); ``api.middleware`` keys
    the bucket by this name.
    """
    def mark(handler: H) -> H:
        handler.bucket = name  # type: ignore[attr-defined]
        return handler
    return mark


@dataclass(frozen=True, slots=True)
class ResourceLimit:
    """A handler's rate limit per resource, whoever calls: one bucket for every request with
    the same values of the path parameters ``params`` (a webhook's executions: its id and
    token), in place of the route's per-caller bucket.

    The bucket's key is a digest of those values, so a secret among them (a webhook token)
    never reaches the shared cache in clear; and since the token is part of it, a caller who
    knows only the id (public: every message of the webhook carries it) fills buckets of
    wrong tokens, never the webhook's own.
    """

    params: tuple[str, ...]
    limit: int
    window_ms: int

    def key(self, request: web.Request) -> str:
        joined = "\0".join(request.match_info.get(p, "") for p in self.params)
        digest = hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()
        return f"res:{digest[:32]}"


def limited_per_resource(*params: str, limit: int, window_ms: int) -> Callable[[H], H]:
    """Rate-limit a handler per resource (:class:`ResourceLimit`): ``limit`` requests per
    ``window_ms`` for each value of the path parameters ``params``; ``api.middleware`` applies
    it (while rate limits are on: ``ratelimit_route_limit`` > 0)."""
    def mark(handler: H) -> H:
        handler.resource_limit = ResourceLimit(params, limit, window_ms)  # type: ignore[attr-defined]
        return handler
    return mark


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response with ``Content-Type: application/json`` exactly.

    aiohttp's ``json_response`` appends ``; charset=utf-8``, which discord.py rejects at login.
    """
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_json_value(request: web.Request) -> Any:
    """The request body as any JSON value (None when empty); reorder routes take arrays.

    Raises:
        ApiError: 400 50109 for malformed JSON, 413 when too large (aiohttp enforces
            ``client_max_size``; the error middleware maps it), 50035 for a string holding
            a control character (``core.validate.reject_control_chars``).
    """
    raw = await request.read()
    if not raw:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, INVALID_JSON, "The request body contains invalid JSON.") from None
    if _may_hold_controls(raw):
        reject_control_chars(body)
    return body


def _may_hold_controls(raw: bytes) -> bool:
    """Whether a JSON text can decode to a string with a C0 control character.

    JSON has no raw control characters in strings (orjson refuses them), only escapes:
    ``\\u00XX``, ``\\b`` or ``\\f``. Without any of them (almost every body) the walk is skipped;
    a false positive (an escaped backslash before ``b``) only costs the walk.
    """
    return b"\\u00" in raw or b"\\b" in raw or b"\\f" in raw


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when empty); 50035 for a non-object."""
    body = await read_json_value(request)
    return {} if body is None else require_object(body)


def user_of(request: web.Request) -> User:
    user: User = request[USER]
    return user


def token_of(request: web.Request) -> str:
    """The request's token: its Authorization header without the ``Bot ``/``Bearer ``
    prefix, as the auth middleware read it (for routes that act on the token itself)."""
    token = request.headers.get("Authorization", "").removeprefix("Bot ")
    return token.removeprefix("Bearer ")
