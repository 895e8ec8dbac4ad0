"""Interaction routes: a user invokes a command (``POST /interactions``, Discord's own client
route, with the user's token), the bot answers (``/interactions/{id}/{token}/callback``) and
follows up (``/webhooks/{application_id}/{token}...``), those two by the interaction's token
alone (``core.interactions``, ``core.interaction_responses``).

The follow-up routes share their shape with a webhook's token routes; an interaction token
begins with base64 "interaction:" as Discord's do, and the path patterns below take only such a
token, so this table is registered before the webhooks' and the rest reaches those. The path
parameters' names hold "token": the request log keeps the template, never the token.
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, public, read_json_value, user_of
from api.keys import PLATFORM
from core import interaction_responses, interactions
from core.access import parse_id
from core.errors import ApiError

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_TOKEN = "{interaction_token:" + interactions.TOKEN_PREFIX + "[A-Za-z0-9_-]{1,200}}"
_FOLLOWUP = V + "/webhooks/{application_id}/" + _TOKEN
_MESSAGE = _FOLLOWUP + "/messages/{message_id}"


def _token(request: web.Request) -> str:
    return request.match_info["interaction_token"]


def _application(request: web.Request) -> int:
    return parse_id(request.match_info["application_id"], "webhook")


@routes.post(V + "/interactions")
async def invoke(request: web.Request) -> web.Response:
    body = await read_json_value(request)
    await interactions.invoke(request.app[PLATFORM], user_of(request), body)
    return no_content()


@routes.post(V + "/interactions/{interaction_id}/{interaction_token}/callback")
@public
async def callback(request: web.Request) -> web.Response:
    try:
        interaction_id = parse_id(request.match_info["interaction_id"], "message")
    except ApiError:
        raise interactions.unknown_interaction() from None  # no snowflake names none
    body = await read_json_value(request)
    out = await interaction_responses.callback(
        request.app[PLATFORM], interaction_id, _token(request), request.query, body)
    return no_content() if out is None else json_response(out)


@routes.post(_FOLLOWUP)
@public
async def followup(request: web.Request) -> web.Response:
    body = await read_json_value(request)
    out = await interaction_responses.followup(
        request.app[PLATFORM], _application(request), _token(request), body)
    return json_response(out)


@routes.get(_MESSAGE)
@public
async def get_message(request: web.Request) -> web.Response:
    out = await interaction_responses.get_message(
        request.app[PLATFORM], _application(request), _token(request),
        request.match_info["message_id"])
    return json_response(out)


@routes.patch(_MESSAGE)
@public
async def edit_message(request: web.Request) -> web.Response:
    body = await read_json_value(request)
    out = await interaction_responses.edit_message(
        request.app[PLATFORM], _application(request), _token(request),
        request.match_info["message_id"], body)
    return json_response(out)


@routes.delete(_MESSAGE)
@public
async def delete_message(request: web.Request) -> web.Response:
    await interaction_responses.delete_message(
        request.app[PLATFORM], _application(request), _token(request),
        request.match_info["message_id"])
    return no_content()
