"""Pins: pin and unpin messages, list a channel's pins, with their events and system message.

Discord's rules, followed here ("Pin Message", "Get Channel Pins"): pinning needs PIN_MESSAGES
(split from MANAGE_MESSAGES in 2025). Discord gave the new bit to every role that had
MANAGE_MESSAGES when it split them; roles here were made before the bit existed and never
migrated, so MANAGE_MESSAGES still pins too. DM recipients may pin. A channel holds at most
:data:`MAX_PINS` pins (400 30003); system messages cannot be pinned (400 50021). Pinning a
pinned message, or unpinning one that is not, changes nothing (204, no event).

A pin, once durable, is announced as Discord does: MESSAGE_UPDATE of the message (``pinned``
true), CHANNEL_PINS_UPDATE (``last_pin_timestamp``), and a system message of type 6
(CHANNEL_PINNED_MESSAGE) by the pinner, with a ``message_reference`` to the pinned message,
written through the message router like any message (its MESSAGE_CREATE once durable). An
unpin sends MESSAGE_UPDATE and CHANNEL_PINS_UPDATE with the newest remaining pin's time.

Reading: ``GET /channels/{id}/pins`` (all of them, newest pin first, as Discord's deprecated
route) and ``GET /channels/{id}/messages/pins`` (``before`` a time, ``limit`` 1..50 →
``{items: [{pinned_at, message}], has_more}``, what discord.py 2.7 calls). Both need
VIEW_CHANNEL; without READ_MESSAGE_HISTORY they list nothing, as Discord's do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.access import ChannelView, channel_view
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.history import find_message, render
from core.messages import channel_audience, channel_place
from core.models import Message, MessageReference, User
from core.permissions import Permission
from core.platform import Platform
from core.router import RouterClosed, WriteFailed
from core.snowflake import iso_timestamp
from core.store.base import PinOutcome
from core.validate import get_int
from core.wire import message_json

__all__ = ["MAX_PINS", "PAGE_MAX", "list_all", "page", "pin", "unpin"]

logger = logging.getLogger(__name__)

Json = dict[str, Any]

# Pins one channel may hold (Discord's error 30003 "Maximum number of pins reached (50)").
MAX_PINS = 50
# ``GET /channels/{id}/messages/pins``: its ``limit`` range's top, and the default.
PAGE_MAX = 50
# CHANNEL_PINNED_MESSAGE, the system message a pin leaves in the channel.
MESSAGE_PINNED = 6
# DEFAULT and REPLY: every other type is a system message (error 50021 to pin one).
_PINNABLE = frozenset({0, 19})
_MAY_PIN = int(Permission.PIN_MESSAGES | Permission.MANAGE_MESSAGES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def pin(p: Platform, user: User, channel_id: int, message_id: int) -> None:
    """``PUT /channels/{id}/pins/{id}`` and ``PUT /channels/{id}/messages/pins/{id}`` (204).

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013; 404 10008; 400 50021 for a
            system message, 30003 when the channel has MAX_PINS pins.
    """
    view = await _pinner(p, channel_id, user.id)
    message = await find_message(p, view.channel, message_id)
    if message.type not in _PINNABLE:
        raise ApiError.bad_request(ErrorCode.SYSTEM_MESSAGE,
                                   "Cannot execute action on a system message")
    outcome, pinned = await p.messages.pin_message(
        view.channel.id, message.id, p.now_ms(), MAX_PINS)
    if outcome is PinOutcome.UNKNOWN_MESSAGE or pinned is None:
        raise ApiError.unknown("message")
    if outcome is PinOutcome.LIMIT_REACHED:
        raise ApiError.bad_request(ErrorCode.MAX_PINS,
                                   f"Maximum number of pins reached ({MAX_PINS})")
    if outcome is PinOutcome.PINNED:
        await _announce(p, view, pinned)
        await _system_message(p, view, user, pinned)


async def unpin(p: Platform, user: User, channel_id: int, message_id: int) -> None:
    """``DELETE /channels/{id}/pins/{id}`` and ``DELETE /channels/{id}/messages/pins/{id}``.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013; 404 10008.
    """
    view = await _pinner(p, channel_id, user.id)
    message = await find_message(p, view.channel, message_id)
    unpinned = await p.messages.unpin_message(view.channel.id, message.id)
    if unpinned is not None:
        await _announce(p, view, unpinned)


async def list_all(p: Platform, user: User, channel_id: int) -> list[Json]:
    """``GET /channels/{id}/pins``: every pinned message, most recently pinned first."""
    view = await channel_view(p.meta, channel_id, user.id)
    if not view.permissions & Permission.READ_MESSAGE_HISTORY:
        return []
    pins = await p.messages.list_pins(view.channel.id, limit=MAX_PINS)
    return await render(p, view.channel, pins, viewer=user.id)


async def page(p: Platform, user: User, channel_id: int, query: Mapping[str, str]) -> Json:
    """``GET /channels/{id}/messages/pins``: ``{items: [{pinned_at, message}], has_more}``,
    pins made before ``before`` (ISO 8601), most recent first, ``limit`` 1..50 (default 50).

    Raises:
        ApiError: as :func:`core.access.channel_view`; 400 50035 for a bad ``before`` or
            ``limit``.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    q = dict(query)
    limit = get_int(q, "limit", lo=1, hi=PAGE_MAX, default=PAGE_MAX)
    before = _time_ms(q["before"]) if "before" in q else None
    if not view.permissions & Permission.READ_MESSAGE_HISTORY:
        return {"items": [], "has_more": False}
    pins = await p.messages.list_pins(view.channel.id, before_ms=before, limit=limit + 1)
    shown = pins[:limit]
    messages = await render(p, view.channel, shown, viewer=user.id)
    items = [{"pinned_at": iso_timestamp(m.pinned_at or 0), "message": data}
             for m, data in zip(shown, messages, strict=True)]
    return {"items": items, "has_more": len(pins) > limit}


async def _pinner(p: Platform, channel_id: int, user_id: int) -> ChannelView:
    view = await channel_view(p.meta, channel_id, user_id)
    if not view.permissions & _MAY_PIN:
        raise ApiError.missing_permissions()
    return view


async def _announce(p: Platform, view: ChannelView, changed: Message) -> None:
    """MESSAGE_UPDATE of a message just pinned or unpinned, and CHANNEL_PINS_UPDATE."""
    channel = view.channel
    data = (await render(p, channel, [changed], members=True))[0]
    newest = changed if changed.pinned_at is not None else next(
        iter(await p.messages.list_pins(channel.id, limit=1)), None)
    last = None if newest is None or newest.pinned_at is None else iso_timestamp(newest.pinned_at)
    audience = channel_audience(channel)
    p.publish(
        Event("MESSAGE_UPDATE", data, **audience),
        Event("CHANNEL_PINS_UPDATE", {**channel_place(channel), "last_pin_timestamp": last},
              **audience),
    )


async def _system_message(p: Platform, view: ChannelView, pinner: User, pinned: Message) -> None:
    """The CHANNEL_PINNED_MESSAGE the pinner leaves in the channel, written like any message.

    The pin is done by then: if this write fails, the pin stands and the failure is logged
    (answering an error would make the client retry a pin that happened).
    """
    channel = view.channel
    message = Message(
        id=p.ids.next(), channel_id=channel.id, author_id=pinner.id, content="",
        guild_id=channel.guild_id, type=MESSAGE_PINNED,
        reference=MessageReference(pinned.id, channel.id, channel.guild_id),
    )
    member = view.guild.member if view.guild else None
    data = message_json(message, {pinner.id: pinner}, member)
    try:
        await p.router.submit(message, (Event("MESSAGE_CREATE", data, **channel_audience(channel)),))
    except (WriteFailed, RouterClosed):
        logger.warning("the system message of pin %d in channel %d was not written",
                       pinned.id, channel.id)


def _time_ms(value: str) -> int:
    """An ISO 8601 time (``before``) as Unix ms, exactly (no float rounding)."""
    try:
        moment = datetime.fromisoformat(value)  # 3.11: "Z", fractions, offsets
    except ValueError:
        raise invalid_form("before", "DATE_TIME_TYPE_COERCE",
                           "Could not interpret the value as a date and time.") from None
    if moment.tzinfo is None:  # a naive time is read as UTC, as Discord does
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
