"""Group DMs (channel type 3): create, add and remove recipients, leave, rename, hand over.

Discord's user-account API, followed here:

- ``POST /users/@me/channels`` with ``recipients`` (user ids, the creator left out): a group
  DM owned by its creator (one id opens the 1:1 DM instead, as Discord's client does it;
  :mod:`core.channels` routes the body). Bots cannot make one: Discord's bot route wants
  OAuth2 access tokens with the ``gdm.join`` scope, which this server has no way to issue,
  so a bot gets 403 20001 "Bots cannot use this endpoint"; nor can a bot be a recipient
  (50033: a user's group DM holds users they know, and bots are nobody's friends).
- ``PUT /channels/{id}/recipients/{user_id}`` (any recipient; ``access_token`` and ``nick``
  are accepted and ignored) and ``DELETE`` (the owner removes anyone; anyone removes
  themself, which is leaving, as ``DELETE /channels/{id}`` is).
- ``PATCH /channels/{id}``: ``name`` and ``icon`` (any recipient), ``owner_id`` (the owner,
  to another recipient). An icon given as a data URI is stored as an image like a guild's
  (``core.assets``, ``channel-icons/{channel_id}/{hash}``), served by the CDN at Discord's
  ``/channel-icons/{channel_id}/{hash}.png``; the group's deletion deletes its icons.
- At most :data:`MAX_RECIPIENTS` users, the owner among them (400 30004, Discord's "Maximum
  number of recipients reached (10)").

Events, each to whom it concerns (``user_ids``, like every private channel's): CHANNEL_CREATE
to every recipient of a new group and to one added, CHANNEL_RECIPIENT_ADD/REMOVE
``{channel_id, user}`` to the others, CHANNEL_DELETE to one removed (or who left),
CHANNEL_UPDATE for a new name, icon or owner. The change is also a system message in the
channel through the message router, as on Discord: RECIPIENT_ADD (type 1), RECIPIENT_REMOVE
(2), CHANNEL_NAME_CHANGE (4, the new name as content), CHANNEL_ICON_CHANGE (5). When the
owner leaves, the recipient there longest owns the group; when the last one leaves, the group
and its history are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from core.access import ChannelView, channel_view
from core.assets import image_hash, is_data_uri, store_image
from core.attachments import delete_channel_files
from core.blobs import blob_key
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.messages import channel_audience
from core.models import Channel, ChannelType, Message, User
from core.platform import Platform
from core.router import RouterClosed, WriteFailed
from core.store.base import RecipientOutcome
from core.validate import MISSING, get_snowflake, get_str, snowflake_value
from core.wire import channel_json, message_json, user_json

__all__ = [
    "CHANNEL_ICONS",
    "MAX_RECIPIENTS",
    "NAME_MAX",
    "add_recipient",
    "create",
    "leave",
    "recipient_ids",
    "remove_recipient",
    "update",
]

logger = logging.getLogger(__name__)

Json = dict[str, Any]

# Users in one group DM, its owner among them (Discord: 10, error 30004).
MAX_RECIPIENTS = 10
# The blob key kind of group DM icons (and the CDN path: Discord's /channel-icons/...).
CHANNEL_ICONS = "channel-icons"
NAME_MAX = 100
MAX_RECIPIENTS_CODE = 30004
# Discord's "Cannot execute action on this channel type".
_WRONG_CHANNEL_TYPE = 50024
# The system messages a group DM's changes leave (Discord's message types).
RECIPIENT_ADD, RECIPIENT_REMOVE, CHANNEL_NAME_CHANGE, CHANNEL_ICON_CHANGE = 1, 2, 4, 5


def _bots_cannot() -> ApiError:
    return ApiError(403, ErrorCode.BOTS_CANNOT_USE, "Bots cannot use this endpoint")


def _invalid_recipient() -> ApiError:
    return ApiError.bad_request(ErrorCode.INVALID_RECIPIENTS, "Invalid Recipient(s)")


def _too_many() -> ApiError:
    return ApiError.bad_request(
        MAX_RECIPIENTS_CODE, f"Maximum number of recipients reached ({MAX_RECIPIENTS})")


def recipient_ids(body: dict[str, Any]) -> list[int]:
    """``recipients``: a list of user ids (duplicates dropped), at most MAX_RECIPIENTS - 1.

    Raises:
        ApiError: 50035 for a bad list or id; 400 30004 for too many.
    """
    raw = body.get("recipients")
    if not isinstance(raw, list):
        raise invalid_form("recipients", "LIST_TYPE_CONVERT",
                           "Only iterables may be used in a ListType")
    ids = list(dict.fromkeys(snowflake_value(x, f"recipients.{i}") for i, x in enumerate(raw)))
    if len(ids) > MAX_RECIPIENTS - 1:
        raise _too_many()
    return ids


# -- reading -------------------------------------------------------------------------------------

async def _users(p: Platform, channel: Channel) -> dict[int, User]:
    return await p.meta.get_users(list(channel.recipients))


def _as_seen_by(channel: Channel, users: dict[int, User], viewer_id: int) -> Json:
    """The group DM as ``viewer_id`` sees it: ``recipients`` are the others."""
    others = [users[u] for u in channel.recipients if u != viewer_id and u in users]
    return channel_json(channel, others)


def _each_recipient(
    name: str, channel: Channel, users: dict[int, User], user_ids: Sequence[int]
) -> list[Event]:
    """``name`` to each of ``user_ids``, with the channel as that user sees it."""
    return [Event(name, _as_seen_by(channel, users, u), user_ids=(u,), channel_id=channel.id)
            for u in user_ids]


async def _group_view(p: Platform, actor: User, channel_id: int) -> ChannelView:
    """The group DM ``actor`` is a recipient of.

    Raises:
        ApiError: 404/403 as :func:`core.access.channel_view`; 400 50024 for another type.
    """
    view = await channel_view(p.meta, channel_id, actor.id)
    if view.channel.type != ChannelType.GROUP_DM:
        raise ApiError.bad_request(_WRONG_CHANNEL_TYPE,
                                   "Cannot execute action on this channel type")
    return view


# -- create ----------------------------------------------------------------------------------

async def create(p: Platform, actor: User, ids: Sequence[int]) -> Json:
    """A new group DM of ``actor`` (its owner) and ``ids`` (:func:`recipient_ids`, the
    creator not among them; none is a group of one). CHANNEL_CREATE to each recipient.

    Raises:
        ApiError: 403 20001 for a bot; 400 50033 for oneself, an unknown user or a bot.
    """
    if actor.bot:
        raise _bots_cannot()
    if actor.id in ids:
        raise _invalid_recipient()
    users = await p.meta.get_users(list(ids))
    if len(users) != len(ids) or any(u.bot for u in users.values()):
        raise _invalid_recipient()
    users[actor.id] = actor
    channel = Channel(p.ids.next(), ChannelType.GROUP_DM, recipients=(actor.id, *ids),
                      owner_id=actor.id)
    await p.meta.create_group_dm(channel, p.now_ms())
    stored = await p.meta.get_channel(channel.id) or channel
    p.publish(*_each_recipient("CHANNEL_CREATE", stored, users, stored.recipients))
    return _as_seen_by(stored, users, actor.id)


# -- recipients ------------------------------------------------------------------------------

async def add_recipient(p: Platform, actor: User, channel_id: int, user_id: int) -> None:
    """``PUT /channels/{id}/recipients/{user_id}`` (204): any recipient adds a user.

    Adding a recipient again changes nothing. The added user gets CHANNEL_CREATE, the others
    CHANNEL_RECIPIENT_ADD; a RECIPIENT_ADD system message follows.

    Raises:
        ApiError: 404/403 as :func:`core.access.channel_view`; 400 50024 for another channel
            type; 404 10013 for an unknown user; 400 50033 for a bot; 400 30004 when full.
    """
    view = await _group_view(p, actor, channel_id)
    added = await p.meta.get_user(user_id)
    if added is None:
        raise ApiError.unknown("user")
    if added.bot:
        raise _invalid_recipient()
    outcome = await p.meta.add_recipient(view.channel.id, user_id, p.now_ms(),
                                         max_recipients=MAX_RECIPIENTS)
    if outcome is RecipientOutcome.UNKNOWN_CHANNEL:
        raise ApiError.unknown("channel")
    if outcome is RecipientOutcome.LIMIT_REACHED:
        raise _too_many()
    if outcome is RecipientOutcome.ALREADY_RECIPIENT:
        return
    channel = await p.meta.get_channel(view.channel.id)
    if channel is None:  # deleted meanwhile
        raise ApiError.unknown("channel")
    users = await _users(p, channel)
    users[actor.id] = actor
    others = [u for u in channel.recipients if u != user_id]
    change = {"channel_id": str(channel.id), "user": user_json(added)}
    p.publish(
        Event("CHANNEL_RECIPIENT_ADD", change, user_ids=tuple(others), channel_id=channel.id),
        *_each_recipient("CHANNEL_CREATE", channel, users, (user_id,)),
    )
    await _system_message(p, channel, actor, RECIPIENT_ADD, users, mentions=(user_id,))


async def remove_recipient(p: Platform, actor: User, channel_id: int, user_id: int) -> Json:
    """``DELETE /channels/{id}/recipients/{user_id}`` (204): the owner removes anyone, anyone
    removes themself (leaving). Returns the channel as the removed user saw it.

    The removed user gets CHANNEL_DELETE, the others CHANNEL_RECIPIENT_REMOVE (and
    CHANNEL_UPDATE when the owner left and another owns the group now); a RECIPIENT_REMOVE
    system message follows. The last one out deletes the group and its history.

    Raises:
        ApiError: 404/403 as :func:`core.access.channel_view`; 400 50024 for another channel
            type; 403 50013 for someone else's removal by a non-owner; 404 10013 for a user
            who is not a recipient.
    """
    view = await _group_view(p, actor, channel_id)
    before = view.channel
    if user_id != actor.id and before.owner_id != actor.id:
        raise ApiError.missing_permissions()
    if user_id not in before.recipients:
        raise ApiError.unknown("user")
    users = await _users(p, before)
    users[actor.id] = actor
    seen_before = _as_seen_by(before, users, user_id)
    after = await p.meta.remove_recipient(before.id, user_id)
    if after is None:  # removed meanwhile
        raise ApiError.unknown("user")
    events = [Event("CHANNEL_DELETE", seen_before, user_ids=(user_id,), channel_id=before.id)]
    if not after.recipients:
        p.publish(*events)
        await p.meta.delete_channel(before.id)
        await p.messages.delete_channel_messages(before.id)
        await delete_channel_files(p.blobs, before.id)
        await p.blobs.delete_prefix(blob_key(CHANNEL_ICONS, before.id))
        return seen_before
    removed = users.get(user_id) or User(user_id, "Deleted User")
    change = {"channel_id": str(before.id), "user": user_json(removed)}
    events.append(Event("CHANNEL_RECIPIENT_REMOVE", change, user_ids=after.recipients,
                        channel_id=before.id))
    if after.owner_id != before.owner_id:
        events += _each_recipient("CHANNEL_UPDATE", after, users, after.recipients)
    p.publish(*events)
    await _system_message(p, after, actor, RECIPIENT_REMOVE, users, mentions=(user_id,))
    return seen_before


async def leave(p: Platform, actor: User, channel_id: int) -> Json:
    """``DELETE /channels/{id}`` of a group DM: leave it; the channel as it was."""
    return await remove_recipient(p, actor, channel_id, actor.id)


# -- settings --------------------------------------------------------------------------------

async def update(p: Platform, actor: User, view: ChannelView, body: dict[str, Any]) -> Json:
    """``PATCH /channels/{id}`` of a group DM: ``name`` (0-100, empty or null clears it),
    ``icon`` (any recipient), ``owner_id`` (the owner only, to another recipient). Other
    fields are ignored. CHANNEL_UPDATE to every recipient, and the system message of a new
    name or icon.

    Raises:
        ApiError: 403 50013 for ``owner_id`` by a non-owner; 50035 for a bad field or an
            owner who is not a recipient.
    """
    channel = view.channel
    fields: dict[str, Any] = {}
    name = get_str(body, "name", nullable=True, max_len=NAME_MAX, strip=True)
    if name is not MISSING:
        fields["name"] = name or None
    owner_id = get_snowflake(body, "owner_id")
    if owner_id is not MISSING and owner_id != channel.owner_id:
        if channel.owner_id != actor.id:
            raise ApiError.missing_permissions()
        if owner_id not in channel.recipients:
            raise invalid_form("owner_id", "CHANNEL_OWNER_INVALID",
                               "The owner must be a recipient of the channel.")
        fields["owner_id"] = owner_id
    if "icon" in body:
        # Last of the checks: a refused change stores no image. A hash given as such (a
        # client re-sending the current icon) is kept as it is.
        icon = body["icon"]
        fields["icon"] = (await store_image(p, CHANNEL_ICONS, channel.id, icon, "icon")
                          if is_data_uri(icon) else image_hash(icon, "icon"))
    fields = {k: v for k, v in fields.items() if getattr(channel, k) != v}
    users = await _users(p, channel)
    users[actor.id] = actor
    if not fields:
        return _as_seen_by(channel, users, actor.id)
    updated = await p.meta.update_channel(channel.id, fields)
    if updated is None:  # deleted meanwhile
        raise ApiError.unknown("channel")
    p.publish(*_each_recipient("CHANNEL_UPDATE", updated, users, updated.recipients))
    if "name" in fields:
        await _system_message(p, updated, actor, CHANNEL_NAME_CHANGE, users,
                              content=updated.name or "")
    if "icon" in fields:
        await _system_message(p, updated, actor, CHANNEL_ICON_CHANGE, users)
    return _as_seen_by(updated, users, actor.id)


# -- system messages -------------------------------------------------------------------------

async def _system_message(
    p: Platform, channel: Channel, actor: User, kind: int, users: dict[int, User], *,
    mentions: tuple[int, ...] = (), content: str = "",
) -> None:
    """The system message a change leaves in the group, written like any message.

    The change is done by then: if this write fails, it stands and the failure is logged
    (answering an error would make the client retry a change that happened).
    """
    message = Message(id=p.ids.next(), channel_id=channel.id, author_id=actor.id,
                      content=content, type=kind, mentions=mentions)
    data = message_json(message, users)
    try:
        await p.router.submit(message, (Event("MESSAGE_CREATE", data,
                                               **channel_audience(channel)),))
    except (WriteFailed, RouterClosed):
        logger.warning("the system message (type %d) of group DM %d was not written",
                       kind, channel.id)
