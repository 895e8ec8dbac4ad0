"""A user invokes an application's command: ``POST /interactions`` (Discord's own client route).

What Discord checks before the bot hears of it, checked here in that order:

- the command exists for the application, in the guild's scope first, then globally
  (404 10063), and its name and type are the ones sent (50035 ``data.name``);
- the invoker may view the channel (as :func:`core.access.channel_view`), the application's
  bot is a member of the guild (else 10002 Unknown Application: Discord shows the command
  only where its application is), and the invoker has every permission of the command's
  ``default_member_permissions`` in the channel (50013); invocations are in guild channels only
  here (a DM's is 50001: DM commands are not built);
- the options, checked against the definition (:mod:`core.interaction_options`, 50035 at
  ``data.options...``); the users, members, roles and channels they name are resolved into
  ``data.resolved``, an unknown one is 50035 (Discord's client only offers existing ones).

Then the interaction is stored (its token as a SHA-256 only) and INTERACTION_CREATE goes to the
bot alone (``user_ids``: its sessions only, and through the event's guild id the hub's shard
filter picks the session holding the guild's shard). The invoker gets 204: the bot's answer
reaches them as a message (``core.interaction_responses``). A bot that does not answer within
:data:`RESPONSE_WINDOW_MS` can no longer make the initial response (10062), as on Discord,
whose client then shows "The application did not respond"; here the invoker simply sees no
message (no event says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from core.access import GuildView, channel_view
from core.app_commands import unknown_command
from core.command_form import CHAT_INPUT
from core.errors import ApiError, invalid_form
from core.events import Event
from core.interaction_options import Targets, check_options
from core.models import Interaction, User
from core.permissions import compute_permissions
from core.platform import Platform
from core.validate import snowflake_value
from core.wire import channel_json, member_json, role_json, user_json

__all__ = [
    "APPLICATION_COMMAND",
    "RESPONSE_WINDOW_MS",
    "TOKEN_PREFIX",
    "TOKEN_TTL_MS",
    "hash_token",
    "invoke",
    "token_matches",
    "unknown_interaction",
]

Json = dict[str, Any]

APPLICATION_COMMAND = 2
# Discord's: 3 seconds for the initial response, 15 minutes for the token.
RESPONSE_WINDOW_MS = 3_000
TOKEN_TTL_MS = 15 * 60_000
# Discord's interaction tokens begin with base64 "interaction:"; so do these, which is how the
# ``/webhooks/{id}/{token}`` routes tell a follow-up from a webhook's execution.
TOKEN_PREFIX = "aW50ZXJhY3Rpb246"
_UNKNOWN_INTERACTION = 10062
_UNKNOWN_APPLICATION = 10002
_MAX_RESOLVED = 25  # one per option at most: the options' own bound


def unknown_interaction() -> ApiError:
    return ApiError(404, _UNKNOWN_INTERACTION, "Unknown interaction")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(interaction: Interaction, token: str) -> bool:
    """Constant-time: the time taken says nothing of how much of a guess was right."""
    return hmac.compare_digest(interaction.token_hash, hash_token(token))


async def invoke(p: Platform, user: User, body: Any) -> None:
    """``POST /interactions`` type 2: check, store, and dispatch INTERACTION_CREATE to the bot.

    Raises:
        ApiError: 50035 for a bad body or option; 404 10063 unknown command; 10002 the bot is
            not in the guild; 403 50001/50013 as described in the module docstring.
    """
    if not isinstance(body, dict):
        raise invalid_form("_root", "DICT_TYPE_CONVERT", "Must be an object.")
    if body.get("type") != APPLICATION_COMMAND:
        raise invalid_form("type", "INTERACTION_TYPE_INVALID",
                           "Only application commands (2) may be invoked.")
    application_id = snowflake_value(body.get("application_id"), "application_id")
    channel_id = snowflake_value(body.get("channel_id"), "channel_id")
    data = body.get("data")
    if not isinstance(data, dict):
        raise invalid_form("data", "DICT_TYPE_CONVERT", "Must be an object.")
    command_id = snowflake_value(data.get("id"), "data.id")
    view = await channel_view(p.meta, channel_id, user.id)
    if view.guild is None:
        raise ApiError.missing_access()
    guild = view.guild
    bot_member = await p.meta.get_member(guild.guild.id, application_id)
    bot = await p.meta.get_user(application_id)
    if bot_member is None or bot is None or not bot.bot:
        raise ApiError(404, _UNKNOWN_APPLICATION, "Unknown Application")
    command = (await p.meta.get_command(application_id, guild.guild.id, command_id)
               or await p.meta.get_command(application_id, None, command_id))
    if command is None:
        raise unknown_command()
    if data.get("name") != command.name or data.get("type", command.type) != command.type:
        raise invalid_form("data.name", "APPLICATION_COMMAND_INVALID",
                           "The name or type is not the command's.")
    definition = json.loads(command.definition)
    needed = definition.get("default_member_permissions")
    if needed is not None and int(needed) & view.permissions != int(needed):
        raise ApiError.missing_permissions()
    options: list[Json] = []
    targets = Targets()
    if command.type == CHAT_INPUT:
        options, targets = check_options(definition.get("options") or [], data.get("options"))
    resolved = await _resolved(p, guild, targets)
    token = TOKEN_PREFIX + secrets.token_urlsafe(48)
    now = p.now_ms()
    interaction = Interaction(
        id=p.ids.next(), application_id=application_id, type=APPLICATION_COMMAND,
        token_hash=hash_token(token), user_id=user.id, channel_id=channel_id,
        guild_id=guild.guild.id, created_ms=now,
    )
    await p.meta.create_interaction(interaction, now - TOKEN_TTL_MS)
    app_perms = compute_permissions(guild.guild, guild.roles, bot_member, view.channel)
    payload: Json = {
        "id": str(interaction.id),
        "application_id": str(application_id),
        "type": APPLICATION_COMMAND,
        "data": {
            "id": str(command.id), "name": command.name, "type": command.type,
            **({"options": options} if options else {}),
            **({"resolved": resolved} if resolved else {}),
            **({"guild_id": str(command.guild_id)} if command.guild_id else {}),
        },
        "guild_id": str(guild.guild.id),
        "guild": {"id": str(guild.guild.id), "locale": "en-US", "features": []},
        "channel_id": str(channel_id),
        "channel": channel_json(view.channel),
        "member": {**member_json(guild.member, user), "permissions": str(view.permissions)},
        "token": token,
        "version": 1,
        "app_permissions": str(app_perms),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.guild.id)},
        "context": 0,
        "attachment_size_limit": p.config.max_attachment_bytes,
    }
    p.publish(Event("INTERACTION_CREATE", payload, guild_id=guild.guild.id,
                    user_ids=(application_id,)))


async def _resolved(p: Platform, guild: GuildView, targets: Targets) -> Json:
    """``data.resolved``: users (and their members), roles and channels the options name
    (at most 25 of them, one per option); a member's ``permissions`` are its guild's, a
    channel's the invoker's in it."""
    guild_id = guild.guild.id
    out: Json = {}
    roles = guild.roles
    role_ids = set(targets.roles) | {i for i in targets.mentionables if i in roles}
    user_ids = set(targets.users) | {i for i in targets.mentionables if i not in roles}
    if len(role_ids) + len(user_ids) + len(targets.channels) > _MAX_RESOLVED:
        raise invalid_form("data.options", "BASE_TYPE_MAX_LENGTH", "Too many targets.")
    if role_ids:
        if role_ids - roles.keys():
            raise invalid_form("data.options", "ROLE_UNKNOWN", "Unknown role.")
        out["roles"] = {str(i): role_json(roles[i]) for i in sorted(role_ids)}
    if user_ids:
        users = await p.meta.get_users(sorted(user_ids))
        if users.keys() != user_ids:
            raise invalid_form("data.options", "USER_UNKNOWN", "Unknown user.")
        out["users"] = {str(i): user_json(u) for i, u in users.items()}
        members: Json = {}
        for i in sorted(user_ids):
            member = await p.meta.get_member(guild_id, i)
            if member is not None:
                permissions = compute_permissions(guild.guild, roles, member, None)
                members[str(i)] = {**member_json(member, None), "permissions": str(permissions)}
        if members:
            out["members"] = members
    if targets.channels:
        channels: Json = {}
        for i, types in sorted(targets.channels.items()):
            target = await p.meta.get_channel(i)
            if target is None or target.guild_id != guild_id or (types and target.type not in types):
                raise invalid_form("data.options", "CHANNEL_UNKNOWN", "Unknown channel.")
            channels[str(i)] = {**channel_json(target),
                                "permissions": str(guild.channel_permissions(target))}
        out["channels"] = channels
    return out
