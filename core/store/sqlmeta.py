"""The SQL metadata store (:class:`SqlMetaStore`), written once for SQLite and PostgreSQL.

It runs over a :class:`core.store.executor.Executor`: queries use ``?`` placeholders and SQL both
dialects accept (``ON CONFLICT``, ``RETURNING``, partial indexes). Rows are read by position,
against the column lists declared next to each converter, and become ``core.models`` records
here: no driver row leaves this module.

Overwrites, DM and group DM recipients and member roles live in their own tables. A channel (with its
overwrites and recipients) and a member (with its roles) are each read in ONE query (a LEFT
JOIN grouped here), so a reader never sees half of a concurrent replace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from core.models import (
    Account,
    Application,
    AuditEntry,
    Ban,
    Channel,
    ChannelType,
    Guild,
    Invite,
    Member,
    Overwrite,
    OverwriteType,
    RegistrationCode,
    Role,
    User,
)
from core.store.base import AUDIT_PRUNE_MAX, Conflict, RecipientOutcome
from core.store.executor import Executor, Row, assignments, in_chunks, serialize
from core.store.sqlcommands import SqlCommandStore
from core.store.sqlinteractions import SqlInteractionStore
from core.store.sqlreadstates import SqlReadStateStore
from core.store.sqlthreads import THREAD_CHANNEL_COLUMNS, SqlThreadStore, thread_meta
from core.store.sqlwebhooks import SqlWebhookStore

__all__ = ["SqlMetaStore"]

T = TypeVar("T")


def _username_key(username: str) -> str:
    return username.lower()


# -- rows to records -------------------------------------------------------------------------

_USER = "id, username, global_name, avatar, bot, flags"
_ACCOUNT = f"{_USER}, disabled, instance_admin"
_REGISTRATION_CODE = "code, created_at, max_uses, uses"
_APP = "id, name, owner_id, description, icon, verify_key, bot_public, flags"
_GUILD = "id, name, owner_id, icon, description, system_channel_id"
_ROLE = "id, guild_id, name, permissions, position, color, hoist, mentionable, managed"
_INVITE = "code, guild_id, channel_id, inviter_id, created_at, max_age, max_uses, uses, temporary"
_BAN = "guild_id, user_id, reason, created_at"
_AUDIT = "id, guild_id, action_type, user_id, target_id, changes, options, reason"
# One row per overwrite (or one with NULL overwrite columns), grouped by channel id.
_CHANNEL_SELECT = (
    "SELECT c.id, c.type, c.guild_id, c.name, c.topic, c.position, c.parent_id, c.nsfw,"
    " c.rate_limit_per_user, c.last_message_id, p.low_id, p.high_id,"
    " o.target_id, o.type, o.allow, o.deny, c.owner_id, c.icon, g.user_id, "
    + THREAD_CHANNEL_COLUMNS
    + " FROM channels c LEFT JOIN dm_pairs p ON p.channel_id = c.id"
    " LEFT JOIN overwrites o ON o.channel_id = c.id"
    " LEFT JOIN channel_recipients g ON g.channel_id = c.id"
    " LEFT JOIN threads t ON t.channel_id = c.id"
)
# The thread types, left out of a guild's channel list (Discord lists threads apart).
_NOT_THREAD = "c.type NOT IN (11, 12)"
# One row per member role (or one with NULL role_id), grouped by user id.
_MEMBER_JOIN = (
    "SELECT m.guild_id, m.user_id, m.joined_at, m.nick, m.flags, m.deaf, m.mute, r.role_id,"
    " m.communication_disabled_until"
    " FROM {members} m LEFT JOIN member_roles r"
    " ON r.guild_id = m.guild_id AND r.user_id = m.user_id"
)
_MEMBER_SELECT = _MEMBER_JOIN.format(members="members")


def _user(r: Row) -> User:
    return User(r[0], r[1], r[2], r[3], bool(r[4]), r[5])


def _account(r: Row) -> Account:
    return Account(_user(r), bool(r[6]), bool(r[7]))


def _registration_code(r: Row) -> RegistrationCode:
    return RegistrationCode(r[0], r[1], r[2], r[3])


def _app(r: Row) -> Application:
    return Application(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7])


def _guild(r: Row) -> Guild:
    return Guild(r[0], r[1], r[2], r[3], r[4], r[5])


def _role(r: Row) -> Role:
    return Role(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]), bool(r[8]))


def _invite(r: Row) -> Invite:
    return Invite(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))


def _ban(r: Row) -> Ban:
    return Ban(r[0], r[1], r[2], r[3])


def _audit_entry(r: Row) -> AuditEntry:
    # changes and options are JSON text, NULL when there are none (read whole, never queried).
    changes = tuple(orjson.loads(r[5])) if r[5] else ()
    return AuditEntry(r[0], r[1], r[2], r[3], r[4], changes, orjson.loads(r[6]) if r[6] else None,
                      r[7])


def _audit_params(e: AuditEntry) -> tuple[Any, ...]:
    return (
        e.id, e.guild_id, e.action_type, e.user_id, e.target_id,
        orjson.dumps(list(e.changes)).decode() if e.changes else None,
        orjson.dumps(e.options).decode() if e.options else None, e.reason,
    )


def _channels(rows: Iterable[Row]) -> list[Channel]:
    out = []
    for _, group in groupby(rows, key=itemgetter(0)):
        rs = list(group)
        r = rs[0]
        # A channel has overwrites (a guild's) or group DM recipients, never both: the two
        # joins do not multiply each other's rows; deduplicated all the same.
        overwrites = tuple({
            o[12]: Overwrite(o[12], OverwriteType(o[13]), o[14], o[15])
            for o in rs if o[12] is not None
        }.values())
        if r[10] is not None:
            recipients: tuple[int, ...] = (r[10], r[11])
        else:
            recipients = tuple(sorted({x[18] for x in rs if x[18] is not None}))
        channel = Channel(
            r[0], ChannelType(r[1]), r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8],
            overwrites, recipients, r[9], r[16], r[17], thread_meta(r, 19),
        )
        out.append(channel)
    return out


def _members(rows: Iterable[Row], ids: tuple[int, int] | None = None) -> list[Member]:
    """Members from rows; ``ids``: one member's (guild_id, user_id) as the caller has them.

    A member read by its ids holds the caller's int objects, not the row's copies: 64 bytes
    less for each one cached (the hub and the metadata cache keep one per guild of each
    user with a session; bench/RESULTS.md, idle memory).
    """
    out = []
    for _, group in groupby(rows, key=itemgetter(1)):
        rs = list(group)
        r = rs[0]
        roles = tuple(x[7] for x in rs if x[7] is not None)
        guild_id, user_id = ids or (r[0], r[1])
        out.append(Member(guild_id, user_id, r[2], r[3], roles, r[4], bool(r[5]), bool(r[6]),
                          r[8]))
    return out


def _first(items: list[T]) -> T | None:
    return items[0] if items else None


_USER_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "username": str, "global_name": str, "avatar": str,
    }
)
_GUILD_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "name": str, "icon": str, "description": str, "owner_id": int, "system_channel_id": int,
    }
)
_ROLE_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "name": str, "permissions": int, "position": int, "color": int, "hoist": bool,
        "mentionable": bool,
    }
)
_CHANNEL_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "name": str, "topic": str, "position": int, "parent_id": int, "nsfw": bool,
        "rate_limit_per_user": int, "last_message_id": int, "owner_id": int, "icon": str,
    }
)
_ACCOUNT_FLAGS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {"disabled": bool, "instance_admin": bool}
)
# Writers of the relay that may collide in a row before one gives up (each collision means
# another writer committed: only a crowd of admin commands at once gets near it).
_RELAY_ATTEMPTS = 20
_MEMBER_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "nick": str, "flags": int, "deaf": bool, "mute": bool,
        "communication_disabled_until": int,
    }
)


def _channel_params(c: Channel) -> tuple[Any, ...]:
    return (
        c.id, int(c.type), c.guild_id, c.name, c.topic, c.position, c.parent_id, c.nsfw,
        c.rate_limit_per_user, c.last_message_id, c.owner_id, c.icon,
    )


def _role_params(r: Role) -> tuple[Any, ...]:
    return (
        r.id, r.guild_id, r.name, r.permissions, r.position, r.color, r.hoist, r.mentionable,
        r.managed,
    )


def _overwrite_params(channel_id: int, o: Overwrite) -> tuple[Any, ...]:
    return (channel_id, o.id, int(o.type), o.allow, o.deny)


_INSERT_CHANNEL = (
    "INSERT INTO channels (id, type, guild_id, name, topic, position, parent_id, nsfw,"
    " rate_limit_per_user, last_message_id, owner_id, icon)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RECIPIENT = (
    "INSERT INTO channel_recipients (channel_id, user_id, added_at) VALUES (?, ?, ?)"
)
# The advisory-lock namespace of a group DM's recipient limit ("gdms"; executor.serialize).
_RECIPIENT_LOCK = 0x67646D73
_INSERT_ROLE = f"INSERT INTO roles ({_ROLE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_OVERWRITE = (
    "INSERT INTO overwrites (channel_id, target_id, type, allow, deny) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_MEMBER_ROLE = (
    "INSERT INTO member_roles (guild_id, user_id, role_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)


class SqlMetaStore(SqlThreadStore, SqlWebhookStore, SqlReadStateStore, SqlCommandStore,
                   SqlInteractionStore):
    """:class:`core.store.base.MetaStore` over an :class:`Executor` (SQLite or PostgreSQL).

    Updates take only the fields their protocol method lists and raise ``ValueError`` on any
    other. Writes that touch several tables run in one transaction. Webhooks are
    :class:`~core.store.sqlwebhooks.SqlWebhookStore`'s, in their own module, and application
    commands :class:`~core.store.sqlcommands.SqlCommandStore`'s, interactions
    :class:`~core.store.sqlinteractions.SqlInteractionStore`'s.
    """

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def aclose(self) -> None:
        await self._db.aclose()

    # -- users and auth --------------------------------------------------------------------
    async def create_user(self, user: User, password_hash: str | None) -> None:
        await self._insert_user(self._db, user, password_hash)

    @staticmethod
    async def _insert_user(db: Executor, user: User, password_hash: str | None) -> None:
        await db.execute(
            "INSERT INTO users (id, username, username_key, global_name, avatar, bot, flags,"
            " password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            user.id, user.username, _username_key(user.username), user.global_name,
            user.avatar, user.bot, user.flags, password_hash,
        )

    async def get_user(self, user_id: int) -> User | None:
        row = await self._db.fetchrow(f"SELECT {_USER} FROM users WHERE id = ?", user_id)
        return None if row is None else _user(row)

    async def get_users(self, user_ids: Sequence[int]) -> dict[int, User]:
        found: dict[int, User] = {}
        for marks, chunk in in_chunks(user_ids):
            rows = await self._db.fetch(f"SELECT {_USER} FROM users WHERE id IN ({marks})", *chunk)
            found.update((r[0], _user(r)) for r in rows)
        return found

    async def get_login(self, username: str) -> tuple[User, str] | None:
        row = await self._db.fetchrow(
            f"SELECT {_USER}, password_hash FROM users WHERE username_key = ?",
            _username_key(username),
        )
        if row is None or row[6] is None:
            return None
        return _user(row), row[6]

    async def update_user(self, user_id: int, fields: dict[str, Any]) -> User | None:
        if not fields:
            return await self.get_user(user_id)
        sets, values = assignments(fields, _USER_FIELDS)
        if "username" in fields:
            sets += ", username_key = ?"
            values.append(_username_key(fields["username"]))
        row = await self._db.fetchrow(
            f"UPDATE users SET {sets} WHERE id = ? RETURNING {_USER}", *values, user_id
        )
        return None if row is None else _user(row)

    async def add_token(self, token_hash: bytes, user_id: int, created_at: int) -> None:
        await self._db.execute(
            "INSERT INTO tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)",
            token_hash, user_id, created_at,
        )

    async def resolve_token(self, token_hash: bytes) -> int | None:
        # NOT EXISTS rather than a join: a token whose user row is gone keeps resolving as
        # it always did; only a disabled user's tokens stop.
        value = await self._db.fetchval(
            "SELECT user_id FROM tokens t WHERE token_hash = ? AND NOT EXISTS"
            " (SELECT 1 FROM users u WHERE u.id = t.user_id AND u.disabled)", token_hash
        )
        return None if value is None else int(value)

    async def revoke_token(self, token_hash: bytes) -> bool:
        return await self._db.execute("DELETE FROM tokens WHERE token_hash = ?", token_hash) > 0

    async def set_password_hash(self, user_id: int, password_hash: str, expected: str) -> bool:
        updated = await self._db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
            password_hash, user_id, expected,
        )
        return updated > 0

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> list[bytes]:
        # One statement, so a token issued meanwhile is either revoked or left whole.
        rows = await self._db.fetch(
            "DELETE FROM tokens WHERE user_id = ? AND token_hash <> ? RETURNING token_hash",
            user_id, b"" if keep is None else keep,
        )
        return [bytes(r[0]) for r in rows]

    # -- applications ----------------------------------------------------------------------
    async def create_application(self, app: Application, bot: User) -> None:
        async with self._db.transaction() as tx:
            await self._insert_user(tx, bot, None)
            await tx.execute(
                f"INSERT INTO applications ({_APP}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                app.id, app.name, app.owner_id, app.description, app.icon, app.verify_key,
                app.bot_public, app.flags,
            )

    async def get_application(self, app_id: int) -> Application | None:
        row = await self._db.fetchrow(f"SELECT {_APP} FROM applications WHERE id = ?", app_id)
        return None if row is None else _app(row)

    async def list_applications(self, owner_id: int) -> list[Application]:
        rows = await self._db.fetch(
            f"SELECT {_APP} FROM applications WHERE owner_id = ? ORDER BY id", owner_id
        )
        return [_app(r) for r in rows]

    # -- guilds ----------------------------------------------------------------------------
    async def create_guild(
        self, guild: Guild, roles: Sequence[Role], channels: Sequence[Channel], owner: Member
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO guilds ({_GUILD}) VALUES (?, ?, ?, ?, ?, ?)",
                guild.id, guild.name, guild.owner_id, guild.icon, guild.description,
                guild.system_channel_id,
            )
            if roles:
                await tx.executemany(_INSERT_ROLE, [_role_params(r) for r in roles])
            await self._insert_channels(tx, channels)
            await self._insert_member(tx, owner)

    async def get_guild(self, guild_id: int) -> Guild | None:
        row = await self._db.fetchrow(f"SELECT {_GUILD} FROM guilds WHERE id = ?", guild_id)
        return None if row is None else _guild(row)

    async def update_guild(self, guild_id: int, fields: dict[str, Any]) -> Guild | None:
        if not fields:
            return await self.get_guild(guild_id)
        sets, values = assignments(fields, _GUILD_FIELDS)
        row = await self._db.fetchrow(
            f"UPDATE guilds SET {sets} WHERE id = ? RETURNING {_GUILD}", *values, guild_id
        )
        return None if row is None else _guild(row)

    async def delete_guild(self, guild_id: int) -> bool:
        # Roles, channels (their overwrites and invites), members (their roles) and invites
        # go with it: ON DELETE CASCADE, in the same statement.
        return await self._db.execute("DELETE FROM guilds WHERE id = ?", guild_id) > 0

    async def list_user_guilds(self, user_id: int) -> list[Guild]:
        rows = await self._db.fetch(
            "SELECT g.id, g.name, g.owner_id, g.icon, g.description, g.system_channel_id"
            " FROM members m JOIN guilds g ON g.id = m.guild_id WHERE m.user_id = ? ORDER BY g.id",
            user_id,
        )
        return [_guild(r) for r in rows]

    async def count_user_guilds(self, user_id: int) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM members WHERE user_id = ?", user_id))

    # -- roles -----------------------------------------------------------------------------
    async def list_roles(self, guild_id: int) -> list[Role]:
        rows = await self._db.fetch(
            f"SELECT {_ROLE} FROM roles WHERE guild_id = ? ORDER BY position, id", guild_id
        )
        return [_role(r) for r in rows]

    async def get_role(self, guild_id: int, role_id: int) -> Role | None:
        row = await self._db.fetchrow(
            f"SELECT {_ROLE} FROM roles WHERE id = ? AND guild_id = ?", role_id, guild_id
        )
        return None if row is None else _role(row)

    async def create_role(self, role: Role) -> None:
        await self._db.execute(_INSERT_ROLE, *_role_params(role))

    async def update_role(self, guild_id: int, role_id: int, fields: dict[str, Any]) -> Role | None:
        if not fields:
            return await self.get_role(guild_id, role_id)
        sets, values = assignments(fields, _ROLE_FIELDS)
        row = await self._db.fetchrow(
            f"UPDATE roles SET {sets} WHERE id = ? AND guild_id = ? RETURNING {_ROLE}",
            *values, role_id, guild_id,
        )
        return None if row is None else _role(row)

    async def delete_role(self, guild_id: int, role_id: int) -> bool:
        async with self._db.transaction() as tx:
            if not await tx.execute(
                "DELETE FROM roles WHERE id = ? AND guild_id = ?", role_id, guild_id
            ):
                return False
            await tx.execute(
                "DELETE FROM member_roles WHERE guild_id = ? AND role_id = ?", guild_id, role_id
            )
            # Snowflakes are unique across kinds, so the target id alone names this role.
            await tx.execute(
                "DELETE FROM overwrites WHERE target_id = ? AND type = ?",
                role_id, int(OverwriteType.ROLE),
            )
        return True

    # -- channels --------------------------------------------------------------------------
    async def list_channels(self, guild_id: int) -> list[Channel]:
        rows = await self._db.fetch(
            f"{_CHANNEL_SELECT} WHERE c.guild_id = ? AND {_NOT_THREAD}"
            " ORDER BY c.position, c.id, o.target_id",
            guild_id,
        )
        return _channels(rows)

    async def get_channel(self, channel_id: int) -> Channel | None:
        return await self._get_channel(self._db, channel_id)

    async def _channels_where(self, db: Executor, where: str, *args: Any) -> list[Channel]:
        return _channels(await db.fetch(f"{_CHANNEL_SELECT} WHERE {where}", *args))

    @staticmethod
    async def _get_channel(db: Executor, channel_id: int) -> Channel | None:
        rows = await db.fetch(f"{_CHANNEL_SELECT} WHERE c.id = ? ORDER BY o.target_id", channel_id)
        return _first(_channels(rows))

    async def create_channel(self, channel: Channel) -> None:
        async with self._db.transaction() as tx:
            await self._insert_channels(tx, (channel,))

    @staticmethod
    async def _insert_channels(db: Executor, channels: Sequence[Channel]) -> None:
        if not channels:
            return
        await db.executemany(_INSERT_CHANNEL, [_channel_params(c) for c in channels])
        overwrites = [_overwrite_params(c.id, o) for c in channels for o in c.overwrites]
        if overwrites:
            await db.executemany(_INSERT_OVERWRITE, overwrites)

    async def update_channel(self, channel_id: int, fields: dict[str, Any]) -> Channel | None:
        columns = {k: v for k, v in fields.items() if k != "overwrites"}
        async with self._db.transaction() as tx:
            if columns:
                sets, values = assignments(columns, _CHANNEL_FIELDS)
                sql = f"UPDATE channels SET {sets} WHERE id = ?"
                if not await tx.execute(sql, *values, channel_id):
                    return None
            elif await tx.fetchval("SELECT 1 FROM channels WHERE id = ?", channel_id) is None:
                return None
            if "overwrites" in fields:
                await tx.execute("DELETE FROM overwrites WHERE channel_id = ?", channel_id)
                rows = [_overwrite_params(channel_id, o) for o in fields["overwrites"]]
                if rows:
                    await tx.executemany(_INSERT_OVERWRITE, rows)
            return await self._get_channel(tx, channel_id)

    async def delete_channel(self, channel_id: int) -> bool:
        async with self._db.transaction() as tx:
            # Overwrites, invites, webhooks and the DM pair go by ON DELETE CASCADE.
            if not await tx.execute("DELETE FROM channels WHERE id = ?", channel_id):
                return False
            # Its threads go with it (their state and members by cascade).
            await tx.execute(
                "DELETE FROM channels WHERE id IN"
                " (SELECT channel_id FROM threads WHERE parent_id = ?)", channel_id
            )
            await tx.execute("UPDATE channels SET parent_id = NULL WHERE parent_id = ?", channel_id)
            await tx.execute(
                "UPDATE guilds SET system_channel_id = NULL WHERE system_channel_id = ?", channel_id
            )
        return True

    async def put_overwrite(self, channel_id: int, overwrite: Overwrite) -> None:
        """See :meth:`MetaStore.put_overwrite`; nothing happens if the channel is gone."""
        # Selecting from the channel's row makes a deleted channel a no-op, not a
        # foreign-key error (the PUT may race with the channel's deletion).
        o = overwrite
        await self._db.execute(
            "INSERT INTO overwrites (channel_id, target_id, type, allow, deny)"
            " SELECT id, CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS BIGINT),"
            " CAST(? AS BIGINT) FROM channels WHERE id = ?"
            " ON CONFLICT (channel_id, target_id) DO UPDATE"
            " SET type = excluded.type, allow = excluded.allow, deny = excluded.deny",
            o.id, int(o.type), o.allow, o.deny, channel_id,
        )

    async def delete_overwrite(self, channel_id: int, target_id: int) -> bool:
        return (
            await self._db.execute(
                "DELETE FROM overwrites WHERE channel_id = ? AND target_id = ?",
                channel_id, target_id,
            )
            > 0
        )

    async def get_or_create_dm(self, channel: Channel) -> Channel:
        """See :meth:`MetaStore.get_or_create_dm`.

        Raises:
            ValueError: ``channel.recipients`` is not two user ids.
        """
        if len(channel.recipients) != 2:
            raise ValueError("a DM channel has exactly two recipients")
        low, high = sorted(channel.recipients)
        # Loops again only if a concurrent caller created the DM and someone deleted it
        # between our two lookups.
        while True:
            existing = await self._find_dm(low, high)
            if existing is not None:
                return existing
            created = await self._create_dm(channel, low, high)
            if created is not None:
                return created

    async def _create_dm(self, channel: Channel, low: int, high: int) -> Channel | None:
        async with self._db.transaction() as tx:
            await self._insert_channels(tx, (channel,))
            # A concurrent caller may have taken the pair since our lookup: the unique pair
            # makes this insert a no-op then (PostgreSQL waits for the winner to commit).
            won = await tx.fetchval(
                "INSERT INTO dm_pairs (channel_id, low_id, high_id) VALUES (?, ?, ?)"
                " ON CONFLICT (low_id, high_id) DO NOTHING RETURNING channel_id",
                channel.id, low, high,
            )
            if won is None:
                await tx.execute("DELETE FROM channels WHERE id = ?", channel.id)
                return None
            return await self._get_channel(tx, channel.id)

    async def _find_dm(self, low: int, high: int) -> Channel | None:
        rows = await self._db.fetch(
            f"{_CHANNEL_SELECT} WHERE p.low_id = ? AND p.high_id = ?", low, high
        )
        return _first(_channels(rows))

    async def list_dms(self, user_id: int) -> list[Channel]:
        rows = await self._db.fetch(
            f"{_CHANNEL_SELECT} WHERE p.low_id = ? OR p.high_id = ? OR c.id IN"
            " (SELECT channel_id FROM channel_recipients WHERE user_id = ?) ORDER BY c.id",
            user_id, user_id, user_id,
        )
        return _channels(rows)

    # -- group DMs -------------------------------------------------------------------------
    async def create_group_dm(self, channel: Channel, now_ms: int) -> None:
        async with self._db.transaction() as tx:
            await self._insert_channels(tx, (channel,))
            rows = [(channel.id, u, now_ms) for u in dict.fromkeys(channel.recipients)]
            if rows:
                await tx.executemany(_INSERT_RECIPIENT, rows)

    async def add_recipient(
        self, channel_id: int, user_id: int, now_ms: int, *, max_recipients: int
    ) -> RecipientOutcome:
        async with self._db.transaction() as tx:
            # Counted and added alone among this channel's adds: the last place goes once.
            await serialize(tx, _RECIPIENT_LOCK, channel_id)
            kind = await tx.fetchval("SELECT type FROM channels WHERE id = ?", channel_id)
            if kind is None or int(kind) != ChannelType.GROUP_DM:
                return RecipientOutcome.UNKNOWN_CHANNEL
            rows = await tx.fetch(
                "SELECT user_id FROM channel_recipients WHERE channel_id = ?", channel_id)
            present = {int(r[0]) for r in rows}
            if user_id in present:
                return RecipientOutcome.ALREADY_RECIPIENT
            if len(present) >= max_recipients:
                return RecipientOutcome.LIMIT_REACHED
            await tx.execute(_INSERT_RECIPIENT, channel_id, user_id, now_ms)
        return RecipientOutcome.ADDED

    async def remove_recipient(self, channel_id: int, user_id: int) -> Channel | None:
        async with self._db.transaction() as tx:
            await serialize(tx, _RECIPIENT_LOCK, channel_id)
            removed = await tx.execute(
                "DELETE FROM channel_recipients WHERE channel_id = ? AND user_id = ?",
                channel_id, user_id,
            )
            if not removed:
                return None
            # The owner left: the recipient there longest takes over (NULL once nobody is).
            await tx.execute(
                "UPDATE channels SET owner_id = (SELECT user_id FROM channel_recipients"
                " WHERE channel_id = ? ORDER BY added_at, user_id LIMIT 1)"
                " WHERE id = ? AND owner_id = ?",
                channel_id, channel_id, user_id,
            )
            return await self._get_channel(tx, channel_id)

    # -- members ---------------------------------------------------------------------------
    async def add_member(self, member: Member) -> bool:
        """See :meth:`MetaStore.add_member`; also False if the guild does not exist."""
        async with self._db.transaction() as tx:
            return await self._insert_member(tx, member)

    @staticmethod
    async def _insert_member(db: Executor, m: Member) -> bool:
        # From the guild's row: joining a guild being deleted adds nothing (no FK error);
        # nor does joining one that banned the user (in the same statement as the insert).
        added = await db.execute(
            "INSERT INTO members (guild_id, user_id, joined_at, nick, flags, deaf, mute,"
            " communication_disabled_until)"
            " SELECT id, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT),"
            " CAST(? AS BIGINT), CAST(? AS BOOLEAN), CAST(? AS BOOLEAN), CAST(? AS BIGINT)"
            " FROM guilds g WHERE id = ? AND NOT EXISTS (SELECT 1 FROM bans b"
            " WHERE b.guild_id = g.id AND b.user_id = ?)"
            " ON CONFLICT (guild_id, user_id) DO NOTHING",
            m.user_id, m.joined_at, m.nick, m.flags, m.deaf, m.mute,
            m.communication_disabled_until, m.guild_id, m.user_id,
        )
        if added and m.roles:
            await db.executemany(_INSERT_MEMBER_ROLE, [(m.guild_id, m.user_id, r) for r in m.roles])
        return added > 0

    async def get_member(self, guild_id: int, user_id: int) -> Member | None:
        return await self._get_member(self._db, guild_id, user_id)

    @staticmethod
    async def _get_member(db: Executor, guild_id: int, user_id: int) -> Member | None:
        rows = await db.fetch(
            f"{_MEMBER_SELECT} WHERE m.guild_id = ? AND m.user_id = ? ORDER BY r.role_id",
            guild_id, user_id,
        )
        return _first(_members(rows, (guild_id, user_id)))

    async def list_members(self, guild_id: int, after: int = 0, limit: int = 1000) -> list[Member]:
        # The page is cut in a subquery, before the join multiplies rows by roles.
        page = (
            "(SELECT * FROM members WHERE guild_id = ? AND user_id > ? ORDER BY user_id LIMIT ?)"
        )
        rows = await self._db.fetch(
            f"{_MEMBER_JOIN.format(members=page)} ORDER BY m.user_id, r.role_id",
            guild_id, after, max(limit, 0),
        )
        return _members(rows)

    async def count_members(self, guild_id: int) -> int:
        return int(
            await self._db.fetchval("SELECT COUNT(*) FROM members WHERE guild_id = ?", guild_id)
        )

    async def update_member(
        self, guild_id: int, user_id: int, fields: dict[str, Any]
    ) -> Member | None:
        columns = {k: v for k, v in fields.items() if k != "roles"}
        async with self._db.transaction() as tx:
            if columns:
                sets, values = assignments(columns, _MEMBER_FIELDS)
                sql = f"UPDATE members SET {sets} WHERE guild_id = ? AND user_id = ?"
                if not await tx.execute(sql, *values, guild_id, user_id):
                    return None
            elif await self._get_member(tx, guild_id, user_id) is None:
                return None
            if "roles" in fields:
                await tx.execute(
                    "DELETE FROM member_roles WHERE guild_id = ? AND user_id = ?", guild_id, user_id
                )
                rows = [(guild_id, user_id, r) for r in dict.fromkeys(fields["roles"])]
                if rows:
                    await tx.executemany(_INSERT_MEMBER_ROLE, rows)
            return await self._get_member(tx, guild_id, user_id)

    async def remove_member(self, guild_id: int, user_id: int) -> bool:
        # Its roles go by ON DELETE CASCADE.
        sql = "DELETE FROM members WHERE guild_id = ? AND user_id = ?"
        return await self._db.execute(sql, guild_id, user_id) > 0

    async def add_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool:
        # Inserting from the member's own row makes "no such member" a zero-row insert
        # rather than a foreign-key error.
        added = await self._db.execute(
            "INSERT INTO member_roles (guild_id, user_id, role_id)"
            " SELECT guild_id, user_id, CAST(? AS BIGINT) FROM members"
            " WHERE guild_id = ? AND user_id = ? ON CONFLICT DO NOTHING",
            role_id, guild_id, user_id,
        )
        if added:
            return True
        sql = "SELECT 1 FROM members WHERE guild_id = ? AND user_id = ?"
        return await self._db.fetchval(sql, guild_id, user_id) is not None

    async def remove_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool:
        sql = "DELETE FROM member_roles WHERE guild_id = ? AND user_id = ? AND role_id = ?"
        return await self._db.execute(sql, guild_id, user_id, role_id) > 0

    # -- invites ---------------------------------------------------------------------------
    async def create_invite(self, invite: Invite) -> None:
        i = invite
        await self._db.execute(
            f"INSERT INTO invites ({_INVITE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            i.code, i.guild_id, i.channel_id, i.inviter_id, i.created_at, i.max_age,
            i.max_uses, i.uses, i.temporary,
        )

    async def get_invite(self, code: str) -> Invite | None:
        row = await self._db.fetchrow(f"SELECT {_INVITE} FROM invites WHERE code = ?", code)
        return None if row is None else _invite(row)

    async def use_invite(self, code: str, now_ms: int) -> Invite | None:
        # One statement: the row lock (PostgreSQL) or the write lock (SQLite) makes the check
        # and the increment atomic, so max_uses is never exceeded under concurrency.
        row = await self._db.fetchrow(
            "UPDATE invites SET uses = uses + 1 WHERE code = ?"
            " AND (max_uses = 0 OR uses < max_uses)"
            f" AND (max_age = 0 OR created_at + max_age * 1000 > ?) RETURNING {_INVITE}",
            code, now_ms,
        )
        return None if row is None else _invite(row)

    async def list_guild_invites(self, guild_id: int) -> list[Invite]:
        rows = await self._db.fetch(
            f"SELECT {_INVITE} FROM invites WHERE guild_id = ? ORDER BY created_at, code", guild_id
        )
        return [_invite(r) for r in rows]

    async def delete_invite(self, code: str) -> bool:
        return await self._db.execute("DELETE FROM invites WHERE code = ?", code) > 0

    # -- bans ------------------------------------------------------------------------------
    async def add_ban(self, ban: Ban) -> bool:
        # From the guild's row, as a membership is: a guild being deleted gets no ban.
        added = await self._db.execute(
            "INSERT INTO bans (guild_id, user_id, reason, created_at)"
            " SELECT id, CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT) FROM guilds"
            " WHERE id = ? ON CONFLICT (guild_id, user_id) DO NOTHING",
            ban.user_id, ban.reason, ban.created_at, ban.guild_id,
        )
        return added > 0

    async def get_ban(self, guild_id: int, user_id: int) -> Ban | None:
        row = await self._db.fetchrow(
            f"SELECT {_BAN} FROM bans WHERE guild_id = ? AND user_id = ?", guild_id, user_id
        )
        return None if row is None else _ban(row)

    async def list_bans(
        self, guild_id: int, *, before: int | None = None, after: int = 0, limit: int = 1000,
    ) -> list[Ban]:
        if before is None:
            rows = await self._db.fetch(
                f"SELECT {_BAN} FROM bans WHERE guild_id = ? AND user_id > ?"
                " ORDER BY user_id LIMIT ?", guild_id, after, max(limit, 0),
            )
            return [_ban(r) for r in rows]
        # The page just below ``before``: read downwards, handed back ascending.
        rows = await self._db.fetch(
            f"SELECT {_BAN} FROM bans WHERE guild_id = ? AND user_id > ? AND user_id < ?"
            " ORDER BY user_id DESC LIMIT ?", guild_id, after, before, max(limit, 0),
        )
        return [_ban(r) for r in reversed(rows)]

    async def remove_ban(self, guild_id: int, user_id: int) -> bool:
        sql = "DELETE FROM bans WHERE guild_id = ? AND user_id = ?"
        return await self._db.execute(sql, guild_id, user_id) > 0

    # -- audit log -------------------------------------------------------------------------
    async def add_audit_entries(
        self, entries: Sequence[AuditEntry], *, prune_before: int
    ) -> None:
        if not entries:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                f"INSERT INTO audit_log ({_AUDIT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_audit_params(e) for e in entries],
            )
            # The oldest expired entries of any guild, a bounded number by the primary key:
            # each write removes more than it adds until none has expired.
            await tx.execute(
                "DELETE FROM audit_log WHERE id IN"
                " (SELECT id FROM audit_log WHERE id < ? ORDER BY id LIMIT ?)",
                prune_before, AUDIT_PRUNE_MAX + len(entries),
            )

    async def list_audit_entries(
        self, guild_id: int, *, user_id: int | None = None, action_type: int | None = None,
        before: int | None = None, after: int | None = None, limit: int = 50,
    ) -> list[AuditEntry]:
        where, args = ["guild_id = ?"], [guild_id]
        for clause, value in (("user_id = ?", user_id), ("action_type = ?", action_type),
                              ("id < ?", before), ("id > ?", after)):
            if value is not None:
                where.append(clause)
                args.append(value)
        order = "ASC" if after is not None and before is None else "DESC"
        rows = await self._db.fetch(
            f"SELECT {_AUDIT} FROM audit_log WHERE {' AND '.join(where)}"
            f" ORDER BY id {order} LIMIT ?", *args, max(limit, 0),
        )
        return [_audit_entry(r) for r in rows]

    # -- instance administration -----------------------------------------------------------
    async def get_account(self, user_id: int) -> Account | None:
        row = await self._db.fetchrow(f"SELECT {_ACCOUNT} FROM users WHERE id = ?", user_id)
        return None if row is None else _account(row)

    async def find_account(self, username: str) -> Account | None:
        row = await self._db.fetchrow(
            f"SELECT {_ACCOUNT} FROM users WHERE username_key = ?", _username_key(username)
        )
        return None if row is None else _account(row)

    async def list_accounts(self, after: int = 0, limit: int = 100) -> list[Account]:
        rows = await self._db.fetch(
            f"SELECT {_ACCOUNT} FROM users WHERE id > ? ORDER BY id LIMIT ?", after, max(limit, 0)
        )
        return [_account(r) for r in rows]

    async def set_account_flags(
        self, user_id: int, *, disabled: bool | None = None, instance_admin: bool | None = None
    ) -> Account | None:
        flags = {k: v for k, v in (("disabled", disabled), ("instance_admin", instance_admin))
                 if v is not None}
        if not flags:
            return await self.get_account(user_id)
        sets, values = assignments(flags, _ACCOUNT_FLAGS)
        row = await self._db.fetchrow(
            f"UPDATE users SET {sets} WHERE id = ? RETURNING {_ACCOUNT}", *values, user_id
        )
        return None if row is None else _account(row)

    async def list_guilds(self, after: int = 0, limit: int = 100) -> list[Guild]:
        rows = await self._db.fetch(
            f"SELECT {_GUILD} FROM guilds WHERE id > ? ORDER BY id LIMIT ?", after, max(limit, 0)
        )
        return [_guild(r) for r in rows]

    async def get_setting(self, key: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM instance_settings WHERE key = ?", key)
        return None if value is None else str(value)

    async def set_setting(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO instance_settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value,
        )

    async def create_registration_code(self, code: RegistrationCode) -> None:
        await self._db.execute(
            f"INSERT INTO registration_codes ({_REGISTRATION_CODE}) VALUES (?, ?, ?, ?)",
            code.code, code.created_at, code.max_uses, code.uses,
        )

    async def list_registration_codes(self) -> list[RegistrationCode]:
        rows = await self._db.fetch(
            f"SELECT {_REGISTRATION_CODE} FROM registration_codes ORDER BY created_at, code"
        )
        return [_registration_code(r) for r in rows]

    async def delete_registration_code(self, code: str) -> bool:
        return await self._db.execute("DELETE FROM registration_codes WHERE code = ?", code) > 0

    async def create_user_with_code(self, user: User, password_hash: str, code: str) -> bool:
        async with self._db.transaction() as tx:
            # One statement checks and counts the use (the row lock, or SQLite's write lock,
            # makes it atomic: max_uses is never exceeded); a taken username then raises
            # Conflict and the rollback gives the use back.
            used = await tx.execute(
                "UPDATE registration_codes SET uses = uses + 1"
                " WHERE code = ? AND (max_uses = 0 OR uses < max_uses)", code,
            )
            if not used:
                return False
            await self._insert_user(tx, user, password_hash)
        return True

    async def relay_events(self, events: Sequence[str], now_ms: int, keep_ms: int) -> int:
        if not events:
            return await self.relay_head()
        for _ in range(_RELAY_ATTEMPTS):
            try:
                return await self._relay_once(events, now_ms, keep_ms)
            except Conflict:
                continue  # a concurrent writer took these numbers first: after it, then
        raise Conflict("relay: too many concurrent writers")

    async def _relay_once(self, events: Sequence[str], now_ms: int, keep_ms: int) -> int:
        # Numbered MAX + 1, not by a sequence: PostgreSQL hands sequence numbers out in call
        # order, not commit order, and a reader past a later number would skip an earlier one
        # committed after it. Here two writers that read the same MAX collide on the key; the
        # second waits for the first's commit, fails, and numbers after it (SQLite's write
        # transactions run one at a time anyway).
        async with self._db.transaction() as tx:
            head = int(await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM relayed_events"))
            await tx.executemany(
                "INSERT INTO relayed_events (seq, created_at, event) VALUES (?, ?, ?)",
                [(head + i, now_ms, e) for i, e in enumerate(events, 1)],
            )
            await tx.execute(
                "DELETE FROM relayed_events WHERE seq <= ? AND created_at < ?",
                head, now_ms - keep_ms,
            )
        return head + len(events)

    async def relayed_after(self, seq: int, limit: int) -> list[tuple[int, str]]:
        rows = await self._db.fetch(
            "SELECT seq, event FROM relayed_events WHERE seq > ? ORDER BY seq LIMIT ?",
            seq, max(limit, 0),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def relay_head(self) -> int:
        return int(await self._db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM relayed_events"))
