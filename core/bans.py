"""Guild bans: banning (one user, or up to 200 at once), unbanning, reading and listing bans.

Discord's rules (Guild resource: "Create Guild Ban", "Bulk Guild Ban" and the ban reads),
followed here:

- BAN_MEMBERS for every ban route; the bulk ban needs MANAGE_GUILD too.
- Any user may be banned, member or not (Discord bans ids: a raider before they join). A
  member only by someone above them in the role hierarchy; the owner is never banned and
  bans anyone else; nobody bans themselves (403 50013). An unknown user is 404 10013.
- A ban removes the membership at once, as a kick does (GUILD_MEMBER_REMOVE, and
  GUILD_DELETE to the user's sessions, which leave the guild), and keeps the user out: an
  invite answers 403 40007, a bot is not added back (``core.members``), and the store
  refuses the membership in any case (``MetaStore.add_member``).
- ``delete_message_seconds`` (0..604800, default 0; the legacy ``delete_message_days`` 0..7)
  deletes the user's messages of that many last seconds in every channel (``core.purge``).
- Banning someone banned already changes nothing (204); unbanning someone not banned, or
  reading their ban, is 404 10026 Unknown Ban.
- Bulk ban: 1..200 ``user_ids``; ``banned_users`` are those banned by this call,
  ``failed_users`` the others (banned already, above the caller, unknown); the caller is in
  neither. When nobody was banned Discord answers 400 500000 "Failed to ban users".

Events after the store write: GUILD_BAN_ADD / GUILD_BAN_REMOVE ``{guild_id, user}`` to the guild
(GUILD_MODERATION intent); GUILD_BAN_ADD comes before the member's removal, so discord.py's
``on_member_ban`` still finds the member in its cache. Every ban and unban is in the audit log
(MEMBER_BAN_ADD, MEMBER_BAN_REMOVE) with the request's reason, which is also the ban's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import audit
from core.access import GuildView, guild_view, parse_id
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.members import remove
from core.models import AuditEntry, Ban, User
from core.permissions import Permission, can_moderate_member
from core.platform import Platform
from core.purge import PURGE_SECONDS_MAX, delete_recent_messages
from core.store.base import BANS_PAGE_MAX
from core.validate import get_int, require_object, snowflake_value
from core.wire import user_json

__all__ = ["BULK_BAN_MAX", "ban", "bulk_ban", "get_ban", "list_bans", "unban"]

Json = dict[str, Any]

BULK_BAN_MAX = 200
_DAY_S = 86_400
_MAX_ID = (1 << 63) - 1


def _ban_json(ban: Ban, user: User | None) -> Json:
    """Discord's ban object: ``{reason, user}``."""
    return {"reason": ban.reason, "user": user_json(user or User(ban.user_id, "Deleted User"))}


def _event(name: str, guild_id: int, user: User) -> Event:
    return Event(name, {"guild_id": str(guild_id), "user": user_json(user)}, guild_id=guild_id)


def _delete_seconds(body: dict[str, Any]) -> int:
    """``delete_message_seconds``, or the legacy ``delete_message_days`` in seconds (0)."""
    seconds = get_int(body, "delete_message_seconds", lo=0, hi=PURGE_SECONDS_MAX, default=None)
    if seconds is None:
        days = get_int(body, "delete_message_days", lo=0, hi=PURGE_SECONDS_MAX // _DAY_S,
                       default=0)
        seconds = days * _DAY_S
    return int(seconds)


async def _ban_one(p: Platform, gv: GuildView, user: User, reason: str | None) -> AuditEntry | None:
    """Ban ``user`` and remove their membership; the audit entry to save, or None when they
    were banned already.

    Raises:
        ApiError: 403 50013 when the hierarchy forbids it (themselves, the owner, a member not
            strictly below the caller).
    """
    guild = gv.guild
    member = await p.meta.get_member(guild.id, user.id)
    allowed = user.id != gv.member.user_id and user.id != guild.owner_id and (
        member is None or can_moderate_member(
            owner_id=guild.owner_id, actor_id=gv.member.user_id,
            actor_role_ids=gv.member.roles, target_id=user.id, target_role_ids=member.roles,
            roles=gv.roles,
        ))
    if not allowed:
        raise ApiError.missing_permissions()
    if not await p.meta.add_ban(Ban(guild.id, user.id, reason, p.now_ms())):
        return None
    p.publish(_event("GUILD_BAN_ADD", guild.id, user))
    if member is not None:
        try:
            await remove(p, guild.id, user.id)
        except ApiError:  # left meanwhile: the ban keeps them out all the same
            pass
    return audit.make_entry(p, guild.id, gv.member.user_id, audit.AuditAction.MEMBER_BAN_ADD,
                            user.id, reason=reason)


async def ban(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, body: dict[str, Any],
    *, reason: str | None = None,
) -> None:
    """``PUT /guilds/{guild.id}/bans/{user.id}`` (BAN_MEMBERS); 204 whether new or not.

    Body (or query string, as discord.py sends it): ``delete_message_seconds`` /
    ``delete_message_days``.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 403 50013 (permission, hierarchy),
            404 10013 unknown user, 50035 for a bad field.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.BAN_MEMBERS)
    seconds = _delete_seconds(require_object(body))
    user = await p.meta.get_user(parse_id(raw_user_id, "user"))
    if user is None:
        raise ApiError.unknown("user")
    entry = await _ban_one(p, gv, user, reason)
    if entry is not None:
        await audit.save(p, [entry])
        await delete_recent_messages(p, guild_id, (user.id,), seconds)


def _user_ids(body: dict[str, Any]) -> list[int]:
    raw = body.get("user_ids")
    if not isinstance(raw, list) or not 1 <= len(raw) <= BULK_BAN_MAX:
        raise invalid_form("user_ids", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between 1 and {BULK_BAN_MAX} in length.")
    return list(dict.fromkeys(snowflake_value(x, f"user_ids.{i}") for i, x in enumerate(raw)))


async def bulk_ban(
    p: Platform, actor: User, guild_id: int, body: dict[str, Any], *, reason: str | None = None
) -> Json:
    """``POST /guilds/{guild.id}/bulk-ban`` (BAN_MEMBERS and MANAGE_GUILD): ``user_ids``
    (1..200) and ``delete_message_seconds``; ``{banned_users, failed_users}``.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 403 50013 without the permissions,
            50035 for a bad field, 400 500000 when nobody was banned.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.BAN_MEMBERS)
    gv.require(Permission.MANAGE_GUILD)
    body = require_object(body)
    ids = [u for u in _user_ids(body) if u != actor.id]  # in neither list, as on Discord
    seconds = _delete_seconds(body)
    users = await p.meta.get_users(ids)
    entries: list[AuditEntry] = []
    failed: list[str] = []
    for user_id in ids:
        user = users.get(user_id)
        try:
            entry = None if user is None else await _ban_one(p, gv, user, reason)
        except ApiError:  # the hierarchy protects them
            entry = None
        if entry is None:
            failed.append(str(user_id))
        else:
            entries.append(entry)
    if not entries:
        raise ApiError.bad_request(ErrorCode.BULK_BAN_FAILED, "Failed to ban users")
    await audit.save(p, entries)
    banned = [e.target_id for e in entries if e.target_id is not None]
    await delete_recent_messages(p, guild_id, set(banned), seconds)
    return {"banned_users": [str(u) for u in banned], "failed_users": failed}


async def unban(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, *, reason: str | None = None
) -> None:
    """``DELETE /guilds/{guild.id}/bans/{user.id}`` (BAN_MEMBERS); GUILD_BAN_REMOVE.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 403 50013, 404 10026 not banned.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.BAN_MEMBERS)
    user_id = parse_id(raw_user_id, "ban")
    if not await p.meta.remove_ban(guild_id, user_id):
        raise ApiError.unknown("ban")
    user = await p.meta.get_user(user_id) or User(user_id, "Deleted User")
    p.publish(_event("GUILD_BAN_REMOVE", guild_id, user))
    await audit.record(p, guild_id, actor.id, audit.AuditAction.MEMBER_BAN_REMOVE, user_id,
                       reason=reason)


async def get_ban(p: Platform, actor: User, guild_id: int, raw_user_id: Any) -> Json:
    """``GET /guilds/{guild.id}/bans/{user.id}`` (BAN_MEMBERS).

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 403 50013, 404 10026 not banned.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.BAN_MEMBERS)
    found = await p.meta.get_ban(guild_id, parse_id(raw_user_id, "ban"))
    if found is None:
        raise ApiError.unknown("ban")
    return _ban_json(found, await p.meta.get_user(found.user_id))


async def list_bans(
    p: Platform, actor: User, guild_id: int, query: Mapping[str, str]
) -> list[Json]:
    """``GET /guilds/{guild.id}/bans`` (BAN_MEMBERS): ``limit`` 1..1000 (default 1000),
    ``before`` / ``after`` user ids; by user id ascending (``before``: the page just below).

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 403 50013, 50035 for a bad value.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.BAN_MEMBERS)
    args = dict(query)
    limit = get_int(args, "limit", lo=1, hi=BANS_PAGE_MAX, default=BANS_PAGE_MAX)
    before = get_int(args, "before", lo=0, hi=_MAX_ID, default=None)
    after = get_int(args, "after", lo=0, hi=_MAX_ID, default=0)
    page = await p.meta.list_bans(guild_id, before=before, after=after, limit=limit)
    users = await p.meta.get_users([b.user_id for b in page]) if page else {}
    return [_ban_json(b, users.get(b.user_id)) for b in page]
