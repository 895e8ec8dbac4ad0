"""Role routes (list, create, reorder, edit, delete) and channel permission overwrites."""

from __future__ import annotations

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, no_content, read_json, read_json_value, user_of
from api.keys import PLATFORM
from core import roles
from core.access import parse_id
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
                                   body, reason=audit_reason(request))
    return json_response(role_json(role))


@routes.patch(_R)
async def move_roles(request: web.Request) -> web.Response:
    """The body is a JSON list ``[{id, position}, ...]``."""
    body = await read_json_value(request)
    out = await roles.move_roles(request.app[PLATFORM], user_of(request), _guild_id(request), body)
    return json_response([role_json(r) for r in out])


@routes.patch(_R + "/{role_id}")
async def patch_role(request: web.Request) -> web.Response:
    body = await read_json(request)
    role = await roles.update_role(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["role_id"], body, reason=audit_reason(request),
    )
    return json_response(role_json(role))


@routes.delete(_R + "/{role_id}")
async def delete_role(request: web.Request) -> web.Response:
    await roles.delete_role(request.app[PLATFORM], user_of(request), _guild_id(request),
                            request.match_info["role_id"], reason=audit_reason(request))
    return no_content()


@routes.put(V + "/channels/{channel_id}/permissions/{overwrite_id}")
async def put_overwrite(request: web.Request) -> web.Response:
    body = await read_json(request)
    await roles.put_overwrite(
        request.app[PLATFORM], user_of(request), _channel_id(request),
        request.match_info["overwrite_id"], body, reason=audit_reason(request),
    )
    return no_content()


@routes.delete(V + "/channels/{channel_id}/permissions/{overwrite_id}")
async def delete_overwrite(request: web.Request) -> web.Response:
    await roles.delete_overwrite(request.app[PLATFORM], user_of(request), _channel_id(request),
                                 request.match_info["overwrite_id"], reason=audit_reason(request))
    return no_content()
