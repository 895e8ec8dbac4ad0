"""Application command routes: an application's global commands
(``/applications/{application_id}/commands``) and its commands in one guild
(``/applications/{application_id}/guilds/{guild_id}/commands``), each listed, created (POST),
overwritten in bulk (PUT, discord.py's ``tree.sync()``), read, edited and deleted by id. Only
the application's own bot may call them (``core.app_commands``). A member reads what it may
run in a guild with ``/guilds/{guild_id}/application-command-index``, as Discord's client does.
"""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, read_json, read_json_value, user_of
from api.keys import PLATFORM
from core import app_commands
from core.access import parse_id
from core.errors import ApiError

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"
_GLOBAL = V + "/applications/{application_id}/commands"
_GUILD = V + "/applications/{application_id}/guilds/{guild_id}/commands"


def _scope(request: web.Request) -> tuple[int, int | None]:
    """The application and the guild (None for the global commands) the path names."""
    application_id = parse_id(request.match_info["application_id"], "application")
    raw_guild = request.match_info.get("guild_id")
    return application_id, None if raw_guild is None else parse_id(raw_guild, "guild")


def _command_id(request: web.Request) -> int:
    """The path's command id; one that is no snowflake names no command (404 10063)."""
    try:
        return parse_id(request.match_info["command_id"], "message")
    except ApiError:
        raise app_commands.unknown_command() from None


@routes.get(V + "/guilds/{guild_id}/application-command-index")
async def command_index(request: web.Request) -> web.Response:
    guild_id = parse_id(request.match_info["guild_id"], "guild")
    return json_response(await app_commands.guild_index(request.app[PLATFORM], user_of(request),
                                                        guild_id))


async def list_commands(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    out = await app_commands.list_commands(request.app[PLATFORM], user_of(request), app_id,
                                           guild_id)
    return json_response(out)


async def create(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    body = await read_json(request)
    out, created = await app_commands.create(request.app[PLATFORM], user_of(request), app_id,
                                             guild_id, body)
    return json_response(out, 201 if created else 200)


async def overwrite(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    body = await read_json_value(request)
    out = await app_commands.overwrite(request.app[PLATFORM], user_of(request), app_id,
                                       guild_id, body)
    return json_response(out)


async def get(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    out = await app_commands.get(request.app[PLATFORM], user_of(request), app_id, guild_id,
                                 _command_id(request))
    return json_response(out)


async def update(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    command_id = _command_id(request)
    body = await read_json(request)
    out = await app_commands.update(request.app[PLATFORM], user_of(request), app_id, guild_id,
                                    command_id, body)
    return json_response(out)


async def delete(request: web.Request) -> web.Response:
    app_id, guild_id = _scope(request)
    await app_commands.delete(request.app[PLATFORM], user_of(request), app_id, guild_id,
                              _command_id(request))
    return no_content()


for _base in (_GLOBAL, _GUILD):
    routes.get(_base)(list_commands)
    routes.post(_base)(create)
    routes.put(_base)(overwrite)
    routes.get(_base + "/{command_id}")(get)
    routes.patch(_base + "/{command_id}")(update)
    routes.delete(_base + "/{command_id}")(delete)
