"""The guild audit log: what was done to a guild, recorded where it is done, read back as
Discord's ``GET /guilds/{guild.id}/audit-logs`` answers.

Each core module that commits an audited action calls one function here right after its
store write: :func:`record` (kicks, bans, message deletes), or the helper that diffs the
object it changed (:func:`role_changed`, :func:`channel_changed`, :func:`overwrite_changed`,
:func:`invite_changed`, :func:`member_updated`). The ``reason`` is the request's
``X-Audit-Log-Reason`` (``api.http.audit_reason``), passed down by the REST handler as a
keyword argument: explicit at every call, and absent for callers without one (the gateway,
the admin CLI).

Every entry is published as GUILD_AUDIT_LOG_ENTRY_CREATE to its guild (GUILD_MODERATION
intent; the hub sends it only to members with VIEW_AUDIT_LOG, ``gateway.hub``).

Retention: :data:`RETENTION_MS` (45 days, as Discord keeps entries). Every write deletes at
most ``core.store.base.AUDIT_PRUNE_MAX`` more expired entries than it adds (the oldest of the
instance, by primary key: cheap), so the table holds about 45 days of writes with no sweeper
task; an expired entry a write has not reached yet is never read (:func:`audit_log`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any, TypeVar

from core.access import guild_view
from core.events import Event
from core.models import AuditEntry, Channel, Invite, Member, Overwrite, OverwriteType, Role, User
from core.permissions import Permission
from core.platform import Platform
from core.snowflake import iso_timestamp, snowflake_from_ms
from core.validate import get_int
from core.wire import channel_json, overwrite_json, role_json, user_json

__all__ = [
    "AUDIT_PAGE_DEFAULT",
    "AUDIT_PAGE_MAX",
    "REASON_MAX",
    "RETENTION_MS",
    "AuditAction",
    "audit_log",
    "channel_changed",
    "entry_json",
    "invite_changed",
    "make_entry",
    "member_updated",
    "message_deleted",
    "messages_bulk_deleted",
    "overwrite_changed",
    "record",
    "role_changed",
    "save",
]

Json = dict[str, Any]
T = TypeVar("T")

RETENTION_MS = 45 * 86_400_000
# Discord's longest ``X-Audit-Log-Reason``, in characters (after URL-decoding).
REASON_MAX = 512
AUDIT_PAGE_MAX, AUDIT_PAGE_DEFAULT = 100, 50
_MAX_ID = (1 << 63) - 1


class AuditAction(IntEnum):
    """Discord's audit log events recorded here (``action_type``)."""

    CHANNEL_CREATE = 10
    CHANNEL_UPDATE = 11
    CHANNEL_DELETE = 12
    CHANNEL_OVERWRITE_CREATE = 13
    CHANNEL_OVERWRITE_UPDATE = 14
    CHANNEL_OVERWRITE_DELETE = 15
    MEMBER_KICK = 20
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25
    ROLE_CREATE = 30
    ROLE_UPDATE = 31
    ROLE_DELETE = 32
    INVITE_CREATE = 40
    INVITE_DELETE = 42
    MESSAGE_DELETE = 72
    MESSAGE_BULK_DELETE = 73


# Actions whose ``target_id`` is a user: the answer's ``users`` lists them with the actors.
_USER_TARGETS = frozenset({
    AuditAction.MEMBER_KICK, AuditAction.MEMBER_BAN_ADD, AuditAction.MEMBER_BAN_REMOVE,
    AuditAction.MEMBER_UPDATE, AuditAction.MEMBER_ROLE_UPDATE, AuditAction.MESSAGE_DELETE,
})
# The fields each kind of object's entries report, named as in its JSON object.
_ROLE_KEYS = ("name", "permissions", "color", "hoist", "mentionable")
_CHANNEL_KEYS = ("name", "type", "topic", "position", "parent_id", "nsfw",
                 "rate_limit_per_user", "permission_overwrites")
_OVERWRITE_KEYS = ("id", "type", "allow", "deny")
_INVITE_KEYS = ("code", "channel_id", "inviter_id", "uses", "max_uses", "max_age", "temporary")


# -- writing -----------------------------------------------------------------------------------


def make_entry(
    p: Platform, guild_id: int, actor_id: int, action: AuditAction, target_id: int | None = None,
    *, changes: Iterable[Json] = (), options: dict[str, str] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """A new entry (its id a snowflake of now), not saved yet."""
    return AuditEntry(p.ids.next(), guild_id, int(action), actor_id, target_id, tuple(changes),
                      options, reason)


async def save(p: Platform, entries: Sequence[AuditEntry]) -> None:
    """Store entries (pruning expired ones on the way) and publish each one's
    GUILD_AUDIT_LOG_ENTRY_CREATE."""
    if not entries:
        return
    cutoff = snowflake_from_ms(p.now_ms() - RETENTION_MS)
    await p.meta.add_audit_entries(entries, prune_before=cutoff)
    p.publish(*(Event("GUILD_AUDIT_LOG_ENTRY_CREATE", {**entry_json(e), "guild_id": str(e.guild_id)},
                      guild_id=e.guild_id) for e in entries))


async def record(
    p: Platform, guild_id: int, actor_id: int, action: AuditAction, target_id: int | None = None,
    *, changes: Iterable[Json] = (), options: dict[str, str] | None = None,
    reason: str | None = None,
) -> None:
    """Record one action that was just committed."""
    await save(p, [make_entry(p, guild_id, actor_id, action, target_id, changes=changes,
                              options=options, reason=reason)])


def _change(key: str, old: Any, new: Any) -> Json:
    """Discord's change object; a side that is null is left out, as Discord does."""
    out: Json = {"key": key}
    if old is not None:
        out["old_value"] = old
    if new is not None:
        out["new_value"] = new
    return out


def _maybe(to_json: Callable[[T], Json], record: T | None) -> Json | None:
    return None if record is None else to_json(record)


def _diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
          keys: Sequence[str]) -> list[Json]:
    """The changes from ``old`` to ``new`` (None: created, or deleted) over ``keys``."""
    out = []
    for key in keys:
        before = None if old is None else old.get(key)
        after = None if new is None else new.get(key)
        if (old is not None and new is not None and before == after) or before == after is None:
            continue
        out.append(_change(key, before, after))
    return out


async def role_changed(
    p: Platform, actor_id: int, action: AuditAction, old: Role | None, new: Role | None,
    *, reason: str | None = None,
) -> None:
    """ROLE_CREATE (``old`` None), ROLE_UPDATE or ROLE_DELETE (``new`` None); an update that
    changed nothing is not recorded."""
    role = new or old
    assert role is not None
    changes = _diff(_maybe(role_json, old), _maybe(role_json, new), _ROLE_KEYS)
    if changes or action != AuditAction.ROLE_UPDATE:
        await record(p, role.guild_id, actor_id, action, role.id, changes=changes, reason=reason)


def _channel_fields(channel: Channel) -> Json:
    # Overwrite types are strings in the audit log (discord.py compares them with "0"/"1").
    out = channel_json(channel)
    out["permission_overwrites"] = [{**o, "type": str(o["type"])}
                                    for o in out["permission_overwrites"]]
    return out


async def channel_changed(
    p: Platform, actor_id: int, action: AuditAction, old: Channel | None, new: Channel | None,
    *, reason: str | None = None,
) -> None:
    """CHANNEL_CREATE, CHANNEL_UPDATE or CHANNEL_DELETE of a guild channel, as
    :func:`role_changed`."""
    channel = new or old
    assert channel is not None and channel.guild_id is not None
    changes = _diff(_maybe(_channel_fields, old), _maybe(_channel_fields, new),
                    _CHANNEL_KEYS)
    if changes or action != AuditAction.CHANNEL_UPDATE:
        await record(p, channel.guild_id, actor_id, action, channel.id, changes=changes,
                     reason=reason)


async def overwrite_changed(
    p: Platform, actor_id: int, channel: Channel, old: Overwrite | None, new: Overwrite | None,
    roles: Mapping[int, Role], *, reason: str | None = None,
) -> None:
    """CHANNEL_OVERWRITE_CREATE/UPDATE/DELETE, by which of ``old``/``new`` exist. The target
    is the channel; ``options`` name the overwrite (and a role's name), as Discord's do."""
    overwrite = new or old
    assert overwrite is not None and channel.guild_id is not None
    action = (AuditAction.CHANNEL_OVERWRITE_CREATE if old is None else
              AuditAction.CHANNEL_OVERWRITE_DELETE if new is None else
              AuditAction.CHANNEL_OVERWRITE_UPDATE)
    changes = _diff(_maybe(overwrite_json, old), _maybe(overwrite_json, new),
                    _OVERWRITE_KEYS)
    if not changes:
        return
    options = {"id": str(overwrite.id), "type": str(int(overwrite.type))}
    role = roles.get(overwrite.id) if overwrite.type == OverwriteType.ROLE else None
    if role is not None:
        options["role_name"] = role.name
    await record(p, channel.guild_id, actor_id, action, channel.id, changes=changes,
                 options=options, reason=reason)


async def invite_changed(
    p: Platform, actor_id: int, action: AuditAction, invite: Invite, *, reason: str | None = None
) -> None:
    """INVITE_CREATE (the new invite) or INVITE_DELETE (the deleted one); no target, as on
    Discord: the changes hold the invite."""
    fields = {"code": invite.code, "channel_id": str(invite.channel_id),
              "inviter_id": str(invite.inviter_id), "uses": invite.uses,
              "max_uses": invite.max_uses, "max_age": invite.max_age,
              "temporary": invite.temporary}
    created = action == AuditAction.INVITE_CREATE
    changes = _diff(None if created else fields, fields if created else None, _INVITE_KEYS)
    await record(p, invite.guild_id, actor_id, action, changes=changes, reason=reason)


async def message_deleted(
    p: Platform, actor_id: int, channel: Channel, author_id: int, *, reason: str | None = None
) -> None:
    """MESSAGE_DELETE: a moderator deleted someone else's message (the author is the target;
    ``options`` name the channel and a count, one here: no grouping of successive deletes)."""
    assert channel.guild_id is not None
    await record(p, channel.guild_id, actor_id, AuditAction.MESSAGE_DELETE, author_id,
                 options={"channel_id": str(channel.id), "count": "1"}, reason=reason)


async def messages_bulk_deleted(
    p: Platform, actor_id: int, channel: Channel, count: int, *, reason: str | None = None
) -> None:
    """MESSAGE_BULK_DELETE of ``count`` messages (the channel is the target)."""
    assert channel.guild_id is not None
    await record(p, channel.guild_id, actor_id, AuditAction.MESSAGE_BULK_DELETE, channel.id,
                 options={"count": str(count)}, reason=reason)


def _timeout(member: Member) -> str | None:
    until = member.communication_disabled_until
    return None if until is None else iso_timestamp(until)


async def member_updated(
    p: Platform, actor_id: int, old: Member, new: Member, roles: Mapping[int, Role],
    *, reason: str | None = None,
) -> None:
    """MEMBER_UPDATE for a nick or timeout change, MEMBER_ROLE_UPDATE (``$add``/``$remove``
    with each role's id and name) for a role change; nothing when neither changed."""
    entries = []
    changes = [_change(key, before, after) for key, before, after in (
        ("nick", old.nick, new.nick),
        ("communication_disabled_until", _timeout(old), _timeout(new)),
    ) if before != after]
    if changes:
        entries.append(make_entry(p, new.guild_id, actor_id, AuditAction.MEMBER_UPDATE,
                                  new.user_id, changes=changes, reason=reason))

    def named(ids: Iterable[int]) -> list[Json]:
        return [{"id": str(r), "name": roles[r].name if r in roles else ""} for r in ids]

    added = named(r for r in new.roles if r not in old.roles)
    removed = named(r for r in old.roles if r not in new.roles)
    role_changes = [{"key": key, "new_value": value}
                    for key, value in (("$add", added), ("$remove", removed)) if value]
    if role_changes:
        entries.append(make_entry(p, new.guild_id, actor_id, AuditAction.MEMBER_ROLE_UPDATE,
                                  new.user_id, changes=role_changes, reason=reason))
    await save(p, entries)


# -- reading -----------------------------------------------------------------------------------


def entry_json(entry: AuditEntry) -> Json:
    """Discord's audit log entry object (``options`` and ``reason`` only when present)."""
    out: Json = {
        "id": str(entry.id),
        "user_id": None if entry.user_id is None else str(entry.user_id),
        "target_id": None if entry.target_id is None else str(entry.target_id),
        "action_type": entry.action_type,
        "changes": list(entry.changes),
    }
    if entry.options:
        out["options"] = entry.options
    if entry.reason is not None:
        out["reason"] = entry.reason
    return out


async def audit_log(p: Platform, actor: User, guild_id: int, query: Mapping[str, str]) -> Json:
    """``GET /guilds/{guild.id}/audit-logs`` (VIEW_AUDIT_LOG).

    Query: ``user_id`` (the actor), ``action_type``, ``before``/``after`` (entry ids),
    ``limit`` 1..100 (default 50). Newest first; with ``after`` alone, oldest first (Discord's
    orders). ``users`` holds the actors and the users acted on; the other lists are empty (no
    such features here).

    Raises:
        ApiError: 404 10004 / 403 50001 (guild access), 50013 without VIEW_AUDIT_LOG, 50035
            for a bad query value.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.VIEW_AUDIT_LOG)
    args = dict(query)
    limit = get_int(args, "limit", lo=1, hi=AUDIT_PAGE_MAX, default=AUDIT_PAGE_DEFAULT)
    user_id = get_int(args, "user_id", lo=0, hi=_MAX_ID, default=None)
    action_type = get_int(args, "action_type", lo=0, hi=1 << 16, default=None)
    before = get_int(args, "before", lo=0, hi=_MAX_ID, default=None)
    after = get_int(args, "after", lo=0, hi=_MAX_ID, default=None)
    cutoff = snowflake_from_ms(p.now_ms() - RETENTION_MS)
    if after is not None and before is None:  # oldest first: start at the first kept entry
        after = max(after, cutoff - 1)
    entries = [e for e in await p.meta.list_audit_entries(
        guild_id, user_id=user_id, action_type=action_type, before=before, after=after,
        limit=limit,
    ) if e.id >= cutoff]
    wanted = {e.user_id for e in entries if e.user_id is not None}
    wanted |= {e.target_id for e in entries
               if e.target_id is not None and e.action_type in _USER_TARGETS}
    users = await p.meta.get_users(sorted(wanted)) if wanted else {}
    return {
        "audit_log_entries": [entry_json(e) for e in entries],
        "users": [user_json(users[u]) for u in sorted(users)],
        "integrations": [], "webhooks": [], "guild_scheduled_events": [], "threads": [],
        "application_commands": [], "auto_moderation_rules": [],
    }
