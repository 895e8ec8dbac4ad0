"""Member routes: list, read, add a bot, edit, kick, leave, and give or take a role."""

from __future__ import annotations

from aiohttp import web

from api.audit_reason import audit_reason
from api.http import json_response, no_content, read_json, user_of
from api.keys import PLATFORM
from core import members
from core.access import parse_id
from core.validate import get_int

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_M = V + "/guilds/{guild_id}/members"


def _guild_id(request: web.Request) -> int:
    return parse_id(request.match_info["guild_id"], "guild")


@routes.get(_M)
async def list_members(request: web.Request) -> web.Response:
    """``?limit=1..1000`` (default 1, as Discord) and ``after`` (a user id, default 0)."""
    query = dict(request.query)
    limit = get_int(query, "limit", lo=1, hi=members.MEMBERS_PAGE_MAX, default=1)
    after = get_int(query, "after", lo=0, hi=(1 << 63) - 1, default=0)
    out = await members.list_members(
        request.app[PLATFORM], user_of(request), _guild_id(request), limit=limit, after=after
    )
    return json_response(out)


# Registered before ``/members/{user_id}`` so that ``@me`` is not taken for a user id.
@routes.patch(_M + "/@me")
async def patch_me(request: web.Request) -> web.Response:
    body = await read_json(request)
    actor = user_of(request)
    out = await members.update_member(
        request.app[PLATFORM], actor, _guild_id(request), actor.id, body, self_edit=True,
        reason=audit_reason(request),
    )
    return json_response(out)


@routes.get(_M + "/{user_id}")
async def get_member(request: web.Request) -> web.Response:
    out = await members.get_member(
        request.app[PLATFORM], user_of(request), _guild_id(request), request.match_info["user_id"]
    )
    return json_response(out)


@routes.put(_M + "/{user_id}")
async def add_member(request: web.Request) -> web.Response:
    """Adds a bot user: 201 with the member, or 204 when it already is one."""
    body = await read_json(request)
    out = await members.add_bot(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["user_id"], body,
    )
    return no_content() if out is None else json_response(out, 201)


@routes.patch(_M + "/{user_id}")
async def patch_member(request: web.Request) -> web.Response:
    body = await read_json(request)
    out = await members.update_member(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["user_id"], body, reason=audit_reason(request),
    )
    return json_response(out)


@routes.delete(_M + "/{user_id}")
async def kick_member(request: web.Request) -> web.Response:
    await members.kick(
        request.app[PLATFORM], user_of(request), _guild_id(request), request.match_info["user_id"],
        reason=audit_reason(request),
    )
    return no_content()


@routes.put(_M + "/{user_id}/roles/{role_id}")
async def give_role(request: web.Request) -> web.Response:
    await members.set_member_role(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["user_id"], request.match_info["role_id"], give=True,
        reason=audit_reason(request),
    )
    return no_content()


@routes.delete(_M + "/{user_id}/roles/{role_id}")
async def take_role(request: web.Request) -> web.Response:
    await members.set_member_role(
        request.app[PLATFORM], user_of(request), _guild_id(request),
        request.match_info["user_id"], request.match_info["role_id"], give=False,
        reason=audit_reason(request),
    )
    return no_content()


@routes.delete(V + "/users/@me/guilds/{guild_id}")
async def leave_guild(request: web.Request) -> web.Response:
    await members.leave(request.app[PLATFORM], user_of(request), _guild_id(request))
    return no_content()
