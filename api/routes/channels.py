"""Channel routes: guild channels (list, create, reorder), a channel, and DMs."""

from __future__ import annotations

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, no_content, read_json, read_json_value, user_of
from api.keys import PLATFORM
from core import channels
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"


@routes.get(V + "/guilds/{guild_id}/channels")
async def list_guild_channels(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await channels.list_guild_channels(request.app[PLATFORM], user_of(request), guild_id)
    return json_response(out)


@routes.post(V + "/guilds/{guild_id}/channels")
async def create_channel(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    body = await read_json(request)
    out = await channels.create_channel(request.app[PLATFORM], user_of(request), guild_id, body,
                                        reason=audit_reason(request))
    return json_response(out, 201)


@routes.patch(V + "/guilds/{guild_id}/channels")
async def reorder_channels(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    items = await read_json_value(request)
    await channels.reorder_channels(request.app[PLATFORM], user_of(request), guild_id, items)
    return no_content()


@routes.get(V + "/channels/{channel_id}")
async def get_channel(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    out = await channels.get_channel(request.app[PLATFORM], user_of(request), channel_id)
    return json_response(out)


@routes.patch(V + "/channels/{channel_id}")
async def patch_channel(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    body = await read_json(request)
    out = await channels.update_channel(request.app[PLATFORM], user_of(request), channel_id, body,
                                        reason=audit_reason(request))
    return json_response(out)


@routes.delete(V + "/channels/{channel_id}")
async def delete_channel(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    out = await channels.delete_channel(request.app[PLATFORM], user_of(request), channel_id,
                                        reason=audit_reason(request))
    return json_response(out)


@routes.post(V + "/users/@me/channels")
async def open_dm(request: web.Request) -> web.Response:
    body = await read_json(request)
    out = await channels.open_dm(request.app[PLATFORM], user_of(request), body)
    return json_response(out)


@routes.get(V + "/users/@me/channels")
async def list_dms(request: web.Request) -> web.Response:
    out = await channels.list_dms(request.app[PLATFORM], user_of(request))
    return json_response(out)
