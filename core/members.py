"""Guild members: listing, adding bots, editing, role assignment, kicking and leaving.

Discord's rules (developer docs, Guild resource and topic *Permissions*), followed here:

- Only members see the member list (403 50001 otherwise).
- A nickname is changed by its member with CHANGE_NICKNAME (or MANAGE_NICKNAMES), and on
  someone else with MANAGE_NICKNAMES over a member strictly lower in the role hierarchy
  (never the owner).
- Roles are given and taken with MANAGE_ROLES, and only roles strictly below the actor's
  highest role (the owner may use all). @everyone is never given or taken (400 50028); a
  managed role is never given or taken by hand (403 50013).
- Kicking needs KICK_MEMBERS over a strictly lower member; the owner is never kicked and
  never leaves (400 50055 Invalid Guild: they transfer or delete the guild instead).
- A user banned from the guild (``core.bans``) is not added back (403 40007).
- A timeout (``communication_disabled_until``, an ISO 8601 time at most
  :data:`TIMEOUT_MAX_MS` ahead, or null to lift it) needs MODERATE_MEMBERS over a strictly
  lower member who is neither the owner nor an ADMINISTRATOR (403 50013). Until it ends the
  member keeps only VIEW_CHANNEL and READ_MESSAGE_HISTORY (``core.permissions.TIMED_OUT``):
  no sending, typing or reacting. It ends by itself: no event is published when it does.

Limits: a timeout is at most 28 days ahead (400 50035 INVALID_COMMUNICATION_DISABLED_TIMESTAMP);
``nick`` is 1-32 characters (empty or null clears it); a member list page holds
1-:data:`MEMBERS_PAGE_MAX` members (default 1, as on Discord); a user joins at most
``config.max_guilds_per_user`` guilds (400 30001).

Events, published after the store write: GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE (the member
object plus ``guild_id``) to the guild; GUILD_CREATE to a joining user only; on removal
GUILD_MEMBER_REMOVE ``{guild_id, user}`` to the guild and GUILD_DELETE ``{id}`` (no
``unavailable``: the user was removed) to the removed user only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import audit, thread_sync
from core.access import GuildView, guild_view, parse_id
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.guilds import guild_create_payload
from core.models import Member, User
from core.permissions import ALL, Permission, can_moderate_member, compute_permissions, has
from core.platform import Platform
from core.roles import invalid_role, require_manageable
from core.validate import get_str, require_object, snowflake_value
from core.wire import member_json, user_json

__all__ = [
    "MEMBERS_PAGE_MAX",
    "NICK_MAX",
    "TIMEOUT_MAX_MS",
    "add_bot",
    "admit",
    "check_guild_limit",
    "get_member",
    "kick",
    "leave",
    "list_members",
    "member_payload",
    "remove",
    "require_not_banned",
    "set_member_role",
    "update_member",
]

Json = dict[str, Any]

MEMBERS_PAGE_MAX = 1000
NICK_MAX = 32
# Discord's longest timeout: 28 days.
TIMEOUT_MAX_MS = 28 * 24 * 3600 * 1000
# Discord's code for a guild a user cannot leave (the owner's own).
INVALID_GUILD = 50055


def member_payload(member: Member, user: User) -> Json:
    """GUILD_MEMBER_ADD / GUILD_MEMBER_UPDATE ``d``: the member object plus ``guild_id``."""
    return {**member_json(member, user), "guild_id": str(member.guild_id)}


async def _user(p: Platform, user_id: int) -> User:
    # A member whose account is gone still needs a user object on the wire.
    return await p.meta.get_user(user_id) or User(user_id, "Deleted User")


async def _member(p: Platform, guild_id: int, raw_user_id: Any) -> Member:
    member = await p.meta.get_member(guild_id, parse_id(raw_user_id, "member"))
    if member is None:
        raise ApiError.unknown("member")
    return member


# -- joining -----------------------------------------------------------------------------------


async def check_guild_limit(p: Platform, user_id: int) -> None:
    """Raises 400 30001 when the user is already in ``config.max_guilds_per_user`` guilds."""
    limit = p.config.max_guilds_per_user
    if await p.meta.count_user_guilds(user_id) >= limit:
        raise ApiError.bad_request(ErrorCode.MAX_GUILDS, f"Maximum number of guilds reached ({limit})")


async def require_not_banned(p: Platform, guild_id: int, user_id: int) -> None:
    """Raises 403 40007 when the user is banned from the guild."""
    if await p.meta.get_ban(guild_id, user_id) is not None:
        raise ApiError(403, ErrorCode.USER_BANNED, "The user is banned from this guild.")


async def admit(p: Platform, member: Member, user: User) -> bool:
    """Insert a membership and publish its events; False if ``user`` was already a member.

    GUILD_MEMBER_ADD goes to the guild, then GUILD_CREATE (the guild as the new member sees
    it) to the new member only, so their sessions learn the guild's channels and roles.
    """
    if not await p.meta.add_member(member):
        return False
    events = [Event("GUILD_MEMBER_ADD", member_payload(member, user), guild_id=member.guild_id)]
    try:
        payload = await guild_create_payload(p, member.guild_id, user.id)
    except ApiError:  # removed (or the guild deleted) in the meantime: nothing to show
        pass
    else:
        events.append(Event("GUILD_CREATE", payload, user_ids=(user.id,)))
    p.publish(*events)
    return True


async def add_bot(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, body: dict[str, Any]
) -> Json | None:
    """``PUT /guilds/{guild.id}/members/{user.id}``: a member with MANAGE_GUILD adds a bot.

    This stands in for Discord's OAuth2 bot authorization: the target must be a bot user, and
    a private bot (``bot_public`` false) may only be added by its application's owner. The
    optional ``nick`` and ``roles`` follow :func:`update_member`'s rules.

    Returns:
        The new member's JSON (201), or None when the user already is a member (204).

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 50013 without MANAGE_GUILD, 404 10013
            unknown user, 403 50001 for a non-bot user or a private bot, 400 30001 at the
            bot's guild limit, 50035 / 10011 / 50028 for a bad ``nick`` or ``roles``, 403
            40007 for a bot banned from the guild.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_GUILD)
    user = await p.meta.get_user(parse_id(raw_user_id, "user"))
    if user is None:
        raise ApiError.unknown("user")
    if await p.meta.get_member(guild_id, user.id) is not None:
        return None
    await require_not_banned(p, guild_id, user.id)
    app = await p.meta.get_application(user.id) if user.bot else None
    if app is None or (not app.bot_public and app.owner_id != actor.id):
        raise ApiError.missing_access()
    body = require_object(body)
    member = Member(guild_id, user.id, p.now_ms())
    # Discord's "Add Guild Member" takes a nick and roles (no timeout): only those are read.
    body = {key: body[key] for key in ("nick", "roles") if key in body}
    fields = _edit_fields(gv, member, body, self_edit=False, now_ms=member.joined_at)
    await check_guild_limit(p, user.id)
    member = Member(guild_id, user.id, member.joined_at, nick=fields.get("nick"),
                    roles=tuple(fields.get("roles", ())))
    if not await admit(p, member, user):
        return None
    return member_json(member, user)


# -- reading -----------------------------------------------------------------------------------


async def list_members(
    p: Platform, actor: User, guild_id: int, *, limit: int = 1, after: int = 0
) -> list[Json]:
    """``GET /guilds/{guild.id}/members``: members with user id > ``after``, by user id.

    Args:
        limit: 1-:data:`MEMBERS_PAGE_MAX` (validated by the caller).
        after: the highest user id of the previous page (0 for the first).

    Raises:
        ApiError: 404 10004, or 403 50001 for a non-member.
    """
    await guild_view(p.meta, guild_id, actor.id)
    members = await p.meta.list_members(guild_id, after=after, limit=limit)
    users = await p.meta.get_users([m.user_id for m in members])
    return [
        member_json(m, users.get(m.user_id) or User(m.user_id, "Deleted User")) for m in members
    ]


async def get_member(p: Platform, actor: User, guild_id: int, raw_user_id: Any) -> Json:
    """``GET /guilds/{guild.id}/members/{user.id}`` (members only).

    Raises:
        ApiError: 404 10004, 403 50001 for a non-member, 404 10007 unknown member.
    """
    await guild_view(p.meta, guild_id, actor.id)
    member = await _member(p, guild_id, raw_user_id)
    return member_json(member, await _user(p, member.user_id))


# -- editing -----------------------------------------------------------------------------------


def _role_ids(gv: GuildView, value: Any) -> tuple[int, ...]:
    """A ``roles`` list: role ids of this guild (10011 otherwise), without @everyone (50028)."""
    if not isinstance(value, list) or len(value) > len(gv.roles):
        raise invalid_form("roles", "BASE_TYPE_BAD_LENGTH",
                           f"Must be a list of at most {len(gv.roles)} role ids.")
    ids: dict[int, None] = {}
    for index, raw in enumerate(value):
        role_id = snowflake_value(raw, f"roles.{index}")
        if role_id not in gv.roles:
            raise ApiError.unknown("role")
        if role_id == gv.guild.id:
            raise invalid_role()
        ids[role_id] = None
    return tuple(ids)


def _check_role_change(gv: GuildView, old: tuple[int, ...], new: tuple[int, ...]) -> None:
    gv.require(Permission.MANAGE_ROLES)
    for role_id in set(old) ^ set(new):
        role = gv.roles.get(role_id)
        if role is None:  # deleted since it was given: nothing to protect
            continue
        require_manageable(gv, role)
        if role.managed:
            raise ApiError.missing_permissions()


def _check_nick(gv: GuildView, target: Member, self_edit: bool) -> None:
    if self_edit or target.user_id == gv.member.user_id:
        if not has(gv.permissions, Permission.CHANGE_NICKNAME):
            gv.require(Permission.MANAGE_NICKNAMES)
        return
    gv.require(Permission.MANAGE_NICKNAMES)
    if not can_moderate_member(
        owner_id=gv.guild.owner_id, actor_id=gv.member.user_id, actor_role_ids=gv.member.roles,
        target_id=target.user_id, target_role_ids=target.roles, roles=gv.roles,
    ):
        raise ApiError.missing_permissions()


def _timeout_until(value: Any, now_ms: int) -> int | None:
    """A ``communication_disabled_until`` value as unix ms (None lifts the timeout)."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value)  # 3.11: "Z", fractions, offsets
    except ValueError:
        raise invalid_form("communication_disabled_until", "DATE_TIME_TYPE_COERCE",
                           "Could not interpret the value as a date and time.") from None
    if moment.tzinfo is None:  # a naive time is read as UTC, as Discord does
        moment = moment.replace(tzinfo=UTC)
    until = int(moment.timestamp() * 1000)
    if until > now_ms + TIMEOUT_MAX_MS:
        raise invalid_form("communication_disabled_until",
                           "INVALID_COMMUNICATION_DISABLED_TIMESTAMP",
                           "Invalid communication disabled timestamp")
    return until


def _check_timeout(gv: GuildView, target: Member) -> None:
    gv.require(Permission.MODERATE_MEMBERS)
    if compute_permissions(gv.guild, gv.roles, target) == ALL or not can_moderate_member(
        owner_id=gv.guild.owner_id, actor_id=gv.member.user_id, actor_role_ids=gv.member.roles,
        target_id=target.user_id, target_role_ids=target.roles, roles=gv.roles,
    ):  # the owner and administrators cannot be timed out; nor can equals or superiors
        raise ApiError.missing_permissions()


def _edit_fields(
    gv: GuildView, target: Member, body: dict[str, Any], *, self_edit: bool, now_ms: int
) -> dict[str, Any]:
    """The validated, permission-checked member fields of ``body`` (``nick``, ``roles``,
    ``communication_disabled_until``)."""
    fields: dict[str, Any] = {}
    if "nick" in body:
        nick = get_str(body, "nick", nullable=True, max_len=NICK_MAX, default=None)
        _check_nick(gv, target, self_edit)
        fields["nick"] = nick or None
    if "roles" in body and not self_edit:
        roles = _role_ids(gv, body["roles"])
        _check_role_change(gv, target.roles, roles)
        fields["roles"] = roles
    if "communication_disabled_until" in body and not self_edit:
        until = _timeout_until(body["communication_disabled_until"], now_ms)
        _check_timeout(gv, target)
        fields["communication_disabled_until"] = until
    return fields


async def _publish_update(p: Platform, member: Member) -> Json:
    user = await _user(p, member.user_id)
    p.publish(Event("GUILD_MEMBER_UPDATE", member_payload(member, user), guild_id=member.guild_id))
    return member_json(member, user)


async def update_member(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, body: dict[str, Any],
    *, self_edit: bool = False, reason: str | None = None,
) -> Json:
    """``PATCH /guilds/{guild.id}/members/{user.id}`` (and ``/members/@me``: ``self_edit``).

    Body: ``nick`` (1-32 characters; empty or null clears it) and, except for ``@me``,
    ``roles`` (the complete new list of role ids) and ``communication_disabled_until`` (a
    timeout: ISO 8601, at most 28 days ahead; null lifts it). Other Discord fields (voice
    state) have no feature here and are ignored. Publishes GUILD_MEMBER_UPDATE; the audit log
    records it with ``reason``.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 404 10007 unknown member, 50013
            (CHANGE_NICKNAME / MANAGE_NICKNAMES / MANAGE_ROLES / MODERATE_MEMBERS or the
            hierarchy; timing out the owner or an administrator), 404 10011
            a role not of this guild, 400 50028 @everyone in ``roles``, 50035 bad fields.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    target = gv.member if self_edit else await _member(p, guild_id, raw_user_id)
    fields = _edit_fields(gv, target, require_object(body), self_edit=self_edit, now_ms=p.now_ms())
    if not fields:
        return member_json(target, await _user(p, target.user_id))
    updated = await p.meta.update_member(guild_id, target.user_id, fields)
    if updated is None:  # left or kicked meanwhile
        raise ApiError.unknown("member")
    out = await _publish_update(p, updated)
    await thread_sync.after_roles_change(p, gv.guild, gv.roles, target, updated)
    await audit.member_updated(p, actor.id, target, updated, gv.roles, reason=reason)
    return out


async def set_member_role(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, raw_role_id: Any, *, give: bool,
    reason: str | None = None,
) -> None:
    """``PUT`` (``give``) / ``DELETE /guilds/{guild.id}/members/{user.id}/roles/{role.id}``.

    Giving a role the member has, or taking one they lack, changes nothing and publishes
    nothing; otherwise GUILD_MEMBER_UPDATE.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 404 10007 unknown member, 404 10011
            a role not of this guild, 400 50028 @everyone, 50013 (MANAGE_ROLES, hierarchy,
            managed role).
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_ROLES)
    member = await _member(p, guild_id, raw_user_id)
    role = gv.roles.get(parse_id(raw_role_id, "role"))
    if role is None:
        raise ApiError.unknown("role")
    if role.id == guild_id:
        raise invalid_role()
    _check_role_change(gv, (), (role.id,))
    if (role.id in member.roles) == give:
        return
    if give:
        changed = await p.meta.add_member_role(guild_id, member.user_id, role.id)
    else:
        changed = await p.meta.remove_member_role(guild_id, member.user_id, role.id)
    updated = await p.meta.get_member(guild_id, member.user_id) if changed else None
    if updated is None:
        raise ApiError.unknown("member")
    await _publish_update(p, updated)
    await thread_sync.after_roles_change(p, gv.guild, gv.roles, member, updated)
    await audit.member_updated(p, actor.id, member, updated, gv.roles, reason=reason)


# -- leaving -----------------------------------------------------------------------------------


async def remove(p: Platform, guild_id: int, user_id: int) -> None:
    """Remove a membership as a kick, a leave or a ban does: GUILD_MEMBER_REMOVE to the guild,
    GUILD_DELETE to the user's sessions (which leave the guild at once).

    Raises:
        ApiError: 404 10007 when the user is not a member (any more).
    """
    if not await p.meta.remove_member(guild_id, user_id):
        raise ApiError.unknown("member")
    user = await _user(p, user_id)
    p.publish(
        Event("GUILD_MEMBER_REMOVE", {"guild_id": str(guild_id), "user": user_json(user)},
              guild_id=guild_id),
        # No ``unavailable``: Discord's sign that the user was removed, not an outage.
        Event("GUILD_DELETE", {"id": str(guild_id)}, user_ids=(user_id,)),
    )


async def kick(
    p: Platform, actor: User, guild_id: int, raw_user_id: Any, *, reason: str | None = None
) -> None:
    """``DELETE /guilds/{guild.id}/members/{user.id}``: remove a member (KICK_MEMBERS); in the
    audit log with ``reason``.

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 50013 without KICK_MEMBERS, for the
            owner, or for a member not strictly lower in the hierarchy; 404 10007.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.KICK_MEMBERS)
    target = await _member(p, guild_id, raw_user_id)
    if not can_moderate_member(
        owner_id=gv.guild.owner_id, actor_id=actor.id, actor_role_ids=gv.member.roles,
        target_id=target.user_id, target_role_ids=target.roles, roles=gv.roles,
    ):
        raise ApiError.missing_permissions()
    await remove(p, guild_id, target.user_id)
    await audit.record(p, guild_id, actor.id, audit.AuditAction.MEMBER_KICK, target.user_id,
                       reason=reason)


async def leave(p: Platform, actor: User, guild_id: int) -> None:
    """``DELETE /users/@me/guilds/{guild.id}``: the current user leaves a guild.

    Raises:
        ApiError: 404 10004 unknown guild or not a member (as Discord answers), 400 50055
            Invalid Guild for the owner.
    """
    guild = await p.meta.get_guild(guild_id)
    if guild is None or await p.meta.get_member(guild_id, actor.id) is None:
        raise ApiError.unknown("guild")
    if guild.owner_id == actor.id:
        raise ApiError.bad_request(INVALID_GUILD, "Invalid Guild")
    await remove(p, guild_id, actor.id)
