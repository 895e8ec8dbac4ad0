"""Pin routes: Discord's deprecated ``/channels/{channel_id}/pins`` and the newer
``/channels/{channel_id}/messages/pins`` that discord.py 2.7 calls, both served.

Registered before the message routes (``api.routes.ROUTE_TABLES``): ``/messages/pins`` would
otherwise be taken for ``/messages/{message_id}``.
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, user_of
from api.keys import PLATFORM
from core import pins
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
_C = "/api/v10/channels/{channel_id}"


def _channel_id(request: web.Request) -> int:
    return parse_id(request.match_info["channel_id"], "channel")


def _message_id(request: web.Request) -> int:
    return parse_id(request.match_info["message_id"], "message")


@routes.get(_C + "/messages/pins")
async def pins_page(request: web.Request) -> web.Response:
    out = await pins.page(request.app[PLATFORM], user_of(request), _channel_id(request),
                          request.query)
    return json_response(out)


@routes.get(_C + "/pins")
async def pins_list(request: web.Request) -> web.Response:
    out = await pins.list_all(request.app[PLATFORM], user_of(request), _channel_id(request))
    return json_response(out)


@routes.put(_C + "/messages/pins/{message_id}")
@routes.put(_C + "/pins/{message_id}")
async def pin(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    await pins.pin(request.app[PLATFORM], user_of(request), channel_id, _message_id(request))
    return no_content()


@routes.delete(_C + "/messages/pins/{message_id}")
@routes.delete(_C + "/pins/{message_id}")
async def unpin(request: web.Request) -> web.Response:
    channel_id = _channel_id(request)
    await pins.unpin(request.app[PLATFORM], user_of(request), channel_id, _message_id(request))
    return no_content()
