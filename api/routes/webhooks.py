"""Webhook routes: managing a channel's webhooks with a user's or bot's token, and the token
routes (``/webhooks/{webhook_id}/{webhook_token}...``) that need no account.

The token routes are public: the token in the path is the credential (``core.webhooks``).
Its path parameter's name holds "token", so the DEBUG request line logs the route's template
rather than the path (``api.ops``), as the error log always does (``api.middleware``).
Executing is rate-limited per webhook (Discord's 5 per 2 s), whoever calls
(``api.http.limited_per_resource``); everything else by the usual per-caller buckets.
"""

from __future__ import annotations

import math

from aiohttp import web

from api.http import (
    json_response,
    limited_per_resource,
    no_content,
    public,
    read_json,
    user_of,
)
from api.keys import PLATFORM
from api.multipart import is_multipart, message_upload
from core import webhook_messages, webhooks
from core.access import parse_id

__all__ = ["EXECUTE_LIMIT", "EXECUTE_WINDOW_MS", "routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_HOOK = V + "/webhooks/{webhook_id}"
_TOKEN = _HOOK + "/{webhook_token}"
# Executions of one webhook per window (Discord's: 5 per 2 s per webhook).
EXECUTE_LIMIT, EXECUTE_WINDOW_MS = 5, 2000
# discord.py takes a 429 without `Via` for a Cloudflare ban and gives up (docs/compatibility.md);
# the same value as the rate-limit middleware's.
_VIA = "1.1 discord-arch"


def _webhook_id(request: web.Request) -> int:
    return parse_id(request.match_info["webhook_id"], "webhook")


def _token(request: web.Request) -> str:
    return request.match_info["webhook_token"]


def _message_id(request: web.Request) -> int:
    return parse_id(request.match_info["message_id"], "message")


# -- with a user's or bot's token ---------------------------------------------------------------


@routes.post(V + "/channels/{channel_id}/webhooks")
async def create(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    body = await read_json(request)
    out = await webhooks.create(request.app[PLATFORM], user_of(request), channel_id, body)
    return json_response(out)


@routes.get(V + "/channels/{channel_id}/webhooks")
async def for_channel(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    out = await webhooks.list_for_channel(request.app[PLATFORM], user_of(request), channel_id)
    return json_response(out)


@routes.get(V + "/guilds/{guild_id}/webhooks")
async def for_guild(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await webhooks.list_for_guild(request.app[PLATFORM], user_of(request), guild_id)
    return json_response(out)


@routes.get(_HOOK)
async def get(request: web.Request) -> web.Response:
    out = await webhooks.get(request.app[PLATFORM], user_of(request), _webhook_id(request))
    return json_response(out)


@routes.patch(_HOOK)
async def update(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    body = await read_json(request)
    out = await webhooks.update(request.app[PLATFORM], user_of(request), webhook_id, body)
    return json_response(out)


@routes.delete(_HOOK)
async def delete(request: web.Request) -> web.Response:
    await webhooks.delete(request.app[PLATFORM], user_of(request), _webhook_id(request))
    return no_content()


# -- with the webhook's token -------------------------------------------------------------------


@routes.get(_TOKEN)
@public
async def get_with_token(request: web.Request) -> web.Response:
    out = await webhooks.get_with_token(request.app[PLATFORM], _webhook_id(request),
                                        _token(request))
    return json_response(out)


@routes.patch(_TOKEN)
@public
async def update_with_token(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    body = await read_json(request)
    out = await webhooks.update_with_token(request.app[PLATFORM], webhook_id, _token(request),
                                           body)
    return json_response(out)


@routes.delete(_TOKEN)
@public
async def delete_with_token(request: web.Request) -> web.Response:
    await webhooks.delete_with_token(request.app[PLATFORM], _webhook_id(request),
                                     _token(request))
    return no_content()


@routes.post(_TOKEN)
@public
@limited_per_resource("webhook_id", "webhook_token", limit=EXECUTE_LIMIT,
                      window_ms=EXECUTE_WINDOW_MS)
async def execute(request: web.Request) -> web.Response:
    """A JSON body, or ``multipart/form-data`` with ``payload_json`` and ``files[n]`` (read
    only once the token is checked: a wrong token stores no file)."""
    p = request.app[PLATFORM]
    to = await _target(request)
    try:
        if is_multipart(request):
            async with message_upload(request, p, to.channel.id, _may_attach) as up:
                out = await webhook_messages.execute(p, to, request.query, up.body, up.files)
        else:
            out = await webhook_messages.execute(p, to, request.query, await read_json(request))
    except webhook_messages.ChannelRateLimited as e:
        # Returned rather than raised so that the rate-limit headers are added as well.
        headers = {"Retry-After": str(math.ceil(e.retry_after)), "Via": _VIA,
                   "X-RateLimit-Scope": "shared"}
        return json_response(e.body(), e.status, headers=headers)
    return no_content() if out is None else json_response(out)


@routes.get(_TOKEN + "/messages/{message_id}")
@public
async def get_message(request: web.Request) -> web.Response:
    to = await _target(request)
    out = await webhook_messages.get_message(request.app[PLATFORM], to, _message_id(request))
    return json_response(out)


@routes.patch(_TOKEN + "/messages/{message_id}")
@public
async def edit_message(request: web.Request) -> web.Response:
    """A JSON body, or multipart with new files (as :func:`execute`)."""
    p, message_id = request.app[PLATFORM], _message_id(request)
    to = await _target(request)
    if is_multipart(request):
        async with message_upload(request, p, to.channel.id, _may_attach) as up:
            out = await webhook_messages.edit_message(p, to, message_id, up.body, up.files,
                                                      request.query)
    else:
        out = await webhook_messages.edit_message(p, to, message_id, await read_json(request),
                                                  query=request.query)
    return json_response(out)


@routes.delete(_TOKEN + "/messages/{message_id}")
@public
async def delete_message(request: web.Request) -> web.Response:
    to = await _target(request)
    await webhook_messages.delete_message(request.app[PLATFORM], to, _message_id(request))
    return no_content()


async def _target(request: web.Request) -> webhook_messages.Target:
    return await webhook_messages.target(request.app[PLATFORM], _webhook_id(request),
                                         _token(request), request.query)


async def _may_attach() -> None:
    """A webhook may attach files wherever it may send: nothing to check once its token is."""
