"""Thread routes: create (from a message or not), members, and the listings.

Editing, archiving, locking and deleting a thread are ``PATCH``/``DELETE /channels/{id}``
(``api.routes.channels``, which ``core.channels`` hands to ``core.threads`` for a thread).
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, read_json, user_of
from api.keys import PLATFORM
from core import thread_listings, threads
from core.access import parse_id
from core.validate import get_bool, get_int, get_snowflake

__all__ = ["routes"]

routes = web.RouteTableDef()
_C = "/api/v10/channels/{channel_id}"
_MEMBERS = _C + "/thread-members"


def _channel_id(request: web.Request) -> int:
    return parse_id(request.match_info["channel_id"], "channel")


def _user_id(request: web.Request) -> int | None:
    """``@me`` (None: the caller) or a user id."""
    value = request.match_info["user_id"]
    return None if value == "@me" else parse_id(value, "user")


@routes.post(_C + "/messages/{message_id}/threads")
async def create_from_message(request: web.Request) -> web.Response:
    message_id = parse_id(request.match_info["message_id"], "message")
    out = await threads.create_from_message(request.app[PLATFORM], user_of(request),
                                            _channel_id(request), message_id,
                                            await read_json(request))
    return json_response(out, status=201)


@routes.post(_C + "/threads")
async def create_thread(request: web.Request) -> web.Response:
    out = await threads.create_thread(request.app[PLATFORM], user_of(request),
                                      _channel_id(request), await read_json(request))
    return json_response(out, status=201)


@routes.put(_MEMBERS + "/{user_id}")
async def add_member(request: web.Request) -> web.Response:
    await threads.add_member(request.app[PLATFORM], user_of(request), _channel_id(request),
                             _user_id(request))
    return no_content()


@routes.delete(_MEMBERS + "/{user_id}")
async def remove_member(request: web.Request) -> web.Response:
    await threads.remove_member(request.app[PLATFORM], user_of(request), _channel_id(request),
                                _user_id(request))
    return no_content()


def _with_member(request: web.Request) -> bool:
    value = request.query.get("with_member", "false").lower()
    return bool(get_bool({"with_member": value in ("true", "1")}, "with_member"))


@routes.get(_MEMBERS + "/{user_id}")
async def get_member(request: web.Request) -> web.Response:
    user = user_of(request)
    target = _user_id(request)
    out = await threads.get_member(request.app[PLATFORM], user, _channel_id(request),
                                   user.id if target is None else target,
                                   _with_member(request))
    return json_response(out)


@routes.get(_MEMBERS)
async def list_members(request: web.Request) -> web.Response:
    query = dict(request.query)
    after = get_snowflake(query, "after", default=0)
    limit = get_int(query, "limit", lo=1, hi=threads.MEMBERS_PAGE_MAX,
                    default=threads.MEMBERS_PAGE_MAX)
    out = await threads.list_members(request.app[PLATFORM], user_of(request),
                                     _channel_id(request), after=after, limit=limit,
                                     with_member=_with_member(request))
    return json_response(out)


@routes.get("/api/v10/guilds/{guild_id}/threads/active")
async def active(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    out = await thread_listings.list_active(request.app[PLATFORM], user_of(request), guild_id)
    return json_response(out)


@routes.get(_C + "/threads/archived/public")
async def archived_public(request: web.Request) -> web.Response:
    out = await thread_listings.list_archived(request.app[PLATFORM], user_of(request),
                                              _channel_id(request), private=False,
                                              query=request.query)
    return json_response(out)


@routes.get(_C + "/threads/archived/private")
async def archived_private(request: web.Request) -> web.Response:
    out = await thread_listings.list_archived(request.app[PLATFORM], user_of(request),
                                              _channel_id(request), private=True,
                                              query=request.query)
    return json_response(out)


@routes.get(_C + "/users/@me/threads/archived/private")
async def joined_private_archived(request: web.Request) -> web.Response:
    out = await thread_listings.list_joined_private_archived(
        request.app[PLATFORM], user_of(request), _channel_id(request), request.query)
    return json_response(out)
