"""Guild invites: creating, reading, accepting (joining the guild), listing and deleting.

Discord's rules (developer docs, Invite and Channel resources), followed here:

- An invite is made with CREATE_INSTANT_INVITE on its channel; listed with MANAGE_CHANNELS
  (a channel's) or MANAGE_GUILD (a guild's); deleted with MANAGE_CHANNELS on its channel or
  MANAGE_GUILD.
- Anyone with the code may read it; an expired or used-up invite is unknown (404 10006).
- Accepting joins the guild (bots cannot: 403 20001); a member accepting changes nothing.
- Unless ``unique`` is true, a live invite of the same inviter, channel and settings is
  returned instead of making a new one.

Limits: ``max_age`` 0-604800 s (0 never expires; default 86400), ``max_uses`` 0-100 (0 is
unlimited), at most :data:`MAX_INVITES_PER_GUILD` live invites per guild (400 30016), codes of
8-10 random letters and digits.

Events after the store write: INVITE_CREATE and INVITE_DELETE to the guild, scoped to the
invite's channel (the hub sends them to who has MANAGE_CHANNELS there); joining publishes what :func:`core.members.admit` does. A user banned from
the guild cannot join (403 40007). Creating and deleting an invite is recorded in the audit log
(``core.audit``) with the request's ``reason``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from core import audit
from core.access import ChannelView, channel_view, guild_view
from core.errors import ApiError, ErrorCode
from core.events import Event
from core.members import admit, check_guild_limit, require_not_banned
from core.models import Channel, Invite, Member, User
from core.permissions import Permission, has
from core.platform import Platform
from core.snowflake import iso_timestamp
from core.store.base import Conflict
from core.validate import get_bool, get_int, require_object
from core.wire import invite_json, user_json

__all__ = [
    "MAX_AGE_MAX",
    "MAX_INVITES_PER_GUILD",
    "MAX_USES_MAX",
    "accept_invite",
    "create_invite",
    "delete_invite",
    "get_invite",
    "list_channel_invites",
    "list_guild_invites",
]

Json = dict[str, Any]

MAX_AGE_MAX = 604_800  # 7 days, in seconds
MAX_USES_MAX = 100
MAX_INVITES_PER_GUILD = 1000  # Discord's limit
_CODE_ALPHABET = string.ascii_letters + string.digits
_CODE_SHAPE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_CODE_ATTEMPTS = 5


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8 + secrets.randbelow(3)))


async def _to_json(p: Platform, invites: Iterable[Invite], channels: dict[int, Channel]) -> list[Json]:
    """Invite objects for invites of ONE guild (one guild read, one member count)."""
    invites = list(invites)
    if not invites:
        return []
    guild = await p.meta.get_guild(invites[0].guild_id)
    if guild is None:
        raise ApiError.unknown("guild")
    count = await p.meta.count_members(guild.id)
    inviters = await p.meta.get_users([i.inviter_id for i in invites])
    return [
        invite_json(i, guild, channels[i.channel_id], inviters.get(i.inviter_id), count)
        for i in invites if i.channel_id in channels
    ]


async def _live_invites(p: Platform, guild_id: int) -> list[Invite]:
    """The guild's usable invites; expired and used-up ones are deleted on the way."""
    now = p.now_ms()
    live = []
    for invite in await p.meta.list_guild_invites(guild_id):
        if invite.expired(now):
            await p.meta.delete_invite(invite.code)
        else:
            live.append(invite)
    return live


async def _find_invite(p: Platform, code: str) -> Invite:
    invite = await p.meta.get_invite(code) if _CODE_SHAPE.match(code) else None
    if invite is None or invite.expired(p.now_ms()):
        raise ApiError.unknown("invite")
    return invite


def _guild_channel(view: ChannelView) -> None:
    if view.guild is None:
        raise ApiError.bad_request(
            ErrorCode.CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel"
        )


# -- create ------------------------------------------------------------------------------------


def _reusable(live: list[Invite], wanted: Invite) -> Invite | None:
    for invite in live:
        if (invite.channel_id, invite.inviter_id, invite.max_age, invite.max_uses,
                invite.temporary) == (wanted.channel_id, wanted.inviter_id, wanted.max_age,
                                      wanted.max_uses, wanted.temporary):
            return invite
    return None


async def _insert(p: Platform, invite: Invite) -> Invite:
    for _ in range(_CODE_ATTEMPTS):
        try:
            await p.meta.create_invite(invite)
        except Conflict:  # a code collision: draw another
            invite = replace(invite, code=_new_code())
            continue
        return invite
    raise ApiError(409, ErrorCode.ALREADY_EXISTS, "Could not allocate an invite code; retry.")


def _create_event(invite: Invite, inviter: User) -> Event:
    data = {
        "channel_id": str(invite.channel_id),
        "code": invite.code,
        "created_at": iso_timestamp(invite.created_at),
        "guild_id": str(invite.guild_id),
        "inviter": user_json(inviter),
        "max_age": invite.max_age,
        "max_uses": invite.max_uses,
        "temporary": invite.temporary,
        "uses": invite.uses,
        "expires_at": (iso_timestamp(invite.created_at + invite.max_age * 1000)
                       if invite.max_age else None),
        "type": 0,
    }
    return Event("INVITE_CREATE", data, guild_id=invite.guild_id, channel_id=invite.channel_id)


async def create_invite(
    p: Platform, actor: User, channel_id: int, body: dict[str, Any], *, reason: str | None = None
) -> Json:
    """``POST /channels/{channel.id}/invites``.

    Body: ``max_age``, ``max_uses``, ``temporary``, ``unique`` (see the module limits).

    Raises:
        ApiError: 404 10003, 403 50001 (not in the guild / cannot view), 50013 without
            CREATE_INSTANT_INVITE there, 400 50003 on a DM, 400 30016 at the guild's invite
            limit, 50035 bad fields.
    """
    view = await channel_view(p.meta, channel_id, actor.id)
    _guild_channel(view)
    view.require(Permission.CREATE_INSTANT_INVITE)
    body = require_object(body)
    channel = view.channel
    assert channel.guild_id is not None
    wanted = Invite(
        _new_code(), channel.guild_id, channel.id, actor.id, p.now_ms(),
        max_age=get_int(body, "max_age", lo=0, hi=MAX_AGE_MAX, default=86400),
        max_uses=get_int(body, "max_uses", lo=0, hi=MAX_USES_MAX, default=0),
        temporary=get_bool(body, "temporary", default=False),
    )
    unique = get_bool(body, "unique", default=False)
    live = await _live_invites(p, channel.guild_id)
    found = None if unique else _reusable(live, wanted)
    if found is None:
        if len(live) >= MAX_INVITES_PER_GUILD:
            raise ApiError.bad_request(
                ErrorCode.MAX_INVITES, f"Maximum number of invites reached ({MAX_INVITES_PER_GUILD})"
            )
        found = await _insert(p, wanted)
        p.publish(_create_event(found, actor))
        await audit.invite_changed(p, actor.id, audit.AuditAction.INVITE_CREATE, found,
                                   reason=reason)
    return (await _to_json(p, [found], {channel.id: channel}))[0]


# -- read, accept --------------------------------------------------------------------------------


async def _one_json(p: Platform, invite: Invite) -> Json:
    channel = await p.meta.get_channel(invite.channel_id)
    if channel is None:  # deleted with its channel meanwhile
        raise ApiError.unknown("invite")
    try:
        return (await _to_json(p, [invite], {channel.id: channel}))[0]
    except (ApiError, IndexError):
        raise ApiError.unknown("invite") from None


async def get_invite(p: Platform, code: str, *, with_counts: bool = False) -> Json:
    """``GET /invites/{code}`` (public). ``approximate_member_count`` only ``with_counts``.

    Raises:
        ApiError: 404 10006 unknown, expired or used up.
    """
    out = await _one_json(p, await _find_invite(p, code))
    if not with_counts:
        out.pop("approximate_member_count", None)
    return out


async def accept_invite(p: Platform, actor: User, code: str) -> Json:
    """``POST /invites/{code}``: join the invite's guild; returns the invite + ``new_member``.

    A member gets the invite back (``new_member`` false) without a use being counted. The use
    is counted atomically (``meta.use_invite``), so the last use of an invite is granted once.

    Raises:
        ApiError: 403 20001 for bots, 404 10006 unknown/expired/used up, 403 40007 for a
            user banned from the guild, 400 30001 when the user is in
            ``config.max_guilds_per_user`` guilds.
    """
    if actor.bot:
        raise ApiError(403, ErrorCode.BOTS_CANNOT_USE, "Bots cannot use this endpoint")
    invite = await _find_invite(p, code)
    if await p.meta.get_member(invite.guild_id, actor.id) is not None:
        return {**await _one_json(p, invite), "new_member": False}
    await require_not_banned(p, invite.guild_id, actor.id)
    await check_guild_limit(p, actor.id)
    used = await p.meta.use_invite(invite.code, p.now_ms())
    if used is None:  # used up or expired since it was read
        raise ApiError.unknown("invite")
    member = Member(used.guild_id, actor.id, p.now_ms())
    joined = await admit(p, member, actor)
    return {**await _one_json(p, used), "new_member": joined}


# -- list, delete --------------------------------------------------------------------------------


async def list_guild_invites(p: Platform, actor: User, guild_id: int) -> list[Json]:
    """``GET /guilds/{guild.id}/invites`` (MANAGE_GUILD): the guild's live invites.

    Raises:
        ApiError: 404 10004, 403 50001 for a non-member, 50013 without MANAGE_GUILD.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_GUILD)
    channels = {c.id: c for c in await p.meta.list_channels(guild_id)}
    return await _to_json(p, await _live_invites(p, guild_id), channels)


async def list_channel_invites(p: Platform, actor: User, channel_id: int) -> list[Json]:
    """``GET /channels/{channel.id}/invites`` (MANAGE_CHANNELS there): its live invites.

    Raises:
        ApiError: 404 10003, 403 50001, 50013 without MANAGE_CHANNELS, 400 50003 on a DM.
    """
    view = await channel_view(p.meta, channel_id, actor.id)
    _guild_channel(view)
    view.require(Permission.MANAGE_CHANNELS)
    assert view.channel.guild_id is not None
    live = await _live_invites(p, view.channel.guild_id)
    mine = [i for i in live if i.channel_id == channel_id]
    return await _to_json(p, mine, {channel_id: view.channel})


async def delete_invite(
    p: Platform, actor: User, code: str, *, reason: str | None = None
) -> Json:
    """``DELETE /invites/{code}`` (MANAGE_CHANNELS on its channel, or MANAGE_GUILD).

    Returns the deleted invite and publishes INVITE_DELETE ``{channel_id, guild_id, code}``.

    Raises:
        ApiError: 404 10006, 403 50001 (not in its guild / cannot view its channel), 50013.
    """
    invite = await _find_invite(p, code)
    view = await channel_view(p.meta, invite.channel_id, actor.id)
    assert view.guild is not None
    if not (has(view.permissions, Permission.MANAGE_CHANNELS)
            or has(view.guild.permissions, Permission.MANAGE_GUILD)):
        raise ApiError.missing_permissions()
    out = await _one_json(p, invite)
    if not await p.meta.delete_invite(invite.code):
        raise ApiError.unknown("invite")
    data = {"channel_id": str(invite.channel_id), "guild_id": str(invite.guild_id),
            "code": invite.code}
    p.publish(Event("INVITE_DELETE", data, guild_id=invite.guild_id, channel_id=invite.channel_id))
    await audit.invite_changed(p, actor.id, audit.AuditAction.INVITE_DELETE, invite, reason=reason)
    return out
