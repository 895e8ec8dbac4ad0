"""Discord's permission computation, as pure functions.

Everything here follows Discord's developer docs, topic *Permissions*: the bit values come from
"Bitwise Permission Flags", the order of evaluation from "Permission Overwrites" (whose
pseudocode :func:`base_permissions` and :func:`overwrite_permissions` mirror), the denials a
missing VIEW_CHANNEL or SEND_MESSAGES implies from "Implicit Permissions", and the role rules
for moderation from "Permission Hierarchy". Timeouts ("Permissions for Timed Out Members") are
not modelled: this server has no timeouts.

Permission sets are plain ``int`` bitfields, as they are stored and sent (as strings) on the
wire. :class:`Permission` names the bits; the module constants and every function work on plain
ints, because ``IntFlag`` arithmetic is several times slower and these checks run per recipient
when an event fans out.

Bits Discord does not document (47 and 48 are used by Discord's own client) are dropped from every
result, so a computed set is always a subset of :data:`ALL`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from enum import IntFlag
from functools import reduce
from operator import or_

from core.models import Channel, ChannelType, Guild, Member, Overwrite, OverwriteType, Role

__all__ = [
    "ALL",
    "DEFAULT_EVERYONE",
    "DM_RECIPIENT",
    "SEND_DEPENDENT",
    "TEXT_CHANNEL",
    "TIMED_OUT",
    "Permission",
    "apply_implicit",
    "base_permissions",
    "can_manage_role",
    "can_moderate_member",
    "compute_permissions",
    "dm_permissions",
    "has",
    "highest_position",
    "overwrite_permissions",
    "role_rank",
]


class Permission(IntFlag):
    """Discord's permission bits ("Bitwise Permission Flags"), with their documented values.

    Bits 47 and 48 are absent on purpose: the public table skips them.
    """

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    # Split from MANAGE_MESSAGES (and MANAGE_CHANNELS/MANAGE_THREADS for slowmode) in 2025;
    # change log "Permission Changes Going into Effect February 2026".
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


_P = Permission

#: Every documented bit: what the guild owner and ADMINISTRATOR get.
ALL: int = reduce(or_, (int(p) for p in Permission), 0)

# Discord's @everyone permissions for a newly created guild. Guilds created since early 2024 are
# given 2248473465835073 (seen in GUILD_CREATE role objects and in interactions' app_permissions);
# the often-quoted 1071698660929 is the 2021-2022 default, before soundboard, expression/event
# creation, voice messages, polls and external apps existed. We take the newer value minus its two
# undocumented bits (47, 48) so that DEFAULT_EVERYONE is a subset of ALL: 1826261000769089.
# SEND_TTS_MESSAGES and every moderation/management bit stay off, as on Discord.
DEFAULT_EVERYONE: int = int(
    _P.CREATE_INSTANT_INVITE
    | _P.ADD_REACTIONS
    | _P.STREAM
    | _P.VIEW_CHANNEL
    | _P.SEND_MESSAGES
    | _P.EMBED_LINKS
    | _P.ATTACH_FILES
    | _P.READ_MESSAGE_HISTORY
    | _P.MENTION_EVERYONE
    | _P.USE_EXTERNAL_EMOJIS
    | _P.CONNECT
    | _P.SPEAK
    | _P.USE_VAD
    | _P.CHANGE_NICKNAME
    | _P.USE_APPLICATION_COMMANDS
    | _P.REQUEST_TO_SPEAK
    | _P.CREATE_PUBLIC_THREADS
    | _P.CREATE_PRIVATE_THREADS
    | _P.USE_EXTERNAL_STICKERS
    | _P.SEND_MESSAGES_IN_THREADS
    | _P.USE_EMBEDDED_ACTIVITIES
    | _P.USE_SOUNDBOARD
    | _P.CREATE_GUILD_EXPRESSIONS
    | _P.CREATE_EVENTS
    | _P.USE_EXTERNAL_SOUNDS
    | _P.SEND_VOICE_MESSAGES
    | _P.SEND_POLLS
    | _P.USE_EXTERNAL_APPS
)

#: Bits that mean something on a text channel: the "T" column of "Bitwise Permission Flags"
#: (PIN_MESSAGES and BYPASS_SLOWMODE from the 2025 change log). Useful to validate overwrites.
TEXT_CHANNEL: int = int(
    _P.CREATE_INSTANT_INVITE
    | _P.MANAGE_CHANNELS
    | _P.ADD_REACTIONS
    | _P.VIEW_CHANNEL
    | _P.SEND_MESSAGES
    | _P.SEND_TTS_MESSAGES
    | _P.MANAGE_MESSAGES
    | _P.EMBED_LINKS
    | _P.ATTACH_FILES
    | _P.READ_MESSAGE_HISTORY
    | _P.MENTION_EVERYONE
    | _P.USE_EXTERNAL_EMOJIS
    | _P.MANAGE_ROLES
    | _P.MANAGE_WEBHOOKS
    | _P.USE_APPLICATION_COMMANDS
    | _P.MANAGE_THREADS
    | _P.CREATE_PUBLIC_THREADS
    | _P.CREATE_PRIVATE_THREADS
    | _P.USE_EXTERNAL_STICKERS
    | _P.SEND_MESSAGES_IN_THREADS
    | _P.USE_EMBEDDED_ACTIVITIES
    | _P.SEND_VOICE_MESSAGES
    | _P.SEND_POLLS
    | _P.USE_EXTERNAL_APPS
    | _P.PIN_MESSAGES
    | _P.BYPASS_SLOWMODE
)

#: What "Implicit Permissions" removes from a text channel when SEND_MESSAGES is missing.
SEND_DEPENDENT: int = int(
    _P.MENTION_EVERYONE | _P.SEND_TTS_MESSAGES | _P.ATTACH_FILES | _P.EMBED_LINKS
)

# What a DM recipient may do. Discord documents no permission set for DMs (they have no roles
# or overwrites), so this is fixed and close to what discord.py's DMChannel.permissions_for
# reports: the text permissions that make sense between two users. Left out: SEND_TTS_MESSAGES
# (not offered in DMs), MANAGE_MESSAGES (nobody deletes the other person's messages),
# MENTION_EVERYONE (there is no @everyone), and thread, invite, channel and role management.
# Either recipient may pin (PIN_MESSAGES).
DM_RECIPIENT: int = int(
    _P.VIEW_CHANNEL
    | _P.SEND_MESSAGES
    | _P.READ_MESSAGE_HISTORY
    | _P.ADD_REACTIONS
    | _P.EMBED_LINKS
    | _P.ATTACH_FILES
    | _P.USE_EXTERNAL_EMOJIS
    | _P.USE_EXTERNAL_STICKERS
    | _P.USE_APPLICATION_COMMANDS
    | _P.SEND_VOICE_MESSAGES
    | _P.SEND_POLLS
    | _P.USE_EXTERNAL_APPS
    | _P.PIN_MESSAGES
)

_ADMINISTRATOR = int(_P.ADMINISTRATOR)
_VIEW_CHANNEL = int(_P.VIEW_CHANNEL)
_SEND_MESSAGES = int(_P.SEND_MESSAGES)
# What a timed-out member keeps ("Modify Guild Member": communication_disabled_until): they can
# read a channel and its history, nothing else, until the timeout ends.
TIMED_OUT: int = int(_P.VIEW_CHANNEL | _P.READ_MESSAGE_HISTORY)
# ADMINISTRATOR is a guild-level permission (no channel type in the flag table), so an
# overwrite can neither grant nor take it away: it is masked out of overwrite results.
_OVERWRITABLE = ALL & ~_ADMINISTRATOR
# @everyone is always the lowest role whatever its stored position ("Permission Hierarchy":
# "the default @everyone role starting at 0").
_EVERYONE_RANK = (-1, 0)


def has(perms: int, needed: int) -> bool:
    """Whether ``perms`` holds every bit of ``needed`` (``needed == 0`` is always held)."""
    return perms & needed == needed


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    user_id: int,
    everyone: int,
    role_permissions: Iterable[int],
) -> int:
    """A member's guild-level permissions ("Permission Overwrites", ``compute_base_permissions``).

    Args:
        guild_id: The guild's id, which is also the id of its @everyone role. Accepted so that
            call sites read like :func:`overwrite_permissions`; the result does not depend on it.
        owner_id: The guild owner's user id.
        user_id: The member's user id.
        everyone: The @everyone role's permissions.
        role_permissions: The permissions of each of the member's other roles (only roles that
            exist in the guild).

    Returns:
        :data:`ALL` for the owner or when any role grants ADMINISTRATOR; otherwise @everyone's
        bits OR each role's bits, without undocumented bits.
    """
    if user_id == owner_id:
        return ALL
    perms = reduce(or_, role_permissions, everyone)
    if perms & _ADMINISTRATOR:
        return ALL
    # int(): a Permission passed in must not leak out (IntFlag arithmetic is slow).
    return int(perms & ALL)


def overwrite_permissions(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    member_role_ids: Collection[int],
    overwrites: Iterable[Overwrite],
) -> int:
    """Applies a channel's overwrites to guild-level ``base`` permissions.

    The order is Discord's ("Permission Overwrites", ``compute_overwrites``): the @everyone
    overwrite's deny then allow; then the overwrites of all the member's roles together (their
    denies OR'd, their allows OR'd, deny applied before allow, so an allow from any role beats a
    deny from any other regardless of role positions); then the member's own deny then allow.

    Overwrites are matched by type as well as id: an overwrite of type MEMBER never applies as a
    role overwrite, and the reverse. A category's overwrites do not apply to its channels: Discord
    copies them when a channel is synced ("Permission Syncing") rather than inheriting them, so
    a channel's own ``overwrites`` are all there is.

    Args:
        base: The member's guild-level permissions, from :func:`base_permissions`.
        guild_id: The guild's id (the @everyone overwrite has this id).
        user_id: The member's user id.
        member_role_ids: The member's roles (a set is fastest). @everyone's id in it is ignored:
            its overwrite is applied once, in its own step.
        overwrites: The channel's permission overwrites.

    Returns:
        :data:`ALL` if ``base`` has ADMINISTRATOR; otherwise the overwritten permissions, which
        never include ADMINISTRATOR.
    """
    if base & _ADMINISTRATOR:
        return ALL
    everyone_allow = everyone_deny = role_allow = role_deny = member_allow = member_deny = 0
    for ow in overwrites:
        if ow.type == OverwriteType.ROLE:
            if ow.id == guild_id:
                everyone_allow |= ow.allow
                everyone_deny |= ow.deny
            elif ow.id in member_role_ids:
                role_allow |= ow.allow
                role_deny |= ow.deny
        elif ow.type == OverwriteType.MEMBER and ow.id == user_id:
            member_allow |= ow.allow
            member_deny |= ow.deny
    perms = (base & ~everyone_deny) | everyone_allow
    perms = (perms & ~role_deny) | role_allow
    perms = (perms & ~member_deny) | member_allow
    return int(perms & _OVERWRITABLE)


def apply_implicit(perms: int, channel_type: ChannelType) -> int:
    """Applies Discord's "Implicit Permissions" to overwritten channel permissions.

    Without VIEW_CHANNEL nothing else on the channel counts, so the result is 0. In a text
    channel, without SEND_MESSAGES the bits in :data:`SEND_DEPENDENT` are removed. Do not call
    it for the owner or ADMINISTRATOR: they are exempt (:func:`compute_permissions` skips it).

    Args:
        perms: Permissions from :func:`overwrite_permissions`.
        channel_type: The channel's type.

    Returns:
        ``perms`` without the implicitly denied bits.
    """
    if not perms & _VIEW_CHANNEL:
        return 0
    if channel_type == ChannelType.GUILD_TEXT and not perms & _SEND_MESSAGES:
        return perms & ~SEND_DEPENDENT
    return perms


def compute_permissions(
    guild: Guild,
    roles: Mapping[int, Role] | Iterable[Role],
    member: Member,
    channel: Channel | None = None,
    now_ms: int | None = None,
) -> int:
    """A member's permissions in a guild, or in one of its channels.

    Args:
        guild: The guild.
        roles: The guild's roles, by id or as a sequence; @everyone is the role with the guild's
            id (no such role means @everyone grants nothing). Roles the member lists that are
            not here, or that belong to another guild, are ignored, as are their overwrites.
        member: The member.
        channel: A channel of ``guild`` (text or category), or None for guild-level permissions.
        now_ms: the time a member's timeout is compared with (unix ms; default: the clock,
            read only for a member with a timeout).

    Returns:
        :data:`ALL` for the owner and ADMINISTRATOR (no overwrite, implicit denial or timeout
        applies to them); otherwise base permissions, then the channel's overwrites and
        implicit denials, limited to :data:`TIMED_OUT` while the member is timed out.

    Raises:
        ValueError: ``member`` or ``channel`` belongs to another guild, or ``channel`` is a DM
            (use :func:`dm_permissions`).
    """
    if member.guild_id != guild.id:
        raise ValueError("member belongs to another guild")
    if channel is not None and (channel.type == ChannelType.DM or channel.guild_id != guild.id):
        raise ValueError("channel is not a channel of this guild")
    if member.user_id == guild.owner_id:
        return ALL
    by_id = _role_map(roles)
    everyone = by_id.get(guild.id)
    member_roles = [
        role
        for role_id in member.roles
        if role_id != guild.id
        and (role := by_id.get(role_id)) is not None
        and role.guild_id == guild.id
    ]
    base = base_permissions(
        guild_id=guild.id,
        owner_id=guild.owner_id,
        user_id=member.user_id,
        everyone=everyone.permissions if everyone is not None else 0,
        role_permissions=(role.permissions for role in member_roles),
    )
    if base & _ADMINISTRATOR:
        return base
    if channel is None:
        perms = base
    else:
        perms = apply_implicit(overwrite_permissions(
            base,
            guild_id=guild.id,
            user_id=member.user_id,
            member_role_ids={role.id for role in member_roles},
            overwrites=channel.overwrites,
        ), channel.type)
    if member.communication_disabled_until is not None and member.timed_out(
            int(time.time() * 1000) if now_ms is None else now_ms):
        return perms & TIMED_OUT
    return perms


def dm_permissions() -> int:
    """What a recipient of a DM channel may do there: :data:`DM_RECIPIENT`.

    The caller checks that the user is one of ``channel.recipients``; anyone else gets nothing.
    """
    return DM_RECIPIENT


def role_rank(role: Role) -> tuple[int, int]:
    """A sort key for Discord's role order: greater ranks higher.

    Roles are ordered by ``position``; roles with the same position are sorted by id ("Role
    Object": "roles with the same position are sorted by id"), the older (smaller id) ranking
    higher, as discord.py compares them. @everyone is always the lowest.
    """
    if role.id == role.guild_id:
        return _EVERYONE_RANK
    return (role.position, -role.id)


def highest_position(
    member_role_ids: Iterable[int], roles: Mapping[int, Role] | Iterable[Role]
) -> int:
    """The greatest ``position`` among a member's roles; 0 (@everyone's) when they have none.

    Args:
        member_role_ids: The member's role ids; ids not in ``roles`` are ignored.
        roles: The guild's roles, by id or as a sequence.
    """
    by_id = _role_map(roles)
    return max((by_id[r].position for r in member_role_ids if r in by_id), default=0)


def can_manage_role(
    *,
    owner_id: int,
    actor_id: int,
    actor_role_ids: Iterable[int],
    role: Role,
    roles: Mapping[int, Role] | Iterable[Role],
) -> bool:
    """Whether the role hierarchy lets the actor edit, assign, remove or move ``role``.

    "Permission Hierarchy": a non-owner may only act on roles strictly below their own highest
    role (in :func:`role_rank` order); the owner may act on every role. This is the hierarchy
    rule only: the caller still checks MANAGE_ROLES, and that the actor only grants permissions
    they have.

    Args:
        owner_id: The guild owner's user id.
        actor_id: The acting user's id.
        actor_role_ids: The actor's role ids; ids not in ``roles`` are ignored.
        role: The role acted on.
        roles: The guild's roles, by id or as a sequence.
    """
    if actor_id == owner_id:
        return True
    return role_rank(role) < _top_rank(actor_role_ids, _role_map(roles))


def can_moderate_member(
    *,
    owner_id: int,
    actor_id: int,
    actor_role_ids: Iterable[int],
    target_id: int,
    target_role_ids: Iterable[int],
    roles: Mapping[int, Role] | Iterable[Role],
) -> bool:
    """Whether the role hierarchy lets the actor kick, ban or rename ``target_id``.

    "Permission Hierarchy": only members whose highest role is strictly lower than the actor's
    highest role. Nobody may act on the owner; the owner may act on everyone else. The caller
    still checks KICK_MEMBERS, BAN_MEMBERS or MANAGE_NICKNAMES.

    Args:
        owner_id: The guild owner's user id.
        actor_id: The acting user's id.
        actor_role_ids: The actor's role ids; ids not in ``roles`` are ignored.
        target_id: The target member's user id.
        target_role_ids: The target's role ids; ids not in ``roles`` are ignored.
        roles: The guild's roles, by id or as a sequence.
    """
    if target_id == owner_id:
        return False
    if actor_id == owner_id:
        return True
    by_id = _role_map(roles)
    return _top_rank(target_role_ids, by_id) < _top_rank(actor_role_ids, by_id)


def _role_map(roles: Mapping[int, Role] | Iterable[Role]) -> Mapping[int, Role]:
    if isinstance(roles, Mapping):
        return roles
    return {role.id: role for role in roles}


def _top_rank(role_ids: Iterable[int], by_id: Mapping[int, Role]) -> tuple[int, int]:
    ranks = (role_rank(by_id[r]) for r in role_ids if r in by_id)
    return max(ranks, default=_EVERYONE_RANK)
