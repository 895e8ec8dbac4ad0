"""Channels: guild text channels and categories, their settings and order, and DMs.

As in ``core.guilds``: each function takes the acting user, checks what Discord checks, writes
through ``p.meta``, publishes the gateway event after the write and returns Discord's JSON.
Guild channel events are channel-scoped (``channel_id`` set), so only members who can VIEW the
channel receive them; DM events go to their recipients (``user_ids``). Creating, editing and
deleting a guild channel is recorded in the audit log (``core.audit``) with the request's
``reason``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from core import audit, group_dms, threads
from core.access import GuildView, channel_view, guild_view
from core.attachments import delete_channel_files
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.guilds import visible_channels
from core.history import with_last_message_ids
from core.models import Channel, ChannelType, Overwrite, OverwriteType, User
from core.permissions import ALL, Permission
from core.platform import Platform
from core.validate import (
    MISSING,
    get_bool,
    get_int,
    get_permissions,
    get_snowflake,
    get_str,
    snowflake_value,
)
from core.wire import channel_json, guild_json

__all__ = [
    "CHANNEL_NAME_MAX",
    "OVERWRITES_MAX",
    "SLOWMODE_MAX",
    "TOPIC_MAX",
    "create_channel",
    "delete_channel",
    "get_channel",
    "list_dms",
    "list_guild_channels",
    "open_dm",
    "reorder_channels",
    "update_channel",
]

Json = dict[str, Any]

CHANNEL_NAME_MAX = 100
TOPIC_MAX = 1024
# ``rate_limit_per_user`` (slowmode) bounds in seconds, as Discord.
SLOWMODE_MAX = 21600
# Permission overwrites per channel (Discord documents none; it rejects far more than this).
OVERWRITES_MAX = 100
# Positions are stored as ints; Discord's are int32.
_POSITION_MAX = (1 << 31) - 1
# The channel types a guild channel may be created as; others are 50035.
_CREATABLE = (ChannelType.GUILD_TEXT, ChannelType.GUILD_CATEGORY)
_WHITESPACE = re.compile(r"\s+")


def _dm_error() -> ApiError:
    return ApiError.bad_request(
        ErrorCode.CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel"
    )


# -- body fields ---------------------------------------------------------------------------------

def _channel_type(body: dict[str, Any]) -> ChannelType:
    value = get_int(body, "type", default=int(ChannelType.GUILD_TEXT))
    if value not in _CREATABLE:
        raise invalid_form("type", "BASE_TYPE_CHOICES",
                           f"Value must be one of {tuple(int(t) for t in _CREATABLE)}.")
    return ChannelType(value)


def _channel_name(body: dict[str, Any], ctype: ChannelType, required: bool) -> Any:
    """``name``, 1-100 characters; a text channel's is lowercased with whitespace as '-'."""
    name = get_str(body, "name", required=required, min_len=1, max_len=CHANNEL_NAME_MAX,
                   strip=True)
    if name is MISSING or ctype != ChannelType.GUILD_TEXT:
        return name
    return _WHITESPACE.sub("-", name.lower())


def _plain_fields(body: dict[str, Any], ctype: ChannelType, *, creating: bool) -> dict[str, Any]:
    """The scalar settings present in ``body``: name, topic, position, nsfw, slowmode.

    ``topic`` and ``rate_limit_per_user`` exist on text channels only; a category ignores them.
    """
    out: dict[str, Any] = {"name": _channel_name(body, ctype, creating)}
    out["position"] = get_int(body, "position", lo=0, hi=_POSITION_MAX)
    out["nsfw"] = get_bool(body, "nsfw")
    if ctype == ChannelType.GUILD_TEXT:
        out["topic"] = get_str(body, "topic", nullable=True, max_len=TOPIC_MAX)
        out["rate_limit_per_user"] = get_int(body, "rate_limit_per_user", lo=0, hi=SLOWMODE_MAX)
    return {k: v for k, v in out.items() if v is not MISSING}


def _parent_id(
    body: dict[str, Any], ctype: ChannelType, guild_channels: Sequence[Channel]
) -> Any:
    """``parent_id``: null, or a category of this guild (categories have no parent).

    Raises:
        ApiError: 404 Unknown Channel for an id that is not a channel of this guild; 50035
            when it is not a category or the channel is itself a category.
    """
    parent_id = get_snowflake(body, "parent_id", nullable=True)
    if parent_id is MISSING or parent_id is None:
        return parent_id
    parent = next((c for c in guild_channels if c.id == parent_id), None)
    if parent is None:
        raise ApiError.unknown("channel")
    if parent.type != ChannelType.GUILD_CATEGORY or ctype == ChannelType.GUILD_CATEGORY:
        raise invalid_form(
            "parent_id", "CHANNEL_PARENT_INVALID_TYPE",
            "Only a non-category channel may have a parent, and it must be a category.",
        )
    return parent_id


def _one_overwrite(item: Any, path: str) -> Overwrite:
    if not isinstance(item, dict):
        raise invalid_form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    target = snowflake_value(item.get("id"), f"{path}.id")
    kind = item.get("type")
    if kind not in (0, 1, "0", "1") or isinstance(kind, bool):
        raise invalid_form(f"{path}.type", "BASE_TYPE_CHOICES", "Value must be one of (0, 1).")
    try:
        allow = get_permissions(item, "allow", default=0)
        deny = get_permissions(item, "deny", default=0)
    except ApiError as e:
        raise _nest(e, path) from None
    return Overwrite(target, OverwriteType(int(kind)), allow & ALL, deny & ALL)


def _parse_overwrites(body: dict[str, Any]) -> list[Overwrite]:
    """``permission_overwrites``: at most :data:`OVERWRITES_MAX`; a repeated id keeps the last."""
    items = body.get("permission_overwrites")
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid_form("permission_overwrites", "LIST_TYPE_CONVERT",
                           "Only iterables may be used in a ListType")
    if len(items) > OVERWRITES_MAX:
        raise invalid_form("permission_overwrites", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {OVERWRITES_MAX} or fewer in length.")
    by_id = {}
    for i, item in enumerate(items):
        ow = _one_overwrite(item, f"permission_overwrites.{i}")
        by_id[ow.id] = ow
    return list(by_id.values())


async def _check_overwrites(p: Platform, gv: GuildView, overwrites: list[Overwrite]) -> None:
    """Discord's rules: targets are roles or members of this guild; a non-administrator may
    only allow or deny permissions they have, and never MANAGE_ROLES.

    Raises:
        ApiError: 404 Unknown Role / Unknown Member; 403 50013.
    """
    for ow in overwrites:
        if ow.type == OverwriteType.ROLE and ow.id not in gv.roles:
            raise ApiError.unknown("role")
        if ow.type == OverwriteType.MEMBER and await p.meta.get_member(gv.guild.id, ow.id) is None:
            raise ApiError.unknown("member")
        if gv.permissions != ALL:
            bits = ow.allow | ow.deny
            if bits & ~gv.permissions or bits & Permission.MANAGE_ROLES:
                raise ApiError.missing_permissions()


def _nest(error: ApiError, prefix: str) -> ApiError:
    """The same 50035 error with its field path under ``prefix`` (a list index, say)."""
    if error.errors:
        node: dict[str, Any] = error.errors
        for part in reversed(prefix.split(".")):
            node = {part: node}
        error.errors = node
    return error


# -- guild channels ---------------------------------------------------------------------------

async def list_guild_channels(p: Platform, actor: User, guild_id: int) -> list[Json]:
    """``GET /guilds/{id}/channels``: the channels the member can VIEW, by (position, id).

    Raises:
        ApiError: 404 Unknown Guild; 403 Missing Access for a non-member.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    channels = visible_channels(gv.guild, gv.roles, gv.member, await p.meta.list_channels(guild_id))
    return [channel_json(c) for c in await with_last_message_ids(p, channels)]


async def create_channel(
    p: Platform, actor: User, guild_id: int, body: dict[str, Any], *, reason: str | None = None
) -> Json:
    """``POST /guilds/{id}/channels`` (MANAGE_CHANNELS): a text channel or a category.

    Body: ``name`` (1-100), ``type`` (0 or 4), ``topic`` (0-1024), ``position`` (default: after
    the last channel), ``parent_id`` (a category of this guild), ``nsfw``,
    ``rate_limit_per_user`` (0-21600 s), ``permission_overwrites``. A guild holds at most
    ``config.max_channels_per_guild`` channels. Publishes CHANNEL_CREATE to its viewers.

    Raises:
        ApiError: 404/403 as :func:`list_guild_channels`; 50013; 50035 for a bad field; 400
            30013 at the channel limit; 404 Unknown Channel/Role/Member for foreign ids.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_CHANNELS)
    ctype = _channel_type(body)
    fields = _plain_fields(body, ctype, creating=True)
    existing = await p.meta.list_channels(guild_id)
    parent_id = _parent_id(body, ctype, existing)
    overwrites = _parse_overwrites(body)
    await _check_overwrites(p, gv, overwrites)
    limit = p.config.max_channels_per_guild
    if len(existing) >= limit:
        raise ApiError.bad_request(
            ErrorCode.MAX_CHANNELS, f"Maximum number of guild channels reached ({limit})"
        )
    position = fields.pop("position", max((c.position for c in existing), default=-1) + 1)
    channel = Channel(
        p.ids.next(), ctype, guild_id, position=position,
        parent_id=None if parent_id is MISSING else parent_id, overwrites=tuple(overwrites),
        **fields,
    )
    await p.meta.create_channel(channel)
    out = channel_json(channel)
    p.publish(Event("CHANNEL_CREATE", out, guild_id=guild_id, channel_id=channel.id))
    await audit.channel_changed(p, actor.id, audit.AuditAction.CHANNEL_CREATE, None, channel,
                                reason=reason)
    return out


async def get_channel(p: Platform, actor: User, channel_id: int) -> Json:
    """``GET /channels/{id}``: a guild channel the user can VIEW, or one of their DMs.

    Raises:
        ApiError: 404 Unknown Channel; 403 Missing Access.
    """
    cv = await channel_view(p.meta, channel_id, actor.id)
    [channel] = await with_last_message_ids(p, [cv.channel])
    if cv.guild is None:
        return await _dm_json(p, channel, actor.id)
    return channel_json(channel)


async def update_channel(
    p: Platform, actor: User, channel_id: int, body: dict[str, Any], *, reason: str | None = None
) -> Json:
    """``PATCH /channels/{id}`` (MANAGE_CHANNELS; MANAGE_ROLES too to set
    ``permission_overwrites``, which replace the channel's). Fields as :func:`create_channel`;
    ``type`` cannot change. Publishes CHANNEL_UPDATE to the viewers.

    Raises:
        ApiError: 404/403 as :func:`get_channel`; 400 50003 for a DM; 50013; 50035.
    """
    cv = await channel_view(p.meta, channel_id, actor.id)
    if cv.channel.type == ChannelType.GROUP_DM:
        return await group_dms.update(p, actor, cv, body)
    if cv.guild is None:
        raise _dm_error()
    if cv.channel.thread is not None:
        return await threads.update_thread(p, actor, cv, body)
    cv.require(Permission.MANAGE_CHANNELS)
    channel = cv.channel
    if get_int(body, "type", default=int(channel.type)) != int(channel.type):
        raise invalid_form("type", "CHANNEL_TYPE_INVALID", "The channel type cannot be changed.")
    fields = _plain_fields(body, channel.type, creating=False)
    if "parent_id" in body:
        guild_channels = await p.meta.list_channels(cv.guild.guild.id)
        fields["parent_id"] = _parent_id(body, channel.type, guild_channels)
    if "permission_overwrites" in body:
        cv.require(Permission.MANAGE_ROLES)
        overwrites = _parse_overwrites(body)
        await _check_overwrites(p, cv.guild, overwrites)
        fields["overwrites"] = tuple(overwrites)
    fields = {k: v for k, v in fields.items() if v is not MISSING and getattr(channel, k) != v}
    if not fields:
        return channel_json(channel)
    updated = await p.meta.update_channel(channel_id, fields)
    if updated is None:  # deleted concurrently
        raise ApiError.unknown("channel")
    out = channel_json(updated)
    p.publish(Event("CHANNEL_UPDATE", out, guild_id=updated.guild_id, channel_id=updated.id))
    await audit.channel_changed(p, actor.id, audit.AuditAction.CHANNEL_UPDATE, channel, updated,
                                reason=reason)
    return out


async def delete_channel(
    p: Platform, actor: User, channel_id: int, *, reason: str | None = None
) -> Json:
    """``DELETE /channels/{id}``: delete a guild channel (MANAGE_CHANNELS) or close a DM.

    A deleted channel's history goes with it; a category's children lose their parent
    (CHANNEL_UPDATE each); the guild's system channel becomes null (GUILD_UPDATE). Closing a
    DM deletes nothing: it sends CHANNEL_DELETE to the closing user only, as Discord does.

    Returns:
        The channel as it was.

    Raises:
        ApiError: 404/403 as :func:`get_channel`; 50013.
    """
    cv = await channel_view(p.meta, channel_id, actor.id)
    channel = cv.channel
    if channel.type == ChannelType.GROUP_DM:
        return await group_dms.leave(p, actor, channel_id)
    if cv.guild is None:
        out = await _dm_json(p, channel, actor.id)
        p.publish(Event("CHANNEL_DELETE", out, user_ids=(actor.id,)))
        return out
    if channel.thread is not None:
        return await threads.delete_thread(p, cv)
    cv.require(Permission.MANAGE_CHANNELS)
    guild = cv.guild.guild
    children = [] if channel.type != ChannelType.GUILD_CATEGORY else [
        c for c in await p.meta.list_channels(guild.id) if c.parent_id == channel.id
    ]
    if not await p.meta.delete_channel(channel_id):
        raise ApiError.unknown("channel")
    out = channel_json(channel)
    events = [Event("CHANNEL_DELETE", out, guild_id=guild.id, channel_id=channel_id)]
    events += [
        Event("CHANNEL_UPDATE", channel_json(dataclasses.replace(c, parent_id=None)),
              guild_id=guild.id, channel_id=c.id)
        for c in children
    ]
    if guild.system_channel_id == channel_id:
        events += await _clear_system_channel(p, guild.id, cv.guild)
    p.publish(*events)
    await audit.channel_changed(p, actor.id, audit.AuditAction.CHANNEL_DELETE, channel, None,
                                reason=reason)
    await p.messages.delete_channel_messages(channel_id)
    await delete_channel_files(p.blobs, channel_id)
    return out


async def _clear_system_channel(p: Platform, guild_id: int, gv: GuildView) -> list[Event]:
    guild = await p.meta.update_guild(guild_id, {"system_channel_id": None})
    if guild is None:
        return []
    roles = sorted(gv.roles.values(), key=lambda r: (r.position, r.id))
    return [Event("GUILD_UPDATE", guild_json(guild, roles), guild_id=guild_id)]


async def reorder_channels(p: Platform, actor: User, guild_id: int, items: Any) -> None:
    """``PATCH /guilds/{id}/channels`` (MANAGE_CHANNELS): ``[{id, position?, parent_id?,
    lock_permissions?}]``, at most ``config.max_channels_per_guild`` entries. Every entry is
    checked before anything is written; CHANNEL_UPDATE is published for each channel changed.

    Raises:
        ApiError: 404/403 as :func:`list_guild_channels`; 50013; 50035; 404 Unknown Channel
            for an id that is not a channel of this guild.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_CHANNELS)
    if not isinstance(items, list) or len(items) > p.config.max_channels_per_guild:
        raise invalid_form("_root", "LIST_TYPE_CONVERT",
                           f"Must be a list of at most {p.config.max_channels_per_guild} items.")
    channels = {c.id: c for c in await p.meta.list_channels(guild_id)}
    changes: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(items):
        try:
            cid, fields = _position_entry(item, channels)
        except ApiError as e:
            raise _nest(e, str(i)) from None
        changes.setdefault(cid, {}).update(fields)
    events = []
    for cid, fields in changes.items():
        current = channels[cid]
        fields = {k: v for k, v in fields.items() if getattr(current, k) != v}
        if fields and (updated := await p.meta.update_channel(cid, fields)) is not None:
            events.append(Event("CHANNEL_UPDATE", channel_json(updated), guild_id=guild_id,
                                channel_id=cid))
    p.publish(*events)


def _position_entry(item: Any, channels: dict[int, Channel]) -> tuple[int, dict[str, Any]]:
    if not isinstance(item, dict):
        raise invalid_form(
            "_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        )
    channel = channels.get(snowflake_value(item.get("id"), "id"))
    if channel is None:
        raise ApiError.unknown("channel")
    fields: dict[str, Any] = {}
    position = get_int(item, "position", nullable=True, lo=0, hi=_POSITION_MAX)
    if position not in (MISSING, None):
        fields["position"] = position
    parent_id = _parent_id(item, channel.type, list(channels.values()))
    if parent_id is not MISSING:
        fields["parent_id"] = parent_id
        # lock_permissions: sync the overwrites with the new parent ("Permission Syncing").
        if parent_id is not None and get_bool(item, "lock_permissions", default=False):
            fields["overwrites"] = channels[parent_id].overwrites
    return channel.id, fields


# -- DMs -----------------------------------------------------------------------------------------

async def _dm_json(p: Platform, channel: Channel, viewer_id: int) -> Json:
    """A DM as ``viewer_id`` sees it: ``recipients`` is the other user (the others of a group
    DM, maybe none)."""
    others = [u for u in channel.recipients if u != viewer_id]
    if channel.type == ChannelType.DM:
        others = others or [viewer_id]
    users = await p.meta.get_users(others)
    return channel_json(channel, [users[u] for u in others if u in users])


def _invalid_recipient() -> ApiError:
    return ApiError.bad_request(ErrorCode.INVALID_RECIPIENTS, "Invalid Recipient(s)")


async def open_dm(p: Platform, actor: User, body: dict[str, Any]) -> Json:
    """``POST /users/@me/channels`` ``{recipient_id}``: the one DM channel of the pair; or
    ``{recipients: [user ids]}``, Discord's user-account form: a group DM
    (:func:`core.group_dms.create`), or with one id that user's DM.

    The first time, CHANNEL_CREATE goes to both recipients (each sees the other as
    ``recipients``). A DM with oneself is refused as an invalid recipient; a bot cannot open
    a DM with another bot (50007), as on Discord.

    Raises:
        ApiError: 50035 without ``recipient_id`` (or ``recipients``); 400 50033 for an
            unknown user or oneself; 400 50007 bot to bot; for ``recipients`` as
            :func:`core.group_dms.create` (403 20001 for a bot).
    """
    if "recipient_id" not in body and ("recipients" in body or "access_tokens" in body):
        if actor.bot:  # Discord's bot form needs OAuth2 access tokens (core.group_dms)
            raise ApiError(403, ErrorCode.BOTS_CANNOT_USE, "Bots cannot use this endpoint")
        ids = group_dms.recipient_ids(body)
        if len(ids) != 1:
            return await group_dms.create(p, actor, ids)
        body = {"recipient_id": ids[0]}
    recipient_id = get_snowflake(body, "recipient_id", required=True)
    if recipient_id == actor.id:
        raise _invalid_recipient()
    other = await p.meta.get_user(recipient_id)
    if other is None:
        raise _invalid_recipient()
    if actor.bot and other.bot:
        raise ApiError.bad_request(
            ErrorCode.CANNOT_SEND_TO_USER, "Cannot send messages to this user"
        )
    proposed = Channel(p.ids.next(), ChannelType.DM, recipients=(actor.id, other.id))
    channel = await p.meta.get_or_create_dm(proposed)
    out = channel_json(channel, [other])
    if channel.id == proposed.id:  # newly created: both sides learn of it
        p.publish(
            Event("CHANNEL_CREATE", out, user_ids=(actor.id,)),
            Event("CHANNEL_CREATE", channel_json(channel, [actor]), user_ids=(other.id,)),
        )
    return out


async def list_dms(p: Platform, actor: User) -> list[Json]:
    """``GET /users/@me/channels``: the user's DMs and group DMs, each with the other
    recipients."""
    dms = await with_last_message_ids(p, await p.meta.list_dms(actor.id))
    others = {u for c in dms for u in c.recipients if u != actor.id}
    users = await p.meta.get_users(list(others))
    out = []
    for channel in dms:
        ids = [u for u in channel.recipients if u != actor.id]
        out.append(channel_json(channel, [users[u] for u in ids if u in users]))
    return out
