"""Role routes (list, create, reorder, edit, delete) and channel permission overwrites."""

from __future__ import annotations

import orjson
from aiohttp import web

from api.app import PLATFORM
from api.http import INVALID_JSON, json_response, no_content, read_json, user_of
from core import roles
from core.access import parse_id
from core.errors import ApiError
from core.wire import role_json

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_R = V + "/guilds/{guild_id}/roles"


def _guild_id(request: web.Request) -> int:
    return parse_id(request.match_info["guild_id"], "guild")


def _channel_id(request: web.Request) -> int:
    return parse_id(request.match_info["channel_id"], "channel")


@routes.get(_R)
async def list_roles(request: web.Request) -> web.Response:
    out = await roles.list_roles(request.app[PLATFORM], user_of(request), _guild_id(request))
    return json_response([role_json(r) for r in out])


@routes.post(_R)
async def create_role(request: web.Request) -> web.Response:
    body = await read_json(request)
    role = await roles.create_role(request.app[PLATFORM], user_of(request), _guild_id(request),
                                   body)
    return json_response(role_json(role))


@routes.patch(_R)
async def move_roles(request: web.Request) -> web.Response:
    """The body is a JSON list ``[{id, position}, ...]``, so it is not read with read_json."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise ApiError(400, INVALID_JSON, "The request body contains invalid JSON.") from None
    out = await roles.move_roles(request.app[PLATFORM], user_of(request), _guild_id(request), body)
    return json_response([role_json(r) for r in out])


@routes.patch(_R + "/{role_id}")
async def patch_role(request: web.Request) -> web.Response:
    body = await read_json(request)
    role = await roles.update_role(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["role_id"], body,
    )
    return json_response(role_json(role))


@routes.delete(_R + "/{role_id}")
async def delete_role(request: web.Request) -> web.Response:
    await roles.delete_role(request.app[PLATFORM], user_of(request), _guild_id(request),
                            request.match_info["role_id"])
    return no_content()


@routes.put(V + "/channels/{channel_id}/permissions/{overwrite_id}")
async def put_overwrite(request: web.Request) -> web.Response:
    body = await read_json(request)
    await roles.put_overwrite(
        request.app[PLATFORM], user_of(request), _channel_id(request),
        request.match_info["overwrite_id"], body,
    )
    return no_content()


@routes.delete(V + "/channels/{channel_id}/permissions/{overwrite_id}")
async def delete_overwrite(request: web.Request) -> web.Response:
    await roles.delete_overwrite(request.app[PLATFORM], user_of(request), _channel_id(request),
                                 request.match_info["overwrite_id"])
    return no_content()
