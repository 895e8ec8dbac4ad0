"""A user acts on an application: ``POST /interactions`` (Discord's own client route).

Four kinds of interaction, as Discord's client sends them:

- APPLICATION_COMMAND (2) and APPLICATION_COMMAND_AUTOCOMPLETE (4): ``data`` names a command
  (``id``, ``name``, ``type``, ``options``). The command exists for the application, in the
  guild's scope first, then globally (404 10063), with the name and type sent (50035
  ``data.name``); its options are checked against the definition
  (:mod:`core.interaction_options`, 50035 at ``data.options...``). An autocomplete request has
  exactly one ``focused`` option, whose value may be partial.
- MESSAGE_COMPONENT (3): ``message_id`` names a message of the application's bot in the
  channel, or an ephemeral message of the invoker's there, its response or one of its last
  follow-ups (its interaction keeps them for the token's 15 minutes: :func:`ephemeral_message`);
  else 404 10008. ``data``
  (``custom_id``, ``component_type``, ``values``) names one of its enabled buttons or select
  menus (:func:`core.components.check_click`, 50035). The bot gets the whole ``message`` with
  the interaction (discord.py finds its view by it).
- MODAL_SUBMIT (5): ``data.id`` names the interaction the bot answered with that modal (callback
  9), the invoker's, alive; ``data.custom_id`` is the modal's and ``data.components`` its inputs
  (:func:`core.components.check_submit`). A modal is submitted once (404 10062 after).

Where: the invoker may view the channel (as :func:`core.access.channel_view`). In a guild the
application's bot is a member (else 10002 Unknown Application: Discord shows the command only
where its application is), and for a command the invoker has every permission of its
``default_member_permissions`` in the channel (50013). In a DM with the bot only a global
command may be used, if its ``contexts`` hold BOT_DM (1), or, without ``contexts``, if
``dm_permission`` is not false (403 50001 otherwise, and for any other private channel: the
PRIVATE_CHANNEL context needs a user-installed application, not built). A command whose
``contexts`` leave out GUILD (0) cannot be used in a guild (50001).

The users, members, roles and channels that options or select values name are resolved into
``data.resolved``; an unknown one is 50035 (Discord's client only offers existing ones).

Then the interaction is stored (its token as a SHA-256 only) and INTERACTION_CREATE goes to the
bot alone (``user_ids``: its sessions only, and through the event's guild id the hub's shard
filter picks the session holding the guild's shard). The invoker gets 204: the bot's answer
reaches them as a message, a message update, a modal or autocomplete choices
(``core.interaction_responses``). A bot that does not answer within
:data:`RESPONSE_WINDOW_MS` can no longer make the initial response (10062), as on Discord,
whose client then shows "The application did not respond"; here the invoker simply sees no
message (no event says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from core.access import ChannelView, GuildView, channel_view
from core.app_commands import unknown_command
from core.command_form import CHAT_INPUT, OptionType
from core.components import check_click, check_submit
from core.errors import ApiError, invalid_form
from core.events import Event
from core.history import render
from core.interaction_options import Targets, check_options
from core.models import ChannelType, Interaction, Member, User
from core.permissions import compute_permissions
from core.platform import Platform
from core.validate import snowflake_value
from core.wire import channel_json, member_json, role_json, user_json

__all__ = [
    "APPLICATION_COMMAND",
    "AUTOCOMPLETE",
    "MESSAGE_COMPONENT",
    "MODAL",
    "MODAL_SUBMIT",
    "RESPONSE_WINDOW_MS",
    "TOKEN_PREFIX",
    "TOKEN_TTL_MS",
    "EphemeralMessage",
    "ephemeral_message",
    "hash_token",
    "invoke",
    "keep_ephemeral",
    "token_matches",
    "unknown_interaction",
]

Json = dict[str, Any]

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
_KINDS = (APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT)
MODAL = 9  # the callback type that shows a modal (core.interaction_responses)
_GUILD_CONTEXT, _BOT_DM_CONTEXT = 0, 1  # a command's ``contexts``
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


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an interaction happens, as the invoker sees it: the channel (and guild), and the
    application's bot there (its member in a guild)."""

    view: ChannelView
    bot: User
    bot_member: Member | None

    @property
    def guild(self) -> GuildView | None:
        return self.view.guild


async def _place(p: Platform, user: User, channel_id: int, application_id: int) -> _Place:
    view = await channel_view(p.meta, channel_id, user.id)
    bot = await p.meta.get_user(application_id)
    if bot is None or not bot.bot:
        raise ApiError(404, _UNKNOWN_APPLICATION, "Unknown Application")
    if view.guild is None:
        channel = view.channel
        if channel.type != ChannelType.DM or application_id not in channel.recipients:
            raise ApiError.missing_access()  # another private channel: PRIVATE_CHANNEL (2)
        return _Place(view, bot, None)
    bot_member = await p.meta.get_member(view.guild.guild.id, application_id)
    if bot_member is None:
        raise ApiError(404, _UNKNOWN_APPLICATION, "Unknown Application")
    return _Place(view, bot, bot_member)


async def invoke(p: Platform, user: User, body: Any) -> None:
    """``POST /interactions``: check, store, and dispatch INTERACTION_CREATE to the bot.

    Raises:
        ApiError: 50035 for a bad body, option, component or modal input; 404 10063 unknown
            command, 10008 unknown message, 10062 unknown modal; 10002 the bot is not in the
            guild; 403 50001/50013 as described in the module docstring.
    """
    if not isinstance(body, dict):
        raise invalid_form("_root", "DICT_TYPE_CONVERT", "Must be an object.")
    kind = body.get("type")
    if kind not in _KINDS or isinstance(kind, bool):
        raise invalid_form("type", "INTERACTION_TYPE_INVALID",
                           f"Must be one of {_KINDS}.")
    channel_id = snowflake_value(body.get("channel_id"), "channel_id")
    data = body.get("data")
    if not isinstance(data, dict):
        raise invalid_form("data", "DICT_TYPE_CONVERT", "Must be an object.")
    if kind == MESSAGE_COMPONENT:
        await _component(p, user, body, channel_id, data)
    elif kind == MODAL_SUBMIT:
        await _modal_submit(p, user, body, channel_id, data)
    else:
        await _command(p, user, body, kind, channel_id, data)


async def _command(p: Platform, user: User, body: Json, kind: int, channel_id: int,
                   data: Json) -> None:
    application_id = snowflake_value(body.get("application_id"), "application_id")
    command_id = snowflake_value(data.get("id"), "data.id")
    place = await _place(p, user, channel_id, application_id)
    guild_id = place.guild.guild.id if place.guild else None
    command = ((await p.meta.get_command(application_id, guild_id, command_id)
                if guild_id is not None else None)
               or await p.meta.get_command(application_id, None, command_id))
    if command is None:
        raise unknown_command()
    if data.get("name") != command.name or data.get("type", command.type) != command.type:
        raise invalid_form("data.name", "APPLICATION_COMMAND_INVALID",
                           "The name or type is not the command's.")
    definition = json.loads(command.definition)
    _check_context(definition, place)
    needed = definition.get("default_member_permissions")
    if (place.guild is not None and needed is not None
            and int(needed) & place.view.permissions != int(needed)):
        raise ApiError.missing_permissions()
    options: list[Json] = []
    targets = Targets()
    if command.type == CHAT_INPUT:
        options, targets = check_options(definition.get("options") or [], data.get("options"))
    state = None
    if kind == AUTOCOMPLETE:
        focused = _focused(definition.get("options") or [], options)
        state = json.dumps({"option_type": focused, "nonce": _nonce(body)})
    out: Json = {
        "id": str(command.id), "name": command.name, "type": command.type,
        **({"options": options} if options else {}),
        **({"guild_id": str(command.guild_id)} if command.guild_id else {}),
    }
    await _dispatch(p, user, place, kind, out, targets, state=state,
                    name=_full_name(command.name, options))


def _full_name(name: str, options: list[Json]) -> str:
    """The name as Discord shows it: "cmd", "cmd sub" or "cmd group sub" (a sub-command or
    group is the one option given at its level)."""
    parts = [name]
    while options and options[0].get("type") in (OptionType.SUB_COMMAND,
                                                 OptionType.SUB_COMMAND_GROUP):
        parts.append(options[0]["name"])
        options = options[0].get("options") or []
    return " ".join(parts)


def _check_context(definition: Json, place: _Place) -> None:
    """The command may be used here: its ``contexts``, or without them ``dm_permission``."""
    contexts = definition.get("contexts")
    if place.guild is not None:
        allowed = contexts is None or _GUILD_CONTEXT in contexts
    elif contexts is not None:
        allowed = _BOT_DM_CONTEXT in contexts
    else:
        allowed = definition.get("dm_permission") is not False
    if not allowed:
        raise ApiError.missing_access()


def _focused(declared: list[Json], options: list[Json]) -> int:
    """The type of the one focused option of an autocomplete request (50035 unless exactly
    one option is focused, and that one has ``autocomplete``)."""
    found: list[tuple[Json, Json]] = []
    level, given = declared, options
    while True:
        found += [(o, next(d for d in level if d["name"] == o["name"]))
                  for o in given if o.get("focused")]
        nested = [o for o in given if "options" in o]
        if not nested:
            break
        spec = next(d for d in level if d["name"] == nested[0]["name"])
        level, given = spec.get("options") or [], nested[0]["options"]
    if len(found) != 1 or not found[0][1].get("autocomplete"):
        raise invalid_form("data.options", "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                           "Exactly one option with autocomplete must be focused.")
    option_type: int = found[0][1]["type"]
    return option_type


def _nonce(body: Json) -> str | None:
    nonce = body.get("nonce")
    return nonce if isinstance(nonce, str) and len(nonce) <= 64 else None


async def _component(p: Platform, user: User, body: Json, channel_id: int, data: Json) -> None:
    message_id = snowflake_value(body.get("message_id"), "message_id")
    view = await channel_view(p.meta, channel_id, user.id)
    message = await p.messages.get_message(view.channel.id, message_id)
    if message is not None:
        application_id = message.author_id
        if message.webhook_id is not None:
            # An application-owned webhook's message is its application's (Discord's
            # message.application_id); another webhook's holds no interactive component.
            hook = await p.meta.get_webhook(message.webhook_id)
            if hook is not None and hook.application_id is not None:
                application_id = hook.application_id
        components = message.components
        rendered = (await render(p, view.channel, [message], members=True))[0]
    else:
        kept = await ephemeral_message(p, user.id, channel_id, message_id)
        rendered = json.loads(kept.body)
        application_id = kept.owner.application_id
        components = tuple(rendered.get("components") or ())
    if body.get("application_id") is not None and snowflake_value(
            body["application_id"], "application_id") != application_id:
        raise invalid_form("application_id", "APPLICATION_INVALID",
                           "The message is not this application's.")
    place = await _place(p, user, channel_id, application_id)
    out, targets = check_click(components, data)
    await _dispatch(p, user, place, MESSAGE_COMPONENT, out, targets, message_id=message_id,
                    message=rendered)


@dataclass(frozen=True, slots=True)
class EphemeralMessage:
    """An ephemeral message as its interaction keeps it: ``owner``'s response (``@original``)
    or, ``followup``, one of its follow-ups; ``body`` its message object (JSON text)."""

    owner: Interaction
    message_id: int
    body: str
    followup: bool


async def ephemeral_message(p: Platform, user_id: int, channel_id: int,
                            message_id: int) -> EphemeralMessage:
    """The ephemeral message ``message_id`` (``user_id``'s, in the channel, its interaction
    alive): it is in no history, its interaction keeps it (``core.interaction_responses``).
    Else 404 10008 (an ephemeral follow-up older than the interaction's last
    ``MAX_EPHEMERAL_FOLLOWUPS`` is forgotten, so not found either)."""
    owner = await p.meta.interaction_by_original(message_id)
    found: EphemeralMessage | None = None
    if owner is not None and owner.original is not None:
        found = EphemeralMessage(owner, message_id, owner.original, False)
    else:
        followup = await p.meta.interaction_followup(message_id)
        if followup is not None:
            found = EphemeralMessage(followup[0], message_id, followup[1], True)
    if (found is None or found.owner.user_id != user_id or found.owner.channel_id != channel_id
            or p.now_ms() - found.owner.created_ms > TOKEN_TTL_MS):
        raise ApiError.unknown("message")
    return found


async def keep_ephemeral(p: Platform, message: EphemeralMessage, body: str | None) -> None:
    """Replace a kept ephemeral message's JSON (an edit), or forget it (None: deleted)."""
    if message.followup:
        await p.meta.set_interaction_followup(message.message_id, body)
    else:
        await p.meta.set_interaction_original(
            message.owner.id, None if body is None else message.message_id, body)


async def _modal_submit(p: Platform, user: User, body: Json, channel_id: int,
                        data: Json) -> None:
    shown_id = snowflake_value(data.get("id"), "data.id")
    shown = await p.meta.get_interaction(shown_id)
    if (shown is None or shown.user_id != user.id or shown.channel_id != channel_id
            or shown.response_type != MODAL or shown.state is None
            or p.now_ms() - shown.created_ms > TOKEN_TTL_MS):
        raise unknown_interaction()
    modal: Json = json.loads(shown.state)
    if data.get("custom_id") != modal["custom_id"]:
        raise invalid_form("data.custom_id", "MODAL_CUSTOM_ID_INVALID",
                           "Not the modal's custom_id.")
    place = await _place(p, user, channel_id, shown.application_id)
    components, targets = check_submit(modal, data)
    if not await p.meta.take_interaction_state(shown.id, shown.state):
        raise unknown_interaction()  # submitted already
    message: Json | None = None
    if shown.message_id is not None:  # the modal answered a component: its message
        found = await p.messages.get_message(channel_id, shown.message_id)
        if found is not None:
            message = (await render(p, place.view.channel, [found], members=True))[0]
        else:  # an ephemeral response's, if still kept
            with suppress(ApiError):
                kept = await ephemeral_message(p, user.id, channel_id, shown.message_id)
                message = json.loads(kept.body)
    out: Json = {"custom_id": modal["custom_id"], "components": components}
    await _dispatch(p, user, place, MODAL_SUBMIT, out, targets, message_id=shown.message_id,
                    message=message)


async def _dispatch(
    p: Platform, user: User, place: _Place, kind: int, data: Json, targets: Targets, *,
    message_id: int | None = None, message: Json | None = None, state: str | None = None,
    name: str = "",
) -> None:
    """Resolve, store the interaction and send INTERACTION_CREATE to the bot."""
    resolved = await _resolved(p, place.guild, targets)
    if resolved:
        data = {**data, "resolved": resolved}
    channel = place.view.channel
    guild = place.guild
    application_id = place.bot.id
    token = TOKEN_PREFIX + secrets.token_urlsafe(48)
    now = p.now_ms()
    interaction = Interaction(
        id=p.ids.next(), application_id=application_id, type=kind,
        token_hash=hash_token(token), user_id=user.id, channel_id=channel.id,
        guild_id=guild.guild.id if guild else None, created_ms=now, message_id=message_id,
        state=state, name=name,
    )
    await p.meta.create_interaction(interaction, now - TOKEN_TTL_MS)
    payload: Json = {
        "id": str(interaction.id),
        "application_id": str(application_id),
        "type": kind,
        "data": data,
        "channel_id": str(channel.id),
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": p.config.max_attachment_bytes,
    }
    if message is not None:
        payload["message"] = message
    if guild is not None:
        assert place.bot_member is not None
        app_perms = compute_permissions(guild.guild, guild.roles, place.bot_member, channel)
        payload.update({
            "guild_id": str(guild.guild.id),
            "guild": {"id": str(guild.guild.id), "locale": "en-US", "features": []},
            "channel": channel_json(channel),
            "member": {**member_json(guild.member, user),
                       "permissions": str(place.view.permissions)},
            "app_permissions": str(app_perms),
            "guild_locale": "en-US",
            "authorizing_integration_owners": {"0": str(guild.guild.id)},
            "context": _GUILD_CONTEXT,
        })
    else:  # the bot's DM: Discord names the guild install's owner "0" there
        payload.update({
            "channel": channel_json(channel, [user]),  # the others than the bot
            "user": user_json(user),
            "app_permissions": str(place.view.permissions),
            "authorizing_integration_owners": {"0": "0"},
            "context": _BOT_DM_CONTEXT,
        })
    p.publish(Event("INTERACTION_CREATE", payload, guild_id=interaction.guild_id,
                    user_ids=(application_id,)))


async def _resolved(p: Platform, guild: GuildView | None, targets: Targets) -> Json:
    """``data.resolved``: users (and their members), roles and channels the options or
    select values name (at most 25 of them); a member's ``permissions`` are its guild's, a
    channel's the invoker's in it. Outside a guild, users only."""
    out: Json = {}
    roles = guild.roles if guild is not None else {}
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
        for i in sorted(user_ids) if guild is not None else ():
            assert guild is not None
            member = await p.meta.get_member(guild.guild.id, i)
            if member is not None:
                permissions = compute_permissions(guild.guild, roles, member, None)
                members[str(i)] = {**member_json(member, None), "permissions": str(permissions)}
        if members:
            out["members"] = members
    if targets.channels:
        channels: Json = {}
        for i, types in sorted(targets.channels.items()):
            target = await p.meta.get_channel(i)
            if (guild is None or target is None or target.guild_id != guild.guild.id
                    or (types and target.type not in types)):
                raise invalid_form("data.options", "CHANNEL_UNKNOWN", "Unknown channel.")
            channels[str(i)] = {**channel_json(target),
                                "permissions": str(guild.channel_permissions(target))}
        out["channels"] = channels
    return out
