"""Guild routes: create, read, edit and delete a guild, and the user's guild list."""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, read_json, user_of
from api.keys import PLATFORM
from core import guilds
from core.access import parse_id
from core.errors import invalid_form
from core.validate import get_int

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"


@routes.post(V + "/guilds")
async def create_guild(request: web.Request) -> web.Response:
    body = await read_json(request)
    out = await guilds.create_guild(request.app[PLATFORM], user_of(request), body)
    return json_response(out, 201)


@routes.get(V + "/guilds/{guild_id}")
async def get_guild(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    with_counts = request.query.get("with_counts", "").lower() == "true"
    out = await guilds.get_guild(request.app[PLATFORM], user_of(request), guild_id, with_counts)
    return json_response(out)


@routes.patch(V + "/guilds/{guild_id}")
async def patch_guild(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    body = await read_json(request)
    out = await guilds.update_guild(request.app[PLATFORM], user_of(request), guild_id, body)
    return json_response(out)


@routes.delete(V + "/guilds/{guild_id}")
async def delete_guild(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    await guilds.delete_guild(request.app[PLATFORM], user_of(request), guild_id)
    return no_content()


@routes.get(V + "/users/@me/guilds")
async def my_guilds(request: web.Request) -> web.Response:
    """``?limit=1..200`` (default 200), ``before``/``after`` a guild id."""
    query = dict(request.query)
    limit = get_int(query, "limit", lo=1, hi=guilds.USER_GUILDS_PAGE_MAX,
                    default=guilds.USER_GUILDS_PAGE_MAX)
    cursors = {}
    for key in ("before", "after"):
        if key in query:
            value = query[key]
            if not (value.isascii() and value.isdigit() and len(value) <= 20):
                raise invalid_form(
                    key, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not snowflake."
                )
            cursors[key] = int(value)
    out = await guilds.list_user_guilds(
        request.app[PLATFORM], user_of(request), limit=limit, **cursors
    )
    return json_response(out)
