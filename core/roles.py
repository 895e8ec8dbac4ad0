"""Guild roles and channel permission overwrites: the domain rules, checks and events.

Discord's rules (developer docs, topic *Permissions*, "Permission Hierarchy", and the Guild and
Channel resources), followed here:

- MANAGE_ROLES is needed to create, edit, move and delete roles; in a channel, MANAGE_ROLES
  *in that channel* is needed to edit its overwrites.
- A non-owner acts only on roles strictly below their own highest role
  (:func:`core.permissions.can_manage_role`).
- Nobody grants a permission they do not hold: a role's new bits, and an overwrite's allow and
  deny bits, must be held by the actor (the owner and ADMINISTRATOR hold every bit).
- @everyone (the role whose id is the guild's) is never deleted, moved or renamed; only its
  permissions may change.

Limits: a role name is 1-100 characters; ``color`` is 0..0xFFFFFF; a guild holds at most
``config.max_roles_per_guild`` roles besides @everyone (30005 beyond). Permission bits that
Discord does not document are dropped (masked with :data:`core.permissions.ALL`).

Every change publishes its gateway event after the store write: GUILD_ROLE_CREATE / UPDATE /
DELETE ``{guild_id, role | role_id}`` to the guild, and CHANNEL_UPDATE (the channel's full JSON,
with its overwrites) to the guild, scoped to the channel. The gateway learns about permission
changes only from these events, so each carries the complete new state. Creating, editing and
deleting a role or an overwrite is recorded in the audit log (``core.audit``) with the
request's ``reason``.
"""

from __future__ import annotations

from typing import Any

from core import audit
from core.access import ChannelView, GuildView, channel_view, guild_view, parse_id
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.models import Channel, ChannelType, Overwrite, OverwriteType, Role, User
from core.permissions import ALL, Permission, can_manage_role, role_rank
from core.platform import Platform
from core.validate import (
    MISSING,
    get_bool,
    get_int,
    get_permissions,
    get_str,
    require_object,
)
from core.wire import channel_json, role_json

__all__ = [
    "ROLE_COLOR_MAX",
    "ROLE_NAME_MAX",
    "check_grantable",
    "create_role",
    "delete_overwrite",
    "delete_role",
    "invalid_role",
    "list_roles",
    "manageable",
    "move_roles",
    "put_overwrite",
    "role_event",
    "update_role",
]

ROLE_NAME_MAX = 100
ROLE_COLOR_MAX = 0xFFFFFF
DEFAULT_ROLE_NAME = "new role"


# -- shared checks ---------------------------------------------------------------------------


def invalid_role() -> ApiError:
    """400 50028 Invalid Role: @everyone used where only a real role may be."""
    return ApiError.bad_request(ErrorCode.INVALID_ROLE, "Invalid Role")


def manageable(gv: GuildView, role: Role) -> bool:
    """Whether the role hierarchy lets the viewing member edit, assign or move ``role``."""
    return can_manage_role(
        owner_id=gv.guild.owner_id, actor_id=gv.member.user_id,
        actor_role_ids=gv.member.roles, role=role, roles=gv.roles,
    )


def require_manageable(gv: GuildView, role: Role) -> None:
    """Raises 403 50013 unless ``role`` is below the member's highest role (or they own)."""
    if not manageable(gv, role):
        raise ApiError.missing_permissions()


def check_grantable(held: int, granted: int) -> None:
    """Raises 403 50013 if ``granted`` has a bit that ``held`` lacks.

    ``held`` is ALL for the owner and ADMINISTRATOR, so they may grant anything.
    """
    if granted & ~held:
        raise ApiError.missing_permissions()


def role_event(name: str, role: Role) -> Event:
    """GUILD_ROLE_CREATE or GUILD_ROLE_UPDATE for ``role``, to its guild."""
    data = {"guild_id": str(role.guild_id), "role": role_json(role)}
    return Event(name, data, guild_id=role.guild_id)


def _role_of(gv: GuildView, raw_id: Any) -> Role:
    role = gv.roles.get(parse_id(raw_id, "role"))
    if role is None:  # includes a role of another guild: it is not in this guild's map
        raise ApiError.unknown("role")
    return role


def _sorted(roles: dict[int, Role]) -> list[Role]:
    return sorted(roles.values(), key=lambda r: (r.position, r.id))


# -- roles -----------------------------------------------------------------------------------


async def list_roles(p: Platform, actor: User, guild_id: int) -> list[Role]:
    """``GET /guilds/{guild.id}/roles``: every role, by (position, id). Members only."""
    gv = await guild_view(p.meta, guild_id, actor.id)
    return _sorted(gv.roles)


def _role_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The editable role fields present in ``body``, validated (50035 on a bad one)."""
    values = {
        "name": get_str(body, "name", min_len=1, max_len=ROLE_NAME_MAX, strip=True),
        "permissions": get_permissions(body, "permissions"),
        "color": get_int(body, "color", lo=0, hi=ROLE_COLOR_MAX),
        "hoist": get_bool(body, "hoist"),
        "mentionable": get_bool(body, "mentionable"),
    }
    fields = {key: value for key, value in values.items() if value is not MISSING}
    if "permissions" in fields:
        fields["permissions"] &= ALL  # undocumented bits are dropped, as everywhere
    return fields


async def create_role(
    p: Platform, actor: User, guild_id: int, body: dict[str, Any], *, reason: str | None = None
) -> Role:
    """``POST /guilds/{guild.id}/roles``: a new role at position 1, just above @everyone.

    Body: ``name`` (1-100, default "new role"), ``permissions`` (default @everyone's),
    ``color`` (0..0xFFFFFF), ``hoist``, ``mentionable``. The other roles move up one position
    (each gets GUILD_ROLE_UPDATE), as on Discord.

    Raises:
        ApiError: 404/403 (guild access), 50013 without MANAGE_ROLES or when granting a bit
            the actor lacks, 400 30005 at ``config.max_roles_per_guild``, 50035 bad fields.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_ROLES)
    fields = _role_fields(require_object(body))
    everyone = gv.roles.get(guild_id)
    permissions = fields.get("permissions", everyone.permissions if everyone else 0)
    check_grantable(gv.permissions, permissions)
    limit = p.config.max_roles_per_guild
    if len(gv.roles) - (everyone is not None) >= limit:
        raise ApiError.bad_request(
            ErrorCode.MAX_ROLES, f"Maximum number of server roles reached ({limit})"
        )
    role = Role(
        id=p.ids.next(), guild_id=guild_id, name=fields.get("name", DEFAULT_ROLE_NAME),
        permissions=permissions, position=1, color=fields.get("color", 0),
        hoist=fields.get("hoist", False), mentionable=fields.get("mentionable", False),
    )
    # Make room at position 1 first, so positions stay distinct as Discord keeps them.
    moved = []
    for other in _sorted(gv.roles):
        if other.id != guild_id and other.position >= 1:
            updated = await p.meta.update_role(guild_id, other.id, {"position": other.position + 1})
            if updated is not None:
                moved.append(updated)
    await p.meta.create_role(role)
    p.publish(role_event("GUILD_ROLE_CREATE", role), *(role_event("GUILD_ROLE_UPDATE", r)
                                                        for r in moved))
    await audit.role_changed(p, actor.id, audit.AuditAction.ROLE_CREATE, None, role, reason=reason)
    return role


async def update_role(
    p: Platform, actor: User, guild_id: int, role_id: Any, body: dict[str, Any],
    *, reason: str | None = None,
) -> Role:
    """``PATCH /guilds/{guild.id}/roles/{role.id}``: name, permissions, color, hoist, mentionable.

    @everyone takes ``permissions`` only (any other field is 50035). Permissions the actor
    does not hold cannot be added (50013); bits the role already had may stay.

    Raises:
        ApiError: 404 10011 unknown role (or another guild's), 50013 without MANAGE_ROLES or
            when the role is not below the actor's highest role, 50035 bad fields.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_ROLES)
    role = _role_of(gv, role_id)
    require_manageable(gv, role)
    fields = _role_fields(require_object(body))
    extra = sorted(fields.keys() - {"permissions"})
    if role.id == guild_id and extra:
        raise invalid_form(extra[0], "BASE_TYPE_INVALID", "Only @everyone's permissions may change.")
    if "permissions" in fields:
        check_grantable(gv.permissions, fields["permissions"] & ~role.permissions)
    if not fields:
        return role
    updated = await p.meta.update_role(guild_id, role.id, fields)
    if updated is None:  # deleted meanwhile
        raise ApiError.unknown("role")
    p.publish(role_event("GUILD_ROLE_UPDATE", updated))
    await audit.role_changed(p, actor.id, audit.AuditAction.ROLE_UPDATE, role, updated,
                             reason=reason)
    return updated


def _new_order(current: list[Role], wanted: dict[int, int]) -> list[Role]:
    """The roles (lowest first) after moving each role of ``wanted`` to its position.

    Roles not named keep their relative order; each named role is inserted at its position
    (1 is the lowest above @everyone), in order of requested position.
    """
    order = [r for r in current if r.id not in wanted]
    by_id = {r.id: r for r in current}
    for role_id, position in sorted(wanted.items(), key=lambda kv: (kv[1], kv[0])):
        order.insert(min(max(position - 1, 0), len(order)), by_id[role_id])
    return order


def _parse_positions(gv: GuildView, body: Any) -> dict[int, int]:
    """``[{id, position}, ...]`` → {role id: position}; @everyone may only stay at 0."""
    if not isinstance(body, list) or len(body) > len(gv.roles):
        raise invalid_form("_root", "BASE_TYPE_BAD_LENGTH",
                           f"Must be a list of at most {len(gv.roles)} items.")
    wanted: dict[int, int] = {}
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise invalid_form(str(index), "DICT_TYPE_CONVERT",
                               "Only dictionaries may be used in a DictType")
        role = _role_of(gv, item.get("id"))
        try:
            position = get_int(item, "position", nullable=True, lo=0, hi=1 << 16, default=None)
        except ApiError as e:  # nest the field's error under its list index
            raise ApiError(e.status, e.code, e.message, {str(index): e.errors}) from None
        if role.id == gv.guild.id:
            if position not in (None, 0):
                raise invalid_role()
            continue
        if position is not None:
            wanted[role.id] = position
    return wanted


async def move_roles(p: Platform, actor: User, guild_id: int, body: Any) -> list[Role]:
    """``PATCH /guilds/{guild.id}/roles``: reorder roles; returns every role of the guild.

    The existing positions are redistributed over the new order, so roles that do not move
    keep their numbers. A non-owner may only change the position of roles below their own
    highest role, which also keeps every role they cannot manage where it is.

    Raises:
        ApiError: 50013 (MANAGE_ROLES, hierarchy), 404 10011 unknown role, 400 50028 moving
            @everyone, 50035 malformed list.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_ROLES)
    wanted = _parse_positions(gv, body)
    current = sorted((r for r in gv.roles.values() if r.id != guild_id), key=role_rank)
    slots = sorted(r.position for r in current)
    if len(set(slots)) != len(slots) or (slots and slots[0] < 1):
        slots = list(range(1, len(current) + 1))  # repair duplicates left by races
    changed = [
        (role, slot) for role, slot in zip(_new_order(current, wanted), slots, strict=True)
        if role.position != slot
    ]
    for role, _ in changed:
        require_manageable(gv, role)
    moved = []
    for role, slot in changed:
        updated = await p.meta.update_role(guild_id, role.id, {"position": slot})
        if updated is not None:
            moved.append(updated)
    p.publish(*(role_event("GUILD_ROLE_UPDATE", r) for r in moved))
    return await p.meta.list_roles(guild_id)


async def delete_role(
    p: Platform, actor: User, guild_id: int, role_id: Any, *, reason: str | None = None
) -> None:
    """``DELETE /guilds/{guild.id}/roles/{role.id}``.

    The store removes the role from every member and overwrite. GUILD_ROLE_DELETE tells the
    gateway (members holding it lose it, as Discord clients infer); each channel that had an
    overwrite for it also gets CHANNEL_UPDATE with its remaining overwrites.

    Raises:
        ApiError: 404 10011, 400 50028 for @everyone, 50013 (MANAGE_ROLES, hierarchy).
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_ROLES)
    role = _role_of(gv, role_id)
    if role.id == guild_id:
        raise invalid_role()
    require_manageable(gv, role)
    touched = [
        c.id for c in await p.meta.list_channels(guild_id)
        if any(o.id == role.id and o.type == OverwriteType.ROLE for o in c.overwrites)
    ]
    if not await p.meta.delete_role(guild_id, role.id):
        raise ApiError.unknown("role")
    events = [Event("GUILD_ROLE_DELETE", {"guild_id": str(guild_id), "role_id": str(role.id)},
                    guild_id=guild_id)]
    for channel_id in touched:
        channel = await p.meta.get_channel(channel_id)
        if channel is not None:
            events.append(_channel_update(channel))
    p.publish(*events)
    await audit.role_changed(p, actor.id, audit.AuditAction.ROLE_DELETE, role, None, reason=reason)


# -- overwrites ------------------------------------------------------------------------------


def _channel_update(channel: Channel) -> Event:
    return Event("CHANNEL_UPDATE", channel_json(channel), guild_id=channel.guild_id,
                 channel_id=channel.id)


async def _overwrite_view(p: Platform, actor: User, channel_id: int) -> ChannelView:
    view = await channel_view(p.meta, channel_id, actor.id)
    if view.guild is None:
        raise ApiError.bad_request(
            ErrorCode.CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel"
        )
    view.require(Permission.MANAGE_ROLES)
    return view


async def _check_target(p: Platform, view: ChannelView, target_id: int, kind: int) -> None:
    gv = view.guild
    assert gv is not None
    if kind == OverwriteType.ROLE:
        if target_id not in gv.roles:
            raise ApiError.unknown("role")
    elif await p.meta.get_member(gv.guild.id, target_id) is None:
        raise ApiError.unknown("member")


async def put_overwrite(
    p: Platform, actor: User, channel_id: int, target_id: Any, body: dict[str, Any],
    *, reason: str | None = None,
) -> Channel:
    """``PUT /channels/{channel.id}/permissions/{overwrite.id}``: create or replace one.

    Body: ``type`` (0 role, 1 member; required), ``allow``, ``deny`` (bitfields, default 0).
    The target must be a role of the channel's guild (10011) or one of its members (10007).
    A bit both allowed and denied is allowed (Discord applies deny, then allow).

    Raises:
        ApiError: 404 10003, 403 50001 (not in the guild / cannot view), 50013 without
            MANAGE_ROLES in the channel or when allowing/denying a bit the actor lacks there,
            400 50003 on a DM, 50035 bad fields.
    """
    view = await _overwrite_view(p, actor, channel_id)
    target = parse_id(target_id, "overwrite")
    body = require_object(body)
    kind = get_int(body, "type", required=True, lo=0, hi=1)
    allow = get_permissions(body, "allow", default=0) & ALL
    deny = get_permissions(body, "deny", default=0) & ALL
    check_grantable(view.permissions, allow | deny)
    await _check_target(p, view, target, kind)
    overwrite = Overwrite(target, OverwriteType(kind), allow, deny)
    await p.meta.put_overwrite(channel_id, overwrite)
    channel = await _publish_channel(p, channel_id)
    await _audit_overwrite(p, actor, view, target, overwrite, reason)
    return channel


async def delete_overwrite(
    p: Platform, actor: User, channel_id: int, target_id: Any, *, reason: str | None = None
) -> Channel:
    """``DELETE /channels/{channel.id}/permissions/{overwrite.id}``.

    Raises:
        ApiError: 404 10003 / 10009 (no such overwrite), 403 50001, 50013 without MANAGE_ROLES
            in the channel, 400 50003 on a DM.
    """
    view = await _overwrite_view(p, actor, channel_id)
    target = parse_id(target_id, "overwrite")
    if all(o.id != target for o in view.channel.overwrites):
        raise ApiError.unknown("overwrite")
    if not await p.meta.delete_overwrite(channel_id, target):
        raise ApiError.unknown("overwrite")
    channel = await _publish_channel(p, channel_id)
    await _audit_overwrite(p, actor, view, target, None, reason)
    return channel


async def _audit_overwrite(p: Platform, actor: User, view: ChannelView, target: int,
                           new: Overwrite | None, reason: str | None) -> None:
    """The audit entry of an overwrite change: ``view`` holds the channel as it was."""
    assert view.guild is not None
    old = next((o for o in view.channel.overwrites if o.id == target), None)
    await audit.overwrite_changed(p, actor.id, view.channel, old, new, view.guild.roles,
                                  reason=reason)


async def _publish_channel(p: Platform, channel_id: int) -> Channel:
    channel = await p.meta.get_channel(channel_id)
    if channel is None or channel.type == ChannelType.DM:  # deleted meanwhile
        raise ApiError.unknown("channel")
    p.publish(_channel_update(channel))
    return channel
