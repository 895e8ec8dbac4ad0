"""Reactions in SQL (SQLite and PostgreSQL): the reaction half of ``SqlMessageStore``.

One row per (message, emoji, user) in ``reactions`` (migration 3), never a column of the
message: a reaction is an insert into a b-tree keyed by the message, so a thousand users
reacting to one message write a thousand small rows and never the message itself, and no
cache of message bodies goes stale. Counts are aggregated when read, over the key's prefix:
one GROUP BY for a whole page of messages. The foreign key to ``messages`` cascades, so a
deleted message (or channel history) takes its reactions with it.

Adding a reaction has two paths. The common one, an emoji the message already has, is one
INSERT that needs no check (a storm is all this path). An emoji new to the message must be
counted against the limit of distinct emojis first: that runs in a transaction serialized per
message (``executor.serialize``), so two new emojis racing for the last place get one.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import ReactionCount
from core.store.base import HISTORY_MAX, ReactionOutcome
from core.store.executor import Executor, in_chunks, serialize

__all__ = ["SqlReactionStore"]

# The advisory-lock namespace of the distinct-emoji check ("reac"; see executor.serialize).
_REACTION_LOCK = 0x72656163
_INSERT = (
    "INSERT INTO reactions (message_id, emoji, user_id, channel_id, created_at)"
)


class SqlReactionStore:
    """The reaction methods of :class:`core.store.base.MessageStore` over ``self._db``."""

    _db: Executor

    async def add_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int, now_ms: int,
        *, max_emojis: int,
    ) -> ReactionOutcome:
        # The emoji is on the message already (only then can a reaction row of this channel
        # exist): no limit applies. SQLite needs the WHERE to parse SELECT ... ON CONFLICT.
        added = await self._db.execute(
            f"{_INSERT} SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM reactions"
            " WHERE message_id = ? AND emoji = ? AND channel_id = ?) ON CONFLICT DO NOTHING",
            message_id, emoji, user_id, channel_id, now_ms, message_id, emoji, channel_id,
        )
        if added:
            return ReactionOutcome.ADDED
        async with self._db.transaction() as tx:
            await serialize(tx, _REACTION_LOCK, message_id)
            exists = await tx.fetchval(
                "SELECT 1 FROM messages WHERE id = ? AND channel_id = ?", message_id, channel_id
            )
            if not exists:
                return ReactionOutcome.UNKNOWN_MESSAGE
            present = await tx.fetchval(
                "SELECT 1 FROM reactions WHERE message_id = ? AND emoji = ? LIMIT 1",
                message_id, emoji,
            )
            if not present:
                distinct = await tx.fetchval(
                    "SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = ?",
                    message_id,
                )
                if distinct >= max_emojis:
                    return ReactionOutcome.LIMIT_REACHED
            added = await tx.execute(
                f"{_INSERT} VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                message_id, emoji, user_id, channel_id, now_ms,
            )
        return ReactionOutcome.ADDED if added else ReactionOutcome.ALREADY_REACTED

    async def remove_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int
    ) -> bool:
        removed = await self._db.execute(
            "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?"
            " AND channel_id = ?", message_id, emoji, user_id, channel_id,
        )
        return removed > 0

    async def remove_reactions(
        self, channel_id: int, message_id: int, emoji: str | None = None
    ) -> int:
        if emoji is None:
            return await self._db.execute(
                "DELETE FROM reactions WHERE message_id = ? AND channel_id = ?",
                message_id, channel_id,
            )
        return await self._db.execute(
            "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND channel_id = ?",
            message_id, emoji, channel_id,
        )

    async def reaction_users(
        self, channel_id: int, message_id: int, emoji: str, *, after: int = 0, limit: int = 25
    ) -> list[int]:
        limit = max(1, min(limit, HISTORY_MAX))
        rows = await self._db.fetch(
            "SELECT user_id FROM reactions WHERE message_id = ? AND emoji = ?"
            " AND channel_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
            message_id, emoji, channel_id, after, limit,
        )
        return [r[0] for r in rows]

    async def reaction_counts(
        self, channel_id: int, message_ids: Sequence[int], viewer_id: int | None = None
    ) -> dict[int, list[ReactionCount]]:
        viewer = 0 if viewer_id is None else viewer_id  # no user has id 0
        found: dict[int, list[tuple[int, str, ReactionCount]]] = {}
        for marks, ids in in_chunks(message_ids):  # one chunk for any page (<= 256 ids)
            rows = await self._db.fetch(
                "SELECT message_id, emoji, COUNT(*),"
                " MAX(CASE WHEN user_id = ? THEN 1 ELSE 0 END), MIN(created_at)"
                f" FROM reactions WHERE message_id IN ({marks}) AND channel_id = ?"
                " GROUP BY message_id, emoji",
                viewer, *ids, channel_id,
            )
            for message_id, emoji, count, me, first in rows:
                entry = (first, emoji, ReactionCount(emoji, count, bool(me)))
                found.setdefault(message_id, []).append(entry)
        # Discord lists a message's reactions in the order each emoji was first used.
        return {m: [e[2] for e in sorted(entries)] for m, entries in found.items()}
