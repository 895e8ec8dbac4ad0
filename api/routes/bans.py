"""Ban routes: ban, unban, read one ban, list bans, bulk ban (``core.bans``)."""

from __future__ import annotations

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, no_content, read_json, user_of
from api.keys import PLATFORM
from core import bans
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
_G = "/api/v10/guilds/{guild_id}"
# What the ban's body may also take from the query string: discord.py sends
# ``delete_message_seconds`` there, Discord's docs put it in the JSON body.
_QUERY_FIELDS = ("delete_message_seconds", "delete_message_days")


def _guild_id(request: web.Request) -> int:
    return parse_id(request.match_info["guild_id"], "guild")


@routes.get(_G + "/bans")
async def list_bans(request: web.Request) -> web.Response:
    out = await bans.list_bans(request.app[PLATFORM], user_of(request), _guild_id(request),
                               request.query)
    return json_response(out)


@routes.get(_G + "/bans/{user_id}")
async def get_ban(request: web.Request) -> web.Response:
    out = await bans.get_ban(request.app[PLATFORM], user_of(request), _guild_id(request),
                             request.match_info["user_id"])
    return json_response(out)


@routes.put(_G + "/bans/{user_id}")
async def ban(request: web.Request) -> web.Response:
    body = await read_json(request)
    for key in _QUERY_FIELDS:
        if key in request.query and key not in body:
            body[key] = request.query[key]
    await bans.ban(request.app[PLATFORM], user_of(request), _guild_id(request),
                   request.match_info["user_id"], body, reason=audit_reason(request))
    return no_content()


@routes.delete(_G + "/bans/{user_id}")
async def unban(request: web.Request) -> web.Response:
    await bans.unban(request.app[PLATFORM], user_of(request), _guild_id(request),
                     request.match_info["user_id"], reason=audit_reason(request))
    return no_content()


@routes.post(_G + "/bulk-ban")
async def bulk_ban(request: web.Request) -> web.Response:
    body = await read_json(request)
    out = await bans.bulk_ban(request.app[PLATFORM], user_of(request), _guild_id(request), body,
                              reason=audit_reason(request))
    return json_response(out)
