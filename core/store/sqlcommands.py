"""Application commands in SQL (SQLite and PostgreSQL): that half of ``SqlMetaStore``.

One row per command in ``application_commands`` (migration 10); a guild's go with the guild
(ON DELETE CASCADE). Every write of an application's commands runs serialized per application
(``executor.serialize``), so the per-type limit counted before an insert holds against racing
writers, and a bulk overwrite is one transaction: readers see the old set or the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.models import ApplicationCommand
from core.store.base import LimitReached
from core.store.executor import Executor, Row, serialize

__all__ = ["SqlCommandStore"]

# The advisory-lock namespace of an application's commands ("cmds"; see executor.serialize).
_COMMAND_LOCK = 0x636D6473
_COMMAND = "id, application_id, guild_id, type, name, version, definition"
_SCOPE = "application_id = ? AND COALESCE(guild_id, 0) = ?"


def _command(r: Row) -> ApplicationCommand:
    return ApplicationCommand(r[0], r[1], r[2], r[3], r[4], r[5], r[6])


class SqlCommandStore:
    """The application-command methods of :class:`core.store.base.MetaStore` over ``self._db``."""

    _db: Executor

    async def upsert_command(
        self, command: ApplicationCommand, max_of_type: int
    ) -> tuple[ApplicationCommand, bool] | None:
        c = command
        async with self._db.transaction() as tx:
            await serialize(tx, _COMMAND_LOCK, c.application_id)
            existing = await tx.fetchval(
                f"SELECT id FROM application_commands WHERE {_SCOPE} AND type = ? AND name = ?",
                c.application_id, c.guild_id or 0, c.type, c.name,
            )
            if existing is not None:
                row = await tx.fetchrow(
                    "UPDATE application_commands SET version = ?, definition = ? WHERE id = ?"
                    f" RETURNING {_COMMAND}", c.version, c.definition, existing,
                )
                return None if row is None else (_command(row), False)
            count = await tx.fetchval(
                f"SELECT COUNT(*) FROM application_commands WHERE {_SCOPE} AND type = ?",
                c.application_id, c.guild_id or 0, c.type,
            )
            if int(count) >= max_of_type:
                raise LimitReached(f"application {c.application_id} has {count} of type {c.type}")
            if not await _insert(tx, c):
                return None
        return c, True

    async def get_command(
        self, application_id: int, guild_id: int | None, command_id: int
    ) -> ApplicationCommand | None:
        row = await self._db.fetchrow(
            f"SELECT {_COMMAND} FROM application_commands WHERE id = ? AND {_SCOPE}",
            command_id, application_id, guild_id or 0,
        )
        return None if row is None else _command(row)

    async def list_commands(
        self, application_id: int, guild_id: int | None, limit: int
    ) -> list[ApplicationCommand]:
        rows = await self._db.fetch(
            f"SELECT {_COMMAND} FROM application_commands WHERE {_SCOPE} ORDER BY id LIMIT ?",
            application_id, guild_id or 0, limit,
        )
        return [_command(r) for r in rows]

    async def update_command(self, command: ApplicationCommand) -> ApplicationCommand | None:
        """See :meth:`MetaStore.update_command`.

        Raises:
            Conflict: another command of its scope and type has its new name.
        """
        c = command
        async with self._db.transaction() as tx:
            await serialize(tx, _COMMAND_LOCK, c.application_id)
            row = await tx.fetchrow(
                "UPDATE application_commands SET name = ?, version = ?, definition = ?"
                f" WHERE id = ? AND {_SCOPE} RETURNING {_COMMAND}",
                c.name, c.version, c.definition, c.id, c.application_id, c.guild_id or 0,
            )
        return None if row is None else _command(row)

    async def delete_command(
        self, application_id: int, guild_id: int | None, command_id: int
    ) -> bool:
        deleted = await self._db.execute(
            f"DELETE FROM application_commands WHERE id = ? AND {_SCOPE}",
            command_id, application_id, guild_id or 0,
        )
        return deleted > 0

    async def replace_commands(
        self, application_id: int, guild_id: int | None,
        commands: Sequence[ApplicationCommand],
    ) -> list[ApplicationCommand] | None:
        async with self._db.transaction() as tx:
            await serialize(tx, _COMMAND_LOCK, application_id)
            rows = await tx.fetch(
                f"SELECT type, name, id FROM application_commands WHERE {_SCOPE}",
                application_id, guild_id or 0,
            )
            kept = {(r[0], r[1]): r[2] for r in rows}
            await tx.execute(
                f"DELETE FROM application_commands WHERE {_SCOPE}", application_id, guild_id or 0
            )
            out = [replace(c, id=kept.get((c.type, c.name), c.id)) for c in commands]
            for c in out:
                if not await _insert(tx, c):
                    return None  # the guild is gone, and its commands with it (the cascade)
        return out


async def _insert(tx: Executor, c: ApplicationCommand) -> bool:
    """Insert one command; False when its guild no longer exists (nothing written)."""
    if c.guild_id is None:
        await tx.execute(
            f"INSERT INTO application_commands ({_COMMAND}) VALUES (?, ?, NULL, ?, ?, ?, ?)",
            c.id, c.application_id, c.type, c.name, c.version, c.definition,
        )
        return True
    # From the guild's row: a guild deleted meanwhile adds nothing (no FK error).
    added = await tx.execute(
        f"INSERT INTO application_commands ({_COMMAND}) SELECT CAST(? AS BIGINT),"
        " CAST(? AS BIGINT), id, CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BIGINT),"
        " CAST(? AS TEXT) FROM guilds WHERE id = ?",
        c.id, c.application_id, c.type, c.name, c.version, c.definition, c.guild_id,
    )
    return added > 0
