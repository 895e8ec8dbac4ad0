"""Read state routes: acknowledging a channel read up to a message (user accounts only)."""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, read_json, user_of
from api.keys import PLATFORM
from core import read_states
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/api/v10/channels/{channel_id}/messages/{message_id}/ack")
async def ack(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    message_id = parse_id(request.match_info["message_id"], "message")
    body = await read_json(request)
    out = await read_states.ack(request.app[PLATFORM], user_of(request), channel_id, message_id,
                                body)
    return json_response(out)
