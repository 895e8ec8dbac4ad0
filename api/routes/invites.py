"""Invite routes: create and list a channel's, list a guild's, read, accept and delete one."""

from __future__ import annotations

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, public, read_json, user_of
from api.keys import PLATFORM
from core import invites
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"


def _channel_id(request: web.Request) -> int:
    return parse_id(request.match_info["channel_id"], "channel")


@routes.post(V + "/channels/{channel_id}/invites")
async def create_invite(request: web.Request) -> web.Response:
    body = await read_json(request)
    out = await invites.create_invite(request.app[PLATFORM], user_of(request),
                                      _channel_id(request), body, reason=audit_reason(request))
    return json_response(out)


@routes.get(V + "/channels/{channel_id}/invites")
async def channel_invites(request: web.Request) -> web.Response:
    out = await invites.list_channel_invites(request.app[PLATFORM], user_of(request),
                                             _channel_id(request))
    return json_response(out)


@routes.get(V + "/guilds/{guild_id}/invites")
async def guild_invites(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await invites.list_guild_invites(request.app[PLATFORM], user_of(request), guild_id)
    return json_response(out)


@routes.get(V + "/invites/{code}")
@public
async def get_invite(request: web.Request) -> web.Response:
    """Public: anyone holding the code may look. ``?with_counts=true`` adds the member count."""
    with_counts = request.query.get("with_counts", "").lower() == "true"
    out = await invites.get_invite(request.app[PLATFORM], request.match_info["code"],
                                   with_counts=with_counts)
    return json_response(out)


@routes.post(V + "/invites/{code}")
async def accept_invite(request: web.Request) -> web.Response:
    out = await invites.accept_invite(request.app[PLATFORM], user_of(request),
                                      request.match_info["code"])
    return json_response(out)


@routes.delete(V + "/invites/{code}")
async def delete_invite(request: web.Request) -> web.Response:
    out = await invites.delete_invite(request.app[PLATFORM], user_of(request),
                                      request.match_info["code"], reason=audit_reason(request))
    return json_response(out)
