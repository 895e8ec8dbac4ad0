"""Interactions in SQL (SQLite and PostgreSQL): that half of ``SqlMetaStore``.

One row per interaction in ``interactions`` (migration 13), kept while its token lives. Expired
rows are deleted by :meth:`SqlInteractionStore.create_interaction` itself (one indexed range
delete per insert: no sweeper task, and the table never holds more than the last 15 minutes'
invocations). The initial answer is a conditional UPDATE, so of two racing callbacks exactly one
changes the row: the other is told 40060. An interaction's ephemeral follow-ups are rows of
``interaction_followups`` (migration 16), pruned with it (the same ``created_ms``) and to the
newest ``keep`` of each interaction by every insert.
"""

from __future__ import annotations

from core.models import Interaction
from core.store.executor import Executor, Row

__all__ = ["SqlInteractionStore"]

_INTERACTION = ("id, application_id, type, token_hash, user_id, channel_id, guild_id, created_ms,"
                " message_id, acknowledged, response_type, original_id, ephemeral, original, state, name")


def _interaction(r: Row) -> Interaction:
    return Interaction(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]), r[10],
                       r[11], bool(r[12]), r[13], r[14], r[15])


class SqlInteractionStore:
    """The interaction methods of :class:`core.store.base.MetaStore` over ``self._db``."""

    _db: Executor

    async def create_interaction(self, interaction: Interaction, expired_before_ms: int) -> None:
        i = interaction
        await self._db.execute("DELETE FROM interactions WHERE created_ms < ?", expired_before_ms)
        await self._db.execute("DELETE FROM interaction_followups WHERE created_ms < ?",
                               expired_before_ms)
        await self._db.execute(
            f"INSERT INTO interactions ({_INTERACTION}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            i.id, i.application_id, i.type, i.token_hash, i.user_id, i.channel_id, i.guild_id,
            i.created_ms, i.message_id, i.acknowledged, i.response_type, i.original_id,
            i.ephemeral, i.original, i.state, i.name,
        )

    async def get_interaction(self, interaction_id: int) -> Interaction | None:
        row = await self._db.fetchrow(
            f"SELECT {_INTERACTION} FROM interactions WHERE id = ?", interaction_id
        )
        return None if row is None else _interaction(row)

    async def interaction_by_token(self, token_hash: str) -> Interaction | None:
        row = await self._db.fetchrow(
            f"SELECT {_INTERACTION} FROM interactions WHERE token_hash = ?", token_hash
        )
        return None if row is None else _interaction(row)

    async def interaction_by_original(self, original_id: int) -> Interaction | None:
        row = await self._db.fetchrow(
            f"SELECT {_INTERACTION} FROM interactions WHERE original_id = ? AND ephemeral"
            " AND original IS NOT NULL ORDER BY id LIMIT 1", original_id,
        )
        return None if row is None else _interaction(row)

    async def acknowledge_interaction(
        self, interaction_id: int, response_type: int, *, original_id: int | None,
        ephemeral: bool, original: str | None, state: str | None = None,
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE interactions SET acknowledged = TRUE, response_type = ?, original_id = ?,"
            " ephemeral = ?, original = ?, state = COALESCE(?, state)"
            " WHERE id = ? AND acknowledged = FALSE",
            response_type, original_id, ephemeral, original, state, interaction_id,
        )
        return changed > 0

    async def take_interaction_state(self, interaction_id: int, state: str) -> bool:
        changed = await self._db.execute(
            "UPDATE interactions SET state = NULL WHERE id = ? AND state = ?",
            interaction_id, state,
        )
        return changed > 0

    async def set_interaction_original(
        self, interaction_id: int, original_id: int | None, original: str | None
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE interactions SET original_id = ?, original = ? WHERE id = ?",
            original_id, original, interaction_id,
        )
        return changed > 0

    async def add_interaction_followup(
        self, interaction: Interaction, message_id: int, body: str, keep: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO interaction_followups (message_id, interaction_id, created_ms, body)"
            " VALUES (?, ?, ?, ?)", message_id, interaction.id, interaction.created_ms, body,
        )
        await self._db.execute(
            "DELETE FROM interaction_followups WHERE interaction_id = ? AND message_id NOT IN"
            " (SELECT message_id FROM interaction_followups WHERE interaction_id = ?"
            " ORDER BY message_id DESC LIMIT ?)", interaction.id, interaction.id, keep,
        )

    async def interaction_followup(self, message_id: int) -> tuple[Interaction, str] | None:
        row = await self._db.fetchrow(
            "SELECT interaction_id, body FROM interaction_followups WHERE message_id = ?",
            message_id,
        )
        if row is None:
            return None
        owner = await self.get_interaction(row[0])
        return None if owner is None else (owner, row[1])

    async def set_interaction_followup(self, message_id: int, body: str | None) -> bool:
        if body is None:
            changed = await self._db.execute(
                "DELETE FROM interaction_followups WHERE message_id = ?", message_id)
        else:
            changed = await self._db.execute(
                "UPDATE interaction_followups SET body = ? WHERE message_id = ?",
                body, message_id)
        return changed > 0
