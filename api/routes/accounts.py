"""Auth, users, applications and gateway discovery routes."""

from __future__ import annotations

from aiohttp import web

from api.http import json_response, no_content, public, read_json, token_of, user_of
from api.keys import PLATFORM
from core import accounts
from core.access import parse_id
from core.errors import ApiError
from core.shard import recommended_shards
from core.wire import application_json, user_json

__all__ = ["routes"]

routes = web.RouteTableDef()
V = "/api/v10"


@routes.post(V + "/auth/register")
@public
async def register(request: web.Request) -> web.Response:
    body = await read_json(request)
    token, user = await accounts.register(
        request.app[PLATFORM], body.get("username"), body.get("password"),
        body.get("registration_code"),
    )
    return json_response({"token": token, "user": user_json(user, me=True)}, 201)


@routes.post(V + "/auth/login")
@public
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    token, user_id = await accounts.login(
        request.app[PLATFORM], body.get("login"), body.get("password")
    )
    return json_response({"token": token, "user_id": str(user_id)})


@routes.post(V + "/auth/logout")
async def logout(request: web.Request) -> web.Response:
    # The token as the auth middleware read it (without "Bot " or "Bearer ").
    await request.app[PLATFORM].tokens.revoke(token_of(request))
    return no_content()


@routes.get(V + "/users/@me")
async def get_me(request: web.Request) -> web.Response:
    return json_response(user_json(user_of(request), me=True))


@routes.patch(V + "/users/@me")
async def patch_me(request: web.Request) -> web.Response:
    body = await read_json(request)
    user, token = await accounts.edit_me(
        request.app[PLATFORM], user_of(request), token_of(request), body
    )
    out = user_json(user, me=True)
    if token is not None:
        out["token"] = token  # a password change: the token to use (Discord's field)
    return json_response(out)


@routes.get(V + "/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    user_id = parse_id(request.match_info["user_id"], "user")
    user = await request.app[PLATFORM].meta.get_user(user_id)
    if user is None:
        raise ApiError.unknown("user")
    return json_response(user_json(user))


@routes.post(V + "/applications")
async def create_application(request: web.Request) -> web.Response:
    body = await read_json(request)
    owner = user_of(request)
    app, bot, token = await accounts.create_application(
        request.app[PLATFORM], owner, body.get("name"), body.get("description", "")
    )
    out = application_json(app, owner, bot)
    out["token"] = token  # shown once; only its hash is stored
    return json_response(out, 201)


@routes.get(V + "/applications")
async def list_applications(request: web.Request) -> web.Response:
    owner = user_of(request)
    apps = await request.app[PLATFORM].meta.list_applications(owner.id)
    return json_response([application_json(a, owner) for a in apps])


@routes.get(V + "/oauth2/applications/@me")
@routes.get(V + "/applications/@me")
async def get_my_application(request: web.Request) -> web.Response:
    """The calling bot's application (discord.py calls it at login)."""
    bot = user_of(request)
    platform = request.app[PLATFORM]
    app = await platform.meta.get_application(bot.id) if bot.bot else None
    if app is None:
        raise ApiError.unknown("application")
    owner = await platform.meta.get_user(app.owner_id)
    if owner is None:
        raise ApiError.unknown("user")
    return json_response(application_json(app, owner, bot))


@routes.get(V + "/gateway")
@public
async def gateway(request: web.Request) -> web.Response:
    return json_response({"url": request.app[PLATFORM].config.gateway_url})


@routes.get(V + "/gateway/bot")
async def gateway_bot(request: web.Request) -> web.Response:
    """Gateway URL, recommended shards and identify limits, as Discord sends them.

    ``shards`` is what core.shard recommends for the caller's guild count (one per 1,000);
    ``max_concurrency`` is its identify buckets, each starting one session per 5 s (the gateway
    enforces it with the same config value).
    """
    platform = request.app[PLATFORM]
    guilds = await platform.meta.count_user_guilds(user_of(request).id)
    return json_response({
        "url": platform.config.gateway_url,
        "shards": recommended_shards(guilds),
        "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 86_400_000,
            "max_concurrency": platform.config.identify_max_concurrency,
        },
    })
