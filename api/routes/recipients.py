"""Group DM recipient routes: add one, remove one (or oneself: leave)."""

from __future__ import annotations

from aiohttp import web

from api.http import no_content, user_of
from api.keys import PLATFORM
from core import group_dms
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
_R = "/api/v10/channels/{channel_id}/recipients/{user_id}"


def _ids(request: web.Request) -> tuple[int, int]:
    return (parse_id(request.match_info["channel_id"], "channel"),
            parse_id(request.match_info["user_id"], "user"))


@routes.put(_R)
async def add_recipient(request: web.Request) -> web.Response:
    # Discord's body (``access_token``, ``nick``: a bot's OAuth2 grant) is not read: a
    # recipient adds a user here without one, as Discord's own client does.
    channel_id, user_id = _ids(request)
    await group_dms.add_recipient(request.app[PLATFORM], user_of(request), channel_id, user_id)
    return no_content()


@routes.delete(_R)
async def remove_recipient(request: web.Request) -> web.Response:
    channel_id, user_id = _ids(request)
    await group_dms.remove_recipient(request.app[PLATFORM], user_of(request), channel_id,
                                     user_id)
    return no_content()
