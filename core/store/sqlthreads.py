"""Threads in SQL (SQLite and PostgreSQL): the thread half of ``SqlMetaStore``.

A thread is a ``channels`` row (type 11 or 12, ``parent_id`` its text channel, ``owner_id`` its
creator) plus its state in ``threads`` and its members in ``thread_members`` (migration 11),
both going with the channel row (ON DELETE CASCADE). Channel reads join ``threads``
(``sqlmeta._CHANNEL_SELECT``), so a thread read here is the same :class:`Channel` with its
``thread`` set. Inactivity archives a thread when read, never by a sweep: "archived" in the
listings below is ``archived`` or idle past ``auto_archive_duration`` at ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from core.models import Channel, ChannelType, ThreadMember, ThreadMeta
from core.store.executor import Executor, Row, assignments, in_chunks

__all__ = ["THREAD_CHANNEL_COLUMNS", "SqlThreadStore", "thread_meta"]

# Appended to every channel read (``sqlmeta._CHANNEL_SELECT``): NULLs for a channel that is
# not a thread; member_count counted in the same statement.
THREAD_CHANNEL_COLUMNS = (
    "t.archived, t.auto_archive_duration, t.archive_ts, t.locked, t.invitable, t.create_ts,"
    " t.activity_ts, t.message_count, t.total_message_sent,"
    " (SELECT COUNT(*) FROM thread_members tm WHERE tm.thread_id = t.channel_id)"
)
# When a thread counts as archived, at ``?`` = now: explicitly, or idle past its duration.
_IDLE = "(t.activity_ts + t.auto_archive_duration * 60000)"
_ARCHIVED_AT = f"(CASE WHEN t.archived THEN t.archive_ts ELSE {_IDLE} END)"
_THREAD_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType({
    "archived": bool, "locked": bool, "invitable": bool, "auto_archive_duration": int,
    "archive_ts": int, "activity_ts": int,
})
_CHANNEL_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType({
    "name": str, "rate_limit_per_user": int,
})
_MEMBER = "thread_id, user_id, join_ts, flags"


def thread_meta(r: Row, at: int) -> ThreadMeta | None:
    """The thread state in row ``r`` from column ``at`` (:data:`THREAD_CHANNEL_COLUMNS`)."""
    if r[at] is None:
        return None
    return ThreadMeta(
        archived=bool(r[at]), auto_archive_duration=r[at + 1], archive_timestamp=r[at + 2],
        locked=bool(r[at + 3]), invitable=bool(r[at + 4]), create_timestamp=r[at + 5],
        activity_ms=r[at + 6], message_count=r[at + 7], total_message_sent=r[at + 8],
        member_count=r[at + 9],
    )


def _member(r: Row) -> ThreadMember:
    return ThreadMember(r[0], r[1], r[2], r[3])


class SqlThreadStore:
    """The thread methods of :class:`core.store.base.MetaStore` over ``self._db``."""

    _db: Executor

    async def _channels_where(self, db: Executor, where: str, *args: Any) -> list[Channel]:
        """Channels read as ``SqlMetaStore`` reads them, with ``where`` (and what follows)."""
        raise NotImplementedError

    async def create_thread(self, channel: Channel, members: Sequence[ThreadMember]) -> bool:
        t = channel.thread
        assert t is not None and channel.parent_id is not None
        async with self._db.transaction() as tx:
            # From the parent's row: a parent deleted meanwhile adds nothing (no FK error).
            added = await tx.execute(
                "INSERT INTO channels (id, type, guild_id, name, topic, position, parent_id,"
                " nsfw, rate_limit_per_user, last_message_id, owner_id, icon)"
                " SELECT CAST(? AS BIGINT), CAST(? AS INTEGER), guild_id, CAST(? AS TEXT), NULL,"
                " 0, id, nsfw, CAST(? AS INTEGER), NULL, CAST(? AS BIGINT), NULL"
                " FROM channels WHERE id = ? AND guild_id = ?",
                channel.id, int(channel.type), channel.name, channel.rate_limit_per_user,
                channel.owner_id, channel.parent_id, channel.guild_id,
            )
            if not added:
                return False
            await tx.execute(
                "INSERT INTO threads (channel_id, guild_id, parent_id, archived, locked,"
                " invitable, auto_archive_duration, archive_ts, create_ts, activity_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                channel.id, channel.guild_id, channel.parent_id, t.archived, t.locked,
                t.invitable, t.auto_archive_duration, t.archive_timestamp, t.create_timestamp,
                t.activity_ms,
            )
            if members:
                await tx.executemany(
                    f"INSERT INTO thread_members ({_MEMBER}) VALUES (?, ?, ?, ?)",
                    [(m.thread_id, m.user_id, m.join_timestamp, m.flags) for m in members],
                )
        return True

    async def update_thread(self, thread_id: int, fields: dict[str, Any]) -> Channel | None:
        own = {k: v for k, v in fields.items() if k not in _CHANNEL_FIELDS}
        row = {k: v for k, v in fields.items() if k in _CHANNEL_FIELDS}
        async with self._db.transaction() as tx:
            if not await tx.fetchval("SELECT 1 FROM threads WHERE channel_id = ?", thread_id):
                return None
            if own:
                sets, values = assignments(own, _THREAD_FIELDS)
                await tx.execute(f"UPDATE threads SET {sets} WHERE channel_id = ?",
                                 *values, thread_id)
            if row:
                sets, values = assignments(row, _CHANNEL_FIELDS)
                await tx.execute(f"UPDATE channels SET {sets} WHERE id = ?", *values, thread_id)
            found = await self._channels_where(tx, "c.id = ?", thread_id)
        return found[0] if found else None

    async def count_thread_message(self, thread_id: int, now_ms: int) -> None:
        await self._db.execute(
            "UPDATE threads SET message_count = message_count + 1,"
            " total_message_sent = total_message_sent + 1, activity_ts = ?"
            " WHERE channel_id = ?",
            now_ms, thread_id,
        )

    async def add_thread_member(self, member: ThreadMember) -> bool:
        m = member
        # From the thread's row: nothing for a thread deleted meanwhile, nothing twice.
        added = await self._db.execute(
            f"INSERT INTO thread_members ({_MEMBER}) SELECT channel_id, CAST(? AS BIGINT),"
            " CAST(? AS BIGINT), CAST(? AS INTEGER) FROM threads WHERE channel_id = ?"
            " ON CONFLICT (thread_id, user_id) DO NOTHING",
            m.user_id, m.join_timestamp, m.flags, m.thread_id,
        )
        return added > 0

    async def remove_thread_member(self, thread_id: int, user_id: int) -> bool:
        removed = await self._db.execute(
            "DELETE FROM thread_members WHERE thread_id = ? AND user_id = ?", thread_id, user_id
        )
        return removed > 0

    async def get_thread_member(self, thread_id: int, user_id: int) -> ThreadMember | None:
        row = await self._db.fetchrow(
            f"SELECT {_MEMBER} FROM thread_members WHERE thread_id = ? AND user_id = ?",
            thread_id, user_id,
        )
        return None if row is None else _member(row)

    async def list_thread_members(
        self, thread_id: int, after: int = 0, limit: int = 100
    ) -> list[ThreadMember]:
        rows = await self._db.fetch(
            f"SELECT {_MEMBER} FROM thread_members WHERE thread_id = ? AND user_id > ?"
            " ORDER BY user_id LIMIT ?",
            thread_id, after, limit,
        )
        return [_member(r) for r in rows]

    async def joined_threads(self, user_id: int, thread_ids: Sequence[int]) -> dict[int, ThreadMember]:
        out: dict[int, ThreadMember] = {}
        for marks, chunk in in_chunks(thread_ids):
            rows = await self._db.fetch(
                f"SELECT {_MEMBER} FROM thread_members WHERE user_id = ?"
                f" AND thread_id IN ({marks})",
                user_id, *chunk,
            )
            out.update((r[0], _member(r)) for r in rows)
        return out

    async def thread_member_ids(self, thread_ids: Sequence[int], limit: int) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {t: [] for t in thread_ids}
        for marks, chunk in in_chunks(thread_ids):
            rows = await self._db.fetch(
                f"SELECT thread_id, user_id FROM thread_members WHERE thread_id IN ({marks})"
                " ORDER BY thread_id, user_id LIMIT ?",
                *chunk, limit,
            )
            for r in rows:
                out[r[0]].append(r[1])
        return out

    async def list_active_threads(self, guild_id: int, now_ms: int, limit: int) -> list[Channel]:
        return await self._channels_where(
            self._db,
            "c.id IN (SELECT t.channel_id FROM threads t"
            f" WHERE t.guild_id = ? AND t.archived = FALSE AND {_IDLE} > ?"
            " ORDER BY t.channel_id LIMIT ?) ORDER BY c.id",
            guild_id, now_ms, limit,
        )

    async def list_archived_threads(
        self, parent_id: int, kind: ChannelType, now_ms: int, *, before_ms: int, limit: int,
        member_id: int | None = None,
    ) -> list[Channel]:
        joined = ("" if member_id is None else
                  " AND t.channel_id IN (SELECT thread_id FROM thread_members WHERE user_id = ?)")
        extra = () if member_id is None else (member_id,)
        return await self._channels_where(
            self._db,
            f"c.parent_id = ? AND c.type = ? AND (t.archived = TRUE OR {_IDLE} <= ?)"
            f" AND {_ARCHIVED_AT} < ?{joined} ORDER BY {_ARCHIVED_AT} DESC, c.id DESC LIMIT ?",
            parent_id, int(kind), now_ms, before_ms, *extra, limit,
        )
