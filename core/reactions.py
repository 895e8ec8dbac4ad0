"""Reactions: add, remove, list and clear them, with their gateway events.

Discord's rules, followed here ("Create Reaction" and the routes after it): reacting needs
READ_MESSAGE_HISTORY, and ADD_REACTIONS as well when nobody has reacted with that emoji yet;
a message holds at most :data:`MAX_EMOJIS` distinct emojis (400 30010); removing another
user's reaction, or clearing a message's, needs MANAGE_MESSAGES and is refused in DMs (50003).
A timed-out member cannot react at all ("they can't react to messages"). The emoji is parsed
by :mod:`core.emoji` (400 10014 for an unknown one); the message must be in the channel (10008).

A reaction is one stored record beside the message (``core.store.base``); nothing here rewrites
the message, whatever the number of reactions. Events go to who can view the channel (DM: its
recipients), gated by GUILD_MESSAGE_REACTIONS / DIRECT_MESSAGE_REACTIONS in the hub:
MESSAGE_REACTION_ADD (with the reactor's ``member`` in guilds and ``message_author_id``),
MESSAGE_REACTION_REMOVE, MESSAGE_REACTION_REMOVE_ALL and MESSAGE_REACTION_REMOVE_EMOJI, each
only when something changed. Super reactions (``burst``) need Nitro and do not exist here:
``burst`` is false and ``type`` 0 in every event; a listing of ``type=1`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.access import ChannelView, channel_view
from core.emoji import Emoji, emoji_json, parse_emoji
from core.errors import ApiError, ErrorCode
from core.events import Event
from core.history import find_message
from core.messages import channel_audience, channel_place
from core.models import Message, User
from core.permissions import Permission
from core.platform import Platform
from core.store.base import HISTORY_MAX, ReactionOutcome
from core.validate import get_int, get_snowflake
from core.wire import member_json, user_json

__all__ = ["MAX_EMOJIS", "USERS_DEFAULT", "add", "clear", "remove", "users"]

Json = dict[str, Any]

# Distinct emojis one message may hold (Discord: 20; error 30010).
MAX_EMOJIS = 20
# ``GET .../reactions/{emoji}``: users per page by default (Discord: 25; at most 100).
USERS_DEFAULT = 25
_NORMAL, _BURST = 0, 1
_P = Permission


async def add(p: Platform, user: User, channel_id: int, message_id: int, emoji_text: str) -> None:
    """``PUT .../reactions/{emoji}/@me``: react; a second time changes nothing (204 both).

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013 without READ_MESSAGE_HISTORY,
            while timed out, or without ADD_REACTIONS for an emoji new to the message; 400
            10014 unknown emoji, 30010 a 21st emoji; 404 10008.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    view.require(_P.READ_MESSAGE_HISTORY)
    if view.guild is not None and view.guild.member.timed_out(p.now_ms()):
        raise ApiError.missing_permissions()
    emoji = parse_emoji(emoji_text)
    message = await find_message(p, view.channel, message_id)
    may_add_new = bool(view.permissions & _P.ADD_REACTIONS)
    outcome = await p.messages.add_reaction(
        view.channel.id, message.id, emoji.key, user.id, p.now_ms(),
        max_emojis=MAX_EMOJIS if may_add_new else 0,
    )
    if outcome is ReactionOutcome.UNKNOWN_MESSAGE:  # deleted meanwhile
        raise ApiError.unknown("message")
    if outcome is ReactionOutcome.LIMIT_REACHED:
        if not may_add_new:
            raise ApiError.missing_permissions()
        raise ApiError.bad_request(ErrorCode.MAX_REACTIONS,
                                   f"Maximum number of reactions reached ({MAX_EMOJIS})")
    if outcome is ReactionOutcome.ADDED:
        data = _action(view, message, user.id, emoji)
        data["message_author_id"] = str(message.author_id)
        data["burst_colors"] = []
        if view.guild is not None:
            data["member"] = member_json(view.guild.member, user)
        p.publish(Event("MESSAGE_REACTION_ADD", data, **channel_audience(view.channel)))


async def remove(
    p: Platform, user: User, channel_id: int, message_id: int, emoji_text: str,
    target_id: int | None = None,
) -> None:
    """``DELETE .../reactions/{emoji}/@me`` (``target_id`` None or the user's own id) and
    ``DELETE .../reactions/{emoji}/{user_id}`` (MANAGE_MESSAGES, guilds only). 204 whether
    or not there was such a reaction.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013, or 50003 for another user's
            reaction in a DM; 400 10014; 404 10008.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    target = user.id if target_id is None else target_id
    if target != user.id:
        _require_moderator(view)
    emoji = parse_emoji(emoji_text)
    message = await find_message(p, view.channel, message_id)
    if await p.messages.remove_reaction(view.channel.id, message.id, emoji.key, target):
        data = _action(view, message, target, emoji)
        p.publish(Event("MESSAGE_REACTION_REMOVE", data, **channel_audience(view.channel)))


async def clear(
    p: Platform, user: User, channel_id: int, message_id: int, emoji_text: str | None = None
) -> None:
    """``DELETE .../reactions`` (every reaction) and ``DELETE .../reactions/{emoji}`` (one
    emoji's): MANAGE_MESSAGES, guilds only. MESSAGE_REACTION_REMOVE_ALL or _REMOVE_EMOJI when
    there was something to remove.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013, or 50003 in a DM; 400 10014;
            404 10008.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    _require_moderator(view)
    emoji = None if emoji_text is None else parse_emoji(emoji_text)
    message = await find_message(p, view.channel, message_id)
    removed = await p.messages.remove_reactions(
        view.channel.id, message.id, None if emoji is None else emoji.key)
    if not removed:
        return
    data: Json = {**channel_place(view.channel), "message_id": str(message.id)}
    name = "MESSAGE_REACTION_REMOVE_ALL"
    if emoji is not None:
        data["emoji"] = emoji_json(emoji)
        name = "MESSAGE_REACTION_REMOVE_EMOJI"
    p.publish(Event(name, data, **channel_audience(view.channel)))


async def users(
    p: Platform, user: User, channel_id: int, message_id: int, emoji_text: str,
    query: Mapping[str, str],
) -> list[Json]:
    """``GET .../reactions/{emoji}``: who reacted, by user id; ``after`` (a user id),
    ``limit`` 1..100 (default 25), ``type`` 0 (normal) or 1 (burst: none here).

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013 without
            READ_MESSAGE_HISTORY; 400 10014, 50035 for a bad query value; 404 10008.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    view.require(_P.READ_MESSAGE_HISTORY)
    q = dict(query)
    limit = get_int(q, "limit", lo=1, hi=HISTORY_MAX, default=USERS_DEFAULT)
    after = get_snowflake(q, "after", default=0) if q.get("after") != "0" else 0
    kind = get_int(q, "type", lo=_NORMAL, hi=_BURST, default=_NORMAL)
    emoji = parse_emoji(emoji_text)
    message = await find_message(p, view.channel, message_id)
    if kind == _BURST:
        return []
    ids = await p.messages.reaction_users(
        view.channel.id, message.id, emoji.key, after=after, limit=limit)
    found = await p.meta.get_users(ids) if ids else {}
    return [user_json(found.get(i) or User(i, "Deleted User")) for i in ids]


def _require_moderator(view: ChannelView) -> None:
    if view.guild is None:
        raise ApiError(403, ErrorCode.CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel")
    view.require(_P.MANAGE_MESSAGES)


def _action(view: ChannelView, message: Message, user_id: int, emoji: Emoji) -> Json:
    """The fields MESSAGE_REACTION_ADD and _REMOVE share."""
    return {
        "user_id": str(user_id),
        **channel_place(view.channel),
        "message_id": str(message.id),
        "emoji": emoji_json(emoji),
        "burst": False,
        "type": _NORMAL,
    }
