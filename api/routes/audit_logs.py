"""The audit log route: ``GET /guilds/{guild_id}/audit-logs`` (``core.audit``)."""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, user_of
from api.keys import PLATFORM
from core import audit
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/api/v10/guilds/{guild_id}/audit-logs")
async def audit_log(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await audit.audit_log(request.app[PLATFORM], user_of(request), guild_id, request.query)
    return json_response(out)
