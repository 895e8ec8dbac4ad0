"""Reaction routes: ``/channels/{channel_id}/messages/{message_id}/reactions...``.

The ``{emoji}`` segment arrives URL-decoded (discord.py and discord.js quote it whole:
``%F0%9F%91%8D``, ``name%3Aid``); :mod:`core.emoji` parses it. Every reaction write of a
channel shares one rate-limit bucket, as on Discord (``api.http.shared_bucket``).
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, shared_bucket, user_of
from api.keys import PLATFORM
from core import reactions
from core.access import parse_id

__all__ = ["routes"]

routes = web.RouteTableDef()
_R = "/api/v10/channels/{channel_id}/messages/{message_id}/reactions"
# Discord's one bucket for the reaction writes of a channel (whatever the method and emoji).
_BUCKET = "reactions"


def _ids(request: web.Request) -> tuple[int, int]:
    return (parse_id(request.match_info["channel_id"], "channel"),
            parse_id(request.match_info["message_id"], "message"))


# ``@me`` is registered before ``{user_id}`` so that the literal segment is matched first.
@routes.put(_R + "/{emoji}/@me")
@shared_bucket(_BUCKET)
async def add_own(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    await reactions.add(request.app[PLATFORM], user_of(request), channel_id, message_id,
                        request.match_info["emoji"])
    return no_content()


@routes.delete(_R + "/{emoji}/@me")
@shared_bucket(_BUCKET)
async def remove_own(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    await reactions.remove(request.app[PLATFORM], user_of(request), channel_id, message_id,
                           request.match_info["emoji"])
    return no_content()


@routes.delete(_R + "/{emoji}/{user_id}")
@shared_bucket(_BUCKET)
async def remove_user(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    target = parse_id(request.match_info["user_id"], "user")
    await reactions.remove(request.app[PLATFORM], user_of(request), channel_id, message_id,
                           request.match_info["emoji"], target)
    return no_content()


@routes.get(_R + "/{emoji}")
async def list_users(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    out = await reactions.users(request.app[PLATFORM], user_of(request), channel_id,
                                message_id, request.match_info["emoji"], request.query)
    return json_response(out)


@routes.delete(_R + "/{emoji}")
@shared_bucket(_BUCKET)
async def clear_emoji(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    await reactions.clear(request.app[PLATFORM], user_of(request), channel_id, message_id,
                          request.match_info["emoji"])
    return no_content()


@routes.delete(_R)
@shared_bucket(_BUCKET)
async def clear_all(request: web.Request) -> web.Response:
    channel_id, message_id = _ids(request)
    await reactions.clear(request.app[PLATFORM], user_of(request), channel_id, message_id)
    return no_content()
