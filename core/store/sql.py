"""The SQL message store and the store pair both SQL backends open, SQLite and PostgreSQL.

Both backends implement one small :class:`core.store.executor.Executor` (``fetch``/
``fetchrow``/``fetchval``/``execute``/``executemany``/``transaction``); the stores are written
once over it: :class:`SqlMessageStore` here, :class:`core.store.sqlmeta.SqlMetaStore` beside
it. Queries use ``?`` placeholders and SQL that both dialects accept (``ON CONFLICT``,
``RETURNING``, partial indexes); the PostgreSQL executor rewrites the placeholders to ``$n``
once per statement text.
Rows are read by position against the column list declared next to each converter, and
become ``core.models`` records: no driver row leaves the stores.

:class:`SqlStore` is what ``open_sqlite`` and ``open_postgres`` return: one executor (one
SQLite connection, or one PostgreSQL pool) and the two stores sharing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Self

import orjson

from core.models import Message, MessageReference
from core.store.base import HISTORY_MAX, PinOutcome
from core.store.executor import Executor, Row, assignments, in_chunks, serialize
from core.store.migrations import migrate
from core.store.sqlmeta import SqlMetaStore
from core.store.sqlreactions import SqlReactionStore
from core.store.sqlsearch import SqlSearchStore

__all__ = ["SqlMessageStore", "SqlStore", "prepare"]


# -- messages --------------------------------------------------------------------------------

_MESSAGE = (
    "id, channel_id, author_id, content, guild_id, type, tts, nonce, edited_at, pinned,"
    " mention_everyone, mentions, mention_roles, ref_message_id, ref_channel_id,"
    " ref_guild_id, flags, embeds, pinned_at, webhook_id, author_name, author_avatar,"
    " attachments, components"
)
_MESSAGE_COLUMNS = tuple(c.strip() for c in _MESSAGE.split(","))


def _json(items: Sequence[Any]) -> str | None:
    # NULL for the common empty case: nothing to encode, store or decode.
    return orjson.dumps(items).decode() if items else None


def _unjson(text: str | None) -> tuple[Any, ...]:
    return tuple(orjson.loads(text)) if text else ()


def _message(r: Row) -> Message:
    ref = None if r[13] is None else MessageReference(r[13], r[14], r[15])
    return Message(
        r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], bool(r[9]), bool(r[10]),
        _unjson(r[11]), _unjson(r[12]), ref, r[16], _unjson(r[17]), r[18], r[19], r[20], r[21],
        _unjson(r[22]), _unjson(r[23]),
    )


def _message_params(m: Message) -> tuple[Any, ...]:
    ref = m.reference
    return (
        # bool() because COPY's binary format takes nothing else for a BOOLEAN column.
        m.id, m.channel_id, m.author_id, m.content, m.guild_id, m.type, bool(m.tts), m.nonce,
        m.edited_at, bool(m.pinned), bool(m.mention_everyone), _json(list(m.mentions)),
        _json(list(m.mention_roles)), ref and ref.message_id, ref and ref.channel_id,
        ref and ref.guild_id, m.flags, _json(list(m.embeds)), m.pinned_at, m.webhook_id,
        m.author_name, m.author_avatar, _json(list(m.attachments)), _json(list(m.components)),
    )


def _json_list(items: Any) -> str | None:
    return _json(list(items))


_MESSAGE_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "content": str,
        "edited_at": int,
        "mentions": _json_list,
        "mention_roles": _json_list,
        "mention_everyone": bool,
        "pinned": bool,
        "flags": int,
        "embeds": _json_list,
        "attachments": _json_list,
        "components": _json_list,
    }
)


# The advisory-lock namespace of pin checks ("pins"; see executor.serialize).
_PIN_LOCK = 0x70696E73


class SqlMessageStore(SqlReactionStore, SqlSearchStore):
    """:class:`core.store.base.MessageStore` over an :class:`Executor`.

    ``insert_many`` is one atomic bulk insert: ``executemany`` in one transaction on SQLite
    (durable at commit, ``synchronous=FULL``); on PostgreSQL ``COPY``, or a pipelined
    ``executemany`` for batches under 8 (durable at commit, ``synchronous_commit=on``).
    Reactions are :class:`~core.store.sqlreactions.SqlReactionStore`'s, in their own table;
    search is :class:`~core.store.sqlsearch.SqlSearchStore`'s, over each engine's own index.
    """

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def aclose(self) -> None:
        await self._db.aclose()

    async def insert_many(self, messages: Sequence[Message]) -> None:
        if messages:
            rows = [_message_params(m) for m in messages]
            await self._db.insert_rows("messages", _MESSAGE_COLUMNS, rows)

    async def get_message(self, channel_id: int, message_id: int) -> Message | None:
        row = await self._db.fetchrow(
            f"SELECT {_MESSAGE} FROM messages WHERE id = ? AND channel_id = ?",
            message_id, channel_id,
        )
        return None if row is None else _message(row)

    async def history(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        limit = max(1, min(limit, HISTORY_MAX))
        select = f"SELECT {_MESSAGE} FROM messages WHERE channel_id = ?"
        if after is not None and before is None:
            # The oldest ``limit`` after it, walking the index upwards, then newest first.
            rows = await self._db.fetch(
                f"{select} AND id > ? ORDER BY id LIMIT ?", channel_id, after, limit
            )
            return [_message(r) for r in reversed(rows)]
        bounds, args = "", [channel_id]
        if before is not None:
            bounds += " AND id < ?"
            args.append(before)
        if after is not None:
            bounds += " AND id > ?"
            args.append(after)
        rows = await self._db.fetch(f"{select}{bounds} ORDER BY id DESC LIMIT ?", *args, limit)
        return [_message(r) for r in rows]

    async def _messages_by_ids(self, ids: Sequence[int]) -> list[Message]:
        """The messages of ``ids`` that exist, in no particular order (a search's page)."""
        found: list[Message] = []
        for marks, chunk in in_chunks(ids):
            rows = await self._db.fetch(
                f"SELECT {_MESSAGE} FROM messages WHERE id IN ({marks})", *chunk)
            found.extend(_message(r) for r in rows)
        return found

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        # The oldest match is the original; a later one could only be a duplicate.
        row = await self._db.fetchrow(
            f"SELECT {_MESSAGE} FROM messages WHERE channel_id = ? AND author_id = ?"
            " AND nonce = ? AND id >= ? ORDER BY id LIMIT 1",
            channel_id, author_id, nonce, min_id,
        )
        return None if row is None else _message(row)

    async def update_message(
        self, channel_id: int, message_id: int, fields: dict[str, Any]
    ) -> Message | None:
        """See :meth:`MessageStore.update_message`.

        Raises:
            ValueError: a field is not one the protocol lists.
        """
        if not fields:
            return await self.get_message(channel_id, message_id)
        sets, values = assignments(fields, _MESSAGE_FIELDS)
        row = await self._db.fetchrow(
            f"UPDATE messages SET {sets} WHERE id = ? AND channel_id = ? RETURNING {_MESSAGE}",
            *values, message_id, channel_id,
        )
        return None if row is None else _message(row)

    async def delete_message(self, channel_id: int, message_id: int) -> bool:
        sql = "DELETE FROM messages WHERE id = ? AND channel_id = ?"
        return await self._db.execute(sql, message_id, channel_id) > 0

    async def delete_channel_messages(self, channel_id: int) -> int:
        # The reactions table's foreign key cascades: the messages' reactions go with them.
        return await self._db.execute("DELETE FROM messages WHERE channel_id = ?", channel_id)

    # -- pins ----------------------------------------------------------------------------

    async def pin_message(
        self, channel_id: int, message_id: int, now_ms: int, max_pins: int
    ) -> tuple[PinOutcome, Message | None]:
        async with self._db.transaction() as tx:
            # Counted and written alone, so two pins racing for the last place get one.
            await serialize(tx, _PIN_LOCK, channel_id)
            row = await tx.fetchrow(
                f"SELECT {_MESSAGE} FROM messages WHERE id = ? AND channel_id = ?",
                message_id, channel_id,
            )
            if row is None:
                return PinOutcome.UNKNOWN_MESSAGE, None
            message = _message(row)
            if message.pinned_at is not None:
                return PinOutcome.ALREADY_PINNED, message
            count, newest = await tx.fetchrow(
                "SELECT COUNT(*), MAX(pinned_at) FROM messages"
                " WHERE channel_id = ? AND pinned_at IS NOT NULL", channel_id,
            ) or (0, None)
            if count >= max_pins:
                return PinOutcome.LIMIT_REACHED, message
            pinned_at = max(now_ms, (newest or 0) + 1)  # distinct times: exact paging
            row = await tx.fetchrow(
                "UPDATE messages SET pinned = ?, pinned_at = ? WHERE id = ? AND channel_id = ?"
                f" RETURNING {_MESSAGE}", True, pinned_at, message_id, channel_id,
            )
        return PinOutcome.PINNED, None if row is None else _message(row)

    async def unpin_message(self, channel_id: int, message_id: int) -> Message | None:
        row = await self._db.fetchrow(
            "UPDATE messages SET pinned = ?, pinned_at = NULL WHERE id = ? AND channel_id = ?"
            f" AND (pinned_at IS NOT NULL OR pinned) RETURNING {_MESSAGE}",
            False, message_id, channel_id,
        )
        return None if row is None else _message(row)

    async def list_pins(
        self, channel_id: int, *, before_ms: int | None = None, limit: int = 50
    ) -> list[Message]:
        limit = max(1, min(limit, HISTORY_MAX))
        bound, args = "", [channel_id]
        if before_ms is not None:
            bound = " AND pinned_at < ?"
            args.append(before_ms)
        rows = await self._db.fetch(
            f"SELECT {_MESSAGE} FROM messages WHERE channel_id = ? AND pinned_at IS NOT NULL"
            f"{bound} ORDER BY pinned_at DESC, id DESC LIMIT ?", *args, limit,
        )
        return [_message(r) for r in rows]


# -- the pair --------------------------------------------------------------------------------


async def prepare(executor: Executor, *, apply_migrations: bool) -> None:
    """Bring a newly opened executor's schema up to date, or close it and re-raise."""
    if not apply_migrations:
        return
    try:
        await migrate(executor)
    except (Exception, asyncio.CancelledError):
        await executor.aclose()
        raise


class SqlStore:
    """An open SQL database: its metadata store and message store over one executor.

    Attributes:
        executor: the shared executor (one SQLite connection or one PostgreSQL pool).
        meta: the :class:`core.store.base.MetaStore`.
        messages: the :class:`core.store.base.MessageStore`.

    The two stores share the executor: closing either (or this object) closes it, so close
    the message store only after the last batch is flushed. Use ``async with store:`` or
    call :meth:`aclose`.
    """

    def __init__(self, executor: Executor, meta: SqlMetaStore, messages: SqlMessageStore) -> None:
        self.executor = executor
        self.meta = meta
        self.messages = messages

    async def aclose(self) -> None:
        await self.executor.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
