"""Search routes: ``GET /guilds/{guild_id}/messages/search`` and
``GET /channels/{channel_id}/messages/search`` (``core.search``).

The query string goes to ``core`` as its ``(name, value)`` pairs in order, so a repeated
parameter (``author_id=1&author_id=2``, how Discord's clients send an array) keeps every value.
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, user_of
from api.keys import PLATFORM
from core import search
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"


@routes.get(V + "/guilds/{guild_id}/messages/search")
async def search_guild(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await search.search_guild(request.app[PLATFORM], user_of(request), guild_id,
                                    list(request.query.items()))
    return json_response(out)


# Registered before ``/messages/{message_id}`` (api.routes) so that the literal path wins.
@routes.get(V + "/channels/{channel_id}/messages/search")
async def search_channel(request: web.Request) -> web.Response:
    channel_id = parse_id(request.match_info["channel_id"], "channel")
    out = await search.search_channel(request.app[PLATFORM], user_of(request), channel_id,
                                      list(request.query.items()))
    return json_response(out)
