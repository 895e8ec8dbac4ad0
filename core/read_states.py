"""Read states: how far a user has read each channel, and their unread mentions.

Discord keeps these for user accounts only: bots have none (``POST .../ack`` answers them 403
20001 "Bots cannot use this endpoint", and their READY has no ``read_state``), as Discord has
done since it disabled read states for bots.

- ``POST /channels/{channel_id}/messages/{message_id}/ack`` (:func:`ack`) moves the user's read
  state of the channel to the message: forward only, unless the body says ``manual: true``
  (Discord's "mark unread"). The answer is ``{"token": null}`` (the ack token Discord's
  client sends back is accepted and ignored). MESSAGE_ACK ``{channel_id, message_id, version,
  mention_count}`` goes to the user's sessions and nobody else's: it is how their other
  clients learn the channel was read. A REST call comes from no gateway session, so the one
  that acked is among them too, as on Discord (its client ignores an ack it already applied).
- READY's ``read_state`` (:func:`ready_read_state`): ``{version, partial: false, entries:
  [{id, last_message_id, mention_count, last_pin_timestamp}]}`` for every channel the session
  can see that the user acknowledged or has mentions in, from ONE store read
  (``MetaStore.read_states``).

Mention counts are never stored per user: they are counted from the mention index
(``core.mentions``) when read. Sending a message does not acknowledge the channel for its
author (Discord's server does it for user accounts; here the client acknowledges what it
shows, and one's own messages are never counted as mentions). Pins are not acknowledged:
``last_pin_timestamp`` is always the epoch.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from core.access import channel_view
from core.errors import ApiError, ErrorCode
from core.events import Event
from core.models import ChannelType, ReadState, User
from core.platform import Platform
from core.snowflake import snowflake_time_ms
from core.validate import get_bool, get_int, get_str

__all__ = ["ACK_FUTURE_MS", "ack", "ack_json", "entry_json", "ready_read_state"]

Json = dict[str, Any]

# How far ahead of this server's clock an acknowledged message id may be (clocks of the
# workers that made ids differ a little): an ack of a later id would hide every message
# sent until then, so it is refused as an unknown message.
ACK_FUTURE_MS = 60_000
# ``last_pin_timestamp`` of every entry: pins are not acknowledged here.
_NO_PIN = "1970-01-01T00:00:00+00:00"
# Discord's ack token is an opaque string its client sends back; we give none (null), and
# accept any of at most this length.
_TOKEN_MAX = 1024
_NON_TEXT_CHANNEL = 50008


def _bots_cannot() -> ApiError:
    return ApiError(403, ErrorCode.BOTS_CANNOT_USE, "Bots cannot use this endpoint")


async def ack(
    p: Platform, user: User, channel_id: int, message_id: int, body: dict[str, Any]
) -> Json:
    """``POST /channels/{channel_id}/messages/{message_id}/ack``: ``{"token": null}``.

    Body (every field optional): ``token`` (null or a string, ignored), ``manual`` (move the
    read state back too), ``mention_count`` and ``last_viewed`` (integers Discord's client
    sends, ignored: counts are worked out, not set). The message need not exist any more (a
    read position may be a deleted message's), but it may not be from the future.

    Raises:
        ApiError: 403 20001 for a bot; 404/403 as :func:`core.access.channel_view`; 400 50008
            for a category; 404 10008 for an id from the future; 50035 for a bad field.
    """
    if user.bot:
        raise _bots_cannot()
    view = await channel_view(p.meta, channel_id, user.id)
    if view.channel.type == ChannelType.GUILD_CATEGORY:
        raise ApiError.bad_request(_NON_TEXT_CHANNEL, "Cannot send messages in a non-text channel")
    get_str(body, "token", nullable=True, max_len=_TOKEN_MAX)
    manual = bool(get_bool(body, "manual", default=False))
    for ignored in ("mention_count", "last_viewed"):
        get_int(body, ignored, nullable=True, lo=0)
    now = p.now_ms()
    if snowflake_time_ms(message_id) > now + ACK_FUTURE_MS:
        raise ApiError.unknown("message")
    state = await p.meta.ack_channel(user.id, view.channel.id, message_id, now, manual=manual)
    if state is None:  # deleted meanwhile
        raise ApiError.unknown("channel")
    p.publish(Event("MESSAGE_ACK", ack_json(state), user_ids=(user.id,)))
    return {"token": None}


def ack_json(state: ReadState) -> Json:
    """The ``d`` of MESSAGE_ACK: the read state after the ack."""
    return {
        "channel_id": str(state.channel_id),
        "message_id": str(state.last_message_id),
        "version": state.version,
        "mention_count": state.mention_count,
    }


def entry_json(state: ReadState) -> Json:
    """One entry of READY's ``read_state`` (``last_message_id`` "0": never acknowledged)."""
    return {
        "id": str(state.channel_id),
        "last_message_id": str(state.last_message_id),
        "mention_count": state.mention_count,
        "last_pin_timestamp": _NO_PIN,
    }


async def ready_read_state(p: Platform, user_id: int, channel_ids: Collection[int]) -> Json:
    """READY's ``read_state`` for a user (not bot) session, from one store read.

    Args:
        channel_ids: the channels the session is told of (its guilds' visible channels and
            its private channels): read states of any other channel (left, hidden since) are
            not listed.
    """
    states = await p.meta.read_states(user_id)
    return {
        "version": max((s.version for s in states), default=0),
        "partial": False,
        "entries": [entry_json(s) for s in states if s.channel_id in channel_ids],
    }
