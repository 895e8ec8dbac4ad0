"""Message routes: send, history, fetch, edit, delete, bulk delete and typing."""

from __future__ import annotations

import math

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, no_content, read_json, user_of
from api.keys import PLATFORM
from api.multipart import is_multipart, message_upload
from core import history, messages
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_C = V + "/channels/{channel_id}"
# discord.py takes a 429 without `Via` for a Cloudflare ban and gives up (docs/compatibility.md); the
# same value as the rate-limit middleware's.
_VIA = "1.1 discord-arch"


def _channel_id(request: web.Request) -> int:
    return parse_id(request.match_info["channel_id"], "channel")


def _message_id(request: web.Request) -> int:
    return parse_id(request.match_info["message_id"], "message")


# Registered before ``/messages/{message_id}`` so that the literal path is matched first.
@routes.post(_C + "/messages/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    body = await read_json(request)
    await messages.bulk_delete(request.app[PLATFORM], user_of(request), channel_id, body,
                               reason=audit_reason(request))
    return no_content()


@routes.post(_C + "/messages")
async def send(request: web.Request) -> web.Response:
    """A JSON body, or ``multipart/form-data`` with ``payload_json`` and ``files[n]``."""
    channel_id = _channel_id(request)
    p, user = request.app[PLATFORM], user_of(request)
    try:
        if is_multipart(request):
            async with message_upload(request, p, channel_id,
                                      lambda: messages.may_attach(p, user, channel_id)) as up:
                out = await messages.send(p, user, channel_id, up.body, up.files)
        else:
            # Sampled (core.timeline): received once the middleware let the request through.
            trace = p.timeline.start() if p.timeline.every else None
            out = await messages.send(p, user, channel_id, await read_json(request),
                                      trace=trace)
    except messages.SlowmodeLimited as e:
        # Returned rather than raised so that the rate-limit headers are added as well.
        headers = {"Retry-After": str(math.ceil(e.retry_after)), "Via": _VIA,
                   "X-RateLimit-Scope": "user"}
        return json_response(e.body(), e.status, headers=headers)
    return json_response(out)


@routes.get(_C + "/messages")
async def get_history(request: web.Request) -> web.Response:
    out = await history.history(
        request.app[PLATFORM], user_of(request), _channel_id(request), request.query
    )
    return json_response(out)


@routes.get(_C + "/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    out = await history.get(
        request.app[PLATFORM], user_of(request), channel_id, _message_id(request)
    )
    return json_response(out)


@routes.patch(_C + "/messages/{message_id}")
async def edit_message(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    message_id = _message_id(request)
    p, user = request.app[PLATFORM], user_of(request)
    if is_multipart(request):
        async with message_upload(request, p, channel_id,
                                  lambda: messages.may_attach(p, user, channel_id)) as up:
            out = await messages.edit(p, user, channel_id, message_id, up.body, up.files)
    else:
        out = await messages.edit(p, user, channel_id, message_id, await read_json(request))
    return json_response(out)


@routes.delete(_C + "/messages/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    await messages.delete(request.app[PLATFORM], user_of(request), channel_id, _message_id(request),
                          reason=audit_reason(request))
    return no_content()


@routes.post(_C + "/typing")
async def typing(request: web.Request) -> web.Response:
    await messages.typing(request.app[PLATFORM], user_of(request), _channel_id(request))
    return no_content()
